//! Device drivers: the PL011 UART and the GIC interrupt controllers.
//!
//! Each driver owns one register block that the kernel has mapped as device
//! memory (nGnRE) at an address it found in the device tree. Its `unsafe fn new`
//! is the only place that trusts that address (and checks its alignment); every
//! method after it is safe. Registers are declared with `tock-registers`, so
//! each access has a name and a width, never a raw offset, and are reached
//! through raw pointers only (see `mmio`), never through a reference.

mod mmio;

pub mod gic;
pub mod pl011;

pub use mmio::{Misaligned, REGISTER_BLOCK_ALIGNMENT};

use core::fmt;

/// The UART that serves as the console, whichever driver it needs: one enum,
/// not a trait object, because the console starts before the heap exists.
pub enum ConsoleUart {
    /// An Arm PL011.
    Pl011(pl011::Pl011),
}

impl fmt::Write for ConsoleUart {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match self {
            Self::Pl011(uart) => uart.write_str(text),
        }
    }
}
