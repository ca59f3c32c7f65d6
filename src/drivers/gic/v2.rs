//! GICv2 (ARM IHI 0048B), as in QEMU `virt` and the Raspberry Pi 4's GIC-400:
//! a memory-mapped distributor and a memory-mapped CPU interface.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::{DEFAULT_PRIORITY, FIRST_SPECIAL_INTID, FIRST_SPI, InterruptController, bit_position};
use crate::addr::VirtAddr;
use crate::drivers::mmio::{Misaligned, Mmio, register};

/// Bytes to map for the distributor.
pub const DISTRIBUTOR_SIZE: usize = 0x1000;

/// Bytes to map for the CPU interface (GICC_DIR sits in the second page).
pub const CPU_INTERFACE_SIZE: usize = 0x2000;

register_bitfields! [
    u32,

    /// GICD_CTLR, Distributor Control Register. Without the Security Extensions
    /// (QEMU) bit 0 enables group 0 and bit 1 group 1; in the Non-secure view (a
    /// Raspberry Pi's firmware leaves us there) bit 0 enables group 1 and bit 1 is
    /// reserved. Setting both enables what this CPU may enable either way.
    GICD_CTLR [
        /// Enable forwarding of pending Group 1 interrupts (Secure view).
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Enable forwarding of pending Group 0 interrupts (Secure view), or of
        /// Group 1 interrupts (Non-secure view).
        EnableGrp0 OFFSET(0) NUMBITS(1) []
    ],

    /// GICD_TYPER, Interrupt Controller Type Register.
    GICD_TYPER [
        /// Number of implemented CPU interfaces, minus one.
        CPUNumber OFFSET(5) NUMBITS(3) [],
        /// Maximum number of interrupts supported: 32 × (ITLinesNumber + 1).
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],

    /// GICC_CTLR, CPU Interface Control Register (same two views as GICD_CTLR).
    GICC_CTLR [
        /// Enable signaling of Group 1 interrupts (Secure view).
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Enable signaling of Group 0 interrupts (Secure view), or of Group 1
        /// interrupts (Non-secure view).
        EnableGrp0 OFFSET(0) NUMBITS(1) []
    ],

    /// GICC_IAR / GICC_EOIR: Interrupt Acknowledge and End of Interrupt Registers.
    GICC_IAR [
        /// For SGIs, the processor that requested the interrupt.
        CPUID OFFSET(10) NUMBITS(3) [],
        /// The interrupt ID.
        InterruptID OFFSET(0) NUMBITS(10) []
    ]
];

register_structs! {
    DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => _reserved0),
        /// GICD_ISENABLERn, Interrupt Set-Enable Registers: write 1 to enable.
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        /// GICD_ICENABLERn, Interrupt Clear-Enable Registers: write 1 to disable.
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        /// GICD_ICACTIVERn, Interrupt Clear-Active Registers.
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        /// GICD_IPRIORITYRn, Interrupt Priority Registers: one byte per INTID.
        (0x400 => ipriorityr: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved2),
        /// GICD_ITARGETSRn, Interrupt Processor Targets Registers: one byte per
        /// INTID, one bit per CPU interface. Bytes 0..32 are read-only and read as
        /// the mask of the CPU that reads them.
        (0x800 => itargetsr: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved3),
        /// GICD_ICFGRn, Interrupt Configuration Registers: two bits per INTID,
        /// the upper one set for edge-triggered, clear for level-sensitive.
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved4),
        (0x1000 => @END),
    },

    CpuInterfaceRegisters {
        (0x00 => ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        /// GICC_PMR, Interrupt Priority Mask Register: only interrupts with a
        /// higher priority (lower value) than this are signaled.
        (0x04 => pmr: ReadWrite<u32>),
        /// GICC_BPR, Binary Point Register: splits priority into group priority
        /// (for preemption) and subpriority.
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32, GICC_IAR::Register>),
        (0x10 => eoir: WriteOnly<u32, GICC_IAR::Register>),
        (0x14 => _reserved0),
        (0x1000 => @END),
    }
}

/// A GICv2 distributor and the CPU interface of the CPU that uses this value.
pub struct GicV2 {
    distributor: Mmio<DistributorRegisters>,
    cpu_interface: Mmio<CpuInterfaceRegisters>,
    /// For each SGI, the CPUID that `acknowledge` last reported: GICC_EOIR must
    /// be written with the same CPUID as GICC_IAR returned.
    sgi_source: [u8; 16],
}

impl GicV2 {
    /// Takes the GICv2 whose distributor and CPU interface are mapped at the given
    /// addresses. Touches no register.
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when either address is not page-aligned.
    ///
    /// # Safety
    ///
    /// Unless they are refused, `distributor` must be the virtual address of
    /// the GIC distributor's registers and `cpu_interface` that of its CPU
    /// interface, each mapped as device memory over [`DISTRIBUTOR_SIZE`] and
    /// [`CPU_INTERFACE_SIZE`] bytes. Both mappings must stay valid for as long
    /// as the returned driver lives, and no other driver instance may use these
    /// registers meanwhile.
    pub unsafe fn new(distributor: VirtAddr, cpu_interface: VirtAddr) -> Result<Self, Misaligned> {
        Ok(Self {
            // SAFETY: the caller's promise for `distributor` is `Mmio::new`'s
            // contract for the distributor block.
            distributor: unsafe { Mmio::new(distributor) }?,
            // SAFETY: likewise for the CPU interface block.
            cpu_interface: unsafe { Mmio::new(cpu_interface) }?,
            sgi_source: [0; 16],
        })
    }

