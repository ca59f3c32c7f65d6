//! Small CPU operations, and the CPU state the x86_64 entry reports on.

use core::arch::x86_64::__cpuid;

use x86_64::instructions::{hlt, interrupts};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3};
use x86_64::registers::model_specific::{Efer, EferFlags};

use super::exceptions;
use crate::addr::{PhysAddr, VirtAddr};
use crate::arch::HoldingPen;
pub use crate::arch::irq_lock::IrqState;

/// None: the other CPUs wait for INIT and STARTUP IPIs and never enter the
/// kernel on their own, so it keeps no holding pen.
pub fn holding_pen(_image_base: PhysAddr) -> Option<HoldingPen> {
    None
}

/// Stops this CPU for good: interrupts off, then `hlt` forever (an NMI
/// would only wake it into the next `hlt`).
pub fn halt() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}

/// Waits for an interrupt, and leaves interrupts enabled: `sti; hlt`, whose
/// `sti` takes effect only after the `hlt` has begun, so an interrupt that
/// comes between a caller's check and the wait still wakes it.
pub fn wait_for_interrupt() {
    interrupts::enable_and_hlt();
}

/// Unmasks maskable interrupts (RFLAGS.IF).
pub fn enable_interrupts() {
    interrupts::enable();
}

/// Masks maskable interrupts and says whether they were masked already.
pub fn mask_irqs() -> IrqState {
    let was_masked = irqs_masked();
    // `cli` is not `nomem` in the crate: memory accesses do not move out of
    // the masked section.
    interrupts::disable();
    IrqState { was_masked }
}

/// Unmasks interrupts again if they were unmasked when `state` was saved.
pub fn restore_irqs(state: IrqState) {
    if !state.was_masked {
        interrupts::enable();
    }
}

/// True when maskable interrupts are masked (RFLAGS.IF clear).
pub fn irqs_masked() -> bool {
    !interrupts::are_enabled()
}

/// This CPU's local APIC ID, as the MADT names CPUs: the x2APIC ID of CPUID
/// leaf 0xb when the CPU has that leaf, else the 8-bit initial APIC ID of
/// leaf 1 (EBX bits 31..24).
pub fn id() -> u64 {
    const TOPOLOGY: u32 = 0xb;
    // CPUID is there on every CPU that runs long mode (entry.s used it).
    let highest = __cpuid(0).eax;
    if highest >= TOPOLOGY {
        let topology = __cpuid(TOPOLOGY);
        // EBX = 0 at sub-leaf 0: the leaf is not implemented after all.
        if topology.ebx != 0 {
            return u64::from(topology.edx);
        }
    }
    u64::from(__cpuid(1).ebx >> 24)
}

/// The physical address of CR3's root table (PML4), whose entries
/// [`super::layout::LOWER_HALF_ENTRIES`] map the lower half: x86 has one
/// root for both halves.
pub fn lower_half_root() -> u64 {
    Cr3::read_raw().0.start_address().as_u64()
}

/// Whether a kernel read of `virt` succeeds. x86 has no instruction that
/// asks the MMU (AArch64's AT), so this reads the word through the exception
/// table's probe ([`exceptions::read`]): do not ask about device registers.
pub fn is_readable(virt: VirtAddr) -> bool {
    exceptions::read(virt).is_ok()
}

/// What the entry promised to turn on, as the CPU reports it now.
#[derive(Clone, Copy, Debug)]
pub struct Protections {
    /// EFER.LMA: long mode is active.
    pub long_mode: bool,
    /// EFER.NXE: the no-execute bit in page tables is honoured.
    pub no_execute: bool,
    /// CR0.WP: the kernel too faults on writes to read-only pages.
    pub write_protect: bool,
}

impl Protections {
    /// Reads EFER and CR0.
    pub fn read() -> Self {
        let efer = Efer::read();
        Self {
            long_mode: efer.contains(EferFlags::LONG_MODE_ACTIVE),
            no_execute: efer.contains(EferFlags::NO_EXECUTE_ENABLE),
            write_protect: Cr0::read().contains(Cr0Flags::WRITE_PROTECT),
        }
    }
}
