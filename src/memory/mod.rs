//! The memory system, in the order it is built at boot: frames, page tables,
//! the kernel address space that joins them, virtual ranges and the heap.
//!
//! Everything here is portable: it runs in the kernel on every architecture and
//! in `cargo test` on the host over simulated physical memory.

pub mod frames;
pub mod free_map;
pub mod heap;
pub mod paging;
pub mod protection;
pub mod ranges;
pub mod space;
pub mod stress;
pub mod window;

#[cfg(any(test, feature = "sim"))]
pub mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zeroing_tests;
