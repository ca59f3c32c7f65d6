//! The x86_64 platform description, from the PVH start info and the ACPI
//! tables it points at.
//!
//! A PVH loader (QEMU's `-kernel`, Xen) enters the kernel with ebx = the
//! physical address of an `hvm_start_info` (Xen's public header
//! `arch-x86/hvm/start_info.h`): a magic and version, a command line, a list
//! of modules, the RSDP and, from version 1 on, an E820-style memory map.
//! [`describe_pvh`] reads all of it through [`PhysicalMemory`] into one plain
//! [`X86Platform`]: RAM, reservations with reasons, the command line, modules
//! and the interrupt controllers the MADT names.
//!
//! As for the device tree, nothing here allocates (it runs before the heap)
//! and nothing panics: every value comes from firmware and is checked, and
//! each refusal is an [`Error`] naming the offending address or entry.

use core::fmt;

use super::acpi::{self, Apic};
use super::bounded::{Blank, BoundedList};
use super::error::FirmwareStructure;
use super::memory::{self, RamList, ReservationList};
use super::physical::{Fields, PhysicalMemory};
use super::{Error, RegionList, Reservation, ReservationReason};
use crate::addr::{PhysAddr, PhysRange};

/// `hvm_start_info.magic`: "xEn3" with the 0x80 bit of the "E" set.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

/// How many memory-map entries the start info may give; more are refused,
/// since an entry left unread could be a reservation.
pub const MEMORY_MAP_CAPACITY: usize = 128;

/// How many modules the start info may give; more are refused, since a module
/// left unread would not be reserved.
pub const MODULE_CAPACITY: usize = 8;

/// The longest command line accepted, in bytes before its NUL.
pub const COMMAND_LINE_LIMIT: usize = 4096;

/// The size of a version 1 `hvm_start_info`; version 0 lacks the last 16
/// bytes (the memory map), which the kernel needs.
const START_INFO_SIZE: usize = 56;
/// The size of one `hvm_memmap_table_entry`.
const MEMORY_MAP_ENTRY_SIZE: usize = 24;
/// The size of one `hvm_modlist_entry`.
const MODULE_ENTRY_SIZE: usize = 32;

/// The first MiB of physical memory, never handed out as free frames.
///
/// The memory map calls most of it RAM, but it holds what a PC keeps there:
/// the real-mode interrupt table and BIOS data area, the EBDA below 0xa0000,
/// and here also the start info, memory map and command line that QEMU's PVH
/// ROM writes (at 0x21e0, 0x5a8 and 0x11c0). Starting other CPUs needs a page
/// below 1 MiB for their real-mode entry, too. 640 KiB out of the whole RAM is
/// cheaper than proving each of these unused.
pub const LOW_MEMORY: PhysRange = PhysRange::new(PhysAddr(0), 0x10_0000);

/// What a memory-map entry says its range is (the ACPI address range types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// 1: RAM the kernel may use.
    Ram,
    /// 2: reserved by the firmware or the machine.
    Reserved,
    /// 3: holds ACPI tables; RAM once the tables are no longer needed.
    AcpiReclaimable,
    /// 4: ACPI non-volatile storage, kept across sleep states.
    AcpiNvs,
    /// 5: RAM with detected errors.
    Unusable,
    /// 6: RAM not enabled.
    Disabled,
    /// 7: persistent memory.
    Persistent,
    /// Any other value (OEM or hypervisor defined): not RAM.
    Other(u32),
}

impl MemoryType {
    /// The type an entry's `type` field names.
    pub const fn from_raw(value: u32) -> Self {
        match value {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            6 => Self::Disabled,
            7 => Self::Persistent,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ram => f.write_str("RAM"),
            Self::Reserved => f.write_str("reserved"),
            Self::AcpiReclaimable => f.write_str("ACPI reclaimable"),
            Self::AcpiNvs => f.write_str("ACPI NVS"),
            Self::Unusable => f.write_str("unusable"),
            Self::Disabled => f.write_str("disabled"),
            Self::Persistent => f.write_str("persistent"),
            Self::Other(value) => write!(f, "type {value:#x}"),
        }
    }
}

/// One entry of the start info's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryMapEntry {
    /// The range it describes.
    pub range: PhysRange,
    /// What the range is.
    pub kind: MemoryType,
}

