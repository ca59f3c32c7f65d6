//! The CPUs the device tree lists under `/cpus`, and how each could be started.
//!
//! The kernel runs on the boot CPU only; the others stay where the firmware
//! parked them. The list is for the boot report: which cores exist, and how
//! each could be started ([`StartMethod`]): a spin table (write an entry point
//! to the CPU's `cpu-release-addr`, then `sev`), PSCI `CPU_ON` through the
//! conduit `/psci` `method` names, or INIT/SIPI on an ACPI machine. A CPU
//! node the kernel cannot read is counted and shown without an MPIDR rather
//! than refused: the kernel does not need it to boot.
//!
//! A spin-table CPU's release word, and the firmware's loop that polls it,
//! must survive until the CPU is released, so the description reserves them
//! ([`super::ReservationReason::SpinTable`], rule there).

use core::fmt;

use super::NodePath;
use super::bounded::{Blank, BoundedList};
use super::translate::read_cells;
use super::walk::{Frame, string_value};
use crate::addr::PhysAddr;

/// How many CPUs the description keeps in detail; more are only counted.
pub const CPU_CAPACITY: usize = 8;

/// One `/cpus/cpu@…` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu<'dtb> {
    /// The node's path, such as `/cpus/cpu@1`.
    pub path: NodePath,
    /// How the platform names the CPU: on a device tree its `reg`, the
    /// affinity fields of its MPIDR, Aff3 included (`None` when `reg` is not
    /// one or two cells, as `/cpus` `#address-cells` says); from ACPI its
    /// local APIC ID.
    pub id: Option<u64>,
    /// Its `enable-method` (`psci`, `spin-table`…), `acpi` for a CPU the MADT
    /// lists, or `None`.
    pub enable_method: Option<&'dtb str>,
    /// Its `cpu-release-addr` (one or two cells; booting.rst asks for two),
    /// a CPU physical address; `None` when absent or not 4 or 8 bytes.
    pub release_address: Option<PhysAddr>,
}

impl Blank for Cpu<'_> {
    const BLANK: Self = Self {
        path: NodePath::root(),
        id: None,
        enable_method: None,
        release_address: None,
    };
}

/// How a parked CPU could be started, from its `enable-method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod<'dtb> {
    /// `spin-table`: write the entry point (physical) to `release`, clean it to
    /// the point of coherency, then `sev` (Linux booting.rst).
    SpinTable {
        /// The CPU's `cpu-release-addr`.
        release: PhysAddr,
    },
    /// `spin-table` without a readable `cpu-release-addr`: no way to start it.
    SpinTableWithoutRelease,
    /// `psci`: the PSCI `CPU_ON` call with the CPU's MPIDR and the entry point.
    Psci {
        /// `/psci` `method`: `hvc` or `smc`, `None` if the tree has no `/psci`.
        conduit: Option<&'dtb str>,
    },
    /// A CPU of the ACPI MADT: INIT and STARTUP IPIs through the local APIC.
    Acpi,
    /// An `enable-method` the kernel does not know.
    Unknown(&'dtb str),
    /// No `enable-method`: the tree gives no way to start it.
    None,
}

impl fmt::Display for StartMethod<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SpinTable { release } => write!(
                f,
                "spin table: write the entry point to {release}, clean it to PoC, sev"
            ),
            Self::SpinTableWithoutRelease => {
                f.write_str("spin table without cpu-release-addr: cannot be started")
            }
            Self::Psci {
                conduit: Some(conduit),
            } => write!(f, "PSCI CPU_ON through {conduit}"),
            Self::Psci { conduit: None } => {
                f.write_str("PSCI CPU_ON, but no /psci node names the conduit")
            }
            Self::Acpi => f.write_str("INIT and STARTUP IPIs through the local APIC"),
            Self::Unknown(method) => {
                write!(
                    f,
                    "enable-method {method:?}, which the kernel does not know"
                )
            }
            Self::None => f.write_str("no enable-method: cannot be started"),
        }
    }
}

/// The CPUs of the tree, in blob order, and the PSCI conduit.
#[derive(Clone, Copy, Debug)]
pub struct CpuList<'dtb> {
    listed: BoundedList<Cpu<'dtb>, CPU_CAPACITY>,
    count: usize,
    psci_conduit: Option<&'dtb str>,
}

impl<'dtb> CpuList<'dtb> {
    /// No CPUs.
    pub const fn new() -> Self {
        Self {
            listed: BoundedList::new(),
            count: 0,
            psci_conduit: None,
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

    /// The `method` of the root's `arm,psci*` node (`hvc` or `smc`).
    pub fn psci_conduit(&self) -> Option<&'dtb str> {
        self.psci_conduit
    }

    /// How `cpu` could be started.
    pub fn start_method(&self, cpu: &Cpu<'dtb>) -> StartMethod<'dtb> {
        match (cpu.enable_method, cpu.release_address) {
            (Some("spin-table"), Some(release)) => StartMethod::SpinTable { release },
            (Some("spin-table"), None) => StartMethod::SpinTableWithoutRelease,
            (Some("psci"), _) => StartMethod::Psci {
                conduit: self.psci_conduit,
            },
            (Some("acpi"), _) => StartMethod::Acpi,
            (Some(other), _) => StartMethod::Unknown(other),
            (None, _) => StartMethod::None,
        }
    }

    /// Takes one node of the walk: notes the conduit if it is the PSCI
    /// node, and records it if it is an enabled CPU node directly under
    /// `/cpus`. Returns the `cpu-release-addr` of every `spin-table` CPU
    /// node there, enabled or not: the Devicetree Specification says a
    /// disabled CPU is quiescent ("e.g. in a spin loop"), and the loader
    /// parks every core whatever the tree says, so each release page must
    /// survive.
    pub(super) fn visit(&mut self, frame: &Frame<'_, '_, 'dtb>) -> Option<PhysAddr> {
        let parent = frame.parent?;
        let parent_is_root = parent.parent.is_none();
        if parent_is_root
            && ["arm,psci", "arm,psci-0.2", "arm,psci-1.0"]
                .iter()
                .any(|compatible| frame.has_string("compatible", compatible))
        {
            self.psci_conduit = frame.property("method").and_then(string_value);
        }
        let under_cpus =
            parent.name() == "cpus" && parent.parent.is_some_and(|root| root.parent.is_none());
        if !under_cpus || !frame.has_string("device_type", "cpu") {
            return None;
        }
        let enable_method = frame.property("enable-method").and_then(string_value);
        let release_address = frame
            .property("cpu-release-addr")
            .and_then(|value| read_cells(value, (value.len() / 4) as u32))
            .map(PhysAddr);
        if frame.is_enabled() {
            let id = parent.address_cells().ok().and_then(|cells| {
                read_cells(frame.property("reg")?.get(..cells as usize * 4)?, cells)
            });
            self.push(Cpu {
                path: frame.path,
                id,
                enable_method,
                release_address,
            });
        }
        release_address.filter(|_| enable_method == Some("spin-table"))
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
