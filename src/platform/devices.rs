//! The devices the kernel drives early: console, interrupt controller, timer.

use core::fmt;

use super::bounded::{Blank, BoundedList, CountedList};
use super::translate::{EmptyRegions, for_each_region};
use super::walk::{Frame, string_value};
use super::{Error, NodePath, RegionList};
use crate::addr::PhysRange;

/// How many `reg` regions one [`Device`] can hold.
pub const DEVICE_REGION_CAPACITY: usize = 8;

/// A device node: where it is in the tree, what it is, where its registers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device<'dtb> {
    /// The node's full path, such as `/soc/serial@7e201000`.
    pub path: NodePath,
    /// The first (most specific) string of its `compatible`, such as `arm,pl011`.
    pub compatible: &'dtb str,
    /// Its `reg` regions in order, as CPU physical ranges (translated through
    /// every `ranges` on the way to the root). Never empty.
    pub regions: BoundedList<PhysRange, DEVICE_REGION_CAPACITY>,
}

impl<'dtb> Device<'dtb> {
    /// Reads the node of `frame`: it needs a `compatible` and at least one `reg` entry.
    pub(super) fn from_frame(frame: &Frame<'_, '_, 'dtb>) -> Result<Self, Error> {
        let path = frame.whole_path()?;
        let compatible = frame.property("compatible").ok_or(Error::MissingProperty {
            path,
            property: "compatible",
        })?;
        let compatible = string_value(compatible).ok_or_else(|| frame.malformed("compatible"))?;
        let mut regions = BoundedList::new();
        for_each_region(frame, EmptyRegions::Refuse, None, &mut |region| {
            regions.push(region).map_err(|_| Error::TooManyRegions {
                list: RegionList::DeviceRegions,
                capacity: DEVICE_REGION_CAPACITY,
            })
        })?;
        if regions.is_empty() {
            return Err(Error::MissingProperty {
                path,
                property: "reg",
            });
        }
        Ok(Self {
            path,
            compatible,
            regions,
        })
    }
}

/// The generation of Arm Generic Interrupt Controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 and its predecessors that Linux's `irq-gic.c` drives: a
    /// distributor and a memory-mapped CPU interface.
    V2,
    /// GICv3 (`arm,gic-v3`): a distributor and redistributors; the CPU
    /// interface is system registers.
    V3,
}

/// Every `compatible` string Linux's GIC drivers match, with its generation.
///
/// Read from Linux's `drivers/irqchip/irq-gic.c` (its `IRQCHIP_DECLARE`
/// lines, all served by the one `gic_of_init`) and `irq-gic-v3.c` (one
/// line, `arm,gic-v3`), and the bindings `arm,gic.yaml` and `arm,gic-v3.yaml`.
/// Within a generation the `reg` layout is the same for every string: v2 is
/// the distributor, the CPU interface, then optionally the virtualization
/// control and CPU interfaces (left alone here); v3 is the distributor,
/// `#redistributor-regions` redistributor regions, then optionally the
/// GICv2-compatible CPU, control and virtual interfaces. What does differ is
/// read where the node says it: a v2 GIC whose registers are not banked per
/// CPU gives `cpu-offset` (and is not driven, see [`Unsupported`]), a v3 GIC
/// whose redistributors are not packed gives `redistributor-stride`. Linux
/// also probes a GIC-400 whose CPU interface region is 128 KiB (each 4 KiB
/// page aliased over 64 KiB) to find GICC_DIR for split end-of-interrupt;
/// the kernel ends interrupts through GICC_EOIR in the first page, so that
/// layout needs nothing here.
pub const GIC_COMPATIBLES: &[(&str, GicVersion)] = &[
    ("arm,gic-400", GicVersion::V2),
    ("arm,arm11mp-gic", GicVersion::V2),
    ("arm,arm1176jzf-devchip-gic", GicVersion::V2),
    ("arm,cortex-a15-gic", GicVersion::V2),
    ("arm,cortex-a9-gic", GicVersion::V2),
    ("arm,cortex-a7-gic", GicVersion::V2),
    ("qcom,msm-8660-qgic", GicVersion::V2),
    ("qcom,msm-qgic2", GicVersion::V2),
    ("arm,pl390", GicVersion::V2),
    ("arm,gic-v3", GicVersion::V3),
];

