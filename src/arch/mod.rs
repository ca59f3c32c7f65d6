//! Architecture layers. Each implements the page-table format of
//! [`crate::memory::paging`] and the CPU pieces the kernel needs (boot, traps,
//! timer); the portable memory code never names a register.
//!
//! The x86_64 layer so far ends in its own entry function
//! (`x86_64::entry::x86_64_entry`); it joins the shared boot flow once the
//! architecture seam of issue 8 lands.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(all(
    target_os = "none",
    not(any(target_arch = "aarch64", target_arch = "x86_64"))
))]
compile_error!("the kernel supports AArch64 and x86_64 only");
