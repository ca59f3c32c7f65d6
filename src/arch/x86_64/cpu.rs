//! CPU state the x86_64 entry reports on, and the way to stop.

use x86_64::instructions::{hlt, interrupts};
use x86_64::registers::control::{Cr0, Cr0Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// Stops this CPU for good: interrupts off, then `hlt` forever (an NMI
/// would only wake it into the next `hlt`).
pub fn halt() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}

/// What the entry promised to turn on, as the CPU reports it now.
#[derive(Clone, Copy, Debug)]
pub struct Protections {
    /// EFER.LMA: long mode is active.
    pub long_mode: bool,
    /// EFER.NXE: the no-execute bit in page tables is honoured.
    pub no_execute: bool,
    /// CR0.WP: the kernel too faults on writes to read-only pages.
    pub write_protect: bool,
}

impl Protections {
    /// Reads EFER and CR0.
    pub fn read() -> Self {
        let efer = Efer::read();
        Self {
            long_mode: efer.contains(EferFlags::LONG_MODE_ACTIVE),
            no_execute: efer.contains(EferFlags::NO_EXECUTE_ENABLE),
            write_protect: Cr0::read().contains(Cr0Flags::WRITE_PROTECT),
        }
    }
}
