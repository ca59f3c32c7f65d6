//! AArch64: boot code, the kernel address-space layout, fixmap table access,
//! exceptions and fault reports, the IRQ-safe lock, the generic timer and
//! semihosting.

pub mod fault;
pub mod layout;

#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod exceptions;
#[cfg(target_os = "none")]
pub mod fixmap;
#[cfg(target_os = "none")]
pub mod irq_lock;
#[cfg(target_os = "none")]
pub mod semihosting;
#[cfg(target_os = "none")]
pub mod timer;

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("boot.s"));
#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("vectors.s"));
