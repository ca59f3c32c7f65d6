//! The crash demonstrations: command-line words that each make one thing go
//! wrong on purpose, after the boot report, so that `make test` can check
//! what the kernel says about it (the checked runs of `boards/*/board.mk`).
//!
//! Each fault is one a bug would make, reached the way the bug would reach
//! it (a plain load, store or call, not a probe), so the report is the one an
//! unexpected fault gets; the report stops the kernel, and a demonstration
//! that comes back has failed.

use core::sync::atomic::Ordering;

use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::arch::current::layout;
use crate::kernel::devices::Devices;
use crate::kernel::{FAULT_WHILE_REPORTING, memory};
use crate::println;

/// One demonstration: it gets the devices the boot mapped.
type Crash = fn(&Devices);

/// Every demonstration, by the command-line word that runs it, in the order
/// they run (only the first that stops the kernel is seen).
pub const CRASHES: &[(&str, Crash)] = &[
    ("fault-in-fault-test", fault_in_fault),
    ("fault-test", guard_page_write),
    ("unmapped-test", unmapped_read),
    ("null-test", null_read),
    ("rodata-write-test", rodata_write),
    ("heap-exec-test", heap_execute),
    ("device-exec-test", device_execute),
    ("overflow-test", overflow),
    ("oom-test", out_of_memory),
    ("space-lock-test", heap_growth_under_space_lock),
    #[cfg(target_arch = "aarch64")]
    ("el2-trap-test", hypervisor_call),
];

/// Runs the demonstration of every word in `CRASHES` that `has_word` finds.
pub fn run(has_word: impl Fn(&str) -> bool, devices: &Devices) {
    for (word, crash) in CRASHES {
        if has_word(word) {
            crash(devices);
            println!("{word}: no fault: the kernel failed to stop it");
        }
    }
}

/// A hypervisor call nothing at EL2 expects: with the kernel entered at EL2,
/// boot.s's EL2 vectors take it and hand it back to be reported.
#[cfg(target_arch = "aarch64")]
fn hypervisor_call(_: &Devices) {
    println!("el2-trap-test: hvc #0x4b32, which EL2 does not expect");
    crate::arch::current::cpu::unexpected_hypervisor_call();
}

/// A store to the guard page below the first kernel stack: a fault nobody
/// expected, and the one the fatal path's own tests build on.
fn guard_page_write(_: &Devices) {
    println!(
        "fault-test: writing to the guard page at {}",
        layout::STACKS.start
    );
    // SAFETY: not safe at all: this store faults, and the fault stops the kernel.
    unsafe { layout::STACKS.start.as_mut_ptr::<u64>().write_volatile(0) };
}

/// The same store, after which the fault report itself faults.
fn fault_in_fault(devices: &Devices) {
    FAULT_WHILE_REPORTING.store(true, Ordering::SeqCst);
    guard_page_write(devices);
}

/// A load from the last page of the vmap window, which no range reaches
/// (ranges are handed out lowest first) and so has no page tables either.
fn unmapped_read(_: &Devices) {
    let vmap = memory::placement().vmap;
    let address = VirtAddr(vmap.start.0 + vmap.size - PAGE_SIZE as u64);
    println!("unmapped-test: reading {address}, which nothing maps");
    // SAFETY: not safe at all: this load faults, and the fault stops the kernel.
    unsafe { address.as_mut_ptr::<u64>().read_volatile() };
}

/// A load through a null pointer (hidden from the compiler, which would
/// otherwise treat the load as unreachable).
fn null_read(_: &Devices) {
    let null = core::hint::black_box(core::ptr::null::<u64>());
    println!("null-test: reading through a null pointer");
    // SAFETY: not safe at all: page 0 is never mapped, so this load faults,
    // and the fault stops the kernel.
    unsafe { null.read_volatile() };
}

/// Read-only data for [`rodata_write`] to write to.
static READ_ONLY: u64 = 0x5eed;

/// A store to the kernel image's read-only data.
fn rodata_write(_: &Devices) {
    let address = VirtAddr::from_ptr(&raw const READ_ONLY);
    println!("rodata-write-test: writing to {address} in the image's read-only data");
    // SAFETY: not safe at all: rodata is mapped read-only, so this store
    // faults, and the fault stops the kernel.
    unsafe { address.as_mut_ptr::<u64>().write_volatile(0) };
}

/// Calls `address` as a function.
fn call(address: VirtAddr) {
    // SAFETY: not safe at all: the callers pass addresses mapped never
    // executable, so the fetch faults, and the fault stops the kernel.
    let function = unsafe { core::mem::transmute::<usize, extern "C" fn()>(address.0 as usize) };
    function();
}

/// A call into a heap block, as a function pointer overwritten with a heap
/// address would make one.
fn heap_execute(_: &Devices) {
    let block = alloc::boxed::Box::new([0u64; 8]);
    let address = VirtAddr::from_ptr(block.as_ptr());
    println!("heap-exec-test: calling the heap block at {address}");
    call(address);
}

/// A call into the first device the boot mapped (the console's registers).
fn device_execute(devices: &Devices) {
    let Some(device) = devices.mapped.first() else {
        println!("device-exec-test: no device is mapped");
        return;
    };
    println!(
        "device-exec-test: calling the {} registers at {}",
        device.name, device.virt
    );
    call(device.virt);
}

/// Recursion without end, until the kernel stack runs into its guard page.
fn overflow(_: &Devices) {
    println!("overflow-test: recursing until the kernel stack overflows");
    println!("overflow-test: depth {}", recurse(0));
}

/// Recurses without end, 1 KiB of stack per level.
#[inline(never)]
#[expect(
    unconditional_recursion,
    reason = "overflow-test must overflow the kernel stack"
)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 128];
    // SAFETY: a volatile write to a local array keeps it from being optimised out.
    unsafe { (&raw mut frame[127]).write_volatile(depth) };
    recurse(depth + 1) + frame[depth as usize % 128]
}

/// The allocation-error path: a request the heap window cannot hold.
fn out_of_memory(_: &Devices) {
    println!("oom-test: asking the heap for 1 TiB");
    let hopeless: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(1 << 40);
    println!("oom-test: got {} bytes?", hopeless.capacity());
}

/// Code holding the address space cannot grow the heap silently: the growth
/// finds the lock held and panics.
fn heap_growth_under_space_lock(_: &Devices) {
    println!("space-lock-test: growing the heap inside with_space");
    let beyond = memory::heap_mapped_bytes() as usize + (1 << 20);
    memory::with_space(|_| alloc::vec::Vec::<u8>::with_capacity(beyond).capacity());
}
