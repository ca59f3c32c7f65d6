//! What the fuzz targets share: the harness that drives the platform
//! description the way the kernel does, and a mutator that edits a device tree
//! along its own structure.
//!
//! The targets themselves live in `fuzz_targets/`; each is a few lines that
//! hand libFuzzer's bytes to [`exercise`].

pub mod exercise;
pub mod mutate;

pub use exercise::exercise;
