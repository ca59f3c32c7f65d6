//! What the fuzz targets share: the harnesses that drive the platform
//! description (device tree) and the x86_64 PVH and ACPI readers the way the
//! kernel does, a mutator that edits a device tree along its own structure,
//! and the simulated physical memory the x86_64 readers go through.
//!
//! The targets themselves live in `fuzz_targets/`; each is a few lines that
//! hand libFuzzer's bytes to [`exercise`].

pub mod exercise;
pub mod mutate;
pub mod physical;
pub mod x86;

pub use exercise::exercise;
