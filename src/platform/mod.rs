//! The platform description: what the device tree says about RAM, reserved
//! memory and the devices the kernel drives first.
//!
//! [`PlatformDescription::from_dtb`] reads a flattened device tree blob into a
//! plain value: sorted, merged RAM regions; reservations, each with its
//! [`ReservationReason`]; the console UART (chosen in [`console`]), the GIC
//! and the generic timer with
//! CPU physical addresses (every `reg` translated through each ancestor's
//! `ranges`); what it cannot drive ([`PlatformDescription::unsupported`]);
//! `/chosen` bootargs, seeds and the model. The kernel then adds its own
//! image and boot page tables with [`PlatformDescription::reserve`] and takes
//! [`PlatformDescription::usable`] as the frames to give the frame stack.
//!
//! It runs before the heap exists, so it allocates nothing: every list has a
//! fixed capacity and overflowing one is an [`Error`], except the
//! [`Warnings`] about what the tree gets wrong but Linux boots anyway, which
//! keeps the first [`WARNING_CAPACITY`] and counts the rest. It runs the same on the
//! host, where the tests read `.dtb` fixtures from `testdata/`.
//!
//! Firmware input is untrusted. `fdt` 0.1.5, which does the parsing, panics
//! on many malformed blobs, so `validate` checks the header and the whole
//! structure block first; after that every problem is a named [`Error`].
//! One consequence: an `FDT_NOP` token is accepted only directly before an
//! `FDT_END_NODE` (where `fdt` handles it), and refused anywhere else with
//! [`StructureProblem::MisplacedNop`]. `dtc` and QEMU never write NOPs.
//!
//! On x86_64, [`describe_pvh`] reads the same kind of plain value from the
//! PVH start info and the ACPI MADT (see [`pvh`] and [`acpi`]), through
//! [`PhysicalMemory`].

pub mod acpi;
mod bounded;
pub mod console;
mod cpus;
mod devices;
mod error;
mod memory;
mod path;
mod physical;
pub mod pvh;
mod seeds;
mod translate;
mod validate;
mod walk;
mod warning;

#[cfg(test)]
mod tests;

use fdt::Fdt;
use fdt::node::FdtNode;

pub use bounded::{Blank, BoundedList, CountedList, ListFull};
pub use console::{ChosenUart, ConsoleChoice, NotUsed, UartModel, UartNode};
pub use cpus::{CPU_CAPACITY, Cpu, CpuList, StartMethod};
pub use devices::{
    DEVICE_REGION_CAPACITY, Device, GIC_COMPATIBLES, GicVersion, InterruptController, Timer,
    UNSUPPORTED_CAPACITY, Unsupported, UnsupportedDevices, UnsupportedReason,
};
pub use error::{Block, Error, FirmwareStructure, RegionList, StructureProblem};
pub use memory::{
    Merged, RAM_CAPACITY, RESERVATION_CAPACITY, REUSABLE_CAPACITY, Reservation, ReservationReason,
    ReusableMemory,
};
pub use path::NodePath;
pub use physical::PhysicalMemory;
pub use pvh::{COMMAND_LINE_LIMIT, LOW_MEMORY, X86Platform, describe_pvh};
pub use seeds::take_seeds;
pub use validate::{MAX_DEPTH, strip_nops};
pub use warning::{Problem, Subject, WARNING_CAPACITY, Warning, Warnings};

use crate::addr::{PhysAddr, PhysRange};
use devices::{ControllerSearch, Probed, TimerNode};
use memory::{RamList, ReservationList};
use walk::{Frame, string_value};

