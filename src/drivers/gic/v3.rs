//! GICv3 (ARM IHI 0069), as in QEMU `virt,gic-version=3`: a memory-mapped
//! distributor for SPIs, one memory-mapped redistributor per CPU for its SGIs and
//! PPIs, and a CPU interface reached through system registers.
//!
//! Affinity routing is enabled, so SPIs are routed by MPIDR affinity and the
//! distributor's registers for INTIDs 0..32 are unused. Every interrupt is put in
//! Group 1, the group the kernel's IRQ handler acknowledges.
//!
//! The system-register code is AArch64 assembly; the `drivers` module is built
//! for AArch64 only.

mod icc;
mod registers;

use core::fmt;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::MPIDR_EL1;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use self::icc::{
    BinaryPoint1, EndOfInterrupt1, Group1Enable, ICC_BPR1_EL1, ICC_IAR1_EL1, ICC_IGRPEN1_EL1,
    ICC_PMR_EL1, ICC_SRE_EL1, ICC_SRE_EL2, InterruptAcknowledge1, PriorityMask,
    SystemRegisterEnable,
};
use self::registers::{
    DistributorRegisters, GICD_CTLR, GICD_IROUTER, GICD_TYPER, GICR_CTLR, GICR_TYPER, GICR_WAKER,
    RedistributorRegisters,
};
use super::{
    DEFAULT_PRIORITY, FIRST_SPECIAL_INTID, FIRST_SPI, InterruptController, SPECIAL_INTIDS,
    bit_position,
};
use crate::addr::{PhysAddr, PhysRange, VirtAddr};
use crate::drivers::mmio::{Misaligned, Mmio, register};

/// Bytes to map for the distributor.
pub const DISTRIBUTOR_SIZE: usize = 0x1_0000;

/// Bytes one redistributor occupies without virtual LPI support: its RD_base
/// and SGI_base frames of 64 KiB each. The driver maps this much of the
/// calling CPU's redistributor, with or without virtual LPIs.
pub const REDISTRIBUTOR_SIZE: usize = 0x2_0000;

/// Offset of GICR_TYPER in a redistributor's RD_base frame.
const GICR_TYPER_OFFSET: u64 = 0x8;

/// Bytes one redistributor occupies when GICR_TYPER.VLPIS is set: two more
/// 64 KiB frames (VLPI_base and a reserved one) follow the first two.
const REDISTRIBUTOR_SIZE_WITH_VLPIS: usize = 0x4_0000;

/// Why a [`GicV3`] could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The redistributor given does not report the affinity of the calling
    /// CPU in GICR_TYPER.
    RedistributorNotFound {
        /// MPIDR_EL1 of the calling CPU.
        mpidr: u64,
    },
    /// The distributor or the redistributor region is not page-aligned.
    Misaligned(Misaligned),
    /// ICC_SRE_EL1.SRE reads 0 after the kernel set it: it is RAZ/WI
    /// because a higher level (ICC_SRE_EL2.SRE or ICC_SRE_EL3.SRE clear)
    /// keeps the CPU interface on its memory-mapped registers, which this
    /// driver does not use, so every other ICC_* access would be undefined.
    /// (With ICC_SRE_EL2.Enable clear the EL1 access itself traps to EL2
    /// instead, so that case never gets here: see
    /// [`Error::El2KeepsSystemRegistersOff`].)
    SystemRegistersDisabled {
        /// ICC_SRE_EL1 as read back.
        sre: u64,
    },
    /// boot.s set ICC_SRE_EL2.Enable and SRE before dropping to EL1, and one
    /// did not stick (SRE is RAZ/WI while ICC_SRE_EL3.SRE is 0): EL1's ICC
    /// accesses would trap to EL2, or the interface stays memory-mapped.
    El2KeepsSystemRegistersOff {
        /// ICC_SRE_EL2 as boot.s read it back.
        icc_sre_el2: u64,
    },
}

impl From<Misaligned> for Error {
    fn from(error: Misaligned) -> Self {
        Self::Misaligned(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RedistributorNotFound { mpidr } => {
                write!(
                    f,
                    "no GICv3 redistributor for the CPU with MPIDR {mpidr:#x}"
                )
            }
            Self::Misaligned(error) => write!(f, "{error}"),
            Self::El2KeepsSystemRegistersOff { icc_sre_el2 } => write!(
                f,
                "ICC_SRE_EL2 read back {icc_sre_el2:#x} after the boot set Enable and SRE: EL3 keeps the GICv3 system register interface from EL1"
            ),
            Self::SystemRegistersDisabled { sre } => write!(
                f,
                "the GICv3 system register interface stays disabled (ICC_SRE_EL1 {sre:#x} after setting SRE): a higher exception level keeps it off"
            ),
        }
    }
}

