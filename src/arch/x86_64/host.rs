//! The way back to the host: QEMU's `isa-debug-exit` device for the result,
//! and raw COM1 writes for a boot that fails before any console exists.
//!
//! With `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, a write of `value`
//! to port 0xf4 ends QEMU with exit status `(value << 1) | 1`; no value gives
//! 0 (which is why success cannot be 0). [`exit`] maps the kernel's statuses:
//!
//! | kernel's status   | value written | QEMU's status |
//! |-------------------|---------------|---------------|
//! | 0, success        | 0x10          | 33            |
//! | 1, a test failed  | 1             | 3             |
//! | 2, panic          | 2             | 5             |
//! | 3, fatal fault    | 3             | 7             |
//! | 4, boot failed    | 4             | 9             |
//!
//! Only write when the host said the device is there (the command line word
//! `exit=isa-debug-exit`): on other machines the port may belong to something
//! else.

use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::port::Port;

use crate::drivers::uart16550::COM1;

/// The device's I/O port.
pub const PORT: u16 = 0xf4;

/// The value written for the kernel's status 0, "everything passed": QEMU
/// exits with 33.
pub const SUCCESS: u32 = 0x10;

/// The command-line word that says the host has the device.
pub const EXIT_WORD: &str = "exit=isa-debug-exit";

/// [`write`] goes to COM1, which is the console: a boot failure printed on
/// the console needs no second copy.
pub const SEPARATE_CONSOLE: bool = false;

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

/// What [`exit`] writes for the kernel's `status`.
const fn value(status: u32) -> u32 {
    if status == 0 { SUCCESS } else { status }
}

/// The exit status QEMU ends with after [`exit`]`(status)`.
pub const fn qemu_status(status: u32) -> u32 {
    (value(status) << 1) | 1
}

/// Ends the emulation with [`qemu_status`]`(status)` (see the table above);
/// halts if the write does not end it (no such device after all).
pub fn exit(status: u32) -> ! {
    let mut port = Port::<u32>::new(PORT);
    // SAFETY: a port write touches no memory; callers check `exit_allowed`,
    // so the port is QEMU's exit device.
    unsafe { port.write(value(status)) };
    super::cpu::halt()
}

/// Line status register of COM1, and its "transmitter holding register
/// empty" bit.
const COM1_LINE_STATUS: u16 = COM1 + 5;
const TRANSMITTER_EMPTY: u8 = 1 << 5;

/// Writes `text` to COM1 as the firmware left it (SeaBIOS sets it up), each
/// `\n` as `\r\n`, without a driver object: for a boot that fails before any console
/// exists. It competes with a console on the same port, so use it only as a
/// last resort before stopping.
pub fn write(text: &str) {
    let mut status = Port::<u8>::new(COM1_LINE_STATUS);
    let mut data = Port::<u8>::new(COM1);
    crate::drivers::send_terminal_text(text, |byte| {
        // SAFETY: reading the line status and writing the data port of the
        // PC's first serial port touch no memory.
        unsafe {
            while status.read() & TRANSMITTER_EMPTY == 0 {
                core::hint::spin_loop();
            }
            data.write(byte);
        }
    });
}
