//! The time-stamp counter as the kernel's monotonic counter, with its
//! frequency measured once.
//!
//! The frequency comes from CPUID leaf 0x15 when the CPU states both its
//! crystal clock and the TSC/crystal ratio there; otherwise (QEMU's CPU
//! models, many real ones) it is counted against 10 ms of the PIT's channel
//! 2, the PC speaker's timer, which every PC (pc and q35 alike) has and which
//! needs no interrupt. The count is taken three times and the lowest kept: a
//! CPU held up while it polls the PIT (an emulator's thread descheduled on a
//! busy host) only ever counts too many cycles. Leaf 0x16 is not used: it states the nominal base
//! frequency, not the TSC's. Under QEMU the TSC follows the host's clock,
//! as the PIT does, so the measured frequency is the host's TSC rate.

use core::arch::x86_64::{__cpuid, _rdtsc};

pub use super::lapic_timer::arm;

use spin::Once;
use x86_64::instructions::port::Port;

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Ticks of the PIT counted for the calibration: 10 ms.
const CALIBRATION_TICKS: u16 = (PIT_HZ / 100) as u16;
/// TSC cycles after which the calibration gives up on the PIT: 100 s at
/// 1 GHz, far beyond any 10 ms.
const CALIBRATION_LIMIT: u64 = 100_000_000_000;

static FREQUENCY: Once<u64> = Once::new();

/// The time-stamp counter now.
pub fn counter() -> u64 {
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear at CPL 0 anyway).
    unsafe { _rdtsc() }
}

/// Counter frequency in Hz, measured by the first call (30 ms).
///
/// # Panics
///
/// When the PIT's channel 2 never ends its count: no PC timer to measure
/// against.
pub fn frequency() -> u64 {
    *FREQUENCY.call_once(|| {
        from_cpuid().unwrap_or_else(|| against_pit().min(against_pit()).min(against_pit()))
    })
}

/// The TSC frequency of CPUID leaf 0x15 (EBX/EAX times the crystal's ECX Hz),
/// when the CPU states all three.
fn from_cpuid() -> Option<u64> {
    const TSC_LEAF: u32 = 0x15;
    if __cpuid(0).eax < TSC_LEAF {
        return None;
    }
    let leaf = __cpuid(TSC_LEAF);
    (leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0)
        .then(|| u64::from(leaf.ecx) * u64::from(leaf.ebx) / u64::from(leaf.eax))
}

/// Counts TSC cycles while the PIT's channel 2 counts down
/// [`CALIBRATION_TICKS`] in mode 0 (its output rises at zero), as Linux's
/// `pit_calibrate_tsc` does.
fn against_pit() -> u64 {
    // Port 0x61 bit 0 gates channel 2, bit 1 drives the speaker (kept off),
    // bit 5 reads channel 2's output.
    let mut control = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel_2 = Port::<u8>::new(0x42);
    let [low, high] = CALIBRATION_TICKS.to_le_bytes();
    // SAFETY: these are the PC's PIT and speaker-control ports; channel 2
    // drives only the speaker, which stays off, and no one else uses it.
    unsafe {
        let gate = (control.read() & !0b10) | 0b01;
        control.write(gate);
        // Channel 2, low byte then high byte, mode 0, binary.
        command.write(0b1011_0000);
        channel_2.write(low);
        channel_2.write(high);
        let start = counter();
        while control.read() & 0b10_0000 == 0 {
            assert!(
                counter() - start < CALIBRATION_LIMIT,
                "the PIT's channel 2 never ended its count: no timer to measure the TSC against"
            );
        }
        (counter() - start) * PIT_HZ / u64::from(CALIBRATION_TICKS)
    }
}
