//! A kernel whose heart is its memory system.
//!
//! (crate overview written once the pieces exist)

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod addr;
pub mod platform;