/// What the device tree says about this machine, in CPU physical addresses.
///
/// Borrows strings (`model`, `bootargs`, `compatible`, reservation names) from
/// the blob, which must therefore outlive it.
#[derive(Clone, Copy, Debug)]
pub struct PlatformDescription<'dtb> {
    /// The root's `model`, such as `Raspberry Pi 4 Model B`.
    pub model: Option<&'dtb str>,
    /// `/chosen` `bootargs`.
    pub bootargs: Option<&'dtb str>,
    /// `/chosen` `kaslr-seed` as written (a bootloader's seed for the
    /// kernel's address-space randomisation, a 64-bit number when well
    /// formed; the kernel judges it). The kernel reads both seeds through
    /// [`take_seeds`], which zeroes them in the blob afterwards.
    pub kaslr_seed: Option<&'dtb [u8]>,
    /// `/chosen` `rng-seed` as written: random bytes from the bootloader.
    pub rng_seed: Option<&'dtb [u8]>,
    /// `/chosen` `stdout-path`, as written.
    pub stdout_path: Option<&'dtb str>,
    /// The node `stdout-path` names (an alias or a full path, any `:options`
    /// suffix ignored), if it names one. The console is this UART unless the
    /// kernel cannot use it: see [`Self::console`].
    pub stdout: Option<UartNode<'dtb>>,
    /// The `serial0` alias's node, if it could be read: where the console
    /// goes when [`Self::stdout`] cannot serve.
    pub serial0: Option<UartNode<'dtb>>,
    /// The root of the interrupt tree (from the root node's
    /// `interrupt-parent`, each controller's own in turn), when it is a GIC
    /// that Linux's GIC drivers match; in a tree without `interrupt-parent`,
    /// the first enabled such GIC. Otherwise it is in [`Self::unsupported`].
    pub interrupt_controller: Option<InterruptController<'dtb>>,
    /// The first enabled `arm,armv8-timer`/`arm,armv7-timer`, present only
    /// when its interrupts go to [`Self::interrupt_controller`] (otherwise
    /// it is in [`Self::unsupported`]).
    pub timer: Option<Timer>,
    /// The enabled CPUs under `/cpus`, or the MADT's.
    pub cpus: CpuList<'dtb>,
    /// The local and I/O APICs of an ACPI machine (the MADT), when the
    /// platform was described from the PVH start info; `None` on a device tree.
    apic: Option<acpi::Apic>,
    ram: RamList,
    reserved: ReservationList<'dtb>,
    reusable: ReusableList<'dtb>,
    warnings: Warnings<'dtb>,
    unsupported: UnsupportedDevices<'dtb>,
}

/// The reusable `/reserved-memory` pools of a description.
type ReusableList<'dtb> = CountedList<ReusableMemory<'dtb>, REUSABLE_CAPACITY>;

impl<'dtb> PlatformDescription<'dtb> {
    /// Reads the blob at `blob` (at least `totalsize` bytes; more are ignored).
    ///
    /// When `blob_phys` is given, the blob's own bytes `[blob_phys, blob_phys +
    /// totalsize)` are reserved as [`ReservationReason::DeviceTree`]; the exact
    /// size is kept, since [`Self::usable`] drops partial pages anyway.
    ///
    /// Fails with the matching [`Error`] on a damaged header or structure, no
    /// memory node or no RAM, overlapping RAM, a zero-size `/memory` entry, a
    /// bad `reg`/`ranges`/cell count on any device it uses, or a full list.
    /// Never panics, whatever the bytes.
    ///
    /// What Linux boots with a warning boots with one in [`Self::warnings`]:
    /// a zero-size `/reserved-memory` entry is skipped; in `/memory` and
    /// `/reserved-memory` a `reg` tail that is not a whole entry is ignored
    /// and a region running past 2^64 is clipped to end at 2^64 - 1; a
    /// reservation outside RAM, or overlapping an earlier one, is kept (it
    /// reserves nothing usable, or the union); a `stdout-path` that names
    /// nothing leaves the console to the `serial0` alias.
    pub fn from_dtb(blob: &'dtb [u8], blob_phys: Option<PhysAddr>) -> Result<Self, Error> {
        Self::read(blob, blob_phys, Reading::Boot)
    }

    /// Reads the blob as written, for inspection: what a bootloader completes
    /// later is left empty instead of refused. No memory node gives no RAM, a
    /// `reg` entry of size zero in `/memory` or `/reserved-memory` (a
    /// placeholder) gives nothing, overlapping RAM regions are merged, and a
    /// timer whose interrupts cannot be read gives no timer. Everything else
    /// fails, or warns, as in [`Self::from_dtb`].
    pub fn from_dtb_as_written(blob: &'dtb [u8]) -> Result<Self, Error> {
        Self::read(blob, None, Reading::AsWritten)
    }