impl GicVersion {
    /// The version a `compatible` list names (any of its strings), if the
    /// kernel drives it.
    fn from_compatible(compatible: &[u8]) -> Option<Self> {
        compatible.split(|&byte| byte == 0).find_map(|name| {
            GIC_COMPATIBLES
                .iter()
                .find(|(known, _)| known.as_bytes() == name)
                .map(|&(_, version)| version)
        })
    }
}

/// The smallest `redistributor-stride` the kernel accepts: one redistributor's
/// RD_base and SGI_base frames of 64 KiB each. A GICv4 redistributor with
/// virtual LPIs needs twice this, which only its GICR_TYPER tells, so the
/// driver checks that case when it walks the frames.
const MIN_REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// The granule of a `redistributor-stride`: redistributor frames are 64 KiB,
/// and the binding requires a multiple of it.
const REDISTRIBUTOR_FRAME_SIZE: u64 = 0x1_0000;

/// The node's `redistributor-stride`: a 64-bit value, as Linux reads it.
/// Absent, or 0 (which Linux treats as absent), means packed redistributors
/// that are as large as their GICR_TYPER says. Fails if the value is not 8
/// bytes, or if it is under [`MIN_REDISTRIBUTOR_STRIDE`] or not a multiple
/// of [`REDISTRIBUTOR_FRAME_SIZE`]: stepping by it would read GICR_TYPER
/// from the middle of a frame.
fn redistributor_stride(frame: &Frame<'_, '_, '_>) -> Result<Option<u64>, Error> {
    let Some(value) = frame.property("redistributor-stride") else {
        return Ok(None);
    };
    let stride = <[u8; 8]>::try_from(value)
        .map(u64::from_be_bytes)
        .map_err(|_| frame.malformed("redistributor-stride"))?;
    match stride {
        0 => Ok(None),
        _ if stride < MIN_REDISTRIBUTOR_STRIDE
            || !stride.is_multiple_of(REDISTRIBUTOR_FRAME_SIZE) =>
        {
            Err(Error::BadRedistributorStride {
                path: frame.path,
                stride,
            })
        }
        _ => Ok(Some(stride)),
    }
}

/// The interrupt controller, with its register regions sorted out by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptController<'dtb> {
    version: GicVersion,
    device: Device<'dtb>,
    redistributor_regions: usize,
    redistributor_stride: Option<u64>,
    phandle: Option<u32>,
    interrupt_cells: Option<u32>,
}

