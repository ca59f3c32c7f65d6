//! Small CPU operations.

use core::cell::UnsafeCell;
use core::fmt;

use aarch64_cpu::asm;
use aarch64_cpu::registers::{DAIF, MPIDR_EL1, Readable, Writeable};

use crate::addr::{PhysAddr, VirtAddr};
use crate::arch::HoldingPen;
pub use crate::arch::irq_lock::IrqState;

/// Waits for an interrupt.
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Unmasks IRQs at EL1.
pub fn enable_interrupts() {
    DAIF.write(DAIF::I::Unmasked + DAIF::F::Masked + DAIF::A::Unmasked + DAIF::D::Masked);
}

/// Masks IRQs at EL1.
pub fn disable_interrupts() {
    DAIF.write(DAIF::I::Masked + DAIF::F::Masked + DAIF::A::Unmasked + DAIF::D::Masked);
}

/// Masks IRQs at EL1 and says whether they were masked already.
pub fn mask_irqs() -> IrqState {
    let was_masked = irqs_masked();
    // SAFETY: setting PSTATE.I only masks IRQs. Not `nomem`: memory accesses
    // must not move out of the masked section.
    unsafe { core::arch::asm!("msr daifset, #2", options(nostack, preserves_flags)) };
    IrqState { was_masked }
}

/// Unmasks IRQs again if they were unmasked when `state` was saved.
pub fn restore_irqs(state: IrqState) {
    if !state.was_masked {
        // SAFETY: clearing PSTATE.I only unmasks IRQs, as they were before
        // `mask_irqs`. Not `nomem`, as above.
        unsafe { core::arch::asm!("msr daifclr, #2", options(nostack, preserves_flags)) };
    }
}

/// True when IRQs are masked at EL1 (PSTATE.I).
pub fn irqs_masked() -> bool {
    DAIF.is_set(DAIF::I)
}

/// This core, as the device tree names CPUs: the affinity fields of MPIDR_EL1
/// (Aff3..Aff0).
pub fn id() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// The bit boot.s sets in every identity it stores (the election's claim,
/// the pen's words) beside the affinity fields, so that 0 means "none".
const CLAIMED: u64 = 1 << 63;

/// The core (as [`id`] gives it) that one of those words names, if any.
fn named_core(word: u64) -> Option<u64> {
    (word & CLAIMED != 0).then_some(word & !CLAIMED)
}

// Words of boot.s's `.data.uncached` page. Other cores (and whoever releases
// a core from the pen) write them with the MMU off, behind this kernel's
// back: hence `UnsafeCell`, and they are read only through `read_uncached`.
unsafe extern "C" {
    static boot_cpu_claim: UnsafeCell<u64>;
    static holding_pen_last: UnsafeCell<u64>;
    static holding_pen_release: UnsafeCell<u64>;
    static holding_pen_entry: UnsafeCell<u64>;
    static el2_icc_sre: UnsafeCell<u64>;
    static __kernel_start: u8;
}

/// Reads a word of boot.s's `.data.uncached` page, which cores write with
/// the MMU off: its cache line is invalidated first, so that a stale line
/// cannot answer for what is in memory.
fn read_uncached(word: *const UnsafeCell<u64>) -> u64 {
    let value;
    // SAFETY: `word` is an aligned word of the image's data, mapped
    // read-write (DC IVAC needs write permission). The page holds only words
    // the kernel never writes through this mapping, so no dirty line is lost.
    unsafe {
        core::arch::asm!("dc ivac, {word}", "dsb sy", "ldr {value}, [{word}]",
            word = in(reg) word, value = out(reg) value, options(nostack, preserves_flags));
    }
    value
}

/// boot.s's holding pen, for the image loaded at `image_base`: its release
/// and entry words and the last core that went in.
pub fn holding_pen(image_base: PhysAddr) -> Option<HoldingPen> {
    let physical = |symbol: *const UnsafeCell<u64>| {
        let offset = VirtAddr::from_ptr(symbol).0 - VirtAddr::from_ptr(&raw const __kernel_start).0;
        PhysAddr(image_base.0 + offset)
    };
    Some(HoldingPen {
        release_word: physical(&raw const holding_pen_release),
        entry_word: physical(&raw const holding_pen_entry),
        last_entrant: named_core(read_uncached(&raw const holding_pen_last)),
    })
}