    fn read(
        blob: &'dtb [u8],
        blob_phys: Option<PhysAddr>,
        reading: Reading,
    ) -> Result<Self, Error> {
        let fdt = validated_fdt(blob)?;
        let mut description = Self {
            model: None,
            bootargs: None,
            kaslr_seed: None,
            rng_seed: None,
            stdout_path: None,
            stdout: None,
            serial0: None,
            interrupt_controller: None,
            timer: None,
            cpus: CpuList::new(),
            apic: None,
            ram: RamList::new(),
            reserved: ReservationList::new(),
            reusable: ReusableList::new(),
            warnings: Warnings::new(),
            unsupported: UnsupportedDevices::new(),
        };
        // `fdt` hands the entries out as pointer-sized values; `usize` is 64
        // bits on every target the kernel (and its host tests) builds for.
        for entry in fdt.memory_reservations() {
            let range = PhysRange::new(
                PhysAddr(entry.address() as usize as u64),
                entry.size() as u64,
            );
            if range.size != 0 {
                description.reserve(range, ReservationReason::MemReserve)?;
            }
        }
        let root = fdt.find_node("/").ok_or(Error::MalformedStructure {
            offset: 0,
            problem: StructureProblem::BadRoot,
        })?;
        let collector = description.collect(root, reading)?;
        description.finish(collector)?;
        if let Some(start) = blob_phys {
            description.reserve(
                PhysRange::new(start, blob.len() as u64),
                ReservationReason::DeviceTree,
            )?;
        }
        // Last, so that a fold the blob's own reservation caused is told too.
        description.warn_if_merged();
        Ok(description)
    }

    /// Describes an x86 machine from its PVH start info at `start_info` (and
    /// the ACPI MADT the start info's RSDP leads to), read through `memory`:
    /// RAM and reservations from the memory map (see [`pvh::describe_pvh`]
    /// for their order), the command line as `bootargs`, the CPUs and APICs
    /// of the MADT. There is no device tree, so no model, console, GIC or
    /// timer node: the x86 layer knows its COM1 and its local APIC timer.
    ///
    /// Fails as [`pvh::describe_pvh`] does, or with [`Error::TooManyRegions`]
    /// when the RAM does not fit this description's list. Never panics.
    pub fn from_pvh(
        memory: &impl PhysicalMemory<'dtb>,
        start_info: PhysAddr,
    ) -> Result<Self, Error> {
        let x86 = pvh::describe_pvh(memory, start_info)?;
        let mut description = Self {
            model: None,
            bootargs: x86.command_line,
            kaslr_seed: None,
            rng_seed: None,
            stdout_path: None,
            stdout: None,
            serial0: None,
            interrupt_controller: None,
            timer: None,
            cpus: CpuList::new(),
            apic: Some(x86.apic),
            ram: RamList::new(),
            reserved: ReservationList::new(),
            reusable: ReusableList::new(),
            warnings: Warnings::new(),
            unsupported: UnsupportedDevices::new(),
        };
        for range in x86.ram() {
            description
                .ram
                .push(*range)
                .map_err(|_| Error::TooManyRegions {
                    list: RegionList::Ram,
                    capacity: RAM_CAPACITY,
                })?;
        }
        for reservation in x86.reserved() {
            description.reserve(reservation.range, reservation.reason)?;
        }
        for cpu in x86.apic.local_apics.kept() {
            if cpu.enabled || cpu.online_capable {
                description.cpus.push(Cpu {
                    path: NodePath::root().child("acpi").child("madt"),
                    id: Some(u64::from(cpu.apic_id)),
                    enable_method: Some("acpi"),
                    release_address: None,
                });
            }
        }
        description.warn_if_merged();
        Ok(description)
    }

    /// The local APIC address, I/O APICs, interrupt overrides and local
    /// APICs from the ACPI MADT: present on x86_64, `None` from a device tree.
    pub fn apic(&self) -> Option<&acpi::Apic> {
        self.apic.as_ref()
    }

