//! What every CPU's `devices` hands the kernel: the callbacks it maps
//! register blocks and probes registers through, and what its interrupt
//! start started.

use crate::addr::{PhysAddr, PhysRange, VirtAddr};

/// Maps a named register block and returns where, or `None` (the kernel
/// records why).
pub type MapDevice<'a> = &'a mut dyn FnMut(&'static str, PhysRange) -> Option<VirtAddr>;

/// Reads the 64-bit device register at a physical address (8-aligned, outside
/// RAM) through a mapping of its page made for this read alone, or returns
/// `None` when it cannot: how a driver learns which block to map (the GICv3
/// redistributor of the CPU that runs) without mapping all candidates. Only
/// for registers whose reads have no side effects.
pub type ReadDevice<'a> = &'a mut dyn FnMut(PhysAddr) -> Option<u64>;

/// What `start_interrupts` started.
#[derive(Clone, Copy, Debug)]
pub struct Interrupts {
    /// The controller, as the boot report names it.
    pub controller: &'static str,
    /// The timer tick's interrupt, as the kernel's handler receives it: a
    /// GIC INTID on AArch64, a vector on x86_64. Enabled and ready for
    /// `timer::arm`.
    pub timer: u32,
}
