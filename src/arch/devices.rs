//! What every CPU's `devices` hands the kernel: the mapping callback it
//! maps register blocks through, and what its interrupt start started.

use crate::addr::{PhysRange, VirtAddr};

/// Maps a named register block and returns where, or `None` (the kernel
/// records why).
pub type MapDevice<'a> = &'a mut dyn FnMut(&'static str, PhysRange) -> Option<VirtAddr>;

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
