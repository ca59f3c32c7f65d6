//! Device drivers: the PL011 UART, the BCM2835/BCM2711 mini UART and the GIC
//! interrupt controllers (AArch64), the 16550 UART, the 8259 PICs, the local
//! APIC and the I/O APIC (x86_64). Which UART is the console is the platform
//! description's decision (`platform::console`), not a driver's.
//!
//! Each driver owns one register block that the kernel has mapped as device
//! memory (nGnRE) at an address it found in the device tree. Its `unsafe fn new`
//! is the only place that trusts that address (and checks its alignment); every
//! method after it is safe. Registers are declared with `tock-registers`, so
//! each access has a name and a width, never a raw offset, and are reached
//! through raw pointers only (see `mmio`), never through a reference. A
//! block starts a page, except the mini UART's, which shares the AUX page with
//! the AUX block's own registers and the SPI masters and needs only its 0x40
//! bytes aligned.
//!
//! The 16550 and the 8259s live in x86 I/O port space instead of memory: their
//! `unsafe fn new` trusts the ports, and their register bits are declared the
//! same way and read into a `LocalRegisterCopy`, one `in`/`out` instruction
//! per access.
//!
//! The MMIO drivers need no CPU instruction, so the x86 ones (local APIC, I/O
//! APIC) and the mini UART also build for the host tests, which run them over
//! plain memory; the port-I/O drivers build only for the kernel.

mod mmio;

#[cfg(target_arch = "aarch64")]
pub mod gic;
#[cfg(target_arch = "x86_64")]
pub mod ioapic;
#[cfg(target_arch = "x86_64")]
pub mod lapic;
#[cfg(any(target_arch = "aarch64", test))]
pub mod mini_uart;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod pic8259;
#[cfg(target_arch = "aarch64")]
pub mod pl011;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod uart16550;

pub use mmio::{Misaligned, REGISTER_BLOCK_ALIGNMENT};

/// The UART that serves as the console, whichever driver it needs: one enum,
/// not a trait object, because the console starts before the heap exists.
#[cfg(any(target_arch = "aarch64", target_os = "none"))]
pub enum ConsoleUart {
    /// An Arm PL011.
    #[cfg(target_arch = "aarch64")]
    Pl011(pl011::Pl011),
    /// A BCM2835/BCM2711 mini UART.
    #[cfg(target_arch = "aarch64")]
    MiniUart(mini_uart::MiniUart),
    /// A 16550 in x86 I/O port space (COM1).
    #[cfg(all(target_arch = "x86_64", target_os = "none"))]
    Uart16550(uart16550::Uart16550),
}

#[cfg(any(target_arch = "aarch64", target_os = "none"))]
impl core::fmt::Write for ConsoleUart {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        match self {
            #[cfg(target_arch = "aarch64")]
            Self::Pl011(uart) => uart.write_str(text),
            #[cfg(target_arch = "aarch64")]
            Self::MiniUart(uart) => uart.write_str(text),
            #[cfg(all(target_arch = "x86_64", target_os = "none"))]
            Self::Uart16550(uart) => uart.write_str(text),
        }
    }
}

/// Sends `text` byte by byte through `write_byte`, each `\n` as `\r\n` for
/// terminals: how every UART's `fmt::Write` writes.
#[cfg(any(target_arch = "aarch64", target_os = "none", test))]
pub(crate) fn send_terminal_text(text: &str, mut write_byte: impl FnMut(u8)) {
    for byte in text.bytes() {
        if byte == b'\n' {
            write_byte(b'\r');
        }
        write_byte(byte);
    }
}
