//! The GICv3 distributor and redistributor registers (ARM IHI 0069, chapter 12).

use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [
    u32,

    /// GICD_CTLR, Distributor Control Register, in the layout of a GIC with a
    /// single Security state (GICD_CTLR.DS = 1, as on QEMU `virt`). A kernel
    /// running Non-secure on a GIC with two Security states sees ARE_NS at bit 4
    /// and its Group 1 enable (EnableGrp1A) at bit 1, so setting bits 4, 1 and 0
    /// does the same job in both layouts.
    pub(super) GICD_CTLR [
        /// Register Write Pending: set while a write to GICD_CTLR or
        /// GICD_ICENABLER<n> is still taking effect.
        RWP OFFSET(31) NUMBITS(1) [],
        /// Affinity Routing Enable.
        ARE OFFSET(4) NUMBITS(1) [],
        /// Enable Group 1 interrupts.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Enable Group 0 interrupts.
        EnableGrp0 OFFSET(0) NUMBITS(1) []
    ],

    /// GICD_TYPER, Interrupt Controller Type Register.
    pub(super) GICD_TYPER [
        /// SPI INTIDs go up to 32 × (ITLinesNumber + 1) − 1.
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],

    /// GICR_CTLR, Redistributor Control Register.
    pub(super) GICR_CTLR [
        /// Register Write Pending: set while a write to GICR_ICENABLER0 is still
        /// taking effect.
        RWP OFFSET(3) NUMBITS(1) []
    ],

    /// GICR_WAKER, Redistributor Wake Register.
    pub(super) GICR_WAKER [
        /// Indicates whether the connected PE is quiescent.
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        /// Indicates whether the Redistributor can assert the WakeRequest signal:
        /// 0 means this PE is not in, and is not entering, a low power state.
        ProcessorSleep OFFSET(1) NUMBITS(1) []
    ]
];

register_bitfields! [
    u64,

    /// GICR_TYPER, Redistributor Type Register.
    pub(super) GICR_TYPER [
        /// The identity of the PE associated with this Redistributor:
        /// Aff3.Aff2.Aff1.Aff0 from high to low byte.
        Affinity_Value OFFSET(32) NUMBITS(32) [],
        /// This Redistributor is the highest-numbered one in a series of
        /// contiguous Redistributor pages.
        Last OFFSET(4) NUMBITS(1) [],
        /// Whether the GIC implementation supports virtual LPIs and the direct
        /// injection of virtual LPIs.
        VLPIS OFFSET(1) NUMBITS(1) []
    ],

    /// GICD_IROUTER<n>, Interrupt Routing Registers.
    pub(super) GICD_IROUTER [
        /// Affinity level 3.
        Aff3 OFFSET(32) NUMBITS(8) [],
        /// Interrupt Routing Mode: 0 routes to the PE named by the affinity
        /// fields, 1 to any participating PE.
        Interrupt_Routing_Mode OFFSET(31) NUMBITS(1) [],
        /// Affinity level 2.
        Aff2 OFFSET(16) NUMBITS(8) [],
        /// Affinity level 1.
        Aff1 OFFSET(8) NUMBITS(8) [],
        /// Affinity level 0.
        Aff0 OFFSET(0) NUMBITS(8) []
    ]
];

register_structs! {
    pub(super) DistributorRegisters {
        (0x0000 => pub(super) ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => pub(super) typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _reserved0),
        /// GICD_IGROUPR<n>, Interrupt Group Registers: 1 puts the INTID in Group 1.
        (0x0080 => pub(super) igroupr: [ReadWrite<u32>; 32]),
        /// GICD_ISENABLER<n>, Interrupt Set-Enable Registers.
        (0x0100 => pub(super) isenabler: [ReadWrite<u32>; 32]),
        /// GICD_ICENABLER<n>, Interrupt Clear-Enable Registers.
        (0x0180 => pub(super) icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        /// GICD_ICACTIVER<n>, Interrupt Clear-Active Registers.
        (0x0380 => pub(super) icactiver: [ReadWrite<u32>; 32]),
        /// GICD_IPRIORITYR<n>, Interrupt Priority Registers: one byte per INTID.
        (0x0400 => pub(super) ipriorityr: [ReadWrite<u8>; 1020]),
        (0x07fc => _reserved2),
        /// GICD_ICFGR<n>, Interrupt Configuration Registers: two bits per INTID,
        /// the upper one set for edge-triggered, clear for level-sensitive.
        (0x0c00 => pub(super) icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved3),
        /// GICD_IROUTER<n> for n = 32..1020: element `n - 32`.
        (0x6100 => pub(super) irouter: [ReadWrite<u64, GICD_IROUTER::Register>; 988]),
        (0x7fe0 => _reserved4),
        (0x1_0000 => @END),
    },

    /// RD_base: the redistributor's control frame.
    pub(super) RedistributorControlFrame {
        (0x0000 => pub(super) ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => _reserved0),
        (0x0008 => pub(super) typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved1),
        (0x0014 => pub(super) waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved2),
        (0x1_0000 => @END),
    },

    /// SGI_base: the redistributor's frame for SGIs and PPIs (INTIDs 0..32).
    pub(super) RedistributorSgiFrame {
        (0x0000 => _reserved0),
        /// GICR_IGROUPR0, Interrupt Group Register 0.
        (0x0080 => pub(super) igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        /// GICR_ISENABLER0, Interrupt Set-Enable Register 0.
        (0x0100 => pub(super) isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        /// GICR_ICENABLER0, Interrupt Clear-Enable Register 0.
        (0x0180 => pub(super) icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        /// GICR_ICACTIVER0, Interrupt Clear-Active Register 0.
        (0x0380 => pub(super) icactiver0: ReadWrite<u32>),
        (0x0384 => _reserved4),
        /// GICR_IPRIORITYR<n>, Interrupt Priority Registers: one byte per INTID.
        (0x0400 => pub(super) ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved5),
        (0x1_0000 => @END),
    },

    /// One redistributor's first two frames.
    pub(super) RedistributorRegisters {
        (0x0_0000 => pub(super) control: RedistributorControlFrame),
        (0x1_0000 => pub(super) sgi: RedistributorSgiFrame),
        (0x2_0000 => @END),
    }
}
