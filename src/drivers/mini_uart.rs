//! The BCM2835/BCM2711 mini UART (`brcm,bcm2835-aux-uart`, the AUX block's
//! UART1; BCM2711 ARM Peripherals, section 2.2): polled byte output.
//!
//! What `init` sets: 8 data bits (no parity, one stop bit: the only frame the
//! mini UART knows), both interrupts masked, both FIFOs cleared, transmitter
//! and receiver on, auto flow control off. What it leaves alone:
//!
//! - **The baud rate.** The mini UART divides the VPU core clock
//!   (`baud = core clock / (8 × (AUX_MU_BAUD + 1))`), and the device tree
//!   gives that clock only as a `cprman` output whose rate the firmware picks
//!   at boot, so the kernel cannot know it. `init` therefore never writes
//!   AUX_MU_BAUD and never sets LCR.DLAB (which turns the data and interrupt
//!   registers into the divisor's bytes): the rate is the one the firmware set.
//!   With `enable_uart=1` in `config.txt` the firmware fixes the core clock
//!   and programs 115200 baud; QEMU ignores the divisor.
//! - **AUX_ENABLES.** The node's `reg` is the UART's own 0x40 bytes
//!   (0x7e215040 on the bus); AUX_IRQ and AUX_ENABLES sit below them, in the
//!   `brcm,bcm2835-aux` node's registers, which also gate the two SPI
//!   masters. The kernel does not own that block, so it does not switch the
//!   UART on: the firmware does, with `enable_uart=1`. A disabled mini UART
//!   ignores writes (the datasheet: its registers cannot even be read), so
//!   `init` checks that its control register keeps what was written
//!   ([`NotEnabled`]) instead of spinning forever on a status bit that never
//!   comes.
//! - **The GPIO pins** (14/15 in alternate function 5 on a Pi 4): the
//!   firmware's `enable_uart=1` routes them as well.

use core::fmt;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::mmio::{Misaligned, Mmio, register};
use crate::addr::VirtAddr;

/// Bytes of the mini UART's register block, as its device-tree `reg` gives
/// them; the block must also be aligned to this (so it never crosses a page).
pub const REGISTER_BLOCK_SIZE: usize = 0x40;

register_bitfields! [
    u32,

    /// AUX_MU_IO_REG, the data register (with LCR.DLAB clear).
    IO [
        /// Transmit (write) or receive (read) data byte.
        DATA OFFSET(0) NUMBITS(8) []
    ],

    /// AUX_MU_IER_REG, interrupt enable (with LCR.DLAB clear).
    IER [
        /// Interrupt while the transmit FIFO is empty.
        TRANSMIT OFFSET(1) NUMBITS(1) [],
        /// Interrupt while the receive FIFO holds at least one byte.
        RECEIVE OFFSET(0) NUMBITS(1) []
    ],

    /// AUX_MU_IIR_REG written: clears FIFOs (read, it identifies interrupts).
    IIR_WRITE [
        /// Writing 1 clears the transmit FIFO.
        CLEAR_TRANSMIT_FIFO OFFSET(2) NUMBITS(1) [],
        /// Writing 1 clears the receive FIFO.
        CLEAR_RECEIVE_FIFO OFFSET(1) NUMBITS(1) []
    ],

    /// AUX_MU_LCR_REG, line control.
    LCR [
        /// DLAB: 1 turns IO and IER into the baud divisor's low and high bytes.
        DLAB OFFSET(7) NUMBITS(1) [],
        /// Holds the TX line low (a break) while set.
        BREAK OFFSET(6) NUMBITS(1) [],
        /// Data size. The datasheet documents bit 0 alone, but 8-bit mode
        /// needs both bits set (the published erratum; Linux writes 0b11).
        DATA_SIZE OFFSET(0) NUMBITS(2) [
            SevenBit = 0b00,
            EightBit = 0b11
        ]
    ],

    /// AUX_MU_LSR_REG, line status.
    LSR [
        /// Transmitter idle: the transmit FIFO is empty and the last bit has
        /// been shifted out.
        TRANSMITTER_IDLE OFFSET(6) NUMBITS(1) [],
        /// Transmitter empty: the transmit FIFO can accept at least one byte.
        TRANSMITTER_EMPTY OFFSET(5) NUMBITS(1) []
    ],

    /// AUX_MU_CNTL_REG, extra control.
    CNTL [
        /// Transmit auto flow control from CTS.
        CTS_AUTO_FLOW OFFSET(3) NUMBITS(1) [],
        /// Receive auto flow control on RTS.
        RTS_AUTO_FLOW OFFSET(2) NUMBITS(1) [],
        /// Transmitter enable.
        TRANSMITTER_ENABLE OFFSET(1) NUMBITS(1) [],
        /// Receiver enable.
        RECEIVER_ENABLE OFFSET(0) NUMBITS(1) []
    ]
];

