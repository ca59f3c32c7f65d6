//! The fatal path both CPUs share: the handler the kernel installs, why an
//! exception is fatal, and the guard that keeps a broken report from
//! re-entering itself forever.
//!
//! A fatal exception is reported once by the installed handler. If reporting
//! faults again, the handler runs a second time to say so and must then stop;
//! a third entry stops at once, reporting nothing; a fourth (stopping faulted
//! too) halts. So a broken fault path ends instead of re-entering itself.
//! Pure code: the CPU's exception entry calls [`FatalPath::enter`], and the
//! host tests check the steps.

use core::sync::atomic::{AtomicU32, Ordering};

use spin::Once;

/// Why an exception is fatal; `F` is the CPU's decoded fault.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cause<F> {
    /// A synchronous exception nobody expected.
    Unexpected,
    /// The kernel stack ran into its guard page; the report was made on the
    /// emergency stack.
    StackOverflow,
    /// A vector the kernel never asks for: on AArch64 the vector kind (FIQ,
    /// SError, from a lower level, on SP_EL0), on x86_64 the IDT vector of an
    /// interrupt nobody handles.
    UnhandledVector(u64),
    /// An exception that went to the hypervisor level the kernel left
    /// (AArch64: EL2, whose vectors hand it back to the kernel to report; the
    /// fault is decoded from ESR_EL2, FAR_EL2 and ELR_EL2). Never on x86_64.
    TrapToHypervisor {
        /// The hypervisor's vector: 0-3 from its own level with SP_EL0, 4-7
        /// with its own stack pointer, 8-11 from a lower level (AArch64),
        /// 12-15 from a lower level (AArch32); within each, synchronous,
        /// IRQ, FIQ, SError.
        vector: u64,
        /// The raw fault address register (FAR_EL2), UNKNOWN unless the
        /// exception is an abort or an alignment fault.
        fault_address: u64,
        /// The saved program status (SPSR_EL2): the level trapped from.
        saved_status: u64,
    },
    /// This exception was taken while the fatal handler was reporting `first`.
    /// The handler gets this once; it must say so and stop, touching as little
    /// as it can.
    InsideFatalHandler {
        /// The exception being reported when this one came.
        first: F,
    },
}

/// What one entry of the fatal path does, by how many came before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step<F> {
    /// Call the handler with this cause.
    Report(Cause<F>),
    /// Stop without a word.
    Stop,
    /// Halt: even stopping faulted.
    Halt,
}

/// The installed handler and the count of entries (one CPU runs the kernel;
/// the count is atomic so that a fault inside the handler sees it).
pub struct FatalPath<F: 'static> {
    handler: Once<fn(&F, Cause<F>) -> !>,
    entries: AtomicU32,
    first: Once<F>,
}

impl<F: Copy> FatalPath<F> {
    /// No handler yet, never entered.
    pub const fn new() -> Self {
        Self {
            handler: Once::new(),
            entries: AtomicU32::new(0),
            first: Once::new(),
        }
    }

    /// Installs the function that reports a fatal exception and stops (the
    /// first call wins).
    pub fn set_handler(&self, handler: fn(&F, Cause<F>) -> !) {
        self.handler.call_once(|| handler);
    }

    /// Counts this entry and says what it does.
    pub fn step(&self, fault: &F, cause: Cause<F>) -> Step<F> {
        match self.entries.fetch_add(1, Ordering::SeqCst) {
            0 => {
                self.first.call_once(|| *fault);
                Step::Report(cause)
            }
            1 => match self.first.get() {
                Some(&first) => Step::Report(Cause::InsideFatalHandler { first }),
                None => Step::Stop,
            },
            2 => Step::Stop,
            _ => Step::Halt,
        }
    }

    /// Takes the step of this entry: the handler (or `stop` when none is
    /// installed), `stop`, or `halt`.
    pub fn enter(&self, fault: &F, cause: Cause<F>, stop: fn() -> !, halt: fn() -> !) -> ! {
        match self.step(fault, cause) {
            Step::Report(cause) => match self.handler.get() {
                Some(handler) => handler(fault, cause),
                None => stop(),
            },
            Step::Stop => stop(),
            Step::Halt => halt(),
        }
    }
}

impl<F: Copy> Default for FatalPath<F> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_then_says_it_faulted_then_stops_then_halts() {
        let path = FatalPath::<u32>::new();
        assert_eq!(
            path.step(&7, Cause::StackOverflow),
            Step::Report(Cause::StackOverflow)
        );
        assert_eq!(
            path.step(&8, Cause::Unexpected),
            Step::Report(Cause::InsideFatalHandler { first: 7 })
        );
        assert_eq!(path.step(&9, Cause::Unexpected), Step::Stop);
        assert_eq!(path.step(&10, Cause::Unexpected), Step::Halt);
        assert_eq!(path.step(&11, Cause::Unexpected), Step::Halt);
    }
}
