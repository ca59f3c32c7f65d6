//! Probes, for both CPUs: one load or one store whose fault is expected and
//! returned instead of reported.
//!
//! Each CPU's `probe.s` defines `probe_read` and `probe_write` and lists their
//! faulting instruction with the place to continue in `__ex_table` (pairs of
//! addresses; the linker script keeps the section). The CPU's exception entry
//! asks `resume_after` whether a fault came from a listed instruction: if so
//! the fault is recorded for the probe's caller and execution continues at the
//! fixup (Linux's extable). Keyed by address, so any instruction length works.

/// The fixup of the instruction at `pc` in `table` of (faulting instruction,
/// fixup) pairs, if it is listed.
pub fn find_fixup(table: &[[u64; 2]], pc: u64) -> Option<u64> {
    table
        .iter()
        .find(|[faulting, _]| *faulting == pc)
        .map(|[_, fixup]| *fixup)
}

#[cfg(target_os = "none")]
pub use live::{read, resume_after, write};

#[cfg(target_os = "none")]
mod live {
    use spin::Mutex;

    use super::find_fixup;
    use crate::addr::VirtAddr;
    use crate::arch::current::Fault;

    unsafe extern "C" {
        static __ex_table_start: [u64; 2];
        static __ex_table_end: [u64; 2];
        fn probe_read(address: u64) -> ProbeRead;
        fn probe_write(address: u64, value: u64) -> u64;
    }

    /// What `probe_read` returns (x0 and x1; rax and rdx).
    #[repr(C)]
    struct ProbeRead {
        value: u64,
        faulted: u64,
    }

    /// The fault a probe took, for the probe's caller (one core runs the kernel).
    static PROBE_FAULT: Mutex<Option<Fault>> = Mutex::new(None);

    /// Where execution continues after `fault` at `pc`, when `pc` is a probe's
    /// listed instruction; the fault is then kept for the probe's caller.
    /// `None`: the fault was not expected.
    pub fn resume_after(fault: Fault, pc: u64) -> Option<u64> {
        // SAFETY: the linker places the `__ex_table` pairs between the two
        // symbols; they are read-only after link time.
        let table = unsafe {
            let start = &raw const __ex_table_start;
            let end = &raw const __ex_table_end;
            core::slice::from_raw_parts(start, end.offset_from(start) as usize)
        };
        let fixup = find_fixup(table, pc)?;
        *PROBE_FAULT.lock() = Some(fault);
        Some(fixup)
    }

    fn outcome(faulted: bool) -> Result<(), Fault> {
        match faulted {
            false => Ok(()),
            true => Err(PROBE_FAULT
                .lock()
                .take()
                .expect("a probe that faulted recorded its fault")),
        }
    }

    /// Reads the word at `address`, or returns the fault the read took: a
    /// fault here is expected, so it is not reported. A mapped address is
    /// really read: do not probe device registers.
    pub fn read(address: VirtAddr) -> Result<u64, Fault> {
        // SAFETY: a probe faults into its fixup instead of reaching memory it
        // cannot read; a read of memory changes nothing.
        let result = unsafe { probe_read(address.0) };
        outcome(result.faulted != 0).map(|()| result.value)
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
        outcome(faulted != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_listed_instructions() {
        let table = [[0x1000, 0x1008], [0x2004, 0x2010]];
        assert_eq!(find_fixup(&table, 0x2004), Some(0x2010));
        assert_eq!(find_fixup(&table, 0x1000), Some(0x1008));
        assert_eq!(find_fixup(&table, 0x1004), None);
        assert_eq!(find_fixup(&[], 0x1000), None);
    }
}
