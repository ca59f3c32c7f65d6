//! The devices the kernel drives early: console, interrupt controller, timer.

use super::bounded::BoundedList;
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
    /// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`): a distributor and a
    /// memory-mapped CPU interface.
    V2,
    /// GICv3 (`arm,gic-v3`): a distributor and redistributors; the CPU
    /// interface is system registers.
    V3,
}

impl GicVersion {
    /// The version a `compatible` string names, if it is one the kernel drives.
    fn from_compatible(compatible: &[u8]) -> Option<Self> {
        match compatible {
            b"arm,cortex-a15-gic" | b"arm,gic-400" => Some(Self::V2),
            b"arm,gic-v3" => Some(Self::V3),
            _ => None,
        }
    }
}

/// The interrupt controller, with its register regions sorted out by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptController<'dtb> {
    version: GicVersion,
    device: Device<'dtb>,
    redistributor_regions: usize,
    phandle: Option<u32>,
    interrupt_cells: Option<u32>,
}

impl<'dtb> InterruptController<'dtb> {
    /// The controller at `frame`, if its `compatible` names a supported GIC
    /// and it is not disabled. Fails if it has too few regions for its version
    /// (v2: distributor and CPU interface; v3: distributor and
    /// `#redistributor-regions`, default 1, redistributor regions).
    pub(super) fn probe(frame: &Frame<'_, '_, 'dtb>) -> Result<Option<Self>, Error> {
        let version = frame.property("compatible").and_then(|value| {
            value
                .split(|&byte| byte == 0)
                .find_map(GicVersion::from_compatible)
        });
        let Some(version) = version.filter(|_| frame.is_enabled()) else {
            return Ok(None);
        };
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
        let phandle = match frame.cell("phandle")? {
            Some(phandle) => Some(phandle),
            None => frame.cell("linux,phandle")?,
        };
        let interrupt_cells = frame.cell("#interrupt-cells")?;
        Ok(Some(Self {
            version,
            device,
            redistributor_regions,
            phandle,
            interrupt_cells,
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
    interrupts: Option<&'dtb [u8]>,
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
            interrupts: frame.property("interrupts"),
            interrupt_parent: frame.interrupt_parent()?,
        }))
    }

    /// The timer, if its interrupts go to `gic`. Fails when they do but are not
    /// four (or more) PPIs of three cells each.
    pub(super) fn read(self, gic: &InterruptController<'_>) -> Result<Option<Timer>, Error> {
        if self.interrupt_parent.is_some() && self.interrupt_parent != gic.phandle {
            return Ok(None);
        }
        let cells = gic.interrupt_cells.unwrap_or(0);
        if cells != 3 {
            return Err(Error::InterruptCells {
                path: gic.device.path,
                cells,
            });
        }
        let path = self.path;
        let interrupts = self.interrupts.ok_or(Error::MissingProperty {
            path,
            property: "interrupts",
        })?;
        let malformed = Error::MalformedProperty {
            path,
            property: "interrupts",
        };
        if !interrupts.len().is_multiple_of(12) || interrupts.len() < 4 * 12 {
            return Err(malformed);
        }
        let mut intids = [0u32; 4];
        for (intid, entry) in intids.iter_mut().zip(interrupts.chunks_exact(12)) {
            let cell = |index: usize| {
                let bytes: [u8; 4] = entry.get(index * 4..index * 4 + 4)?.try_into().ok()?;
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
        Ok(Some(Timer {
            path,
            secure_physical_intid,
            physical_intid,
            virtual_intid,
            hypervisor_intid,
        }))
    }
}