/// boot.s's election did not name the core that runs the kernel: its claim
/// was lost or overwritten, or two cores won. Either way its argument (the
/// head of boot.s) does not hold on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotElected {
    /// The identity the claim holds (as [`id`] gives it), `None` for none.
    pub claim: Option<u64>,
    /// This core.
    pub running: u64,
}

impl fmt::Display for NotElected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "core {:#x} runs the kernel, but the boot-CPU election's claim names ",
            self.running
        )?;
        match self.claim {
            Some(id) => write!(f, "core {id:#x}: two cores may be running it")?,
            None => f.write_str("no core: it was lost")?,
        }
        f.write_str(" (see src/arch/aarch64/boot.s)")
    }
}

/// Checks, once the MMU is on, that boot.s's election named this core.
pub fn check_elected() -> Result<(), NotElected> {
    let claim = named_core(read_uncached(&raw const boot_cpu_claim));
    let running = id();
    match claim == Some(running) {
        true => Ok(()),
        false => Err(NotElected { claim, running }),
    }
}

/// ICC_SRE_EL2 as boot.s read it back after setting its Enable and SRE bits
/// on the way from EL2 to EL1; `None` when boot.s did not set it (the kernel
/// was entered at EL1, or the CPU has no GIC system register interface).
pub fn icc_sre_el2_at_boot() -> Option<u64> {
    // boot.s sets bit 63 (RES0 in ICC_SRE_EL2) in what it records, so that a
    // read-back of 0 differs from no record.
    const RECORDED: u64 = 1 << 63;
    let recorded = read_uncached(&raw const el2_icc_sre);
    (recorded & RECORDED != 0).then_some(recorded & !RECORDED)
}

/// Makes a hypervisor call (`hvc #0x4b32`), which nothing at EL2 expects:
/// boot.s's EL2 vectors must report it. Without EL2 the instruction is
/// undefined and faults at EL1. x0 is 0, not a PSCI function ID (those have
/// bit 31 set), so an emulator that answers PSCI calls made with `hvc`
/// itself (QEMU `virt` without `virtualization=on`) cannot take it for one.
pub fn unexpected_hypervisor_call() {
    // SAFETY: not safe at all when EL2 exists: the trap stops the kernel.
    unsafe { core::arch::asm!("hvc #0x4b32", in("x0") 0_u64, options(nostack)) };
}

/// Stops this core for good.
pub fn halt() -> ! {
    disable_interrupts();
    loop {
        asm::wfe();
    }
}

/// Whether an EL1 read of `virt` translates, asked of the MMU with the AT
/// instruction: no access is made, so device registers may be asked about.
pub fn is_readable(virt: VirtAddr) -> bool {
    let par: u64;
    // SAFETY: AT only writes PAR_EL1. IRQs are masked around it because the
    // exception vectors use AT (and PAR_EL1) too.
    unsafe {
        core::arch::asm!("mrs {d}, daif", "msr daifset, #2", "at s1e1r, {v}", "isb", "mrs {p}, par_el1",
            "msr daif, {d}", v = in(reg) virt.0, p = out(reg) par, d = out(reg) _, options(nostack));
    }
    par & 1 == 0
}

/// The physical address of the TTBR0 (lower-half) root table, whose entries
/// [`crate::arch::aarch64::layout::LOWER_HALF_ENTRIES`] (all of them) map the
/// lower half.
pub fn lower_half_root() -> u64 {
    aarch64_cpu::registers::TTBR0_EL1.get_baddr()
}
/// The physical address of the TTBR1 (kernel-half) root table.
pub fn kernel_half_root() -> u64 {
    aarch64_cpu::registers::TTBR1_EL1.get_baddr()
}
