//! Exception entry: IRQ dispatch, fault reports, and the probes whose faults
//! are expected (an exception table maps each probe's faulting instruction to
//! where it continues, as Linux's extable does).
//!
//! A fatal exception is reported once by the installed handler. If reporting
//! faults again, the handler runs a second time to say so and must then stop;
//! a third entry stops at once, reporting nothing. So a broken fault path ends
//! instead of re-entering itself forever.

use core::sync::atomic::{AtomicU32, Ordering};

use spin::{Mutex, Once};

use super::fault::Fault;
use super::{cpu, semihosting};
use crate::addr::VirtAddr;

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
static FATAL_HANDLER: Once<fn(&Fault, Cause) -> !> = Once::new();
/// The fault a probe took, for the probe's caller (one core runs the kernel).
static PROBE_FAULT: Mutex<Option<Fault>> = Mutex::new(None);
/// How many times [`fatal`] was entered.
static FATAL_ENTRIES: AtomicU32 = AtomicU32::new(0);
/// The exception the first entry of [`fatal`] was reporting.
static FIRST_FATAL: Once<Fault> = Once::new();

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
    /// This exception was taken while the fatal handler was reporting `first`.
    /// The handler gets this once; it must say so and stop, touching as little
    /// as it can.
    InsideFatalHandler {
        /// The exception being reported when this one came.
        first: Fault,
    },
}

/// Installs the function that reports a fatal exception and stops (once).
///
/// Never inlined: it is `kernel_entry`'s first call, so a debugger's
/// `hbreak kernel_entry` stops on that line rather than in inlined lock code.
#[inline(never)]
pub fn set_fatal_handler(handler: fn(&Fault, Cause) -> !) {
    FATAL_HANDLER.call_once(|| handler);
}

unsafe extern "C" {
    static __ex_table_start: [u64; 2];
    static __ex_table_end: [u64; 2];
    fn probe_read(address: u64) -> ProbeRead;
    fn probe_write(address: u64, value: u64) -> u64;
}

/// What `probe_read` returns in x0 and x1.
#[repr(C)]
struct ProbeRead {
    value: u64,
    faulted: u64,
}

/// Where execution continues when the instruction at `pc` faults, if it is
/// a probe's.
fn fixup(pc: u64) -> Option<u64> {
    // SAFETY: the linker places the `__ex_table` pairs between the two
    // symbols (linker.ld); they are read-only after link time.
    let table = unsafe {
        let start = &raw const __ex_table_start;
        let end = &raw const __ex_table_end;
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    };
    table
        .iter()
        .find(|[faulting, _]| *faulting == pc)
        .map(|[_, fixup]| *fixup)
}

fn probe_outcome(faulted: bool) -> Result<(), Fault> {
    match faulted {
        false => Ok(()),
        true => Err(PROBE_FAULT
            .lock()
            .take()
            .expect("a probe that faulted recorded its fault")),
    }
}

/// Reads the word at `address`, or returns the fault the read took: a fault
/// here is expected, so it is not reported.
pub fn read(address: VirtAddr) -> Result<u64, Fault> {
    // SAFETY: a probe faults into its fixup instead of reaching memory it
    // cannot read; a read changes nothing.
    let outcome = unsafe { probe_read(address.0) };
    probe_outcome(outcome.faulted != 0).map(|()| outcome.value)
}

/// Writes `value` to the word at `address`, or returns the fault the write
/// took (expected, so not reported).
///
/// # Safety
///
/// If `address` is mapped writable, the write happens: it must be the
/// caller's to change.
pub unsafe fn write(address: VirtAddr, value: u64) -> Result<(), Fault> {
    // SAFETY: forwarded from the caller; a faulting write goes to its fixup.
    let faulted = unsafe { probe_write(address.0, value) };
    probe_outcome(faulted != 0)
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
                && let Some(resume) = fixup(frame.elr)
            {
                *PROBE_FAULT.lock() = Some(fault);
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

fn fatal(fault: &Fault, cause: Cause) -> ! {
    let cause = match FATAL_ENTRIES.fetch_add(1, Ordering::SeqCst) {
        0 => {
            FIRST_FATAL.call_once(|| *fault);
            cause
        }
        1 => match FIRST_FATAL.get() {
            Some(&first) => Cause::InsideFatalHandler { first },
            None => stop(),
        },
        // The second report faulted too: stop without a word.
        2 => stop(),
        // Even stopping faulted (a semihosting call the host does not serve).
        _ => cpu::halt(),
    };
    match FATAL_HANDLER.get() {
        Some(handler) => handler(fault, cause),
        None => stop(),
    }
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