    /// The number of interrupt lines (INTIDs 0..lines, a multiple of 32) and of
    /// CPU interfaces the distributor implements, from GICD_TYPER.
    pub fn distributor_type(&self) -> (u32, u32) {
        let typer = register!(self.distributor, typer).extract();
        let lines = 32 * (typer.read(GICD_TYPER::ITLinesNumber) + 1);
        let cpus = typer.read(GICD_TYPER::CPUNumber) + 1;
        (lines, cpus)
    }

    /// Puts every SPI in a known state and turns the distributor on.
    ///
    /// With forwarding off: every SPI disabled and inactive, level-sensitive, at
    /// [`DEFAULT_PRIORITY`], routed to the calling CPU.
    /// Then forwarding is enabled for both groups. Call once, before
    /// [`init_cpu_interface`](InterruptController::init_cpu_interface).
    pub fn init_distributor(&mut self) {
        register!(self.distributor, ctlr).set(0);

        let (lines, _) = self.distributor_type();
        let spi_lines = FIRST_SPI..lines.min(FIRST_SPECIAL_INTID);
        let this_cpu = self.this_cpu_target();
        for intid in spi_lines.clone() {
            register!(self.distributor, ipriorityr[intid as usize]).set(DEFAULT_PRIORITY);
            register!(self.distributor, itargetsr[intid as usize]).set(this_cpu);
        }
        for index in (spi_lines.start / 16)..(lines / 16) {
            register!(self.distributor, icfgr[index as usize]).set(0);
        }
        for index in (spi_lines.start / 32)..(lines / 32) {
            register!(self.distributor, icenabler[index as usize]).set(u32::MAX);
            register!(self.distributor, icactiver[index as usize]).set(u32::MAX);
        }

        register!(self.distributor, ctlr)
            .write(GICD_CTLR::EnableGrp0::SET + GICD_CTLR::EnableGrp1::SET);
    }

    /// The GICD_ITARGETSR bit of the calling CPU. A uniprocessor GIC reads the
    /// banked bytes as zero and ignores targets; CPU interface 0 is then right.
    fn this_cpu_target(&self) -> u8 {
        match register!(self.distributor, itargetsr[0]).get() {
            0 => 1,
            mask => mask,
        }
    }
}

impl InterruptController for GicV2 {
    /// Also disables and deactivates the calling CPU's PPIs, enables its SGIs,
    /// and gives all of them [`DEFAULT_PRIORITY`]: those
    /// distributor registers are banked per CPU.
    fn init_cpu_interface(&mut self) {
        register!(self.distributor, icactiver[0]).set(u32::MAX);
        register!(self.distributor, icenabler[0]).set(0xffff_0000);
        register!(self.distributor, isenabler[0]).set(0x0000_ffff);
        for intid in 0..FIRST_SPI {
            register!(self.distributor, ipriorityr[intid as usize]).set(DEFAULT_PRIORITY);
        }
        register!(self.cpu_interface, pmr).set(0xff);
        // Zero asks for the finest preemption grouping; the GIC raises it to its
        // own minimum.
        register!(self.cpu_interface, bpr).set(0);
        register!(self.cpu_interface, ctlr)
            .write(GICC_CTLR::EnableGrp0::SET + GICC_CTLR::EnableGrp1::SET);
    }

    fn enable(&mut self, intid: u32) {
        if let Some((index, mask)) = bit_position(intid) {
            register!(self.distributor, isenabler[index]).set(mask);
        }
    }

    fn acknowledge(&mut self) -> Option<u32> {
        let iar = register!(self.cpu_interface, iar).extract();
        let intid = iar.read(GICC_IAR::InterruptID);
        if intid >= FIRST_SPECIAL_INTID {
            return None;
        }
        if let Some(source) = self.sgi_source.get_mut(intid as usize) {
            // CPUID is three bits wide.
            *source = iar.read(GICC_IAR::CPUID) as u8;
        }
        Some(intid)
    }

    fn end_of_interrupt(&mut self, intid: u32) {
        if intid >= FIRST_SPECIAL_INTID {
            return;
        }
        let source = self.sgi_source.get(intid as usize).copied().unwrap_or(0);
        register!(self.cpu_interface, eoir)
            .write(GICC_IAR::InterruptID.val(intid) + GICC_IAR::CPUID.val(u32::from(source)));
    }

    fn is_enabled(&self, intid: u32) -> bool {
        bit_position(intid).is_some_and(|(index, mask)| {
            register!(self.distributor, isenabler[index]).get() & mask != 0
        })
    }
}