    /// The console UART: the one [`Self::stdout`] names when the kernel can
    /// drive it, else the `serial0` alias's, with the reason (see
    /// [`console`]). The kernel starts this one, and `make inspect` shows it.
    pub fn console(&self) -> ConsoleChoice<'dtb> {
        console::choose(self.stdout_path, self.stdout, self.serial0)
    }

    /// RAM regions: sorted by base, touching regions merged, never empty.
    pub fn ram(&self) -> &[PhysRange] {
        &self.ram
    }

    /// What the tree got wrong that the description worked around (see
    /// [`Problem`]), in the order found: empty from the PVH start info.
    pub fn warnings(&self) -> &Warnings<'dtb> {
        &self.warnings
    }

    /// What the kernel cannot drive, each with its node and why: an
    /// interrupt controller that is not a GIC it knows, a timer whose
    /// interrupts it cannot take, the UARTs `stdout-path` and the `serial`
    /// aliases name that no driver serves. Empty from the PVH start info.
    pub fn unsupported(&self) -> &UnsupportedDevices<'dtb> {
        &self.unsupported
    }

    /// Reservations in the order found: `/memreserve/`, then in tree order
    /// the `/reserved-memory` children that are not [reusable](Self::reusable)
    /// and the pages of the spin-table release addresses
    /// ([`ReservationReason::SpinTable`]), then the initrd, the blob, and
    /// whatever [`Self::reserve`] added.
    /// They may overlap each other and may lie outside RAM. Once more than
    /// [`RESERVATION_CAPACITY`] were given, the list is sorted by address and
    /// holds folded reservations (see [`Merged`]) instead.
    pub fn reserved(&self) -> &[Reservation<'dtb>] {
        &self.reserved
    }

    /// The `/reserved-memory` children marked `reusable` (not `no-map`),
    /// such as `linux,cma`: left usable, never in [`Self::reserved`] (see
    /// [`ReusableMemory`] for why).
    pub fn reusable(&self) -> &ReusableList<'dtb> {
        &self.reusable
    }

    /// Marks `range` as not free. Fails with [`Error::BadReservation`] if it is
    /// empty or ends past 2^64. Never fails for want of room: a full list
    /// folds neighbouring reservations together, reserving more, never less
    /// (see [`Merged`]).
    pub fn reserve(
        &mut self,
        range: PhysRange,
        reason: ReservationReason<'dtb>,
    ) -> Result<(), Error> {
        self.reserved.push(range, reason)
    }

    /// Warns once, after the tree (or start info) is read, if its
    /// reservations had to be folded to fit. Folds the kernel's own
    /// [`Self::reserve`] calls cause later show only as `merged` reservations.
    fn warn_if_merged(&mut self) {
        let merged = self.reserved.merged();
        if merged != Merged::default() {
            self.warnings.offer(Warning {
                subject: Subject::Reservations,
                problem: Problem::ReservationsMerged { merged },
            });
        }
    }

    /// RAM minus every reservation, each piece shrunk inward to 4 KiB page
    /// boundaries, empty pieces dropped, in increasing address order.
    pub fn usable(&self) -> impl Iterator<Item = PhysRange> + '_ {
        memory::usable(&self.ram, &self.reserved)
    }

    /// Reads `/chosen` and `/aliases`, then walks the whole tree once.
    fn collect<'b>(
        &mut self,
        root: FdtNode<'b, 'dtb>,
        reading: Reading,
    ) -> Result<Collector<'dtb>, Error> {
        let root_frame = Frame {
            node: root,
            path: NodePath::root(),
            parent: None,
        };
        self.model = root_frame.string("model")?;
        let (chosen, aliases) = (root_child(root, "chosen"), root_child(root, "aliases"));
        let alias = |name: &str| -> Result<Option<&'dtb str>, Error> {
            let Some(aliases) = aliases else {
                return Ok(None);
            };
            let frame = Frame {
                node: aliases,
                path: NodePath::root().child("aliases"),
                parent: None,
            };
            match frame.property(name) {
                Some(value) => string_value(value)
                    .map(Some)
                    .ok_or(Error::MalformedProperty {
                        path: frame.path,
                        property: "aliases entry",
                    }),
                None => Ok(None),
            }
        };
        let mut collector = Collector {
            reading,
            ..Collector::default()
        };
        if let Some(chosen) = chosen {
            let frame = Frame {
                node: chosen,
                path: NodePath::root().child("chosen"),
                parent: None,
            };
            self.bootargs = frame.string("bootargs")?;
            self.kaslr_seed = frame.property("kaslr-seed");
            self.rng_seed = frame.property("rng-seed");
            if let Some(stdout) = frame.string("stdout-path")? {
                collector.stdout_path = Some(stdout);
                let target = stdout.split(':').next().unwrap_or(stdout);
                collector.stdout_target = if target.starts_with('/') {
                    Some(target)
                } else {
                    alias(target)?
                };
            }
            collector.initrd = initrd(&frame)?;
        }
        collector.serial0_target = alias("serial0")?;
        if let Some(aliases) = aliases {
            let serial = aliases.properties().filter(|property| {
                property
                    .name
                    .strip_prefix("serial")
                    .is_some_and(|number| number.bytes().all(|byte| byte.is_ascii_digit()))
            });
            for (slot, property) in collector.serial_targets.iter_mut().zip(serial) {
                *slot = string_value(property.value);
            }
        }
        walk::walk(root, &mut |frame| {
            if let Some(release) = self.cpus.visit(frame) {
                memory::reserve_spin_table(&mut self.reserved, release)?;
            }
            collector.visit(
                frame,
                &mut self.ram,
                &mut self.reserved,
                &mut self.reusable,
                &mut self.warnings,
            )
        })?;
        // A chain that leads to a node the walk had passed: walk again.
        while let ControllerSearch::Looking { phandle, .. } = collector.search {
            walk::walk(root, &mut |frame| collector.search.visit(frame))?;
            if matches!(collector.search, ControllerSearch::Looking { phandle: now, .. } if now == phandle)
            {
                collector.search = ControllerSearch::Broken(phandle);
            }
        }
        Ok(collector)
    }

    /// Turns what the walk found into the final description.
    fn finish(&mut self, collector: Collector<'dtb>) -> Result<(), Error> {
        let booting = collector.reading == Reading::Boot;
        if booting && !collector.saw_memory_node {
            return Err(Error::NoMemoryNode);
        }
        if booting && self.ram.is_empty() {
            return Err(Error::NoRam);
        }
        let overlaps = if booting {
            memory::Overlaps::Refuse
        } else {
            memory::Overlaps::Merge
        };
        memory::normalize_ram(&mut self.ram, overlaps)?;
        self.stdout_path = collector.stdout_path;
        self.stdout = collector.stdout_console;
        self.serial0 = collector.serial0_console;
        // An unreadable UART matters only when the console would be it:
        // stdout-path's when the kernel drives that, serial0's on a fallback.
        if let Some(error) = self.stdout.as_ref().and_then(UartNode::unreadable) {
            return Err(error);
        }
        if self.console().not_used().is_some()
            && let Some(error) = self.serial0.as_ref().and_then(UartNode::unreadable)
        {
            return Err(error);
        }
        if let (Some(target), None) = (collector.stdout_path, collector.stdout_console) {
            let serial0 = self.console().uart().is_some();
            warning::warn(
                &mut self.warnings,
                NodePath::root().child("chosen"),
                Problem::StdoutPathNamesNothing { target, serial0 },
            );
        }
        let controller = match collector.search {
            ControllerSearch::Found(probed) => Some(probed),
            ControllerSearch::NoTree | ControllerSearch::Looking { .. } => {
                collector.fallback_gic.transpose()?
            }
            ControllerSearch::Broken(phandle) => {
                warning::warn(
                    &mut self.warnings,
                    NodePath::root(),
                    Problem::BrokenInterruptTree { phandle },
                );
                collector.fallback_gic.transpose()?
            }
        };
        match controller {
            Some(Probed::Gic(gic)) => self.interrupt_controller = Some(gic),
            Some(Probed::Unsupported(unsupported)) => self.unsupported.offer(unsupported),
            None => {}
        }
        if let Some(timer) = collector.timer {
            let read = match &self.interrupt_controller {
                Some(gic) => timer.read(gic),
                None => Ok(Err(timer.unsupported(UnsupportedReason::TimerWithoutGic))),
            };
            match read {
                Ok(Ok(timer)) => self.timer = Some(timer),
                Ok(Err(unsupported)) => self.unsupported.offer(unsupported),
                Err(_) if !booting => {}
                Err(error) => return Err(error),
            }
        }
        self.unsupported.append(&collector.undriven_uarts);
        if let Some(initrd) = collector.initrd {
            self.reserve(initrd, ReservationReason::Initrd)?;
        }
        memory::warn_about_reservations(&self.ram, &self.reserved, &mut self.warnings);
        Ok(())
    }
}