/// A GICv3 distributor, and the redistributor and CPU interface of the CPU that
/// created this value. Use it on that CPU: the redistributor and the ICC system
/// registers are that CPU's own.
pub struct GicV3 {
    distributor: Mmio<DistributorRegisters>,
    redistributor: Mmio<RedistributorRegisters>,
    mpidr: u64,
}

impl GicV3 {
    /// Takes the GICv3 whose distributor is mapped at `distributor` and whose
    /// redistributor for the calling CPU (found with
    /// [`this_cpu_redistributor`]) is mapped at `redistributor`, and checks
    /// that GICR_TYPER there names this CPU.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] when either address is not page-aligned;
    /// [`Error::RedistributorNotFound`] when the redistributor belongs to
    /// another CPU; [`Error::SystemRegistersDisabled`] when this CPU's ICC
    /// system registers cannot be enabled (ICC_SRE_EL1.SRE is set here and
    /// read back).
    ///
    /// # Safety
    ///
    /// Unless they are refused as misaligned, `distributor` must be the virtual
    /// address of the GIC distributor's registers, mapped as device memory over
    /// [`DISTRIBUTOR_SIZE`] bytes, and `redistributor` that of a
    /// redistributor's RD_base and SGI_base frames, mapped as device memory
    /// over [`REDISTRIBUTOR_SIZE`] bytes. The physical frames are 64
    /// KiB-aligned, but the virtual addresses need only be page-aligned (the
    /// vmap window hands out pages). Both mappings must stay valid for as long
    /// as the returned driver lives, and no other driver instance may use these
    /// registers meanwhile.
    pub unsafe fn new(distributor: VirtAddr, redistributor: VirtAddr) -> Result<Self, Error> {
        let mpidr = MPIDR_EL1.get();
        // SAFETY: the caller's promise for `distributor` is `Mmio::new`'s
        // contract for the distributor block.
        let distributor = unsafe { Mmio::new(distributor) }?;
        // SAFETY: the caller's promise for `redistributor` is `Mmio::new`'s
        // contract for one redistributor's two frames.
        let redistributor: Mmio<RedistributorRegisters> = unsafe { Mmio::new(redistributor) }?;
        let typer = register!(redistributor, control.typer).extract();
        if typer.read(GICR_TYPER::Affinity_Value) != affinity(mpidr) {
            return Err(Error::RedistributorNotFound { mpidr });
        }
        enable_system_registers()?;
        Ok(Self {
            distributor,
            redistributor,
            mpidr,
        })
    }

    /// Puts every SPI in a known state and turns the distributor on with
    /// affinity routing.
    ///
    /// With the distributor off: affinity routing on, then every SPI in Group 1,
    /// disabled and inactive, level-sensitive, at
    /// [`DEFAULT_PRIORITY`], routed to the calling CPU.
    /// Then both groups are enabled. Call once, before
    /// [`init_cpu_interface`](InterruptController::init_cpu_interface).
    pub fn init_distributor(&mut self) {
        register!(self.distributor, ctlr).set(0);
        self.wait_for_distributor_write();
        register!(self.distributor, ctlr).write(GICD_CTLR::ARE::SET);
        self.wait_for_distributor_write();

        let lines = (32 * (register!(self.distributor, typer).read(GICD_TYPER::ITLinesNumber) + 1))
            .min(FIRST_SPECIAL_INTID);
        let route = self.route_to_this_cpu();
        for intid in FIRST_SPI..lines {
            register!(self.distributor, ipriorityr[intid as usize]).set(DEFAULT_PRIORITY);
            register!(self.distributor, irouter[(intid - FIRST_SPI) as usize]).write(route);
        }
        for index in (FIRST_SPI / 16)..lines.div_ceil(16) {
            register!(self.distributor, icfgr[index as usize]).set(0);
        }
        for index in (FIRST_SPI / 32)..lines.div_ceil(32) {
            register!(self.distributor, igroupr[index as usize]).set(u32::MAX);
            register!(self.distributor, icenabler[index as usize]).set(u32::MAX);
            register!(self.distributor, icactiver[index as usize]).set(u32::MAX);
        }
        self.wait_for_distributor_write();

        register!(self.distributor, ctlr)
            .write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET + GICD_CTLR::EnableGrp0::SET);
        self.wait_for_distributor_write();
    }

    /// GICD_IROUTER's value for "deliver to the CPU that created `self`".
    fn route_to_this_cpu(&self) -> FieldValue<u64, GICD_IROUTER::Register> {
        let mpidr = LocalRegisterCopy::<u64, MPIDR_EL1::Register>::new(self.mpidr);
        GICD_IROUTER::Aff3.val(mpidr.read(MPIDR_EL1::Aff3))
            + GICD_IROUTER::Aff2.val(mpidr.read(MPIDR_EL1::Aff2))
            + GICD_IROUTER::Aff1.val(mpidr.read(MPIDR_EL1::Aff1))
            + GICD_IROUTER::Aff0.val(mpidr.read(MPIDR_EL1::Aff0))
            + GICD_IROUTER::Interrupt_Routing_Mode::CLEAR
    }

    /// Spins until the distributor has applied the last GICD_CTLR or
    /// GICD_ICENABLER write.
    fn wait_for_distributor_write(&self) {
        while register!(self.distributor, ctlr).is_set(GICD_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }

    /// Spins until the redistributor has applied the last GICR_ICENABLER0 write.
    fn wait_for_redistributor_write(&self) {
        while register!(self.redistributor, control.ctlr).is_set(GICR_CTLR::RWP) {
            core::hint::spin_loop();
        }
    }
}

