//! The local APIC in xAPIC mode (Intel SDM volume 3, chapter 11): each CPU's
//! own interrupt controller and timer, reached through one 4 KiB page of
//! 32-bit registers at the address the ACPI MADT gives. Every CPU sees its
//! own local APIC at that same address.
//!
//! The driver enables the APIC with a spurious vector, signals the end of an
//! interrupt, and runs the APIC timer one shot at a time (the kernel re-arms
//! it on each tick). It does not send IPIs and does not speak x2APIC, whose
//! registers are MSRs instead of memory.

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::addr::VirtAddr;
use crate::drivers::mmio::{Misaligned, Mmio, register};

/// Bytes to map: the local APIC's register page.
pub const MAPPING_SIZE: u64 = 0x1000;

/// What the timer's input clock is divided by before it decrements the
/// count: 16 keeps a 1 GHz clock (QEMU's) countable for 68 s in 32 bits,
/// and still counts tens of thousands of times per 100 Hz tick on a 25 MHz
/// crystal.
pub const TIMER_DIVISOR: u32 = 16;

register_bitfields! [
    u32,

    /// Local APIC ID Register.
    ID [
        /// The APIC ID of this CPU (bits 31:24 in xAPIC mode).
        APIC_ID OFFSET(24) NUMBITS(8) []
    ],

    /// Local APIC Version Register.
    VERSION [
        /// Suppression of EOI broadcasts is supported.
        EOI_BROADCAST_SUPPRESSION OFFSET(24) NUMBITS(1) [],
        /// Number of LVT entries, minus one.
        MAX_LVT_ENTRY OFFSET(16) NUMBITS(8) [],
        /// 0x1X for an integrated APIC, 0x0X for an external 82489DX.
        VERSION OFFSET(0) NUMBITS(8) []
    ],

    /// Task Priority Register: interrupts whose priority class (vector bits
    /// 7:4) is at or below the task priority class are held back.
    TPR [
        /// Task priority class.
        CLASS OFFSET(4) NUMBITS(4) [],
        /// Task priority subclass.
        SUBCLASS OFFSET(0) NUMBITS(4) []
    ],

    /// Spurious Interrupt Vector Register.
    SVR [
        /// EOI-broadcast suppression (only if the version register offers it).
        EOI_BROADCAST_SUPPRESSION OFFSET(12) NUMBITS(1) [],
        /// Focus processor checking disabled (lowest-priority delivery).
        FOCUS_CHECKING_DISABLED OFFSET(9) NUMBITS(1) [],
        /// APIC software enable: while clear, the APIC delivers nothing and
        /// every LVT entry stays masked.
        APIC_ENABLE OFFSET(8) NUMBITS(1) [],
        /// The vector the APIC delivers when it withdraws an interrupt it
        /// had signalled; its handler must not send an EOI.
        VECTOR OFFSET(0) NUMBITS(8) []
    ],

    /// LVT Timer Register.
    LVT_TIMER [
        /// Timer mode.
        TIMER_MODE OFFSET(17) NUMBITS(2) [
            /// Count down once from the initial count.
            OneShot = 0b00,
            /// Reload the initial count at zero.
            Periodic = 0b01,
            /// Fire when the TSC reaches IA32_TSC_DEADLINE.
            TscDeadline = 0b10
        ],
        /// Masked: the timer counts but raises no interrupt.
        MASK OFFSET(16) NUMBITS(1) [],
        /// Send pending (read only).
        DELIVERY_STATUS OFFSET(12) NUMBITS(1) [],
        /// The vector the timer raises.
        VECTOR OFFSET(0) NUMBITS(8) []
    ],

    /// LVT LINT0 and LINT1 Registers: the local interrupt pins.
    LVT_LINT [
        /// Masked: the pin raises no interrupt.
        MASK OFFSET(16) NUMBITS(1) [],
        /// Delivery mode (firmware sets LINT0 to ExtINT for the 8259s and
        /// LINT1 to NMI).
        DELIVERY_MODE OFFSET(8) NUMBITS(3) [
            /// The vector field's interrupt.
            Fixed = 0b000,
            /// A non-maskable interrupt.
            Nmi = 0b100,
            /// The vector comes from an external 8259.
            ExtInt = 0b111
        ]
    ],

    /// Divide Configuration Register: bits 0, 1 and 3 (bit 2 is reserved,
    /// zero in every value).
    DIVIDE [
        /// The divisor of the timer's input clock.
        DIVIDE_VALUE OFFSET(0) NUMBITS(4) [
            By2 = 0b0000,
            By4 = 0b0001,
            By8 = 0b0010,
            By16 = 0b0011,
            By32 = 0b1000,
            By64 = 0b1001,
            By128 = 0b1010,
            By1 = 0b1011
        ]
    ]
];