/// How strictly a tree is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Reading {
    /// To boot from: the kernel needs RAM and every part it uses well formed.
    #[default]
    Boot,
    /// To show what it says: see [`PlatformDescription::from_dtb_as_written`].
    AsWritten,
}

/// What one walk over the tree gathers beyond RAM and reservations.
#[derive(Default)]
struct Collector<'dtb> {
    reading: Reading,
    /// `/chosen` `stdout-path` as written, for the warning if it names nothing.
    stdout_path: Option<&'dtb str>,
    stdout_target: Option<&'dtb str>,
    serial0_target: Option<&'dtb str>,
    initrd: Option<PhysRange>,
    saw_memory_node: bool,
    stdout_console: Option<UartNode<'dtb>>,
    serial0_console: Option<UartNode<'dtb>>,
    /// What the first [`SERIAL_ALIASES`] `serial` aliases name.
    serial_targets: [Option<&'dtb str>; SERIAL_ALIASES],
    search: ControllerSearch<'dtb>,
    /// The first enabled GIC, for a tree whose interrupt tree is not rooted;
    /// its error waits until it is needed.
    fallback_gic: Option<Result<Probed<'dtb>, Error>>,
    timer: Option<TimerNode<'dtb>>,
    /// The UARTs `stdout-path` and the `serial` aliases name that no driver
    /// serves: listed after the controller and the timer, so that many of
    /// them cannot push those two out of the list.
    undriven_uarts: UnsupportedDevices<'dtb>,
}

