//! ARM PrimeCell PL011 UART (ARM DDI 0183): polled byte output.
//!
//! The baud rate is left as firmware or QEMU set it; `init` only sets the frame
//! format (8N1, FIFOs on), enables the transmitter and receiver, and masks every
//! interrupt.

use core::fmt;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::mmio::{Misaligned, Mmio, register};
use crate::addr::VirtAddr;

/// Bytes to map for one PL011: its registers fill one 4 KiB page.
pub const REGISTER_BLOCK_SIZE: usize = 0x1000;

register_bitfields! [
    u32,

    /// UARTDR, data register.
    DR [
        /// Receive (read) or transmit (write) data character.
        DATA OFFSET(0) NUMBITS(8) []
    ],

    /// UARTFR, flag register.
    FR [
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Transmit FIFO full: with FIFOs enabled, set when the FIFO is full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// UART busy: set while transmitting data, until all bits, including stop
        /// bits, have left the shift register.
        BUSY OFFSET(3) NUMBITS(1) []
    ],

    /// UARTLCR_H, line control register.
    LCR_H [
        /// Word length: number of data bits transmitted or received in a frame.
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBit = 0b00,
            SixBit = 0b01,
            SevenBit = 0b10,
            EightBit = 0b11
        ],
        /// Enable FIFOs; clearing it flushes the transmit FIFO.
        FEN OFFSET(4) NUMBITS(1) [
            CharacterMode = 0,
            FifoMode = 1
        ],
        /// Two stop bits select.
        STP2 OFFSET(3) NUMBITS(1) [],
        /// Parity enable.
        PEN OFFSET(1) NUMBITS(1) []
    ],

    /// UARTCR, control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],

    /// UARTIMSC / UARTICR: one bit per interrupt source, in the same positions in
    /// the mask set/clear and the clear registers.
    INTERRUPTS [
        /// Overrun error interrupt.
        OE OFFSET(10) NUMBITS(1) [],
        /// Break error interrupt.
        BE OFFSET(9) NUMBITS(1) [],
        /// Parity error interrupt.
        PE OFFSET(8) NUMBITS(1) [],
        /// Framing error interrupt.
        FE OFFSET(7) NUMBITS(1) [],
        /// Receive timeout interrupt.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit interrupt.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive interrupt.
        RX OFFSET(4) NUMBITS(1) [],
        /// nUARTDSR modem interrupt.
        DSRM OFFSET(3) NUMBITS(1) [],
        /// nUARTDCD modem interrupt.
        DCDM OFFSET(2) NUMBITS(1) [],
        /// nUARTCTS modem interrupt.
        CTSM OFFSET(1) NUMBITS(1) [],
        /// nUARTRI modem interrupt.
        RIM OFFSET(0) NUMBITS(1) []
    ]
];

register_structs! {
    Registers {
        (0x000 => dr: ReadWrite<u32, DR::Register>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x038 => imsc: ReadWrite<u32, INTERRUPTS::Register>),
        (0x03c => _reserved3),
        (0x044 => icr: WriteOnly<u32, INTERRUPTS::Register>),
        (0x048 => _reserved4),
        (0x1000 => @END),
    }
}

/// A PL011 UART driven by polling.
pub struct Pl011 {
    registers: Mmio<Registers>,
}

impl Pl011 {
    /// Takes the PL011 whose registers are mapped at `base`. Touches no register.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is not page-aligned: the PL011's 4 KiB block
    /// starts a page.
    ///
    /// # Safety
    ///
    /// Unless it is refused, `base` must be the virtual address of this PL011's
    /// register block, mapped as device memory over [`REGISTER_BLOCK_SIZE`]
    /// bytes. The mapping must stay valid for as long as the returned driver
    /// lives, and no other driver instance may use the same registers
    /// meanwhile.
    pub unsafe fn new(base: VirtAddr) -> Result<Self, Misaligned> {
        Ok(Self {
            // SAFETY: the caller's promise above is exactly `Mmio::new`'s contract.
            registers: unsafe { Mmio::new(base) }?,
        })
    }

    /// Sets 8 data bits, no parity, one stop bit with FIFOs enabled, enables the
    /// UART, its transmitter and receiver, and masks and clears all interrupts.
    ///
    /// Follows the TRM's reprogramming order: disable the UART, let the current
    /// character finish, flush the transmit FIFO, then write the new settings.
    /// The baud-rate divisors are not touched.
    pub fn init(&mut self) {
        self.flush();
        register!(self.registers, cr).set(0);
        register!(self.registers, lcr_h).write(LCR_H::FEN::CharacterMode);
        register!(self.registers, lcr_h).write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifoMode);
        // A clear UARTIMSC bit masks its interrupt.
        register!(self.registers, imsc).set(0);
        register!(self.registers, icr).write(
            INTERRUPTS::OE::SET
                + INTERRUPTS::BE::SET
                + INTERRUPTS::PE::SET
                + INTERRUPTS::FE::SET
                + INTERRUPTS::RT::SET
                + INTERRUPTS::TX::SET
                + INTERRUPTS::RX::SET
                + INTERRUPTS::DSRM::SET
                + INTERRUPTS::DCDM::SET
                + INTERRUPTS::CTSM::SET
                + INTERRUPTS::RIM::SET,
        );
        register!(self.registers, cr).write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Queues one byte for transmission, spinning while the transmit FIFO is full.
    pub fn write_byte(&mut self, byte: u8) {
        while register!(self.registers, fr).is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        register!(self.registers, dr).write(DR::DATA.val(u32::from(byte)));
    }

    /// Returns once every queued byte, stop bits included, has left the UART.
    pub fn flush(&mut self) {
        while register!(self.registers, fr).is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for Pl011 {
    /// Writes `text` byte by byte, sending each `\n` as `\r\n` for terminals.
    /// Never fails.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        super::send_terminal_text(text, |byte| self.write_byte(byte));
        Ok(())
    }
}