/// What an interrupt controller node turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probed<'dtb> {
    /// A GIC the kernel drives.
    Gic(InterruptController<'dtb>),
    /// Something the kernel cannot drive, and why.
    Unsupported(Unsupported<'dtb>),
}

impl<'dtb> InterruptController<'dtb> {
    /// True when `frame`'s `compatible` names a GIC of [`GIC_COMPATIBLES`].
    pub(super) fn is_gic(frame: &Frame<'_, '_, '_>) -> bool {
        frame
            .property("compatible")
            .and_then(GicVersion::from_compatible)
            .is_some()
    }

    /// The interrupt controller at `frame`: a [`Probed::Gic`] when its
    /// `compatible` is in [`GIC_COMPATIBLES`], it is enabled and its registers
    /// are banked per CPU; otherwise what keeps the kernel from driving it.
    /// Fails if a GIC has too few regions for its version (v2: distributor
    /// and CPU interface; v3: distributor and `#redistributor-regions`,
    /// default 1, redistributor regions) or a malformed property.
    pub(super) fn probe(frame: &Frame<'_, '_, 'dtb>) -> Result<Probed<'dtb>, Error> {
        let unsupported = |reason| Unsupported::at(frame, reason).map(Probed::Unsupported);
        let Some(version) = frame
            .property("compatible")
            .and_then(GicVersion::from_compatible)
        else {
            return unsupported(UnsupportedReason::NotAGic);
        };
        if !frame.is_enabled() {
            return unsupported(UnsupportedReason::Disabled);
        }
        if version == GicVersion::V2 && frame.cell("cpu-offset")?.is_some_and(|offset| offset != 0)
        {
            return unsupported(UnsupportedReason::UnbankedGic);
        }
        let device = Device::from_frame(frame)?;
        let redistributor_regions = match version {
            GicVersion::V2 => 0,
            GicVersion::V3 => frame.cell("#redistributor-regions")?.unwrap_or(1).max(1) as usize,
        };
        // The distributor, then the CPU interface (v2) or the redistributors (v3).
        let needed = redistributor_regions.max(1).saturating_add(1);
        if device.regions.len() < needed {
            let found = device.regions.len();
            return Err(Error::MissingGicRegions {
                path: device.path,
                needed,
                found,
            });
        }
        let redistributor_stride = redistributor_stride(frame)?;
        Ok(Probed::Gic(Self {
            version,
            device,
            redistributor_regions,
            redistributor_stride,
            phandle: frame.phandle(),
            interrupt_cells: frame.cell("#interrupt-cells")?,
        }))
    }

    /// GICv2 or GICv3.
    pub fn version(&self) -> GicVersion {
        self.version
    }

    /// The node and all of its `reg` regions, in the order of the tree.
    pub fn device(&self) -> &Device<'dtb> {
        &self.device
    }

    /// The distributor (GICD), the first region.
    pub fn distributor(&self) -> PhysRange {
        self.device
            .regions
            .first()
            .copied()
            .unwrap_or(PhysRange::new(Default::default(), 0))
    }

    /// The memory-mapped CPU interface (GICC): the second region on a GICv2;
    /// on a GICv3 the optional region after the redistributors.
    pub fn cpu_interface(&self) -> Option<PhysRange> {
        let index = match self.version {
            GicVersion::V2 => 1,
            GicVersion::V3 => self.redistributor_regions.saturating_add(1),
        };
        self.device.regions.get(index).copied()
    }

    /// The distance between one redistributor and the next within a region,
    /// when the tree gives it (`redistributor-stride`); without it each
    /// redistributor is as large as its GICR_TYPER says.
    pub fn redistributor_stride(&self) -> Option<u64> {
        self.redistributor_stride
    }

    /// The redistributor regions (GICR) of a GICv3; empty for a GICv2.
    pub fn redistributors(&self) -> &[PhysRange] {
        self.device
            .regions
            .get(1..self.redistributor_regions.saturating_add(1))
            .unwrap_or(&[])
    }
}

/// The Arm generic timer and the interrupts of its four timers, as GIC INTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// The timer node's path.
    pub path: NodePath,
    /// Secure EL1 physical timer.
    pub secure_physical_intid: u32,
    /// Non-secure EL1 physical timer (CNTP).
    pub physical_intid: u32,
    /// Virtual timer (CNTV): the one a kernel at EL1 uses.
    pub virtual_intid: u32,
    /// EL2 (hypervisor) physical timer.
    pub hypervisor_intid: u32,
}

/// A timer node seen during the walk, read once the GIC is known.
#[derive(Clone, Copy)]
pub(super) struct TimerNode<'dtb> {
    path: NodePath,
    compatible: &'dtb str,
    interrupts: Option<&'dtb [u8]>,
    interrupts_extended: Option<&'dtb [u8]>,
    interrupt_parent: Option<u32>,
}

impl<'dtb> TimerNode<'dtb> {
    /// The node at `frame`, if it is an enabled `arm,armv8-timer` or `arm,armv7-timer`.
    pub(super) fn probe(frame: &Frame<'_, '_, 'dtb>) -> Result<Option<Self>, Error> {
        let is_timer = frame.has_string("compatible", "arm,armv8-timer")
            || frame.has_string("compatible", "arm,armv7-timer");
        if !is_timer || !frame.is_enabled() {
            return Ok(None);
        }
        Ok(Some(Self {
            path: frame.whole_path()?,
            compatible: frame.string("compatible")?.unwrap_or_default(),
            interrupts: frame.property("interrupts"),
            interrupts_extended: frame.property("interrupts-extended"),
            interrupt_parent: frame.interrupt_parent()?,
        }))
    }

