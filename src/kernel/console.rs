//! The console: the UART the platform names (on a device tree,
//! `/chosen/stdout-path`), and the `print!`/`println!` macros that write to it.

use core::fmt::{self, Write};

use crate::arch::current::IrqSafeMutex;
use crate::drivers::ConsoleUart;

/// IRQ-safe: an interrupt handler may print (and the fault and panic paths
/// do), so the lock must not be held by the code it interrupted.
static CONSOLE: IrqSafeMutex<Option<ConsoleUart>> = IrqSafeMutex::new(None);

/// Makes `uart` the console (replacing any earlier one).
pub fn install(uart: ConsoleUart) {
    *CONSOLE.lock() = Some(uart);
}

/// True once a console is installed.
pub fn is_ready() -> bool {
    CONSOLE.lock().is_some()
}

/// Writes formatted text to the console; does nothing before there is one.
pub fn print(arguments: fmt::Arguments<'_>) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        let _ = uart.write_fmt(arguments);
    }
}

/// Writes to the console even if the lock is held (for the fault and panic
/// paths, which may have interrupted a print).
pub fn print_emergency(arguments: fmt::Arguments<'_>) {
    if CONSOLE.is_locked() {
        // SAFETY: this core is about to stop; the interrupted writer never
        // resumes, so breaking its lock cannot cause a second writer.
        unsafe { CONSOLE.force_unlock() };
    }
    print(arguments);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::kernel::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::kernel::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