/// How many `serial` aliases are followed to list the UARTs without a
/// driver: as many as the busiest of Debian's arm64 trees has (twelve).
const SERIAL_ALIASES: usize = 12;

impl<'dtb> Collector<'dtb> {
    fn empty_regions(&self) -> translate::EmptyRegions {
        match self.reading {
            Reading::Boot => translate::EmptyRegions::Refuse,
            Reading::AsWritten => translate::EmptyRegions::Skip,
        }
    }

    fn visit(
        &mut self,
        frame: &Frame<'_, '_, 'dtb>,
        ram: &mut RamList,
        reserved: &mut ReservationList<'dtb>,
        reusable: &mut ReusableList<'dtb>,
        warnings: &mut Warnings<'dtb>,
    ) -> Result<(), Error> {
        if frame.has_string("device_type", "memory") {
            self.saw_memory_node = true;
            let empty = self.empty_regions();
            translate::for_each_region(frame, empty, Some(&mut *warnings), &mut |region| {
                ram.push(region).map_err(|_| Error::TooManyRegions {
                    list: RegionList::Ram,
                    capacity: RAM_CAPACITY,
                })
            })?;
        }
        let in_reserved_memory = frame.parent.is_some_and(|parent| {
            parent.name() == "reserved-memory"
                && parent.parent.is_some_and(|root| root.parent.is_none())
        });
        if in_reserved_memory && frame.is_enabled() {
            let name = frame.name();
            let is_reusable =
                frame.property("reusable").is_some() && frame.property("no-map").is_none();
            // Skipped with a warning, at boot too: Linux boots such trees.
            translate::for_each_region(
                frame,
                translate::EmptyRegions::Skip,
                Some(warnings),
                &mut |range| {
                    if is_reusable {
                        reusable.offer(ReusableMemory {
                            name,
                            range: Some(range),
                            size: None,
                        });
                        return Ok(());
                    }
                    reserved.push(range, ReservationReason::ReservedMemory { name })
                },
            )?;
            if is_reusable && frame.property("reg").is_none() {
                let size = frame.parent.and_then(|parent| {
                    translate::read_cells(frame.property("size")?, parent.size_cells().ok()?)
                });
                reusable.offer(ReusableMemory {
                    name,
                    range: None,
                    size,
                });
            }
        }
        if self.stdout_console.is_none()
            && self
                .stdout_target
                .is_some_and(|target| frame.matches_path(target))
        {
            self.stdout_console = Some(UartNode::from_frame(frame));
        }
        if self.serial0_console.is_none()
            && self
                .serial0_target
                .is_some_and(|target| frame.matches_path(target))
        {
            self.serial0_console = Some(UartNode::from_frame(frame));
        }
        let named_uart = self
            .stdout_target
            .iter()
            .chain(self.serial_targets.iter().flatten())
            .any(|target| frame.matches_path(target));
        // Disabled or not, as the console decision puts a missing driver first.
        if named_uart && !console::has_driver(frame) {
            self.undriven_uarts
                .offer(Unsupported::at(frame, UnsupportedReason::NoUartDriver)?);
        }
        match frame.parent {
            None => self.search = ControllerSearch::start(frame.cell("interrupt-parent")?),
            Some(_) => self.search.visit(frame)?,
        }
        if self.fallback_gic.is_none() && InterruptController::is_gic(frame) && frame.is_enabled() {
            self.fallback_gic = Some(InterruptController::probe(frame));
        }
        if self.timer.is_none() {
            self.timer = TimerNode::probe(frame)?;
        }
        Ok(())
    }
}