impl Blank for MemoryMapEntry {
    const BLANK: Self = Self {
        range: PhysRange::new(PhysAddr(0), 0),
        kind: MemoryType::Ram,
    };
}

impl fmt::Display for MemoryMapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.range, self.kind)
    }
}

/// The modules of a start info.
type ModuleList = BoundedList<PhysRange, MODULE_CAPACITY>;

/// What the PVH start info and the MADT say about this machine.
///
/// Borrows the command line from the memory it was read through.
#[derive(Clone, Copy, Debug)]
pub struct X86Platform<'m> {
    /// The command line (`-append` under QEMU), if the start info gives one.
    pub command_line: Option<&'m str>,
    /// Where the RSDP is.
    pub rsdp: PhysAddr,
    /// The interrupt controllers and CPUs of the MADT.
    pub apic: Apic,
    ram: RamList,
    reserved: ReservationList<'m>,
    modules: ModuleList,
}

impl<'m> X86Platform<'m> {
    /// RAM regions: the memory map's type-1 entries, sorted by base, touching
    /// ones merged; never empty.
    pub fn ram(&self) -> &[PhysRange] {
        &self.ram
    }

    /// Reservations in this order: [`LOW_MEMORY`], the start info, the memory
    /// map, every memory-map entry that is not RAM (as
    /// [`ReservationReason::Firmware`], in address order), the command line,
    /// the module list and each non-empty module, then what [`Self::reserve`]
    /// added. They may overlap each other and may lie outside RAM.
    pub fn reserved(&self) -> &[Reservation<'m>] {
        &self.reserved
    }

    /// The modules (`-initrd` under QEMU), in start-info order; empty ones included.
    pub fn modules(&self) -> &[PhysRange] {
        &self.modules
    }

    /// Marks `range` as not free. Fails with [`Error::BadReservation`] if it is
    /// empty or ends past 2^64; a full list makes room by folding neighbours
    /// together (see [`super::Merged`]).
    pub fn reserve(
        &mut self,
        range: PhysRange,
        reason: ReservationReason<'m>,
    ) -> Result<(), Error> {
        self.reserved.push(range, reason)
    }

    /// RAM minus every reservation, each piece shrunk inward to 4 KiB page
    /// boundaries, empty pieces dropped, in increasing address order.
    pub fn usable(&self) -> impl Iterator<Item = PhysRange> + '_ {
        memory::usable(&self.ram, &self.reserved)
    }
}

/// Reads the `hvm_start_info` at `start_info`, what it points at, and the
/// MADT its RSDP leads to.
///
/// Needs version 1 or later (version 0 has no memory map), a memory map with
/// at least one RAM entry and an RSDP. Fails with [`Error::BadStartInfoMagic`],
/// [`Error::UnsupportedStartInfoVersion`], [`Error::Unreadable`] (a structure,
/// such as a truncated memory map, runs into memory `memory` cannot read),
/// [`Error::NoMemoryMap`], [`Error::TooManyMemoryMapEntries`],
/// [`Error::MemoryMapEntryOverflow`], [`Error::OverlappingMemoryMapEntries`]
/// (any two entries sharing a byte, whatever their types), [`Error::NoRam`],
/// [`Error::CommandLineTooLong`], [`Error::CommandLineNotUtf8`],
/// [`Error::TooManyRegions`], [`Error::NoRsdp`], or any error of
/// [`acpi::read_apic`]. Never panics, whatever the bytes.
pub fn describe_pvh<'m>(
    memory: &impl PhysicalMemory<'m>,
    start_info: PhysAddr,
) -> Result<X86Platform<'m>, Error> {
    let info = StartInfo::read(memory, start_info)?;
    let mut platform = X86Platform {
        command_line: None,
        rsdp: PhysAddr(info.rsdp),
        apic: Apic::default(),
        ram: RamList::new(),
        reserved: ReservationList::new(),
        modules: ModuleList::new(),
    };
    platform.reserve(LOW_MEMORY, ReservationReason::LowMemory)?;
    platform.reserve(
        PhysRange::new(start_info, START_INFO_SIZE as u64),
        ReservationReason::StartInfo,
    )?;
    platform.read_memory_map(memory, &info)?;
    // The address fields use 0 for "absent" (nothing is loaded at address 0).
    if info.command_line != 0 {
        let at = PhysAddr(info.command_line);
        let line = read_command_line(memory, at)?;
        platform.reserve(
            PhysRange::new(at, line.len() as u64 + 1),
            ReservationReason::CommandLine,
        )?;
        platform.command_line = Some(line);
    }
    platform.read_modules(memory, &info)?;
    if info.rsdp == 0 {
        return Err(Error::NoRsdp);
    }
    platform.apic = acpi::read_apic(memory, platform.rsdp)?;
    Ok(platform)
}

