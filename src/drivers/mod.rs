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
