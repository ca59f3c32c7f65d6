//! Architecture layers. Each implements the page-table format of
//! [`crate::memory::paging`] and the CPU pieces the kernel needs (boot, traps,
//! timer); the portable memory code never names a register.
//!
//! The pure parts of each layer (descriptor format, address-space layout,
//! fault decoding) build on every target, so the host tests check them; the
//! parts that touch the CPU build only for their own bare-metal target.

pub mod aarch64;

#[cfg(all(target_os = "none", not(target_arch = "aarch64")))]
compile_error!("the kernel supports AArch64 only (x86_64 is planned under boards/)");
