//! The PIT's channel 2 as a stopwatch: 10 ms of its 1.193182 MHz clock, which
//! every PC has and needs no interrupt, to measure the TSC and the local APIC
//! timer against (as Linux's `pit_calibrate_tsc` does).
//!
//! A machine without a PIT (QEMU's `pit=off`) reads port B as anything, so a
//! measurement counts only when the output is seen low after the count is
//! programmed (mode 0 drops it at once) and then high again within a bounded
//! number of reads. Otherwise the answer is "no PIT", never a wrong time.

use x86_64::instructions::port::Port;

/// The PIT's input clock, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// PIT ticks measured over: 10 ms.
pub const PIT_TICKS: u16 = 11_932;

/// PIT mode/command port.
const PIT_COMMAND: u16 = 0x43;
/// PIT channel 2 data port.
const PIT_CHANNEL_2: u16 = 0x42;
/// Command: channel 2 (bits 7:6 = 10), low then high byte (5:4 = 11), mode 0
/// (3:1 = 000: interrupt on terminal count, OUT falls now and rises when the
/// count reaches 0), binary (0 = 0).
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

/// Reads `read` right after channel 2 starts counting [`PIT_TICKS`] and again
/// when it ends: the two readings, or `None` when there is no PIT that
/// counts. Port B gets back the gate and speaker bits it had.
pub fn measure(mut read: impl FnMut() -> u64) -> Option<(u64, u64)> {
    let mut port_b = Port::<u8>::new(PORT_B);
    let [low, high] = PIT_TICKS.to_le_bytes();
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
    let first = read();
    // SAFETY: as above; reading port B changes nothing.
    let out = |port_b: &mut Port<u8>| unsafe { port_b.read() } & OUT_2 != 0;
    let started = !out(&mut port_b);
    let ended = started && (0..MAX_POLLS).any(|_| out(&mut port_b));
    let last = read();
    // SAFETY: as above: port B gets back the gate and speaker bits it had.
    unsafe { port_b.write(saved) };
    ended.then_some((first, last))
}
