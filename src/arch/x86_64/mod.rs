//! x86_64: fault decoding so far; the PVH entry follows (issue 8).
//! `boards/x86_64/README.md` explains the boot and its choices.

pub mod fault;
