//! x86_64: the kernel layout, the 4-level page-table format, fault decoding
//! and RDRAND's retry policy (built and tested on every target), and for its
//! own bare-metal
//! target the PVH entry (`entry.s`), the CPU operations, the fixmap, `invlpg`
//! TLB maintenance, traps (GDT, TSS, IDT) with the probes' exception table
//! (`probe.s`), the TSC counter, the devices (COM1, local and I/O APICs, the
//! local APIC timer), and the way
//! back to the host (`isa-debug-exit`, raw COM1). `boards/x86_64/README.md`
//! explains the boot and its choices.

pub mod fault;
pub mod layout;
pub mod paging;
pub mod random;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod cpu;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod devices;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod entry;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod exceptions;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod fixmap;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod host;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod lapic_timer;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod pit;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod self_tests;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod timer;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod tlb;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod traps;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use {
    crate::arch::fixmap_access::FixmapAccess as KernelTableAccess,
    crate::arch::irq_lock::IrqSafeMutex, crate::arch::run_on_stack, exceptions::Cause,
    fault::Fault, paging::X86_64 as PageFormat, tlb::LocalTlb as KernelTlb,
};

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
core::arch::global_asm!(include_str!("entry.s"), options(att_syntax));
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
core::arch::global_asm!(include_str!("probe.s"), options(att_syntax));
