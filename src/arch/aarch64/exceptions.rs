//! Exception entry: IRQ dispatch, fault reports, and the probes whose faults
//! are expected (an exception table maps each probe's faulting instruction to
//! where it continues, as Linux's extable does).
//!
//! A fatal exception goes to the installed handler through the shared guard
//! of [`crate::arch::fatal`], so a broken fault path ends instead of
//! re-entering itself forever; probes are [`crate::arch::probe`]'s.

use spin::Once;

use super::fault::Fault;
use super::{cpu, semihosting};
use crate::addr::VirtAddr;
use crate::arch::fatal::{self, FatalPath};
use crate::arch::probe;

pub use crate::arch::probe::{read, write};

/// The status QEMU exits with after a fatal exception, when
/// [`semihosting::exit_allowed`].
pub const FATAL_EXIT_STATUS: u32 = 3;

/// The interrupted state, as `vectors.s` saves it.
#[repr(C)]
pub struct TrapFrame {
    /// x0..x30.
    pub registers: [u64; 31],
    /// ELR_EL1: where execution resumes.
    pub elr: u64,
    /// SPSR_EL1.
    pub spsr: u64,
    /// ESR_EL1.
    pub esr: u64,
    /// FAR_EL1.
    pub far: u64,
    padding: u64,
}

static IRQ_HANDLER: Once<fn()> = Once::new();
static FATAL: FatalPath<Fault> = FatalPath::new();

/// Installs the function called for every IRQ (once).
pub fn set_irq_handler(handler: fn()) {
    IRQ_HANDLER.call_once(|| handler);
}

/// Why an exception is fatal.
pub type Cause = fatal::Cause<Fault>;

/// Installs the function that reports a fatal exception and stops (once).
///
/// Never inlined: it is `kernel_entry`'s first call, so a debugger's
/// `hbreak kernel_entry` stops on that line rather than in inlined lock code.
#[inline(never)]
pub fn set_fatal_handler(handler: fn(&Fault, Cause) -> !) {
    FATAL.set_handler(handler);
}

/// Called by `vectors.s` with the saved state and which vector was taken
/// (0 synchronous, 1 IRQ, 2 FIQ, 3 SError, 4 on SP_EL0, 5 from a lower EL,
/// 6 any of these when the kernel stack had overflowed).
#[unsafe(no_mangle)]
extern "C" fn exception_entry(frame: &mut TrapFrame, kind: u64) {
    match kind {
        1 => {
            if let Some(handler) = IRQ_HANDLER.get() {
                handler();
            }
        }
        0 => {
            let fault = Fault::decode(frame.esr, frame.far, frame.elr);
            if fault.access.is_some()
                && let Some(resume) = probe::resume_after(fault, frame.elr)
            {
                frame.elr = resume;
                return;
            }
            fatal(&fault, Cause::Unexpected);
        }
        6 => fatal(
            &Fault::decode(frame.esr, frame.far, frame.elr),
            Cause::StackOverflow,
        ),
        other => fatal(
            &Fault::decode(frame.esr, frame.far, frame.elr),
            Cause::UnhandledVector(other),
        ),
    }
}

/// Called at EL1 by `el2_trap_landing` (vectors.s), on the emergency stack,
/// after boot.s's EL2 vectors took an exception nobody expected: reports it
/// as fatal with the values EL2 saw.
#[unsafe(no_mangle)]
extern "C" fn el2_trap_entry(esr: u64, elr: u64, far: u64, spsr: u64, vector: u64) -> ! {
    fatal(
        &Fault::decode(esr, far, elr),
        Cause::TrapToHypervisor {
            vector,
            fault_address: far,
            saved_status: spsr,
        },
    )
}

fn fatal(fault: &Fault, cause: Cause) -> ! {
    FATAL.enter(fault, cause, stop, cpu::halt)
}

/// Ends the kernel after a fatal exception: QEMU exits with
/// [`FATAL_EXIT_STATUS`] when semihosting exit is allowed, else the core halts.
/// Reads nothing but one flag, so it works when little else does.
pub fn stop() -> ! {
    if semihosting::exit_allowed() {
        semihosting::exit(FATAL_EXIT_STATUS);
    }
    cpu::halt()
}

unsafe extern "C" {
    static __emergency_stack_guard: u8;
    static __boot_stack_guard: u8;
}

/// The unmapped page below the emergency stack (see `linker.ld`).
pub fn emergency_stack_guard() -> VirtAddr {
    VirtAddr::from_ptr(&raw const __emergency_stack_guard)
}

/// The unmapped page below the boot stack (see `linker.ld`).
pub fn boot_stack_guard() -> VirtAddr {
    VirtAddr::from_ptr(&raw const __boot_stack_guard)
}
