//! Everything that can be wrong with a device tree or a PVH start info and
//! its ACPI tables, each with the offending value.

use core::fmt;

use super::NodePath;
use super::acpi::Signature;
use super::pvh::MemoryMapEntry;
use crate::addr::{PhysAddr, PhysRange};

/// Why a device tree (or a PVH start info, or its ACPI tables) was refused. Each variant carries the value or node path
/// that caused it, so the boot report can say exactly what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The blob ends before the header, or before the `totalsize` the header gives.
    Truncated {
        /// Bytes the header (or its `totalsize`) needs.
        needed: u64,
        /// Bytes actually given.
        available: usize,
    },
    /// The first word is not the device-tree magic `0xd00dfeed`.
    BadMagic {
        /// The word found instead.
        found: u32,
    },
    /// The header's `totalsize` is smaller than the header itself.
    BadTotalSize {
        /// The `totalsize` found.
        total_size: u32,
    },
    /// The format version is older than 17 or the tree needs a reader newer than 17.
    UnsupportedVersion {
        /// The header's `version`.
        version: u32,
        /// The header's `last_comp_version`.
        last_compatible: u32,
    },
    /// A block named by the header lies (partly) outside `totalsize` or over the header.
    BlockOutOfBounds {
        /// Which block.
        block: Block,
        /// Its offset from the start of the blob.
        offset: u32,
        /// Its size in bytes (for the reservation map: the bytes scanned).
        size: u32,
    },
    /// Two blocks share bytes (editing one in place would change the other).
    OverlappingBlocks {
        /// One block.
        a: Block,
        /// The other.
        b: Block,
    },
    /// A block does not start (or end) on the alignment the format requires.
    MisalignedBlock {
        /// Which block.
        block: Block,
        /// The offending offset or size.
        value: u32,
    },
    /// The structure block is not a well-formed token stream.
    MalformedStructure {
        /// Byte offset inside the structure block.
        offset: usize,
        /// What is wrong there.
        problem: StructureProblem,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`](super::MAX_DEPTH) levels.
    TooDeep {
        /// Byte offset, inside the structure block, of the node that is too deep.
        offset: usize,
    },
    /// No node has `device_type = "memory"`.
    NoMemoryNode,
    /// Memory nodes exist but none has a `reg` entry.
    NoRam,
    /// Two RAM regions share bytes.
    OverlappingRam {
        /// The lower region.
        a: PhysRange,
        /// The region that starts inside `a`.
        b: PhysRange,
    },
    /// A `reg` entry of a node the kernel uses has size zero.
    ZeroSizeRegion {
        /// The node.
        path: NodePath,
    },
    /// A region of a node ends beyond the 64-bit address space.
    RegionOverflow {
        /// The node.
        path: NodePath,
        /// Its start (at the bus level where the overflow happened).
        start: u64,
        /// Its size.
        size: u64,
    },
    /// A node's `#address-cells`/`#size-cells` are outside what the kernel can
    /// use: 1 or 2 address cells, 1 or 2 size cells.
    CellCount {
        /// The node whose `#address-cells`/`#size-cells` (for its children) are wrong.
        path: NodePath,
        /// Its `#address-cells` (2 if absent).
        address_cells: u32,
        /// Its `#size-cells` (1 if absent).
        size_cells: u32,
    },
    /// A property has the wrong length or encoding (not a multiple of its entry
    /// size, not a NUL-terminated UTF-8 string, not one cell, ...).
    MalformedProperty {
        /// The node.
        path: NodePath,
        /// The property.
        property: &'static str,
    },
    /// A property the kernel needs is absent.
    MissingProperty {
        /// The node.
        path: NodePath,
        /// The property.
        property: &'static str,
    },
    /// A bus node has no `ranges`, so its children's addresses do not reach the CPU.
    NoRanges {
        /// The bus node.
        path: NodePath,
    },
    /// No window of a bus's `ranges` covers a child region.
    UntranslatableAddress {
        /// The bus node whose `ranges` do not cover the region.
        path: NodePath,
        /// The region's start, as an address on that bus.
        address: u64,
        /// The region's size.
        size: u64,
    },
    /// A fixed-capacity list is full.
    TooManyRegions {
        /// Which list.
        list: RegionList,
        /// Its capacity.
        capacity: usize,
    },
    /// The path of a node the kernel uses does not fit in a [`NodePath`].
    PathTooLong {
        /// The part of the path that fit.
        path: NodePath,
    },
    /// A reservation is empty or ends beyond the 64-bit address space.
    BadReservation {
        /// The refused range.
        range: PhysRange,
    },
    /// `/chosen` gives an initrd that ends before it starts.
    BadInitrd {
        /// `linux,initrd-start`.
        start: u64,
        /// `linux,initrd-end`.
        end: u64,
    },
    /// A GIC node has fewer `reg` regions than its version requires.
    MissingGicRegions {
        /// The GIC node.
        path: NodePath,
        /// Regions required.
        needed: usize,
        /// Regions found.
        found: usize,
    },
    /// A GICv3's `redistributor-stride` is under two 64 KiB frames or not a
    /// multiple of 64 KiB, so stepping by it would not land on a
    /// redistributor's first frame.
    BadRedistributorStride {
        /// The GIC node.
        path: NodePath,
        /// The stride the node gives, in bytes.
        stride: u64,
    },
    /// The GIC's `#interrupt-cells` is neither 3 nor 4 (a GICv3 with PPI
    /// partitions), so the timer's interrupts cannot be read.
    InterruptCells {
        /// The GIC node.
        path: NodePath,
        /// Its `#interrupt-cells` (0 if absent).
        cells: u32,
    },
    /// A timer interrupt is not a GIC PPI (type 1, number below 16).
    UnsupportedTimerInterrupt {
        /// The timer node.
        path: NodePath,
        /// The interrupt type cell (0 SPI, 1 PPI).
        kind: u32,
        /// The interrupt number cell.
        number: u32,
    },
    /// A structure the start info or an ACPI table points at runs into memory
    /// that cannot be read: it is truncated, or its pointer is wrong.
    Unreadable {
        /// What was being read.
        structure: FirmwareStructure,
        /// Its start.
        address: PhysAddr,
        /// The bytes it needs from there.
        size: u64,
    },
    /// The PVH start info does not begin with the magic `0x336ec578`.
    BadStartInfoMagic {
        /// Where the start info was said to be.
        address: PhysAddr,
        /// The word found instead.
        found: u32,
    },
    /// The start info is version 0, which has no memory map.
    UnsupportedStartInfoVersion {
        /// The start info.
        address: PhysAddr,
        /// Its version.
        version: u32,
    },
    /// The start info gives no memory map (address or entry count 0).
    NoMemoryMap,
    /// The memory map has more entries than the kernel reads.
    TooManyMemoryMapEntries {
        /// The start info's `memmap_entries`.
        entries: u32,
        /// How many are read at most.
        capacity: usize,
    },
    /// A memory-map entry ends beyond the 64-bit address space.
    MemoryMapEntryOverflow {
        /// The entry.
        entry: MemoryMapEntry,
    },
    /// Two memory-map entries share bytes (whatever their types).
    OverlappingMemoryMapEntries {
        /// The entry that starts lower.
        a: MemoryMapEntry,
        /// The entry that starts inside `a`.
        b: MemoryMapEntry,
    },
    /// The command line has no NUL within [`COMMAND_LINE_LIMIT`](super::COMMAND_LINE_LIMIT) bytes.
    CommandLineTooLong {
        /// Where it starts.
        address: PhysAddr,
        /// The longest accepted, in bytes before the NUL.
        limit: usize,
    },
    /// The command line is not UTF-8.
    CommandLineNotUtf8 {
        /// Where it starts.
        address: PhysAddr,
        /// How many bytes from there are valid UTF-8.
        valid_up_to: usize,
    },
    /// The start info gives no RSDP, so the interrupt controllers are unknown.
    NoRsdp,
    /// The RSDP does not begin with `RSD PTR `.
    BadRsdpSignature {
        /// Where the RSDP was said to be.
        address: PhysAddr,
        /// The eight bytes found instead.
        found: [u8; 8],
    },
    /// An ACPI structure's bytes do not sum to 0 (mod 256).
    AcpiChecksum {
        /// Which structure.
        structure: FirmwareStructure,
        /// Its start.
        address: PhysAddr,
        /// What its bytes sum to.
        sum: u8,
    },
    /// An ACPI structure's length is shorter than its header, or does not fit
    /// what it holds (a root table whose pointers do not fill it).
    AcpiLength {
        /// Which structure.
        structure: FirmwareStructure,
        /// Its start.
        address: PhysAddr,
        /// Its length field.
        length: u32,
    },
    /// The RSDP's root pointer reaches a table that is not the RSDT (or XSDT).
    UnexpectedAcpiTable {
        /// The table.
        address: PhysAddr,
        /// The signature the RSDP's revision calls for.
        expected: Signature,
        /// The signature found.
        found: Signature,
    },
    /// The root table lists no MADT (signature `APIC`).
    NoMadt,
    /// A MADT entry is shorter than 2 bytes or than its type needs, or runs
    /// past the table.
    BadMadtEntry {
        /// The MADT.
        table: PhysAddr,
        /// The entry's offset in the table.
        offset: usize,
        /// Its type byte.
        kind: u8,
        /// Its length byte (`None` when the table ends before it).
        length: Option<u8>,
    },
}