/// `blob` as the `fdt` crate's tree, once [`validate::validate`] has checked
/// what that crate would otherwise panic on.
fn validated_fdt(blob: &[u8]) -> Result<Fdt<'_>, Error> {
    let blob = validate::validate(blob)?;
    // Cannot fail: `validate` checked the magic and the size already.
    Fdt::new(blob).map_err(|_| Error::Truncated {
        needed: 40,
        available: blob.len(),
    })
}

/// The first child of `root` named `name` (`chosen`, `aliases`): the one
/// node of that name the kernel reads, wherever a tree repeats it.
fn root_child<'b, 'dtb>(root: FdtNode<'b, 'dtb>, name: &str) -> Option<FdtNode<'b, 'dtb>> {
    root.children().find(|child| child.name == name)
}

/// The initrd `/chosen` names, if both ends are there; each end is one or
/// two cells. An end before the start is [`Error::BadInitrd`]; equal ends mean
/// no initrd.
fn initrd(chosen: &Frame<'_, '_, '_>) -> Result<Option<PhysRange>, Error> {
    let read = |property: &'static str| -> Result<Option<u64>, Error> {
        let Some(value) = chosen.property(property) else {
            return Ok(None);
        };
        let number = match value.len() {
            4 => value
                .try_into()
                .ok()
                .map(|bytes| u64::from(u32::from_be_bytes(bytes))),
            8 => value.try_into().ok().map(u64::from_be_bytes),
            _ => None,
        };
        number.map(Some).ok_or_else(|| chosen.malformed(property))
    };
    let start = read("linux,initrd-start")?;
    let end = read("linux,initrd-end")?;
    match (start, end) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::MissingProperty {
            path: chosen.path,
            property: "linux,initrd-end",
        }),
        (None, Some(_)) => Err(Error::MissingProperty {
            path: chosen.path,
            property: "linux,initrd-start",
        }),
        (Some(start), Some(end)) if end < start => Err(Error::BadInitrd { start, end }),
        (Some(start), Some(end)) if end == start => Ok(None),
        (Some(start), Some(end)) => Ok(Some(PhysRange::new(PhysAddr(start), end - start))),
    }
}
