//! National Semiconductor PC16550D UART, as on every PC's COM ports: polled
//! byte output over port I/O.
//!
//! `init` programs 115200 baud, 8N1, FIFOs on, and masks every interrupt: the
//! console is polled, and nothing else should depend on what firmware left.

use core::fmt;

use tock_registers::LocalRegisterCopy;
use tock_registers::register_bitfields;
use x86_64::instructions::port::Port;

/// The first serial port's base I/O port on a PC (QEMU's `-serial stdio`).
pub const COM1: u16 = 0x3f8;

/// The rate `init` sets.
pub const BAUD_RATE: u32 = 115_200;

/// The UART's 1.8432 MHz clock over 16: the baud rate at divisor 1.
const BAUD_BASE: u32 = 115_200;

/// The divisor latch value for [`BAUD_RATE`].
const DIVISOR: u16 = {
    assert!(BAUD_BASE.is_multiple_of(BAUD_RATE) && BAUD_BASE / BAUD_RATE <= u16::MAX as u32);
    (BAUD_BASE / BAUD_RATE) as u16
};

/// The register offsets from the base port (datasheet, table 2). Reading and
/// writing the same offset can reach different registers.
mod offset {
    /// RBR (read) / THR (write); DLL, the divisor's low byte, when LCR.DLAB is set.
    pub const DATA: u16 = 0;
    /// IER; DLM, the divisor's high byte, when LCR.DLAB is set.
    pub const INTERRUPT_ENABLE: u16 = 1;
    /// FCR (write only; reading gives IIR).
    pub const FIFO_CONTROL: u16 = 2;
    /// LCR.
    pub const LINE_CONTROL: u16 = 3;
    /// MCR.
    pub const MODEM_CONTROL: u16 = 4;
    /// LSR (read only).
    pub const LINE_STATUS: u16 = 5;
    /// Ports the UART decodes from its base.
    pub const COUNT: u16 = 8;
}

register_bitfields! [
    u8,

    /// IER, interrupt enable register.
    IER [
        /// Enable modem status interrupt.
        EDSSI OFFSET(3) NUMBITS(1) [],
        /// Enable receiver line status interrupt.
        ELSI OFFSET(2) NUMBITS(1) [],
        /// Enable transmitter holding register empty interrupt.
        ETBEI OFFSET(1) NUMBITS(1) [],
        /// Enable received data available interrupt.
        ERBFI OFFSET(0) NUMBITS(1) []
    ],

    /// FCR, FIFO control register.
    FCR [
        /// Receiver FIFO interrupt trigger level, in bytes.
        RECEIVER_TRIGGER OFFSET(6) NUMBITS(2) [
            One = 0b00,
            Four = 0b01,
            Eight = 0b10,
            Fourteen = 0b11
        ],
        /// Clears the transmitter FIFO; self-clearing.
        XMIT_FIFO_RESET OFFSET(2) NUMBITS(1) [],
        /// Clears the receiver FIFO; self-clearing.
        RCVR_FIFO_RESET OFFSET(1) NUMBITS(1) [],
        /// Enables both FIFOs.
        FIFO_ENABLE OFFSET(0) NUMBITS(1) []
    ],

    /// LCR, line control register.
    LCR [
        /// Divisor latch access bit: offsets 0 and 1 reach the baud divisor.
        DLAB OFFSET(7) NUMBITS(1) [],
        /// Parity enable.
        PEN OFFSET(3) NUMBITS(1) [],
        /// Number of stop bits.
        STB OFFSET(2) NUMBITS(1) [
            One = 0,
            Two = 1
        ],
        /// Word length select: data bits per character.
        WLS OFFSET(0) NUMBITS(2) [
            FiveBits = 0b00,
            SixBits = 0b01,
            SevenBits = 0b10,
            EightBits = 0b11
        ]
    ],

    /// MCR, modem control register.
    MCR [
        /// OUT2: on a PC, gates the UART's interrupt line to the interrupt controller.
        OUT2 OFFSET(3) NUMBITS(1) [],
        /// Request to send.
        RTS OFFSET(1) NUMBITS(1) [],
        /// Data terminal ready.
        DTR OFFSET(0) NUMBITS(1) []
    ],

    /// LSR, line status register.
    LSR [
        /// Transmitter empty: the holding register and the shift register are
        /// both empty (the last stop bit has left).
        TEMT OFFSET(6) NUMBITS(1) [],
        /// Transmitter holding register (or, with FIFOs, the FIFO) empty.
        THRE OFFSET(5) NUMBITS(1) []
    ]
];

