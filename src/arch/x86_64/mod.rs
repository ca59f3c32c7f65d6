//! x86_64: the PVH entry (`entry.s`), the CPU state it reports, traps (GDT,
//! TSS, IDT) and fault decoding, the COM1 console of the entry and the exit
//! to the host through QEMU's `isa-debug-exit`. `boards/x86_64/README.md`
//! explains the boot and its choices.

pub mod fault;

#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod debug_exit;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
pub mod traps;

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("entry.s"), options(att_syntax));