/// The fields of a version 1 start info that the kernel uses.
struct StartInfo {
    modules: u32,
    module_list: u64,
    command_line: u64,
    rsdp: u64,
    memory_map: u64,
    memory_map_entries: u32,
}

impl StartInfo {
    fn read<'m>(memory: &impl PhysicalMemory<'m>, at: PhysAddr) -> Result<Self, Error> {
        let unreadable = |size: usize| Error::Unreadable {
            structure: FirmwareStructure::StartInfo,
            address: at,
            size: size as u64,
        };
        // Magic and version first: a version 0 structure is shorter.
        let header = Fields(memory.bytes(at, 8).ok_or(unreadable(8))?);
        let (magic, version) = header.u32(0).zip(header.u32(4)).ok_or(unreadable(8))?;
        if magic != START_INFO_MAGIC {
            return Err(Error::BadStartInfoMagic {
                address: at,
                found: magic,
            });
        }
        if version < 1 {
            return Err(Error::UnsupportedStartInfoVersion {
                address: at,
                version,
            });
        }
        let bytes = memory
            .bytes(at, START_INFO_SIZE)
            .ok_or(unreadable(START_INFO_SIZE))?;
        Self::decode(Fields(bytes)).ok_or(unreadable(START_INFO_SIZE))
    }

    fn decode(fields: Fields<'_>) -> Option<Self> {
        Some(Self {
            modules: fields.u32(12)?,
            module_list: fields.u64(16)?,
            command_line: fields.u64(24)?,
            rsdp: fields.u64(32)?,
            memory_map: fields.u64(40)?,
            memory_map_entries: fields.u32(48)?,
        })
    }
}

impl<'m> X86Platform<'m> {
    /// Reads the memory map: RAM into [`Self::ram`], every other entry into the
    /// reservations.
    fn read_memory_map(
        &mut self,
        memory: &impl PhysicalMemory<'m>,
        info: &StartInfo,
    ) -> Result<(), Error> {
        if info.memory_map == 0 || info.memory_map_entries == 0 {
            return Err(Error::NoMemoryMap);
        }
        let too_many = Error::TooManyMemoryMapEntries {
            entries: info.memory_map_entries,
            capacity: MEMORY_MAP_CAPACITY,
        };
        let array = StartInfoArray {
            address: PhysAddr(info.memory_map),
            count: info.memory_map_entries,
            entry_size: MEMORY_MAP_ENTRY_SIZE,
            capacity: MEMORY_MAP_CAPACITY,
            too_many,
            structure: FirmwareStructure::MemoryMap,
            reason: ReservationReason::MemoryMap,
        };
        let bytes = self.read_array(memory, array)?;
        let mut entries = BoundedList::<MemoryMapEntry, MEMORY_MAP_CAPACITY>::new();
        // Each chunk is a whole entry, so decoding never drops one.
        for entry in bytes.chunks_exact(MEMORY_MAP_ENTRY_SIZE).filter_map(|raw| {
            let fields = Fields(raw);
            Some(MemoryMapEntry {
                range: PhysRange::new(PhysAddr(fields.u64(0)?), fields.u64(8)?),
                kind: MemoryType::from_raw(fields.u32(16)?),
            })
        }) {
            if entry.range.end().is_none() {
                return Err(Error::MemoryMapEntryOverflow { entry });
            }
            // An empty entry describes nothing; some firmware writes them.
            if entry.range.size != 0 {
                // Cannot fail: `read_array` allowed no more entries than fit.
                entries.push(entry).map_err(|_| too_many)?;
            }
        }
        entries
            .as_mut_slice()
            .sort_unstable_by_key(|entry| entry.range.start);
        // Sorted by start, two entries overlap only if some neighbours do.
        for pair in entries.windows(2) {
            if let [a, b] = *pair
                && a.range.end().is_some_and(|end| end > b.range.start)
            {
                return Err(Error::OverlappingMemoryMapEntries { a, b });
            }
        }
        for entry in entries.iter() {
            if entry.kind == MemoryType::Ram {
                self.ram
                    .push(entry.range)
                    .map_err(|_| Error::TooManyRegions {
                        list: RegionList::Ram,
                        capacity: super::RAM_CAPACITY,
                    })?;
            } else {
                self.reserve(entry.range, ReservationReason::Firmware(entry.kind))?;
            }
        }
        if self.ram.is_empty() {
            return Err(Error::NoRam);
        }
        memory::normalize_ram(&mut self.ram, memory::Overlaps::Refuse)
    }