register_structs! {
    Registers {
        (0x00 => io: ReadWrite<u32, IO::Register>),
        (0x04 => ier: ReadWrite<u32, IER::Register>),
        (0x08 => iir: WriteOnly<u32, IIR_WRITE::Register>),
        (0x0c => lcr: ReadWrite<u32, LCR::Register>),
        (0x10 => _modem_control),
        (0x14 => lsr: ReadOnly<u32, LSR::Register>),
        (0x18 => _modem_status_and_scratch),
        (0x20 => cntl: ReadWrite<u32, CNTL::Register>),
        // AUX_MU_STAT_REG and AUX_MU_BAUD_REG: never touched (see the module).
        (0x24 => _status_and_baud),
        (0x40 => @END),
    }
}

/// The mini UART did not keep what was written to it: AUX_ENABLES has it
/// off (on a Raspberry Pi, `config.txt` lacks `enable_uart=1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotEnabled;

impl fmt::Display for NotEnabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the mini UART ignores writes: AUX_ENABLES has it off (the firmware turns it on with enable_uart=1)",
        )
    }
}

/// A mini UART driven by polling.
pub struct MiniUart {
    registers: Mmio<Registers>,
}

impl MiniUart {
    /// Takes the mini UART whose registers are mapped at `base`. Touches no
    /// register.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is not aligned to [`REGISTER_BLOCK_SIZE`]
    /// (0x40: the block sits at offset 0x40 of the AUX page, so it never
    /// starts one).
    ///
    /// # Safety
    ///
    /// Unless it is refused, `base` must be the virtual address of this mini
    /// UART's register block, mapped as device memory over
    /// [`REGISTER_BLOCK_SIZE`] bytes. The mapping must stay valid for as long
    /// as the returned driver lives, and no other driver instance may use the
    /// same registers meanwhile.
    pub unsafe fn new(base: VirtAddr) -> Result<Self, Misaligned> {
        Ok(Self {
            // SAFETY: the caller's promise above is exactly `Mmio::new_aligned`'s
            // contract.
            registers: unsafe { Mmio::new_aligned(base, REGISTER_BLOCK_SIZE) }?,
        })
    }

    /// Turns the transmitter and receiver on (no auto flow control), lets
    /// what the firmware queued finish, then sets 8-bit data with DLAB and
    /// break clear, masks both interrupts and clears both FIFOs. The baud
    /// divisor is not touched (see the module).
    ///
    /// # Errors
    ///
    /// [`NotEnabled`] when the control register does not keep what was
    /// written, as when AUX_ENABLES has the UART off; nothing else is written
    /// then.
    pub fn init(&mut self) -> Result<(), NotEnabled> {
        let cntl = register!(self.registers, cntl);
        cntl.write(CNTL::RECEIVER_ENABLE::SET + CNTL::TRANSMITTER_ENABLE::SET);
        if !cntl.is_set(CNTL::TRANSMITTER_ENABLE) {
            return Err(NotEnabled);
        }
        self.flush();
        register!(self.registers, ier).write(IER::RECEIVE::CLEAR + IER::TRANSMIT::CLEAR);
        register!(self.registers, lcr)
            .write(LCR::DATA_SIZE::EightBit + LCR::BREAK::CLEAR + LCR::DLAB::CLEAR);
        register!(self.registers, iir)
            .write(IIR_WRITE::CLEAR_RECEIVE_FIFO::SET + IIR_WRITE::CLEAR_TRANSMIT_FIFO::SET);
        Ok(())
    }

