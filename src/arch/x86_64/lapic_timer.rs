//! The local APIC timer as the kernel's tick: its rate measured once, then
//! one count at a time, re-armed from each tick as on AArch64.
//!
//! The SDM gives no fixed rate: the timer counts the bus clock or the core
//! crystal clock, over [`TIMER_DIVISOR`]. So it is measured against the PIT
//! (channel 2, whose 1.193182 MHz clock every PC has and QEMU emulates on
//! the same virtual clock as its APIC timer) over 10 ms. Only when there is
//! no PIT to answer does the rate come from CPUID leaf 0x15's core crystal
//! frequency: a hypervisor may pass the host's crystal through while it
//! emulates the timer at another rate (QEMU's counts at 1 GHz), and QEMU's
//! default CPU models stop below that leaf anyway. Under QEMU the measured
//! rate should be 1 GHz / 16 = 62.5 MHz.

use core::arch::x86_64::__cpuid;
use core::fmt;
use core::ops::RangeInclusive;

use super::devices::{TIMER_VECTOR, with_local_apic};
use super::pit;
use crate::drivers::lapic::{LocalApic, TIMER_DIVISOR, one_shot_count};
use spin::Once;

/// Rates (counts per second, after the divisor) taken as real: input clocks
/// from 1.6 MHz to 16 GHz.
const SANE_RATES: RangeInclusive<u64> = 100_000..=1_000_000_000;

/// Timer counts per second, once measured.
static COUNTS_PER_SECOND: Once<u64> = Once::new();

/// Why the timer's rate is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalibrationError {
    /// Channel 2 of the PIT never ended its count, and CPUID has no crystal
    /// frequency.
    PitSilent,
    /// The rate found is outside what any real clock gives.
    OutOfRange {
        /// Counts per second found.
        counts_per_second: u64,
    },
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PitSilent => f.write_str(
                "local APIC timer: the PIT never ended its count and CPUID 0x15 has no crystal",
            ),
            Self::OutOfRange { counts_per_second } => write!(
                f,
                "local APIC timer: measured {counts_per_second} counts per second, \
                 outside {SANE_RATES:?}"
            ),
        }
    }
}

/// Measures the timer's rate (see the module) and keeps it for [`arm`]; the
/// first success counts. Leaves the timer stopped.
pub(super) fn calibrate(apic: &mut LocalApic) -> Result<u64, CalibrationError> {
    let counts_per_second = match measure_against_pit(apic) {
        Some(rate) => rate,
        None => crystal_rate().ok_or(CalibrationError::PitSilent)?,
    };
    if !SANE_RATES.contains(&counts_per_second) {
        return Err(CalibrationError::OutOfRange { counts_per_second });
    }
    Ok(*COUNTS_PER_SECOND.call_once(|| counts_per_second))
}

/// Arms the timer to fire once, `1/hz` s from now, on [`TIMER_VECTOR`]:
/// call again from the tick to keep it going. Does nothing before the
/// interrupts are started.
pub fn arm(hz: u64) {
    if let Some(&rate) = COUNTS_PER_SECOND.get() {
        with_local_apic(|apic| apic.start_one_shot(one_shot_count(rate, hz), Some(TIMER_VECTOR)));
    }
}

/// Whether the timer's interrupt has fired and waits for the CPU to take it
/// (IRQs masked): [`TIMER_VECTOR`] is requested in the local APIC. False
/// before the interrupts are started.
pub fn interrupt_pending() -> bool {
    with_local_apic(|apic| apic.is_requested(TIMER_VECTOR)).unwrap_or(false)
}

/// Counts the timer down while the PIT counts [`pit::PIT_TICKS`]; `None`
/// without a PIT, or when the timer runs out first.
fn measure_against_pit(apic: &mut LocalApic) -> Option<u64> {
    apic.start_one_shot(u32::MAX, None);
    let readings = pit::measure(|| u64::from(apic.timer_count()));
    apic.stop_timer();
    let (first, last) = readings?;
    (last != 0).then(|| (first - last) * pit::PIT_HZ / u64::from(pit::PIT_TICKS))
}

/// The timer's rate from CPUID leaf 0x15's core crystal frequency (ECX), if
/// the CPU reports one.
fn crystal_rate() -> Option<u64> {
    const TSC_AND_CRYSTAL: u32 = 0x15;
    if __cpuid(0).eax < TSC_AND_CRYSTAL {
        return None;
    }
    let crystal_hz = __cpuid(TSC_AND_CRYSTAL).ecx;
    (crystal_hz != 0).then(|| u64::from(crystal_hz) / u64::from(TIMER_DIVISOR))
}
