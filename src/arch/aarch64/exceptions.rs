//! Exception entry: IRQ dispatch, fault reports, and faults a test expects.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::{Mutex, Once};

use super::fault::Fault;

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
static FATAL_HANDLER: Once<fn(&Fault, Cause) -> !> = Once::new();
static EXPECTING_FAULT: AtomicBool = AtomicBool::new(false);
static CAUGHT_FAULT: Mutex<Option<Fault>> = Mutex::new(None);

/// Installs the function called for every IRQ (once).
pub fn set_irq_handler(handler: fn()) {
    IRQ_HANDLER.call_once(|| handler);
}

/// Why an exception is fatal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cause {
    /// A synchronous exception nobody expected.
    Unexpected,
    /// The kernel stack ran into its guard page; the report was made on the
    /// emergency stack.
    StackOverflow,
    /// An FIQ, SError or an exception from a lower level or on SP_EL0, which
    /// the kernel never asks for.
    UnhandledVector(u64),
}

/// Installs the function that reports a fatal exception and stops (once).
///
/// Never inlined: it is `kernel_entry`'s first call, so a debugger's
/// `hbreak kernel_entry` stops on that line rather than in inlined lock code.
#[inline(never)]
pub fn set_fatal_handler(handler: fn(&Fault, Cause) -> !) {
    FATAL_HANDLER.call_once(|| handler);
}

/// Runs `operation`, which is expected to fault once on a load or store. The
/// faulting instruction is skipped and the fault returned; `None` if nothing
/// faulted.
pub fn expect_fault(operation: impl FnOnce()) -> Option<Fault> {
    *CAUGHT_FAULT.lock() = None;
    EXPECTING_FAULT.store(true, Ordering::SeqCst);
    operation();
    EXPECTING_FAULT.store(false, Ordering::SeqCst);
    CAUGHT_FAULT.lock().take()
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
            if fault.access.is_some() && EXPECTING_FAULT.swap(false, Ordering::SeqCst) {
                *CAUGHT_FAULT.lock() = Some(fault);
                frame.elr += 4;
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

fn fatal(fault: &Fault, cause: Cause) -> ! {
    match FATAL_HANDLER.get() {
        Some(handler) => handler(fault, cause),
        None => super::cpu::halt(),
    }
}
