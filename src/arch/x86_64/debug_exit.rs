//! QEMU's `isa-debug-exit` device: how the kernel tells the host its result.
//!
//! With `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, a write of `value`
//! to port 0xf4 ends QEMU with exit status `(value << 1) | 1`: [`SUCCESS`]
//! gives 33, and no value gives 0. Only write when the host said the device is
//! there (the command line word `exit=isa-debug-exit`): on other machines the
//! port may belong to something else.

use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::port::Port;

/// The device's I/O port.
pub const PORT: u16 = 0xf4;

/// The value for "everything passed": QEMU exits with status 33.
pub const SUCCESS: u32 = 0x10;

/// Set once the kernel knows that the host has the device.
static EXIT_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Records that the host has the device (the command line said so). The
/// fault and panic paths read this flag, not the command line.
pub fn allow_exit() {
    EXIT_ALLOWED.store(true, Ordering::SeqCst);
}

/// Whether [`allow_exit`] was called.
pub fn exit_allowed() -> bool {
    EXIT_ALLOWED.load(Ordering::SeqCst)
}

/// The exit status QEMU ends with after [`exit`] with `value`.
pub const fn status(value: u32) -> u32 {
    (value << 1) | 1
}

/// Ends the emulation with status [`status`]`(value)`; halts if the write
/// does not end it (no such device after all).
pub fn exit(value: u32) -> ! {
    let mut port = Port::<u32>::new(PORT);
    // SAFETY: a port write touches no memory; callers check `exit_allowed`,
    // so the port is QEMU's exit device.
    unsafe { port.write(value) };
    super::cpu::halt()
}