    /// The timer as this node's own entry in the list of what is not driven.
    pub(super) fn unsupported(self, reason: UnsupportedReason) -> Unsupported<'dtb> {
        Unsupported {
            path: self.path,
            compatible: self.compatible,
            reason,
        }
    }

    /// The timer, if its interrupts go to `gic`; if they go elsewhere, the
    /// [`UnsupportedReason::TimerInterruptsElsewhere`] entry to list instead.
    /// Each interrupt is `#interrupt-cells` cells (3, or 4 on a GICv3 whose
    /// fourth cell names a PPI partition): type, number, flags and partition;
    /// in `interrupts-extended` (which wins over `interrupts` and
    /// `interrupt-parent`, as in Linux) each is led by its controller's
    /// phandle. Fails when they are not four (or more) PPIs written that way.
    pub(super) fn read(
        self,
        gic: &InterruptController<'_>,
    ) -> Result<Result<Timer, Unsupported<'dtb>>, Error> {
        let elsewhere = Ok(Err(
            self.unsupported(UnsupportedReason::TimerInterruptsElsewhere)
        ));
        let extended = self.interrupts_extended.is_some();
        if !extended && self.interrupt_parent.is_some() && self.interrupt_parent != gic.phandle {
            return elsewhere;
        }
        // Before any length check: the entries' size is the first
        // controller's `#interrupt-cells`, which need not be the GIC's.
        let first_phandle = self
            .interrupts_extended
            .and_then(|entries| entries.first_chunk::<4>())
            .map(|bytes| u32::from_be_bytes(*bytes));
        if extended && first_phandle != gic.phandle {
            return elsewhere;
        }
        let cells = gic.interrupt_cells.unwrap_or(0);
        if !(3..=4).contains(&cells) {
            return Err(Error::InterruptCells {
                path: gic.device.path,
                cells,
            });
        }
        let path = self.path;
        let (property, interrupts) = match (self.interrupts_extended, self.interrupts) {
            (Some(extended), _) => ("interrupts-extended", extended),
            (None, Some(interrupts)) => ("interrupts", interrupts),
            (None, None) => {
                return Err(Error::MissingProperty {
                    path,
                    property: "interrupts",
                });
            }
        };
        let malformed = Error::MalformedProperty { path, property };
        // An `interrupts-extended` entry is the phandle, then the cells.
        let lead = if extended { 4 } else { 0 };
        let entry_bytes = lead + cells as usize * 4;
        if !interrupts.len().is_multiple_of(entry_bytes) || interrupts.len() < 4 * entry_bytes {
            return Err(malformed);
        }
        let to_gic = |entry: &[u8]| {
            let phandle = entry.get(..4).and_then(|bytes| bytes.try_into().ok());
            phandle.map(u32::from_be_bytes) == gic.phandle
        };
        if extended && !interrupts.chunks_exact(entry_bytes).all(to_gic) {
            return elsewhere;
        }
        let mut intids = [0u32; 4];
        for (intid, entry) in intids.iter_mut().zip(interrupts.chunks_exact(entry_bytes)) {
            let cell = |index: usize| {
                let at = lead + index * 4;
                let bytes: [u8; 4] = entry.get(at..at + 4)?.try_into().ok()?;
                Some(u32::from_be_bytes(bytes))
            };
            let (kind, number) = cell(0).zip(cell(1)).ok_or(malformed)?;
            if kind != 1 || number >= 16 {
                return Err(Error::UnsupportedTimerInterrupt { path, kind, number });
            }
            *intid = number + 16;
        }
        let [
            secure_physical_intid,
            physical_intid,
            virtual_intid,
            hypervisor_intid,
        ] = intids;
        Ok(Ok(Timer {
            path,
            secure_physical_intid,
            physical_intid,
            virtual_intid,
            hypervisor_intid,
        }))
    }
}

/// How many devices the kernel cannot drive a description keeps; beyond
/// that they are only counted (`and N more`). Small, because every copy of
/// the description carries the list: the x86_64 boot stack overflowed at 16.
pub const UNSUPPORTED_CAPACITY: usize = 8;

/// The devices the kernel cannot drive: the first [`UNSUPPORTED_CAPACITY`]
/// kept, and a count of all.
pub type UnsupportedDevices<'dtb> = CountedList<Unsupported<'dtb>, UNSUPPORTED_CAPACITY>;

/// A device the kernel would use or offer, and cannot drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported<'dtb> {
    /// The node's path (truncated, with `...`, if it is very long).
    pub path: NodePath,
    /// The first string of its `compatible`; empty when it has none.
    pub compatible: &'dtb str,
    /// Why the kernel leaves it alone.
    pub reason: UnsupportedReason,
}

impl<'dtb> Unsupported<'dtb> {
    /// The entry for the node at `frame`. Fails only on a `compatible` that
    /// is not a string.
    pub(super) fn at(
        frame: &Frame<'_, '_, 'dtb>,
        reason: UnsupportedReason,
    ) -> Result<Self, Error> {
        Ok(Self {
            path: frame.path,
            compatible: frame.string("compatible")?.unwrap_or_default(),
            reason,
        })
    }
}

impl Blank for Unsupported<'_> {
    const BLANK: Self = Self {
        path: NodePath::root(),
        compatible: "",
        reason: UnsupportedReason::NotAGic,
    };
}

