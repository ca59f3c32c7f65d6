//! The I/O APIC (Intel 82093AA datasheet): routes external interrupt lines
//! (global system interrupts from its base on) to local APICs through a table
//! of redirection entries. Its registers are indirect: write a register's
//! index to IOREGSEL, then read or write it through IOWIN.
//!
//! The kernel uses it only to mask every line, so that nothing firmware left
//! routed reaches a CPU; routing a device's interrupt through it comes with
//! the first such device.

use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

use crate::addr::VirtAddr;
use crate::drivers::mmio::{Misaligned, Mmio, register};

/// Bytes to map: the direct registers (the mapping is rounded up to a page).
pub const MAPPING_SIZE: u64 = 0x20;

/// The indirect registers' indices, written to IOREGSEL.
mod index {
    /// IOAPICVER, the version register.
    pub const VERSION: u8 = 0x01;
    /// The low half of redirection entry 0; entry `n` is at `2 n` more, its
    /// high half right after.
    pub const REDIRECTION_TABLE: u8 = 0x10;
}

register_bitfields! [
    u32,

    /// IOREGSEL, I/O Register Select.
    IOREGSEL [
        /// The index of the indirect register IOWIN reaches.
        REGISTER_ADDRESS OFFSET(0) NUMBITS(8) []
    ],

    /// IOAPICVER, I/O APIC Version Register (indirect).
    IOAPICVER [
        /// Number of redirection entries, minus one.
        MAX_REDIRECTION_ENTRY OFFSET(16) NUMBITS(8) [],
        /// The implementation's version (0x11 on the 82093AA, 0x20 in QEMU).
        VERSION OFFSET(0) NUMBITS(8) []
    ]
];

register_bitfields! [
    u64,

    /// IOREDTBLn, one redirection entry: two indirect 32-bit registers.
    REDIRECTION [
        /// Destination: an APIC ID (physical mode) or a set of CPUs (logical).
        DESTINATION OFFSET(56) NUMBITS(8) [],
        /// Masked: the line's interrupts are not delivered.
        MASK OFFSET(16) NUMBITS(1) [],
        /// Trigger mode.
        TRIGGER_MODE OFFSET(15) NUMBITS(1) [
            Edge = 0,
            Level = 1
        ],
        /// Remote IRR (read only): a level interrupt is being served.
        REMOTE_IRR OFFSET(14) NUMBITS(1) [],
        /// Input pin polarity.
        POLARITY OFFSET(13) NUMBITS(1) [
            ActiveHigh = 0,
            ActiveLow = 1
        ],
        /// Delivery status (read only): the interrupt waits to be sent.
        DELIVERY_STATUS OFFSET(12) NUMBITS(1) [],
        /// How [`DESTINATION`](REDIRECTION::DESTINATION) is read.
        DESTINATION_MODE OFFSET(11) NUMBITS(1) [
            Physical = 0,
            Logical = 1
        ],
        /// Delivery mode.
        DELIVERY_MODE OFFSET(8) NUMBITS(3) [
            Fixed = 0b000,
            LowestPriority = 0b001,
            Smi = 0b010,
            Nmi = 0b100,
            Init = 0b101,
            ExtInt = 0b111
        ],
        /// The vector delivered.
        VECTOR OFFSET(0) NUMBITS(8) []
    ]
];

register_structs! {
    IoApicRegisters {
        (0x00 => select: ReadWrite<u32, IOREGSEL::Register>),
        (0x04 => _reserved0),
        /// IOWIN, I/O Window: the register IOREGSEL names.
        (0x10 => window: ReadWrite<u32>),
        (0x14 => _reserved1),
        (0x20 => @END),
    }
}

/// A redirection entry that delivers nothing: masked, all else zero.
const MASKED: FieldValue<u64, REDIRECTION::Register> = REDIRECTION::MASK::SET;

/// The indices of redirection entry `entry`'s low and high halves, or `None`
/// past the 120 entries the 8-bit index can reach.
fn redirection_indices(entry: u32) -> Option<(u8, u8)> {
    let low = u32::from(index::REDIRECTION_TABLE).checked_add(entry.checked_mul(2)?)?;
    let low = u8::try_from(low).ok().filter(|&low| low < u8::MAX)?;
    Some((low, low + 1))
}