register_structs! {
    LocalApicRegisters {
        (0x000 => _reserved0),
        (0x020 => id: ReadWrite<u32, ID::Register>),
        (0x024 => _reserved1),
        (0x030 => version: ReadOnly<u32, VERSION::Register>),
        (0x034 => _reserved2),
        (0x080 => tpr: ReadWrite<u32, TPR::Register>),
        (0x084 => _reserved3),
        /// End Of Interrupt register: write 0.
        (0x0b0 => eoi: WriteOnly<u32>),
        (0x0b4 => _reserved4),
        (0x0f0 => svr: ReadWrite<u32, SVR::Register>),
        (0x0f4 => _reserved5),
        /// Interrupt Request Register: 256 bits, one per vector, in eight
        /// 32-bit registers 16 bytes apart (the words between are reserved).
        /// A set bit is an interrupt the APIC accepted and has not yet
        /// delivered to the CPU.
        (0x200 => irr: [ReadOnly<u32>; 32]),
        (0x280 => _reserved_after_irr),
        (0x320 => lvt_timer: ReadWrite<u32, LVT_TIMER::Register>),
        (0x324 => _reserved6),
        (0x350 => lvt_lint0: ReadWrite<u32, LVT_LINT::Register>),
        (0x354 => _reserved7),
        /// Initial Count Register: writing it starts the timer, 0 stops it.
        (0x380 => initial_count: ReadWrite<u32>),
        (0x384 => _reserved8),
        /// Current Count Register.
        (0x390 => current_count: ReadOnly<u32>),
        (0x394 => _reserved9),
        (0x3e0 => divide_configuration: ReadWrite<u32, DIVIDE::Register>),
        (0x3e4 => _reserved10),
        (0x400 => @END),
    }
}

/// The divide configuration for [`TIMER_DIVISOR`].
const TIMER_DIVIDE: FieldValue<u32, DIVIDE::Register> = {
    assert!(TIMER_DIVISOR == 16);
    DIVIDE::DIVIDE_VALUE::By16
};

/// SVR with the APIC enabled and `spurious_vector` as its spurious vector.
fn enabled(spurious_vector: u8) -> FieldValue<u32, SVR::Register> {
    SVR::APIC_ENABLE::SET + SVR::VECTOR.val(u32::from(spurious_vector))
}

/// LVT timer in one-shot mode, raising `vector`, or masked when `None`.
fn one_shot(vector: Option<u8>) -> FieldValue<u32, LVT_TIMER::Register> {
    let delivery = match vector {
        Some(vector) => LVT_TIMER::MASK::CLEAR + LVT_TIMER::VECTOR.val(u32::from(vector)),
        None => LVT_TIMER::MASK::SET,
    };
    LVT_TIMER::TIMER_MODE::OneShot + delivery
}