/// Sets ICC_SRE_EL1.SRE, so that this CPU reaches its interface through
/// the ICC_* system registers, and checks that it stuck: SRE is RAO/WI on
/// most cores, but RAZ/WI when a higher level keeps the interface
/// memory-mapped.
fn enable_system_registers() -> Result<(), Error> {
    SystemRegisterEnable.modify(ICC_SRE_EL1::SRE::SET);
    // The other ICC registers may be accessed only once the SRE write has
    // taken effect.
    barrier::isb(barrier::SY);
    let sre = SystemRegisterEnable.get();
    if sre & ICC_SRE_EL1::SRE::SET.value == 0 {
        return Err(Error::SystemRegistersDisabled { sre });
    }
    Ok(())
}

/// Checks `icc_sre_el2`, ICC_SRE_EL2 as boot.s read it back after setting
/// its Enable and SRE bits on the way from EL2 to EL1. Call it before
/// [`GicV3::new`] when the kernel left EL2 itself.
///
/// # Errors
///
/// [`Error::El2KeepsSystemRegistersOff`] when Enable or SRE reads 0.
pub fn check_el2_enable(icc_sre_el2: u64) -> Result<(), Error> {
    let value = LocalRegisterCopy::<u64, ICC_SRE_EL2::Register>::new(icc_sre_el2);
    if value.is_set(ICC_SRE_EL2::Enable) && value.is_set(ICC_SRE_EL2::SRE) {
        Ok(())
    } else {
        Err(Error::El2KeepsSystemRegistersOff { icc_sre_el2 })
    }
}

/// The affinity fields of `mpidr` (MPIDR_EL1) as GICR_TYPER.Affinity_Value
/// packs them.
fn affinity(mpidr: u64) -> u64 {
    let mpidr = LocalRegisterCopy::<u64, MPIDR_EL1::Register>::new(mpidr);
    mpidr.read(MPIDR_EL1::Aff3) << 24
        | mpidr.read(MPIDR_EL1::Aff2) << 16
        | mpidr.read(MPIDR_EL1::Aff1) << 8
        | mpidr.read(MPIDR_EL1::Aff0)
}

