//! The boot's placement seed on x86_64: RDRAND, when CPUID says the CPU has
//! it. QEMU's default CPU models lack it (`-cpu max` has it); without it the
//! windows keep the fixed layout, and the boot report says why.

use crate::memory::placement::{NoSeed, Seed, SeedSource};

/// How often RDRAND is tried before the boot gives up on it: Intel's Digital
/// Random Number Generator guide asks for 10 tries, after which a failure
/// means a broken generator rather than a busy one.
pub const RDRAND_TRIES: usize = 10;

/// The first number `try_once` (one RDRAND) gives in [`RDRAND_TRIES`] tries.
/// A try gives nothing when the carry flag says the generator had no number,
/// and also when it gives all ones: some AMD CPUs report success with that
/// value once their generator has stopped (after a resume).
pub fn seed_from(mut try_once: impl FnMut() -> Option<u64>) -> Result<Seed, NoSeed> {
    (0..RDRAND_TRIES)
        .find_map(|_| try_once().filter(|&value| value != u64::MAX))
        .map(|value| Seed {
            value,
            source: SeedSource::Rdrand,
        })
        .ok_or(NoSeed::RdrandFailed {
            tries: RDRAND_TRIES,
        })
}

/// The boot's seed from RDRAND, or why there is none.
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub fn boot_seed() -> Result<Seed, NoSeed> {
    /// CPUID leaf 1, ECX bit 30: RDRAND.
    const RDRAND: u32 = 1 << 30;
    if core::arch::x86_64::__cpuid(1).ecx & RDRAND == 0 {
        return Err(NoSeed::NoRdrand);
    }
    seed_from(|| {
        let value: u64;
        let ok: u8;
        // SAFETY: CPUID says RDRAND exists; it writes only its two outputs
        // and the flags.
        unsafe {
            core::arch::asm!(
                "rdrand {value}",
                "setc {ok}",
                value = out(reg) value,
                ok = out(reg_byte) ok,
                options(nomem, nostack),
            )
        };
        (ok != 0).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_generator_is_retried_and_a_broken_one_given_up() {
        let mut tries = 0;
        let seed = seed_from(|| {
            tries += 1;
            (tries == 3).then_some(42)
        });
        assert_eq!(seed.map(|seed| seed.value), Ok(42));
        assert_eq!(tries, 3);

        let mut tries = 0;
        let seed = seed_from(|| {
            tries += 1;
            Some(u64::MAX)
        });
        assert_eq!(seed, Err(NoSeed::RdrandFailed { tries: 10 }));
        assert_eq!(tries, RDRAND_TRIES);
    }
}
