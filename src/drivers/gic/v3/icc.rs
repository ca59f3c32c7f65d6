//! The GICv3 CPU interface system registers (ICC_*_EL1) used by the driver,
//! and the fields of ICC_SRE_EL2 that boot.s sets.
//!
//! Each register is a unit value implementing `tock-registers`' `Readable`
//! and/or `Writeable` with one `mrs`/`msr`, so the driver uses the same typed
//! fields as for memory-mapped registers. The generic `S3_<op1>_C<n>_C<m>_<op2>`
//! names avoid depending on the assembler knowing the GIC register names.

use core::arch::asm;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

register_bitfields! [
    u64,

    /// ICC_SRE_EL1, Interrupt Controller System Register Enable register.
    pub ICC_SRE_EL1 [
        /// System Register Enable: 1 means the System register interface for the
        /// current Security state is enabled.
        SRE OFFSET(0) NUMBITS(1) []
    ],

    /// ICC_SRE_EL2, Interrupt Controller System Register Enable register
    /// (EL2). Only EL2 accesses it (boot.s); the driver reads the value boot.s
    /// recorded.
    pub ICC_SRE_EL2 [
        /// System Register Enable: 1 means the System register interface for
        /// EL2 is enabled; RAZ/WI while ICC_SRE_EL3.SRE is 0.
        SRE OFFSET(0) NUMBITS(1) [],
        /// Enable: 1 means EL1 accesses to ICC_SRE_EL1 do not trap to EL2.
        Enable OFFSET(3) NUMBITS(1) []
    ],

    /// ICC_PMR_EL1, Interrupt Controller Interrupt Priority Mask Register.
    pub ICC_PMR_EL1 [
        /// The priority mask level: only interrupts with a higher priority (lower
        /// value) are signaled to the PE.
        Priority OFFSET(0) NUMBITS(8) []
    ],

    /// ICC_BPR1_EL1, Interrupt Controller Binary Point Register 1.
    pub ICC_BPR1_EL1 [
        /// Splits the Group 1 priority into group priority and subpriority.
        BinaryPoint OFFSET(0) NUMBITS(3) []
    ],

    /// ICC_IGRPEN1_EL1, Interrupt Controller Interrupt Group 1 Enable register.
    pub ICC_IGRPEN1_EL1 [
        /// Enables Group 1 interrupts for the current Security state.
        Enable OFFSET(0) NUMBITS(1) []
    ],

    /// ICC_IAR1_EL1 / ICC_EOIR1_EL1, Interrupt Controller Interrupt Acknowledge
    /// and End Of Interrupt Registers 1.
    pub ICC_IAR1_EL1 [
        /// The INTID of the signaled (IAR) or completed (EOIR) interrupt.
        INTID OFFSET(0) NUMBITS(24) []
    ]
];

/// Declares a register as a unit struct and implements `Readable` (`mrs`)
/// and/or `Writeable` (`msr`) for it.
macro_rules! system_register {
    ($(#[$doc:meta])* $name:ident = $encoding:literal, $fields:path, [$($access:ident),+]) => {
        $(#[$doc])*
        pub struct $name;

        $( system_register!(@$access $name, $encoding, $fields); )+
    };
    (@read $name:ident, $encoding:literal, $fields:path) => {
        impl Readable for $name {
            type T = u64;
            type R = $fields;

            fn get(&self) -> u64 {
                let value;
                // SAFETY: reading a GIC CPU interface register touches no memory
                // and no Rust-visible state; its effect on the GIC is the one the
                // register exists for. `nomem` is deliberately left out so the
                // access stays ordered with the driver's MMIO accesses.
                unsafe {
                    asm!(concat!("mrs {}, ", $encoding), out(reg) value,
                         options(nostack, preserves_flags));
                }
                value
            }
        }
    };
    (@write $name:ident, $encoding:literal, $fields:path) => {
        impl Writeable for $name {
            type T = u64;
            type R = $fields;

            fn set(&self, value: u64) {
                // SAFETY: writing a GIC CPU interface register touches no memory
                // and no Rust-visible state. `nomem` is deliberately left out so
                // the access stays ordered with the driver's MMIO accesses.
                unsafe {
                    asm!(concat!("msr ", $encoding, ", {}"), in(reg) value,
                         options(nostack, preserves_flags));
                }
            }
        }
    };
}

system_register!(
    /// ICC_SRE_EL1: op0=3, op1=0, CRn=12, CRm=12, op2=5.
    SystemRegisterEnable = "S3_0_C12_C12_5", ICC_SRE_EL1::Register, [read, write]
);
system_register!(
    /// ICC_PMR_EL1: op0=3, op1=0, CRn=4, CRm=6, op2=0.
    PriorityMask = "S3_0_C4_C6_0", ICC_PMR_EL1::Register, [read, write]
);
system_register!(
    /// ICC_BPR1_EL1: op0=3, op1=0, CRn=12, CRm=12, op2=3 (CRm=8 would be BPR0).
    BinaryPoint1 = "S3_0_C12_C12_3", ICC_BPR1_EL1::Register, [read, write]
);
system_register!(
    /// ICC_IGRPEN1_EL1: op0=3, op1=0, CRn=12, CRm=12, op2=7.
    Group1Enable = "S3_0_C12_C12_7", ICC_IGRPEN1_EL1::Register, [read, write]
);
system_register!(
    /// ICC_IAR1_EL1: op0=3, op1=0, CRn=12, CRm=12, op2=0. Reading acknowledges.
    InterruptAcknowledge1 = "S3_0_C12_C12_0", ICC_IAR1_EL1::Register, [read]
);
system_register!(
    /// ICC_EOIR1_EL1: op0=3, op1=0, CRn=12, CRm=12, op2=1.
    EndOfInterrupt1 = "S3_0_C12_C12_1", ICC_IAR1_EL1::Register, [write]
);