    /// Reads the module list; reserves it and each non-empty module.
    fn read_modules(
        &mut self,
        memory: &impl PhysicalMemory<'m>,
        info: &StartInfo,
    ) -> Result<(), Error> {
        if info.modules == 0 {
            return Ok(());
        }
        let too_many = Error::TooManyRegions {
            list: RegionList::Modules,
            capacity: MODULE_CAPACITY,
        };
        let array = StartInfoArray {
            address: PhysAddr(info.module_list),
            count: info.modules,
            entry_size: MODULE_ENTRY_SIZE,
            capacity: MODULE_CAPACITY,
            too_many,
            structure: FirmwareStructure::ModuleList,
            reason: ReservationReason::ModuleList,
        };
        let bytes = self.read_array(memory, array)?;
        // Each chunk is a whole entry, so decoding never drops one.
        let modules = bytes.chunks_exact(MODULE_ENTRY_SIZE).filter_map(|raw| {
            let fields = Fields(raw);
            Some(PhysRange::new(PhysAddr(fields.u64(0)?), fields.u64(8)?))
        });
        for (index, module) in (0u32..).zip(modules) {
            if module.size != 0 {
                self.reserve(module, ReservationReason::Module { index })?;
            }
            // Cannot fail: `read_array` allowed no more modules than fit.
            self.modules.push(module).map_err(|_| too_many)?;
        }
        Ok(())
    }

    /// The bytes of `array`, which it reserves; refuses more entries than its capacity.
    fn read_array(
        &mut self,
        memory: &impl PhysicalMemory<'m>,
        array: StartInfoArray<'m>,
    ) -> Result<&'m [u8], Error> {
        let count = usize::try_from(array.count)
            .ok()
            .filter(|&count| count <= array.capacity)
            .ok_or(array.too_many)?;
        let size = count * array.entry_size;
        let bytes = memory.bytes(array.address, size).ok_or(Error::Unreadable {
            structure: array.structure,
            address: array.address,
            size: size as u64,
        })?;
        self.reserve(PhysRange::new(array.address, size as u64), array.reason)?;
        Ok(bytes)
    }
}

/// An array of fixed-size entries that the start info points at.
struct StartInfoArray<'m> {
    address: PhysAddr,
    count: u32,
    entry_size: usize,
    /// The most entries read; more are `too_many`.
    capacity: usize,
    too_many: Error,
    structure: FirmwareStructure,
    reason: ReservationReason<'m>,
}

/// The NUL-terminated UTF-8 string at `at`, without its NUL.
fn read_command_line<'m>(memory: &impl PhysicalMemory<'m>, at: PhysAddr) -> Result<&'m str, Error> {
    let unreadable = |address: PhysAddr, size: usize| Error::Unreadable {
        structure: FirmwareStructure::CommandLine,
        address,
        size: size as u64,
    };
    // Byte by byte: the string's length is unknown, and the memory after its
    // NUL need not be readable.
    let mut length = 0;
    loop {
        let address = at
            .checked_add(length as u64)
            .ok_or(unreadable(at, length + 1))?;
        let byte = memory.bytes(address, 1).ok_or(unreadable(address, 1))?;
        if byte == [0] {
            break;
        }
        if length == COMMAND_LINE_LIMIT {
            return Err(Error::CommandLineTooLong {
                address: at,
                limit: COMMAND_LINE_LIMIT,
            });
        }
        length += 1;
    }
    let bytes = memory.bytes(at, length).ok_or(unreadable(at, length))?;
    core::str::from_utf8(bytes).map_err(|error| Error::CommandLineNotUtf8 {
        address: at,
        valid_up_to: error.valid_up_to(),
    })
}