/// The one-shot count that lasts `1/hz` s at `counts_per_second`, within
/// what the 32-bit count register holds and never 0 (which would stop the
/// timer instead).
pub fn one_shot_count(counts_per_second: u64, hz: u64) -> u32 {
    u32::try_from(counts_per_second / hz.max(1))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The local APIC of the CPU that uses this value, in xAPIC mode.
pub struct LocalApic {
    registers: Mmio<LocalApicRegisters>,
}

impl LocalApic {
    /// Takes the local APIC whose register page is mapped at `base`. Touches
    /// no register.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is not page-aligned.
    ///
    /// # Safety
    ///
    /// Unless it is refused, `base` must be the virtual address of the local
    /// APIC's register page (the MADT's local APIC address), mapped as
    /// uncached device memory over [`MAPPING_SIZE`] bytes, with the APIC in
    /// xAPIC mode. The mapping must stay valid while the driver lives, the
    /// driver may only be used on one CPU (each CPU reaches its own APIC
    /// there), and no other driver instance may use that CPU's APIC meanwhile.
    pub unsafe fn new(base: VirtAddr) -> Result<Self, Misaligned> {
        Ok(Self {
            // SAFETY: the caller's promise is `Mmio::new`'s contract.
            registers: unsafe { Mmio::new(base) }?,
        })
    }

    /// This CPU's APIC ID.
    pub fn id(&self) -> u8 {
        // The field is eight bits wide.
        register!(self.registers, id).read(ID::APIC_ID) as u8
    }

    /// The APIC's version: 0x10 to 0x1f for the integrated APIC of any CPU
    /// with an xAPIC; all ones where nothing answers.
    pub fn version(&self) -> u8 {
        // The field is eight bits wide.
        register!(self.registers, version).read(VERSION::VERSION) as u8
    }

    /// Enables the APIC with `spurious_vector` (whose low four bits should be
    /// set: the P6 family forces them to 1), lets every priority through
    /// (TPR 0), masks LINT0, which is where the 8259s' ExtINT interrupts come
    /// in, stops and masks the timer and sets its divisor to
    /// [`TIMER_DIVISOR`]. LINT1 (NMI) keeps what firmware set.
    pub fn enable(&mut self, spurious_vector: u8) {
        self.stop_timer();
        register!(self.registers, divide_configuration).write(TIMER_DIVIDE);
        register!(self.registers, lvt_lint0).modify(LVT_LINT::MASK::SET);
        register!(self.registers, tpr).write(TPR::CLASS.val(0) + TPR::SUBCLASS.val(0));
        register!(self.registers, svr).write(enabled(spurious_vector));
    }

    /// Signals the end of the interrupt being handled (any vector but the
    /// spurious one, which must not be ended).
    pub fn end_of_interrupt(&mut self) {
        register!(self.registers, eoi).set(0);
    }

    /// Starts the timer counting down from `count` once, at its input clock
    /// over [`TIMER_DIVISOR`], replacing any count in progress; at zero it
    /// raises `vector`, or nothing when `vector` is `None` (to measure its
    /// rate). A `count` of 0 stops it.
    pub fn start_one_shot(&mut self, count: u32, vector: Option<u8>) {
        register!(self.registers, lvt_timer).write(one_shot(vector));
        register!(self.registers, initial_count).set(count);
    }

    /// Stops the timer and masks its interrupt.
    pub fn stop_timer(&mut self) {
        self.start_one_shot(0, None);
    }

    /// Whether `vector` is requested (its IRR bit is set): the APIC holds it
    /// for the CPU, which has not taken it yet (IF clear, or a higher
    /// priority in service).
    pub fn is_requested(&self, vector: u8) -> bool {
        let vector = usize::from(vector);
        // Register n (vectors 32n..32n+32) is the first word of its 16 bytes.
        let word = register!(self.registers, irr[vector / 32 * 4]).get();
        word & (1 << (vector % 32)) != 0
    }

    /// The timer's count now: 0 once a one-shot count has run out.
    pub fn timer_count(&self) -> u32 {
        register!(self.registers, current_count).get()
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;
    use std::vec::Vec;

    use super::*;

    /// A register page in plain memory: reads return what was written last.
    #[repr(C, align(4096))]
    struct Page([u32; 1024]);

    impl Page {
        fn register(&self, offset: usize) -> u32 {
            self.0[offset / 4]
        }
    }

    #[test]
    fn registers_sit_at_the_sdm_offsets() {
        assert_eq!(offset_of!(LocalApicRegisters, id), 0x020);
        assert_eq!(offset_of!(LocalApicRegisters, version), 0x030);
        assert_eq!(offset_of!(LocalApicRegisters, tpr), 0x080);
        assert_eq!(offset_of!(LocalApicRegisters, eoi), 0x0b0);
        assert_eq!(offset_of!(LocalApicRegisters, svr), 0x0f0);
        assert_eq!(offset_of!(LocalApicRegisters, irr), 0x200);
        assert_eq!(offset_of!(LocalApicRegisters, lvt_timer), 0x320);
        assert_eq!(offset_of!(LocalApicRegisters, lvt_lint0), 0x350);
        assert_eq!(offset_of!(LocalApicRegisters, initial_count), 0x380);
        assert_eq!(offset_of!(LocalApicRegisters, current_count), 0x390);
        assert_eq!(offset_of!(LocalApicRegisters, divide_configuration), 0x3e0);
        assert!(size_of::<LocalApicRegisters>() as u64 <= MAPPING_SIZE);
    }

    #[test]
    fn field_values_match_the_sdm_encodings() {
        assert_eq!(enabled(0xff).value, 0x1ff);
        assert_eq!(one_shot(Some(0x30)).value, 0x30);
        assert_eq!(one_shot(None).value, 1 << 16);
        assert_eq!(LVT_TIMER::TIMER_MODE::Periodic.value, 1 << 17);
        assert_eq!(LVT_TIMER::TIMER_MODE::TscDeadline.value, 2 << 17);
        assert_eq!(LVT_LINT::DELIVERY_MODE::ExtInt.value, 0x700);
        assert_eq!(TIMER_DIVIDE.value, 0b0011);
        assert_eq!(DIVIDE::DIVIDE_VALUE::By1.value, 0b1011);
        assert_eq!(DIVIDE::DIVIDE_VALUE::By128.value, 0b1010);
    }

    #[test]
    fn enable_and_the_timer_write_the_registers() {
        let mut page = Box::new(Page([0; 1024]));
        // QEMU's values: APIC ID 3 and version 0x14 with six LVT entries;
        // firmware's LINT0 in ExtINT mode.
        page.0[0x020 / 4] = 3 << 24;
        page.0[0x030 / 4] = 0x0005_0014;
        page.0[0x350 / 4] = 0x700;
        page.0[0x080 / 4] = 0x20;
        {
            let base = VirtAddr::from_ptr(&raw mut *page);
            // SAFETY: the page is a page-aligned, page-sized block of plain
            // memory that only this driver touches, within this block.
            let mut apic = unsafe { LocalApic::new(base) }.unwrap();
            assert_eq!(apic.id(), 3);
            assert_eq!(apic.version(), 0x14);
            apic.enable(0xff);
            apic.start_one_shot(625_000, Some(0x30));
            apic.end_of_interrupt();
        }
        assert_eq!(page.register(0x0f0), 0x1ff);
        assert_eq!(page.register(0x080), 0);
        assert_eq!(page.register(0x350), 0x1_0700);
        assert_eq!(page.register(0x3e0), 0b0011);
        assert_eq!(page.register(0x320), 0x30);
        assert_eq!(page.register(0x380), 625_000);
    }

    #[test]
    fn requested_vectors_are_read_from_their_irr_register() {
        let mut page = Box::new(Page([0; 1024]));
        // Vector 0x30 is bit 16 of IRR register 1 (0x210); 0xff is bit 31 of
        // register 7 (0x270). The reserved words between hold noise.
        page.0[0x210 / 4] = 1 << 16;
        page.0[0x270 / 4] = 1 << 31;
        page.0[0x204 / 4] = u32::MAX;
        page.0[0x214 / 4] = u32::MAX;
        let base = VirtAddr::from_ptr(&raw mut *page);
        // SAFETY: the page is a page-aligned, page-sized block of plain
        // memory that only this driver touches, within this block.
        let apic = unsafe { LocalApic::new(base) }.unwrap();
        let requested: Vec<u8> = (0..=255).filter(|&v| apic.is_requested(v)).collect();
        assert_eq!(requested, [0x30, 0xff]);
    }

    #[test]
    fn one_shot_counts_fit_the_register() {
        assert_eq!(one_shot_count(62_500_000, 100), 625_000);
        assert_eq!(one_shot_count(62_500_000, 0), 62_500_000);
        assert_eq!(one_shot_count(u64::MAX, 1), u32::MAX);
        assert_eq!(one_shot_count(50, 100), 1);
    }

    #[test]
    fn a_misaligned_page_is_refused() {
        // SAFETY: refused before any access.
        let refused = unsafe { LocalApic::new(VirtAddr(0xfee0_0010)) };
        assert!(refused.is_err());
    }
}
