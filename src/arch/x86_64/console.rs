//! COM1 as the x86_64 entry's console, until the shared console of
//! `kernel::console` serves both CPUs (issue 8).

use core::fmt::{self, Write};

use spin::Mutex;

use crate::drivers::uart16550::Uart16550;

/// Interrupts stay off in the entry, so only a trap can find the lock held:
/// by the print it interrupted.
static COM1: Mutex<Option<Uart16550>> = Mutex::new(None);

/// Makes `uart` the console.
pub fn install(uart: Uart16550) {
    *COM1.lock() = Some(uart);
}

/// Writes formatted text to the console; does nothing before there is one.
pub fn print(arguments: fmt::Arguments<'_>) {
    if let Some(uart) = COM1.lock().as_mut() {
        let _ = uart.write_fmt(arguments);
    }
}

/// Writes to the console even when the lock is held, for the trap and panic
/// paths, which may have interrupted a print.
pub fn print_emergency(arguments: fmt::Arguments<'_>) {
    if COM1.is_locked() {
        // SAFETY: this CPU stops after the report and the interrupted print
        // never resumes, so breaking its lock makes no second writer.
        unsafe { COM1.force_unlock() };
    }
    print(arguments);
}