/// A 16550 UART driven by polling.
pub struct Uart16550 {
    base: u16,
}

impl Uart16550 {
    /// Takes the UART whose eight registers start at I/O port `base`.
    /// Touches no register.
    ///
    /// # Panics
    ///
    /// When the eight ports do not fit below port 0x1_0000.
    ///
    /// # Safety
    ///
    /// `base` must be the base port of a 16550-compatible UART, and no other
    /// code may use its ports while the returned driver lives.
    pub unsafe fn new(base: u16) -> Self {
        assert!(
            base.checked_add(offset::COUNT - 1).is_some(),
            "16550 ports from {base:#x} run past the I/O space"
        );
        Self { base }
    }

    fn read(&self, offset: u16) -> u8 {
        let mut port = Port::<u8>::new(self.base + offset);
        // SAFETY: `new`'s caller promised that these ports are this UART's
        // and no one else's; reading them has no effect on memory.
        unsafe { port.read() }
    }

    fn write(&mut self, offset: u16, value: u8) {
        let mut port = Port::<u8>::new(self.base + offset);
        // SAFETY: as in `read`: the port belongs to this UART alone.
        unsafe { port.write(value) }
    }

    fn line_status(&self) -> LocalRegisterCopy<u8, LSR::Register> {
        LocalRegisterCopy::new(self.read(offset::LINE_STATUS))
    }

    /// Sets [`BAUD_RATE`], 8 data bits, no parity, one stop bit, enables and
    /// clears the FIFOs, and masks every interrupt (IER clear, OUT2 clear).
    pub fn init(&mut self) {
        self.flush();
        self.write(
            offset::INTERRUPT_ENABLE,
            (IER::ERBFI::CLEAR + IER::ETBEI::CLEAR + IER::ELSI::CLEAR + IER::EDSSI::CLEAR).value,
        );
        let [divisor_low, divisor_high] = DIVISOR.to_le_bytes();
        self.write(offset::LINE_CONTROL, LCR::DLAB::SET.value);
        self.write(offset::DATA, divisor_low);
        self.write(offset::INTERRUPT_ENABLE, divisor_high);
        self.write(
            offset::LINE_CONTROL,
            (LCR::WLS::EightBits + LCR::STB::One + LCR::PEN::CLEAR + LCR::DLAB::CLEAR).value,
        );
        self.write(
            offset::FIFO_CONTROL,
            (FCR::FIFO_ENABLE::SET
                + FCR::RCVR_FIFO_RESET::SET
                + FCR::XMIT_FIFO_RESET::SET
                + FCR::RECEIVER_TRIGGER::Fourteen)
                .value,
        );
        self.write(
            offset::MODEM_CONTROL,
            (MCR::DTR::SET + MCR::RTS::SET + MCR::OUT2::CLEAR).value,
        );
    }

    /// Hands one byte to the transmitter once its holding register (or FIFO)
    /// has room.
    pub fn write_byte(&mut self, byte: u8) {
        while !self.line_status().is_set(LSR::THRE) {
            core::hint::spin_loop();
        }
        self.write(offset::DATA, byte);
    }

    /// Waits until the transmitter is empty: the last byte's stop bit is out.
    pub fn flush(&mut self) {
        while !self.line_status().is_set(LSR::TEMT) {
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for Uart16550 {
    /// Writes `text` byte by byte, sending each `\n` as `\r\n` for terminals.
    /// Never fails.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        super::send_terminal_text(text, |byte| self.write_byte(byte));
        Ok(())
    }
}