/// Why the kernel cannot drive a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsupportedReason {
    /// The root of the interrupt tree is not a GIC of [`GIC_COMPATIBLES`]
    /// (an Apple AIC, a Raspberry Pi 3's BCM2836 local controller...).
    NotAGic,
    /// The root of the interrupt tree is a GIC whose `status` disables it.
    Disabled,
    /// A GICv2 whose registers are not banked per CPU (`cpu-offset`): the
    /// kernel's driver expects banked ones.
    UnbankedGic,
    /// The generic timer's interrupts go to another controller than the GIC
    /// the kernel drives.
    TimerInterruptsElsewhere,
    /// The generic timer, on a tree whose interrupt controller is not driven.
    TimerWithoutGic,
    /// A UART that `stdout-path` or a `serial` alias names, of a kind no
    /// driver serves (see [`UartModel`](super::UartModel)).
    NoUartDriver,
}

impl UnsupportedReason {
    /// What kind of device it is about: `interrupt controller`, `timer` or `UART`.
    pub fn device_kind(&self) -> &'static str {
        match self {
            Self::NotAGic | Self::Disabled | Self::UnbankedGic => "interrupt controller",
            Self::TimerInterruptsElsewhere | Self::TimerWithoutGic => "timer",
            Self::NoUartDriver => "UART",
        }
    }
}

impl fmt::Display for UnsupportedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAGic => "interrupt controller, not a GIC: no driver",
            Self::Disabled => "interrupt controller, disabled in the tree",
            Self::UnbankedGic => "GIC without per-CPU banked registers (cpu-offset): no driver",
            Self::TimerInterruptsElsewhere => {
                "timer whose interrupts go to another controller than the GIC"
            }
            Self::TimerWithoutGic => "timer, but no interrupt controller the kernel drives",
            Self::NoUartDriver => "UART: no driver",
        })
    }
}

/// `path (compatible): reason`, as the boot report and inspect print it.
impl fmt::Display for Unsupported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compatible = if self.compatible.is_empty() {
            "no compatible"
        } else {
            self.compatible
        };
        write!(f, "{} ({compatible}): {}", self.path, self.reason)
    }
}

/// The most `interrupt-parent` links followed from the root node before the
/// chain counts as a loop.
pub(super) const MAX_INTERRUPT_HOPS: usize = 8;

/// The search for the root of the interrupt tree, the controller that every
/// other one finally reports to (Devicetree Specification, "Interrupts"):
/// from the root node's `interrupt-parent`, follow each controller's own
/// interrupt parent until one has none or is its own (a GIC behind a
/// MediaTek `sysirq` or a Tegra `lic` is found that way).
#[derive(Clone, Copy, Debug, Default)]
#[expect(
    clippy::large_enum_variant,
    reason = "one lives on the stack during a parse, which runs before the heap exists"
)]
pub(super) enum ControllerSearch<'dtb> {
    /// The root node has no `interrupt-parent` yet seen.
    #[default]
    NoTree,
    /// Looking for the node with this phandle, after `hops` links.
    Looking {
        /// The phandle sought.
        phandle: u32,
        /// Links followed so far.
        hops: usize,
    },
    /// The root of the interrupt tree.
    Found(Probed<'dtb>),
    /// The chain names no node, or loops: the phandle it stopped at.
    Broken(u32),
}

impl<'dtb> ControllerSearch<'dtb> {
    /// Starts from the root node's `interrupt-parent`, if it has one.
    pub(super) fn start(root_interrupt_parent: Option<u32>) -> Self {
        match root_interrupt_parent {
            Some(phandle) => Self::Looking { phandle, hops: 0 },
            None => Self::NoTree,
        }
    }

    /// Takes one node of a walk: the sought one moves the search along.
    pub(super) fn visit(&mut self, frame: &Frame<'_, '_, 'dtb>) -> Result<(), Error> {
        let Self::Looking { phandle, hops } = *self else {
            return Ok(());
        };
        if frame.phandle() != Some(phandle) {
            return Ok(());
        }
        *self = match frame.interrupt_parent()? {
            Some(parent) if parent != phandle && hops >= MAX_INTERRUPT_HOPS => Self::Broken(parent),
            Some(parent) if parent != phandle => Self::Looking {
                phandle: parent,
                hops: hops + 1,
            },
            _ => Self::Found(InterruptController::probe(frame)?),
        };
        Ok(())
    }
}
