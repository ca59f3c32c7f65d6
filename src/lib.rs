//! A kernel whose heart is its memory system.
//!
//! Unallocated memory keeps track of unallocated memory: free physical frames
//! hold the stack of free frame numbers. Everything else is built from three
//! primitives that stay separate: allocate frames, allocate a range of kernel
//! virtual space, map a frame at an address (then flush).
//!
//! The crate follows the boot's data flow:
//! - [`addr`]: physical and virtual addresses as distinct types;
//! - [`platform`]: the platform description (RAM, reservations, devices) from a
//!   device tree or from the PVH start info and the ACPI MADT, computed the
//!   same way on the host and in the kernel;
//! - [`memory`]: the portable memory system: frame stack, page-table mapper,
//!   address space, window placement (KASLR), virtual ranges, growing heap.
//!   Host-tested over simulated RAM;
//! - [`arch`]: the architecture layers, AArch64 and x86_64, each implementing
//!   one contract (`arch::current`, documented in `src/arch/mod.rs`): entry,
//!   descriptor format, TLB, layout, traps, timer, devices, the way back to
//!   the host. Each CPU starts in its `entry` and meets the other at
//!   `kernel::start`;
//! - [`drivers`]: PL011 UART, BCM2711 mini UART and GICv2/v3 (AArch64), 16550
//!   UART, 8259 PICs, local and I/O APIC (x86_64), register-typed;
//! - [`text`]: formatting without the heap (a fixed line buffer);
//! - `kernel` (bare metal only): the one boot flow for both CPUs, console,
//!   device bring-up, boot report, the in-kernel self-tests and stress run.
//!
//! `src/main.rs` only links this library into the kernel image; board
//! specifics (QEMU command lines, the Raspberry Pi's `config.txt`) live in
//! `boards/`.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(
    all(target_arch = "x86_64", target_os = "none"),
    feature(abi_x86_interrupt)
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod addr;
pub mod arch;
pub mod drivers;
#[cfg(target_os = "none")]
pub mod kernel;
pub mod memory;
pub mod platform;
pub mod text;
