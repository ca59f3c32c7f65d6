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

pub use super::lapic_timer::{arm, interrupt_pending};

use spin::Once;

use super::pit;

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

/// TSC cycles per second, counted while the PIT counts [`pit::PIT_TICKS`].
fn against_pit() -> u64 {
    let (first, last) = pit::measure(counter)
        .expect("no PIT that counts and no CPUID leaf 0x15: nothing to measure the TSC against");
    (last - first) * pit::PIT_HZ / u64::from(pit::PIT_TICKS)
}
