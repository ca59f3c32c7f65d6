//! Architecture layers. Each implements the page-table format of
//! [`crate::memory::paging`] and the CPU pieces the kernel needs (boot, traps,
//! timer); the portable memory code never names a register.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(all(target_os = "none", not(target_arch = "aarch64")))]
compile_error!("the kernel supports AArch64 only (x86_64 is planned under boards/)");
