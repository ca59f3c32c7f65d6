//! The generic timer's EL1 virtual timer, used as the periodic tick.

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter now.
pub fn counter() -> u64 {
    CNTVCT_EL0.get()
}

/// Arms the virtual timer to fire `hz` times per second (call again from the
/// interrupt handler to re-arm).
pub fn arm(hz: u64) {
    CNTV_TVAL_EL0.set(frequency() / hz.max(1));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Whether the timer's interrupt has fired and waits for the CPU to take it
/// (IRQs masked): CNTV_CTL_EL0.ISTATUS, the timer condition met while it is
/// enabled and unmasked, so it asserts its interrupt until the handler
/// re-arms it.
pub fn interrupt_pending() -> bool {
    CNTV_CTL_EL0.matches_all(
        CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR + CNTV_CTL_EL0::ISTATUS::SET,
    )
}
