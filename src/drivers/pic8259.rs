//! The PC's two cascaded Intel 8259A programmable interrupt controllers,
//! which an APIC kernel only silences: reinitialised so their vectors lie
//! past the CPU's exceptions, then with every line masked.
//!
//! Left as firmware set them, the master delivers IRQ 0–7 on vectors 8–15,
//! the CPU's own exception vectors (#DF is 8): a stray interrupt from them
//! would pass for an exception. Masked, they still send their spurious IRQ 7
//! and 15 on the new vectors, unless the local APIC's LINT0 (their way in)
//! is masked too, which [`crate::drivers::lapic::LocalApic::enable`] does.
//!
//! Ours instead of the `pic8259` crate: these are the only 20 lines of it the
//! kernel needs, and they follow the datasheet's initialisation sequence.

use tock_registers::register_bitfields;
use x86_64::instructions::port::Port;

/// The master's command and data ports.
const MASTER: (u16, u16) = (0x20, 0x21);
/// The slave's command and data ports.
const SLAVE: (u16, u16) = (0xa0, 0xa1);
/// The master's input that the slave is cascaded on.
const CASCADE_LINE: u8 = 2;
/// The POST code port: writing it takes about a microsecond, the pause old
/// 8259s need between initialisation words.
const DELAY_PORT: u16 = 0x80;

register_bitfields! [
    u8,

    /// ICW1, initialisation command word 1 (to the command port).
    ICW1 [
        /// Marks the byte as ICW1: starts initialisation.
        INIT OFFSET(4) NUMBITS(1) [],
        /// Level-triggered instead of edge-triggered inputs.
        LTIM OFFSET(3) NUMBITS(1) [],
        /// A single 8259, no cascade (no ICW3).
        SNGL OFFSET(1) NUMBITS(1) [],
        /// ICW4 follows.
        IC4 OFFSET(0) NUMBITS(1) []
    ],

    /// ICW4, initialisation command word 4 (to the data port).
    ICW4 [
        /// Automatic end of interrupt.
        AEOI OFFSET(1) NUMBITS(1) [],
        /// 8086/8088 mode, as on every PC (clear: MCS-80/85 mode).
        UPM OFFSET(0) NUMBITS(1) []
    ]
];

/// Both 8259s of a PC.
pub struct LegacyPics {
    _private: (),
}

impl LegacyPics {
    /// Takes the two 8259s at their fixed ports. Touches no port.
    ///
    /// # Safety
    ///
    /// The machine must be a PC with its 8259 pair (or none: writes to the
    /// ports are then ignored), and no other code may use ports 0x20, 0x21,
    /// 0xa0 and 0xa1 while the returned value lives.
    pub unsafe fn new() -> Self {
        Self { _private: () }
    }

    fn write(&mut self, port: u16, value: u8) {
        // SAFETY: `new`'s caller gave these ports to this driver, and port
        // 0x80 only shows POST codes; writing them touches no memory.
        unsafe {
            Port::<u8>::new(port).write(value);
            Port::<u8>::new(DELAY_PORT).write(0);
        }
    }

    /// Reinitialises both (edge-triggered, cascaded, 8086 mode) with the
    /// master's IRQ 0–7 on `base` to `base + 7` and the slave's IRQ 8–15 on
    /// the next eight vectors, then masks all 16 lines.
    ///
    /// # Panics
    ///
    /// When `base` is not a multiple of 8 (the 8259 ignores its low three
    /// bits) or the 16 vectors overlap the exceptions (0–31) or run past 255.
    pub fn remap_and_mask(&mut self, base: u8) {
        assert!(
            base.is_multiple_of(8) && (32..=240).contains(&base),
            "8259 vectors from {base:#x} are not 16 free vectors past the exceptions"
        );
        let init = (ICW1::INIT::SET + ICW1::IC4::SET + ICW1::SNGL::CLEAR + ICW1::LTIM::CLEAR).value;
        let icw4 = (ICW4::UPM::SET + ICW4::AEOI::CLEAR).value;
        let (master_command, master_data) = MASTER;
        let (slave_command, slave_data) = SLAVE;
        self.write(master_command, init);
        self.write(slave_command, init);
        // ICW2: the vector of each one's line 0.
        self.write(master_data, base);
        self.write(slave_data, base + 8);
        // ICW3: the master's inputs that have a slave; the slave's identity.
        self.write(master_data, 1 << CASCADE_LINE);
        self.write(slave_data, CASCADE_LINE);
        self.write(master_data, icw4);
        self.write(slave_data, icw4);
        // OCW1: the interrupt mask, one bit per line.
        self.write(master_data, u8::MAX);
        self.write(slave_data, u8::MAX);
    }
}