    /// Queues one byte for transmission, spinning while the transmit FIFO
    /// (8 bytes) is full.
    pub fn write_byte(&mut self, byte: u8) {
        while !register!(self.registers, lsr).is_set(LSR::TRANSMITTER_EMPTY) {
            core::hint::spin_loop();
        }
        register!(self.registers, io).write(IO::DATA.val(u32::from(byte)));
    }

    /// Returns once every queued byte has been shifted out.
    pub fn flush(&mut self) {
        while !register!(self.registers, lsr).is_set(LSR::TRANSMITTER_IDLE) {
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for MiniUart {
    /// Writes `text` byte by byte, sending each `\n` as `\r\n` for terminals.
    /// Never fails.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        super::send_terminal_text(text, |byte| self.write_byte(byte));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::fmt::Write as _;
    use core::mem::offset_of;

    use super::*;

    /// Plain memory standing in for the register block, as the UART looks
    /// after the firmware set it up: idle, and a divisor the driver must keep.
    #[repr(C, align(64))]
    struct FakeRegisters([u32; REGISTER_BLOCK_SIZE / 4]);

    const LSR_INDEX: usize = 0x14 / 4;
    const BAUD_INDEX: usize = 0x28 / 4;
    /// The firmware's divisor for 115200 baud from a 500 MHz core clock.
    const FIRMWARE_DIVISOR: u32 = 541;

    fn idle_uart() -> FakeRegisters {
        let mut registers = FakeRegisters([0; REGISTER_BLOCK_SIZE / 4]);
        registers.0[LSR_INDEX] = (LSR::TRANSMITTER_IDLE::SET + LSR::TRANSMITTER_EMPTY::SET).value;
        registers.0[BAUD_INDEX] = FIRMWARE_DIVISOR;
        registers
    }

    fn base(registers: &mut FakeRegisters) -> VirtAddr {
        VirtAddr(core::ptr::from_mut(registers) as u64)
    }

    #[test]
    fn registers_sit_at_the_datasheet_offsets() {
        assert_eq!(offset_of!(Registers, io), 0x00);
        assert_eq!(offset_of!(Registers, ier), 0x04);
        assert_eq!(offset_of!(Registers, iir), 0x08);
        assert_eq!(offset_of!(Registers, lcr), 0x0c);
        assert_eq!(offset_of!(Registers, lsr), 0x14);
        assert_eq!(offset_of!(Registers, cntl), 0x20);
        assert_eq!(size_of::<Registers>(), REGISTER_BLOCK_SIZE);
    }

    #[test]
    fn init_sets_the_frame_and_keeps_the_firmware_baud_rate() {
        let mut registers = idle_uart();
        {
            // SAFETY: `registers` is a block of the driver's size and
            // alignment that outlives the driver (this block), and nothing
            // else touches it meanwhile.
            let mut uart = unsafe { MiniUart::new(base(&mut registers)) }.expect("aligned");
            uart.init().expect("enabled");
            uart.write_str("ok\n").expect("never fails");
        }
        let [io, ier, iir, lcr, _, _, _, _, cntl, _, baud, ..] = registers.0;
        assert_eq!(
            cntl, 0b11,
            "transmitter and receiver on, no auto flow control"
        );
        assert_eq!(ier, 0, "both interrupts masked");
        assert_eq!(lcr, 0b11, "8-bit data, DLAB and break clear");
        assert_eq!(iir, 0b110, "both FIFOs cleared");
        assert_eq!(baud, FIRMWARE_DIVISOR, "the divisor is the firmware's");
        assert_eq!(io, u32::from(b'\n'), "the last byte sent ends the line");
    }

    #[test]
    fn a_block_off_its_0x40_alignment_is_refused() {
        let mut registers = idle_uart();
        let misaligned = VirtAddr(base(&mut registers).0 + 4);
        // SAFETY: refused on alignment before any register is touched.
        let refused = unsafe { MiniUart::new(misaligned) }.err();
        assert_eq!(
            refused,
            Some(Misaligned {
                address: misaligned,
                alignment: REGISTER_BLOCK_SIZE
            })
        );
    }
}