/// The calling CPU's redistributor: the physical range of its RD_base and
/// SGI_base frames ([`REDISTRIBUTOR_SIZE`] bytes), the part [`GicV3::new`]
/// needs mapped.
///
/// `regions` are the redistributor regions the device tree lists. Each is
/// walked from its start, reading every redistributor's GICR_TYPER with
/// `read_register` (which returns the 64-bit device register at a physical
/// address, mapping only its page and only for that read), until the one
/// whose affinity is this CPU's; a redistributor with virtual LPIs
/// (GICR_TYPER.VLPIS, GICv4) takes two more 64 KiB frames. A region ends at
/// the redistributor marked Last, at its end, or at a read that fails. So
/// the kernel maps the frames of the CPU that runs, not the whole region
/// (15.4 MiB on QEMU `virt`). When the tree gives a `stride` (its
/// `redistributor-stride`, already checked to be 64 KiB frames, at least
/// two), each redistributor is that far from the last, as Linux does; a
/// region is given up when its stride is shorter than the four frames a
/// redistributor with GICR_TYPER.VLPIS takes, or the next step would
/// overflow.
///
/// Returns `None` when no redistributor belongs to this CPU.
pub fn this_cpu_redistributor(
    regions: &[PhysRange],
    stride: Option<u64>,
    read_register: &mut dyn FnMut(PhysAddr) -> Option<u64>,
) -> Option<PhysRange> {
    let affinity = affinity(MPIDR_EL1.get());
    let size = REDISTRIBUTOR_SIZE as u64;
    for region in regions {
        let mut offset = 0;
        while region
            .size
            .checked_sub(offset)
            .is_some_and(|left| left >= size)
        {
            let base = PhysAddr(region.start.0.checked_add(offset)?);
            let typer = read_register(PhysAddr(base.0.checked_add(GICR_TYPER_OFFSET)?));
            let Some(typer) = typer.map(LocalRegisterCopy::<u64, GICR_TYPER::Register>::new) else {
                break;
            };
            if typer.read(GICR_TYPER::Affinity_Value) == affinity {
                return Some(PhysRange::new(base, size));
            }
            if typer.is_set(GICR_TYPER::Last) {
                break;
            }
            let frames = if typer.is_set(GICR_TYPER::VLPIS) {
                REDISTRIBUTOR_SIZE_WITH_VLPIS as u64
            } else {
                size
            };
            // The device tree checked that a stride is whole 64 KiB frames
            // covering RD_base and SGI_base; only GICR_TYPER says whether it
            // also covers the VLPI frames. One that does not would land the
            // next step inside this redistributor: give up on the region.
            let step = match stride {
                Some(stride) if stride >= frames => stride,
                Some(_) => break,
                None => frames,
            };
            let Some(next) = offset.checked_add(step) else {
                break;
            };
            offset = next;
        }
    }
    None
}

impl InterruptController for GicV3 {
    /// Also wakes this CPU's redistributor (spinning until it reports awake),
    /// puts its SGIs and PPIs in Group 1 at
    /// [`DEFAULT_PRIORITY`], disables and deactivates
    /// the PPIs and enables the SGIs. Uses the ICC system registers, which
    /// [`GicV3::new`] enabled.
    fn init_cpu_interface(&mut self) {
        register!(self.redistributor, control.waker).modify(GICR_WAKER::ProcessorSleep::CLEAR);
        while register!(self.redistributor, control.waker).is_set(GICR_WAKER::ChildrenAsleep) {
            core::hint::spin_loop();
        }
        register!(self.redistributor, sgi.icactiver0).set(u32::MAX);
        register!(self.redistributor, sgi.icenabler0).set(0xffff_0000);
        self.wait_for_redistributor_write();
        register!(self.redistributor, sgi.igroupr0).set(u32::MAX);
        for intid in 0..FIRST_SPI {
            register!(self.redistributor, sgi.ipriorityr[intid as usize]).set(DEFAULT_PRIORITY);
        }
        register!(self.redistributor, sgi.isenabler0).set(0x0000_ffff);

        PriorityMask.write(ICC_PMR_EL1::Priority.val(0xff));
        BinaryPoint1.write(ICC_BPR1_EL1::BinaryPoint.val(0));
        Group1Enable.write(ICC_IGRPEN1_EL1::Enable::SET);
        barrier::isb(barrier::SY);
    }

    fn enable(&mut self, intid: u32) {
        if let Some((index, mask)) = bit_position(intid) {
            if intid < FIRST_SPI {
                register!(self.redistributor, sgi.isenabler0).set(mask);
            } else {
                register!(self.distributor, isenabler[index]).set(mask);
            }
        }
    }

    fn acknowledge(&mut self) -> Option<u32> {
        // INTID is 24 bits wide, so the narrowing keeps it whole.
        let intid = InterruptAcknowledge1.read(ICC_IAR1_EL1::INTID) as u32;
        // The handler's device accesses must not overtake the acknowledge.
        barrier::dsb(barrier::SY);
        (!SPECIAL_INTIDS.contains(&intid)).then_some(intid)
    }

    fn end_of_interrupt(&mut self, intid: u32) {
        if SPECIAL_INTIDS.contains(&intid) {
            return;
        }
        EndOfInterrupt1.write(ICC_IAR1_EL1::INTID.val(u64::from(intid)));
        // Make the priority drop take effect before, say, IRQs are unmasked.
        barrier::isb(barrier::SY);
    }

    fn is_enabled(&self, intid: u32) -> bool {
        bit_position(intid).is_some_and(|(index, mask)| {
            let bits = if intid < FIRST_SPI {
                register!(self.redistributor, sgi.isenabler0).get()
            } else {
                register!(self.distributor, isenabler[index]).get()
            };
            bits & mask != 0
        })
    }
}