/// How many redirection entries an IOAPICVER value announces.
fn entry_count(version: LocalRegisterCopy<u32, IOAPICVER::Register>) -> u32 {
    version.read(IOAPICVER::MAX_REDIRECTION_ENTRY) + 1
}

/// One I/O APIC.
pub struct IoApic {
    registers: Mmio<IoApicRegisters>,
}

impl IoApic {
    /// Takes the I/O APIC whose registers are mapped at `base`. Touches no
    /// register.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is not page-aligned (the MADT gives a
    /// 32-bit physical address, in practice the start of a page).
    ///
    /// # Safety
    ///
    /// Unless it is refused, `base` must be the virtual address of an I/O
    /// APIC's registers, mapped as uncached device memory over
    /// [`MAPPING_SIZE`] bytes. The mapping must stay valid while the driver
    /// lives, and no other driver instance may use this I/O APIC meanwhile
    /// (IOREGSEL makes every access two steps).
    pub unsafe fn new(base: VirtAddr) -> Result<Self, Misaligned> {
        Ok(Self {
            // SAFETY: the caller's promise is `Mmio::new`'s contract.
            registers: unsafe { Mmio::new(base) }?,
        })
    }

    fn read(&mut self, index: u8) -> u32 {
        register!(self.registers, select).write(IOREGSEL::REGISTER_ADDRESS.val(u32::from(index)));
        register!(self.registers, window).get()
    }

    fn write(&mut self, index: u8, value: u32) {
        register!(self.registers, select).write(IOREGSEL::REGISTER_ADDRESS.val(u32::from(index)));
        register!(self.registers, window).set(value);
    }

    /// How many redirection entries (input lines) it has, from IOAPICVER:
    /// 24 on the PC's usual I/O APIC.
    pub fn redirection_entries(&mut self) -> u32 {
        entry_count(LocalRegisterCopy::new(self.read(index::VERSION)))
    }

    /// Masks every redirection entry, clearing its other fields: the low half
    /// first, so the line is masked before its destination changes.
    pub fn mask_all(&mut self) {
        let [low, high] = [MASKED.value as u32, (MASKED.value >> 32) as u32];
        for entry in 0..self.redirection_entries() {
            let Some((low_index, high_index)) = redirection_indices(entry) else {
                break;
            };
            self.write(low_index, low);
            self.write(high_index, high);
        }
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    #[test]
    fn direct_registers_sit_at_the_datasheet_offsets() {
        assert_eq!(offset_of!(IoApicRegisters, select), 0x00);
        assert_eq!(offset_of!(IoApicRegisters, window), 0x10);
        assert_eq!(size_of::<IoApicRegisters>() as u64, MAPPING_SIZE);
    }

    #[test]
    fn redirection_entries_are_pairs_from_0x10() {
        assert_eq!(redirection_indices(0), Some((0x10, 0x11)));
        assert_eq!(redirection_indices(23), Some((0x3e, 0x3f)));
        assert_eq!(redirection_indices(119), Some((0xfe, 0xff)));
        assert_eq!(redirection_indices(120), None);
        assert_eq!(redirection_indices(u32::MAX), None);
    }

    #[test]
    fn the_version_register_counts_entries() {
        // QEMU's I/O APIC: version 0x20, 24 entries.
        assert_eq!(entry_count(LocalRegisterCopy::new(0x0017_0020)), 24);
        assert_eq!(entry_count(LocalRegisterCopy::new(0x00ff_0011)), 256);
    }

    #[test]
    fn redirection_fields_match_the_datasheet() {
        assert_eq!(MASKED.value, 1 << 16);
        let entry = REDIRECTION::VECTOR.val(0x31)
            + REDIRECTION::DELIVERY_MODE::LowestPriority
            + REDIRECTION::DESTINATION_MODE::Logical
            + REDIRECTION::POLARITY::ActiveLow
            + REDIRECTION::TRIGGER_MODE::Level
            + REDIRECTION::DESTINATION.val(3);
        assert_eq!(entry.value, 0x0300_0000_0000_a931);
        assert_eq!(REDIRECTION::DELIVERY_MODE::ExtInt.value, 0x700);
    }
}
