//! Everything that can be wrong with a device tree, each with the offending value.

use core::fmt;

use super::NodePath;
use crate::addr::PhysRange;

/// Why a device tree was refused. Each variant carries the value or node path
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
    /// The GIC's `#interrupt-cells` is not 3, so the timer's interrupts cannot be read.
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
    /// Reservations.
    Reserved,
    /// The `reg` regions of one device.
    DeviceRegions,
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
            Self::NoRam => f.write_str("device tree memory nodes describe no RAM"),
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
            Self::InterruptCells { path, cells } => write!(
                f,
                "{path}: #interrupt-cells = {cells}, expected 3 (type, number, flags)"
            ),
            Self::UnsupportedTimerInterrupt { path, kind, number } => write!(
                f,
                "{path}: timer interrupt (type {kind}, number {number}) is not a GIC PPI"
            ),
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

impl fmt::Display for RegionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ram => "RAM regions",
            Self::Reserved => "reserved regions",
            Self::DeviceRegions => "regions in one device",
        })
    }
}
