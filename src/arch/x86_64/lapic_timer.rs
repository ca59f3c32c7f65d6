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

use spin::Once;
use x86_64::instructions::port::Port;

use super::devices::{TIMER_VECTOR, with_local_apic};
use crate::drivers::lapic::{LocalApic, TIMER_DIVISOR, one_shot_count};

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// PIT ticks measured over: 10 ms.
const PIT_COUNT: u16 = 11_932;
/// PIT mode/command port.
const PIT_COMMAND: u16 = 0x43;
/// PIT channel 2 data port.
const PIT_CHANNEL_2: u16 = 0x42;
/// Command: channel 2 (bits 7:6 = 10), low then high byte (5:4 = 11), mode 0
/// (3:1 = 000: interrupt on terminal
/// count, OUT falls now and rises when the count reaches 0), binary (0 = 0).
const CHANNEL_2_MODE_0: u8 = 0b1011_0000;
/// Port B (NMI status and control): bit 0 gates PIT channel 2, bit 1 feeds
/// its output to the speaker, bit 5 reads channel 2's OUT.
const PORT_B: u16 = 0x61;
const GATE_2: u8 = 1 << 0;
const SPEAKER_DATA: u8 = 1 << 1;
const OUT_2: u8 = 1 << 5;
/// Reads of port B before the PIT counts as silent: about a microsecond each
/// on hardware and at least tens of nanoseconds under emulation, so far more
/// than the 10 ms a PIT needs.
const MAX_POLLS: u32 = 2_000_000;

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

/// Counts the timer down during [`PIT_COUNT`] PIT ticks; `None` when the PIT
/// does not end its count in [`MAX_POLLS`] reads, or the timer runs out first.
fn measure_against_pit(apic: &mut LocalApic) -> Option<u64> {
    let mut port_b = Port::<u8>::new(PORT_B);
    let [low, high] = PIT_COUNT.to_le_bytes();
    // SAFETY: these are the PC's PIT channel 2 and port B, which nothing else
    // in the kernel uses; the speaker stays off. Port I/O touches no memory.
    let saved = unsafe {
        let saved = port_b.read();
        port_b.write((saved & !SPEAKER_DATA) | GATE_2);
        Port::<u8>::new(PIT_COMMAND).write(CHANNEL_2_MODE_0);
        let mut channel = Port::<u8>::new(PIT_CHANNEL_2);
        channel.write(low);
        channel.write(high);
        saved
    };
    apic.start_one_shot(u32::MAX, None);
    let mut ended = false;
    for _ in 0..MAX_POLLS {
        // SAFETY: as above; reading port B changes nothing.
        if unsafe { port_b.read() } & OUT_2 != 0 {
            ended = true;
            break;
        }
    }
    let remaining = apic.timer_count();
    apic.stop_timer();
    // SAFETY: as above: port B gets back the gate and speaker bits it had.
    unsafe { port_b.write(saved) };
    let elapsed = u64::from(u32::MAX - remaining);
    (ended && remaining != 0).then(|| elapsed * PIT_HZ / u64::from(PIT_COUNT))
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