/// A structure of the PVH boot protocol or of ACPI, read by physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareStructure {
    /// The `hvm_start_info`.
    StartInfo,
    /// The start info's memory map.
    MemoryMap,
    /// The start info's command line.
    CommandLine,
    /// The start info's module list.
    ModuleList,
    /// The RSDP, or its first 20 bytes (what the ACPI 1.0 checksum covers).
    Rsdp,
    /// The whole ACPI 2.0 RSDP (what the extended checksum covers).
    ExtendedRsdp,
    /// The 36-byte header of an ACPI table, before its signature is known.
    AcpiTableHeader,
    /// An ACPI table.
    AcpiTable(Signature),
}

/// The three blocks a device-tree header points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The `/memreserve/` entries.
    MemoryReservationMap,
    /// The node and property tokens.
    Structure,
    /// The property names.
    Strings,
}

/// What is wrong at one offset of the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureProblem {
    /// A token that is none of BEGIN_NODE, END_NODE, PROP, NOP, END.
    UnknownToken(u32),
    /// The block ends in the middle of a token or before FDT_END.
    UnexpectedEnd,
    /// The first node is not the root (a node with an empty name).
    BadRoot,
    /// A second top-level node follows the root.
    NodeAfterRoot,
    /// A node name has no NUL before the end of the block.
    UnterminatedName,
    /// A node name is not UTF-8.
    NameNotUtf8,
    /// A property outside any node.
    PropertyOutsideNode,
    /// A property after a child node (the format puts all properties first).
    PropertyAfterChild,
    /// A property value runs past the end of the block.
    PropertyValueOutOfBounds {
        /// The property's length.
        length: u32,
    },
    /// A property name offset outside the strings block, or a name without NUL.
    PropertyNameOutOfBounds {
        /// The offset into the strings block.
        name_offset: u32,
    },
    /// A property name that is not UTF-8.
    PropertyNameNotUtf8,
    /// An END_NODE with no node open.
    UnbalancedEndNode,
    /// FDT_END while nodes are still open, or no root at all.
    UnclosedNode,
    /// An FDT_NOP that is not directly (after more NOPs) followed by END_NODE.
    /// `fdt` 0.1.5 mis-steps (and can panic) on NOPs anywhere else.
    MisplacedNop,
}

