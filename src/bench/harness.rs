//! The measuring harness: settings, a seeded random source, and median-of-samples
//! timing.
//!
//! Why not criterion: every workload must run against every competitor on the
//! same pre-generated trace, and one run must write one JSON summary with fixed
//! key names. Criterion measures one closure at a time, picks its own iteration
//! counts (so the competitors would not replay the same trace), and writes its
//! results as one directory per benchmark. Our workloads also need untimed setup
//! of hundreds of megabytes between samples (a fresh 1 GiB frame allocator, a
//! filled heap), which criterion's `iter_batched` handles badly at this size. So
//! the harness is small: a warm-up sample, then `samples` timed samples, each
//! timing a whole trace with `Instant`, and the median of the samples per op.

use std::time::Instant;

/// How much work a run does.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `QUICK=1`: reduced sizes and iterations (a smoke run, under a minute).
    pub quick: bool,
    /// Timed samples per figure (after one warm-up sample).
    pub samples: usize,
    /// `PARTS=frames,ranges`: run only the parts named; `None` runs them all.
    pub parts: Option<Vec<String>>,
}

impl Settings {
    /// Reads `QUICK` from the environment (any value but empty or `0` means
    /// quick) and `PARTS` (comma-separated part names; empty or unset means all).
    pub fn from_environment() -> Self {
        let quick = std::env::var("QUICK").is_ok_and(|value| !value.is_empty() && value != "0");
        let parts = std::env::var("PARTS")
            .ok()
            .filter(|value| !value.is_empty())
            .map(|value| value.split(',').map(str::to_string).collect());
        Self {
            quick,
            samples: if quick { 3 } else { 7 },
            parts,
        }
    }

    /// Whether the part called `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.parts
            .as_ref()
            .is_none_or(|parts| parts.iter().any(|part| part == name))
    }

    /// `full` in a full run, `quick` in a quick one.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// Runs `sample` once to warm up, then `samples` times, and returns the median
/// of what it returned (nanoseconds per operation, by convention).
pub fn median_of(samples: usize, mut sample: impl FnMut() -> f64) -> f64 {
    sample();
    let mut values: Vec<f64> = (0..samples.max(1)).map(|_| sample()).collect();
    median(&mut values)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.is_empty() {
        f64::NAN
    } else if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Times `operations` operations done by `work`; returns nanoseconds per operation.
pub fn time_per_op(operations: usize, work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    start.elapsed().as_nanos() as f64 / operations.max(1) as f64
}

/// The `fraction` percentile (0.5 = median) of already sorted `sorted`.
pub fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64
}

/// A xorshift64* generator: tiny, fast and reproducible from its seed, so every
/// competitor replays exactly the same trace.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (zero is replaced, xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        // Multiply-shift: no division, bias negligible for our bounds.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `low..=high`, uniform.
    pub fn uniform(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// A number in `low..=high` whose logarithm is uniform: small sizes are as
    /// common per doubling as large ones, as in a kernel's allocation mix.
    pub fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let (low_log, high_log) = ((low as f64).ln(), ((high + 1) as f64).ln());
        let unit = self.next_u64() as f64 / (u64::MAX as f64 + 1.0);
        ((low_log + unit * (high_log - low_log)).exp() as u64).clamp(low, high)
    }

    /// Shuffles `items` (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            items.swap(index, self.below(index as u64 + 1) as usize);
        }
    }
}

/// Physical base of the simulated RAM (QEMU `virt`'s).
pub const RAM_BASE: kernel::addr::PhysAddr = kernel::addr::PhysAddr(0x4000_0000);
