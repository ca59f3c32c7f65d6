//! x86_64: the 4-level page-table format and fault decoding (built and
//! tested on every target), and for its own bare-metal target the PVH entry
//! (`entry.s`), the CPU state it reports, traps (GDT, TSS, IDT), the COM1
//! console of the entry, the devices (COM1, local and I/O APICs, the
//! local APIC timer) and the exit to the host through QEMU's
//! `isa-debug-exit`. `boards/x86_64/README.md` explains the boot and its
//! choices.

pub mod fault;
pub mod paging;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod console;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod cpu;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod debug_exit;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod devices;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod entry;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod lapic_timer;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod timer;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod traps;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
core::arch::global_asm!(include_str!("entry.s"), options(att_syntax));
