//! What the x86_64 traps (`traps.rs`, the IDT) do with an exception: resume
//! a probe whose fault was expected ([`read`], [`write`], found through the
//! exception table of [`crate::arch::probe`]), or hand a fatal one to the
//! installed handler through the shared re-entry guard of
//! [`crate::arch::fatal`], and stop.

use super::fault::Fault;
use super::{cpu, host};
use crate::addr::VirtAddr;
use crate::arch::fatal::{self, FatalPath};

pub use crate::arch::probe::{read, write};

/// The status [`stop`] exits with after a fatal exception, when
/// [`host::exit_allowed`]: QEMU then ends with 7.
pub const FATAL_EXIT_STATUS: u32 = 3;

static FATAL: FatalPath<Fault> = FatalPath::new();

/// Why an exception is fatal.
pub type Cause = fatal::Cause<Fault>;

/// Installs the function that reports a fatal exception and stops (once).
/// Until then a fatal exception stops without a report.
pub fn set_fatal_handler(handler: fn(&Fault, Cause) -> !) {
    FATAL.set_handler(handler);
}

/// Reports `fault` through the installed handler (or stops), as the guard
/// allows.
pub(super) fn fatal(fault: &Fault, cause: Cause) -> ! {
    FATAL.enter(fault, cause, stop, cpu::halt)
}

/// Ends the kernel after a fatal exception: QEMU exits with
/// [`FATAL_EXIT_STATUS`] when `isa-debug-exit` is allowed, else the CPU
/// halts. Reads nothing but one flag, so it works when little else does.
pub fn stop() -> ! {
    if host::exit_allowed() {
        host::exit(FATAL_EXIT_STATUS);
    }
    cpu::halt()
}

unsafe extern "C" {
    static __boot_stack_guard: u8;
    static __fault_stack_guard: u8;
}

/// The unmapped page below the boot stack (`linker.ld`).
pub fn boot_stack_guard() -> VirtAddr {
    VirtAddr::from_ptr(&raw const __boot_stack_guard)
}

/// The unmapped page below the emergency stack, the double fault's IST1
/// stack (`linker.ld`).
pub fn emergency_stack_guard() -> VirtAddr {
    VirtAddr::from_ptr(&raw const __fault_stack_guard)
}