/// The fixed-capacity lists of a [`PlatformDescription`](super::PlatformDescription).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionList {
    /// RAM regions, before merging.
    Ram,
    /// The `reg` regions of one device.
    DeviceRegions,
    /// The modules of a PVH start info.
    Modules,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => write!(
                f,
                "device tree truncated: needs {needed} bytes, only {available} given"
            ),
            Self::BadMagic { found } => {
                write!(
                    f,
                    "not a device tree: magic is {found:#010x}, expected 0xd00dfeed"
                )
            }
            Self::BadTotalSize { total_size } => {
                write!(
                    f,
                    "device tree totalsize {total_size} is smaller than its header"
                )
            }
            Self::UnsupportedVersion {
                version,
                last_compatible,
            } => write!(
                f,
                "device tree version {version} (compatible back to {last_compatible}) \
                 is not readable as version 17"
            ),
            Self::BlockOutOfBounds {
                block,
                offset,
                size,
            } => write!(
                f,
                "device tree {block} at offset {offset:#x}, size {size:#x}, \
                 lies outside the blob or over its header"
            ),
            Self::OverlappingBlocks { a, b } => {
                write!(f, "device tree {a} and {b} overlap")
            }
            Self::MisalignedBlock { block, value } => {
                write!(
                    f,
                    "device tree {block} offset or size {value:#x} is misaligned"
                )
            }
            Self::MalformedStructure { offset, problem } => {
                write!(
                    f,
                    "malformed device tree structure at offset {offset:#x}: {problem}"
                )
            }
            Self::TooDeep { offset } => write!(
                f,
                "device tree nodes nest deeper than {} levels (at structure offset {offset:#x})",
                super::MAX_DEPTH
            ),
            Self::NoMemoryNode => {
                f.write_str("device tree has no node with device_type \"memory\"")
            }
            Self::NoRam => f.write_str("the memory nodes (or memory map) describe no RAM"),
            Self::OverlappingRam { a, b } => write!(f, "RAM regions {a} and {b} overlap"),
            Self::ZeroSizeRegion { path } => write!(f, "{path}: a reg entry has size zero"),
            Self::RegionOverflow { path, start, size } => write!(
                f,
                "{path}: region at {start:#x} of size {size:#x} runs past the end of the address space"
            ),
            Self::CellCount {
                path,
                address_cells,
                size_cells,
            } => write!(
                f,
                "{path}: #address-cells = {address_cells}, #size-cells = {size_cells}; \
                 only 1 or 2 of each are supported"
            ),
            Self::MalformedProperty { path, property } => {
                write!(f, "{path}: property `{property}` is malformed")
            }
            Self::MissingProperty { path, property } => {
                write!(f, "{path}: required property `{property}` is missing")
            }
            Self::NoRanges { path } => write!(
                f,
                "{path}: bus has no `ranges`, so its children are not reachable by the CPU"
            ),
            Self::UntranslatableAddress {
                path,
                address,
                size,
            } => write!(
                f,
                "{path}: no window of `ranges` covers bus address {address:#x} (size {size:#x})"
            ),
            Self::TooManyRegions { list, capacity } => {
                write!(f, "more than {capacity} {list}")
            }
            Self::PathTooLong { path } => write!(
                f,
                "node path {path} is longer than {} bytes",
                NodePath::CAPACITY
            ),
            Self::BadReservation { range } => {
                write!(
                    f,
                    "reservation {range} is empty or ends past the address space"
                )
            }
            Self::BadInitrd { start, end } => {
                write!(
                    f,
                    "/chosen: initrd ends at {end:#x}, before its start {start:#x}"
                )
            }
            Self::MissingGicRegions {
                path,
                needed,
                found,
            } => write!(
                f,
                "{path}: interrupt controller has {found} reg regions, needs {needed}"
            ),
            Self::BadRedistributorStride { path, stride } => write!(
                f,
                "{path}: redistributor-stride {stride:#x} is not a multiple of 64 KiB of at least 128 KiB (RD_base and SGI_base)"
            ),
            Self::InterruptCells { path, cells } => write!(
                f,
                "{path}: #interrupt-cells = {cells}, expected 3 (type, number, flags) or 4 (and a PPI partition)"
            ),
            Self::UnsupportedTimerInterrupt { path, kind, number } => write!(
                f,
                "{path}: timer interrupt (type {kind}, number {number}) is not a GIC PPI"
            ),
            Self::Unreadable {
                structure,
                address,
                size,
            } => write!(
                f,
                "{structure} at {address} ({size:#x} bytes) is not readable: truncated, or a wrong pointer"
            ),
            Self::BadStartInfoMagic { address, found } => write!(
                f,
                "no PVH start info at {address}: magic is {found:#010x}, expected 0x336ec578"
            ),
            Self::UnsupportedStartInfoVersion { address, version } => write!(
                f,
                "PVH start info at {address} is version {version}; version 1 or later has the memory map"
            ),
            Self::NoMemoryMap => f.write_str("the PVH start info gives no memory map"),
            Self::TooManyMemoryMapEntries { entries, capacity } => write!(
                f,
                "the memory map has {entries} entries, more than the {capacity} read"
            ),
            Self::MemoryMapEntryOverflow { entry } => write!(
                f,
                "memory-map entry at {} of size {:#x} runs past the end of the address space",
                entry.range.start, entry.range.size
            ),
            Self::OverlappingMemoryMapEntries { a, b } => {
                write!(f, "memory-map entries {a} and {b} overlap")
            }
            Self::CommandLineTooLong { address, limit } => write!(
                f,
                "command line at {address} has no NUL within {limit} bytes"
            ),
            Self::CommandLineNotUtf8 {
                address,
                valid_up_to,
            } => write!(
                f,
                "command line at {address} is not UTF-8 after its first {valid_up_to} bytes"
            ),
            Self::NoRsdp => f.write_str("the PVH start info gives no RSDP"),
            Self::BadRsdpSignature { address, found } => write!(
                f,
                "no RSDP at {address}: signature is {}",
                found.escape_ascii()
            ),
            Self::AcpiChecksum {
                structure,
                address,
                sum,
            } => write!(
                f,
                "{structure} at {address}: bytes sum to {sum:#04x}, not 0 (bad checksum)"
            ),
            Self::AcpiLength {
                structure,
                address,
                length,
            } => write!(
                f,
                "{structure} at {address}: length {length:#x} does not fit its contents"
            ),
            Self::UnexpectedAcpiTable {
                address,
                expected,
                found,
            } => write!(
                f,
                "the RSDP points at a {found} table at {address}, expected {expected}"
            ),
            Self::NoMadt => f.write_str("the ACPI root table lists no MADT (APIC)"),
            Self::BadMadtEntry {
                table,
                offset,
                kind,
                length,
            } => {
                write!(
                    f,
                    "MADT at {table}: entry of type {kind} at offset {offset:#x}"
                )?;
                match length {
                    Some(length) => write!(
                        f,
                        " has length {length}: too short for its type or past the table"
                    ),
                    None => f.write_str(" has no length byte before the table ends"),
                }
            }
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MemoryReservationMap => "memory reservation map",
            Self::Structure => "structure block",
            Self::Strings => "strings block",
        })
    }
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownToken(token) => write!(f, "unknown token {token:#x}"),
            Self::UnexpectedEnd => f.write_str("block ends inside a token or before FDT_END"),
            Self::BadRoot => f.write_str("the first node is not an unnamed root"),
            Self::NodeAfterRoot => f.write_str("a node follows the root node"),
            Self::UnterminatedName => f.write_str("node name has no terminating NUL"),
            Self::NameNotUtf8 => f.write_str("node name is not UTF-8"),
            Self::PropertyOutsideNode => f.write_str("property outside any node"),
            Self::PropertyAfterChild => f.write_str("property after a child node"),
            Self::PropertyValueOutOfBounds { length } => {
                write!(f, "property value of {length} bytes runs past the block")
            }
            Self::PropertyNameOutOfBounds { name_offset } => write!(
                f,
                "property name offset {name_offset:#x} is not a string in the strings block"
            ),
            Self::PropertyNameNotUtf8 => f.write_str("property name is not UTF-8"),
            Self::UnbalancedEndNode => f.write_str("END_NODE without an open node"),
            Self::UnclosedNode => f.write_str("FDT_END before every node is closed"),
            Self::MisplacedNop => f.write_str("NOP token not directly before END_NODE"),
        }
    }
}

impl fmt::Display for FirmwareStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartInfo => f.write_str("PVH start info"),
            Self::MemoryMap => f.write_str("memory map"),
            Self::CommandLine => f.write_str("command line"),
            Self::ModuleList => f.write_str("module list"),
            Self::Rsdp => f.write_str("RSDP"),
            Self::ExtendedRsdp => f.write_str("extended RSDP"),
            Self::AcpiTableHeader => f.write_str("ACPI table header"),
            Self::AcpiTable(signature) => write!(f, "ACPI table {signature}"),
        }
    }
}

impl fmt::Display for RegionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ram => "RAM regions",
            Self::DeviceRegions => "regions in one device",
            Self::Modules => "modules",
        })
    }
}
