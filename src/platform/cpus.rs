//! The CPUs the device tree lists under `/cpus`.
//!
//! The kernel runs on the boot CPU only; the others stay where the firmware
//! parked them (a PSCI call or a spin table would start them). The list is for
//! the boot report: which cores exist, and how each could be started. A CPU
//! node the kernel cannot read is counted and shown without an MPIDR rather
//! than refused: the kernel does not need it to boot.

use super::NodePath;
use super::bounded::{Blank, BoundedList};
use super::translate::read_cells;
use super::walk::{Frame, string_value};

/// How many CPUs the description keeps in detail; more are only counted.
pub const CPU_CAPACITY: usize = 8;

/// One `/cpus/cpu@…` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu<'dtb> {
    /// The node's path, such as `/cpus/cpu@1`.
    pub path: NodePath,
    /// How the platform names the CPU: on a device tree its `reg`, the
    /// affinity fields of its MPIDR (`None` when `reg` is not one or two
    /// cells, as `/cpus` `#address-cells` says); from ACPI its local APIC ID.
    pub id: Option<u64>,
    /// Its `enable-method` (`psci`, `spin-table`…), `acpi` for a CPU the MADT
    /// lists, or `None`.
    pub enable_method: Option<&'dtb str>,
}

impl Blank for Cpu<'_> {
    const BLANK: Self = Self {
        path: NodePath::root(),
        id: None,
        enable_method: None,
    };
}

/// The CPUs of the tree, in blob order.
#[derive(Clone, Copy, Debug)]
pub struct CpuList<'dtb> {
    listed: BoundedList<Cpu<'dtb>, CPU_CAPACITY>,
    count: usize,
}

impl<'dtb> CpuList<'dtb> {
    /// No CPUs.
    pub const fn new() -> Self {
        Self {
            listed: BoundedList::new(),
            count: 0,
        }
    }

    /// How many enabled CPU nodes the tree has (may exceed [`Self::listed`]).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The first [`CPU_CAPACITY`] of them.
    pub fn listed(&self) -> &[Cpu<'dtb>] {
        self.listed.as_slice()
    }

    /// Records `frame` if it is an enabled CPU node directly under `/cpus`.
    pub(super) fn visit(&mut self, frame: &Frame<'_, '_, 'dtb>) {
        let Some(parent) = frame.parent else {
            return;
        };
        let under_cpus =
            parent.name() == "cpus" && parent.parent.is_some_and(|root| root.parent.is_none());
        if !under_cpus || !frame.has_string("device_type", "cpu") || !frame.is_enabled() {
            return;
        }
        let id = parent
            .address_cells()
            .ok()
            .and_then(|cells| read_cells(frame.property("reg")?.get(..cells as usize * 4)?, cells));
        let enable_method = frame.property("enable-method").and_then(string_value);
        self.push(Cpu {
            path: frame.path,
            id,
            enable_method,
        });
    }

    /// Counts `cpu`, and keeps it while there is room.
    pub(super) fn push(&mut self, cpu: Cpu<'dtb>) {
        self.count += 1;
        // Beyond the capacity a CPU is only counted.
        let _ = self.listed.push(cpu);
    }
}

impl Default for CpuList<'_> {
    fn default() -> Self {
        Self::new()
    }
}
