//! The memory system, in the order it is built at boot: frames, page tables,
//! the kernel address space that joins them, virtual ranges and the heap.
//!
//! Everything here is portable: it runs in the kernel on every architecture and
//! in `cargo test` on the host over simulated physical memory.

/// Runs each named generic test once with AArch64's tables and once with
/// x86_64's: the memory code is one copy for both. Each test module that uses
/// it has both formats in scope, as `Aarch64` and `X86_64`.
#[cfg(test)]
macro_rules! on_both_formats {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[test]
                fn aarch64() {
                    super::$test::<super::Aarch64>();
                }
                #[test]
                fn x86_64() {
                    super::$test::<super::X86_64>();
                }
            }
        )*
    };
}

pub mod frames;
pub mod free_map;
pub mod heap;
pub mod paging;
pub mod placement;
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
