//! AArch64: boot code, the kernel address-space layout, the VMSAv8-64
//! descriptor format, fixmap table access, exceptions and fault reports, the
//! IRQ-safe lock, the generic timer and semihosting.

pub mod fault;
pub mod layout;
pub mod paging;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod cpu;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod devices;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod entry;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod exceptions;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod fixmap;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod semihosting;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod timer;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod tlb;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod self_tests;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use {
    crate::arch::fixmap_access::FixmapAccess as KernelTableAccess,
    crate::arch::irq_lock::IrqSafeMutex, crate::arch::run_on_stack, exceptions::Cause,
    fault::Fault, paging::Aarch64 as PageFormat, semihosting as host,
    tlb::BroadcastTlb as KernelTlb,
};

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(include_str!("boot.s"));
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(include_str!("vectors.s"));
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(include_str!("probe.s"));
