//! What a tree gets wrong that the kernel works around, as Linux does, and
//! reports: each warning names where it is and what was done about it.

use core::fmt;

use super::bounded::{Blank, CountedList};
use super::memory::{Merged, RESERVATION_CAPACITY};
use super::path::NodePath;
use crate::addr::{ByteSize, PhysRange};

/// How many warnings a description keeps; beyond that they are only counted.
pub const WARNING_CAPACITY: usize = 16;

/// The warnings of a description: the first [`WARNING_CAPACITY`] kept, and
/// a count of all of them.
pub type Warnings<'dtb> = CountedList<Warning<'dtb>, WARNING_CAPACITY>;

/// Where in the tree a warning comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A node, by its full path.
    Node(NodePath),
    /// The blob's `/memreserve/` map.
    MemReserve,
    /// The reservations as a whole.
    Reservations,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(path) => path.fmt(f),
            Self::MemReserve => f.write_str("/memreserve/"),
            Self::Reservations => f.write_str("reservations"),
        }
    }
}

/// What was wrong, and what the description made of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem<'dtb> {
    /// A `reg` entry of size zero: skipped.
    ZeroSizeReg,
    /// A `reg` of `length` bytes, not a multiple of its `entry`-byte entries:
    /// the whole entries are used, the tail ignored.
    RegTail {
        /// The property's length in bytes.
        length: usize,
        /// The bytes of one entry.
        entry: usize,
    },
    /// A region from `start` of `size` bytes runs past 2^64: kept up to
    /// the last byte of the address space.
    PastAddressSpace {
        /// Its start.
        start: u64,
        /// Its size as written.
        size: u64,
    },
    /// A reservation that touches no RAM: kept, and reserves nothing usable.
    OutsideRam {
        /// The reservation.
        range: PhysRange,
    },
    /// A reservation sharing bytes with an earlier one: both kept, so their
    /// union is reserved.
    OverlappingReservation {
        /// The later reservation.
        range: PhysRange,
        /// The earlier one it overlaps.
        earlier: PhysRange,
    },
    /// The chain of `interrupt-parent` links from the root node stops at
    /// `phandle`, which names no node or leads round in a loop: the
    /// interrupt controller is the first enabled GIC in the tree, if any.
    BrokenInterruptTree {
        /// Where the chain stopped.
        phandle: u32,
    },
    /// `/chosen` `stdout-path` names no node: the console is the `serial0`
    /// alias's node when `serial0` is true, else there is none.
    StdoutPathNamesNothing {
        /// The property, as written.
        target: &'dtb str,
        /// Whether the `serial0` alias gave the console instead.
        serial0: bool,
    },
    /// More reservations than [`RESERVATION_CAPACITY`]: neighbours folded
    /// together, so more is reserved than asked (see [`Merged`]).
    ReservationsMerged {
        /// What folding them cost, in all so far.
        merged: Merged,
    },
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroSizeReg => f.write_str("zero-size reg entry, skipped"),
            Self::RegTail { length, entry } => write!(
                f,
                "reg of {length} bytes is not a multiple of {entry}-byte entries, last {} bytes ignored",
                length % entry.max(1)
            ),
            Self::PastAddressSpace { start, size } => write!(
                f,
                "reg entry at {start:#x} of size {size:#x} runs past the end of the address space, clipped there"
            ),
            Self::OutsideRam { range } => {
                write!(f, "reservation {range} is outside RAM, reserves nothing")
            }
            Self::OverlappingReservation { range, earlier } => write!(
                f,
                "reservation {range} overlaps {earlier}, their union reserved"
            ),
            Self::BrokenInterruptTree { phandle } => write!(
                f,
                "interrupt-parent chain stops at phandle {phandle:#x}, which names no node or loops; the first GIC is used"
            ),
            Self::StdoutPathNamesNothing { target, serial0 } => write!(
                f,
                "stdout-path \"{target}\" names nothing, {}",
                if serial0 {
                    "console from the serial0 alias"
                } else {
                    "no console"
                }
            ),
            Self::ReservationsMerged { merged } => write!(
                f,
                "more than {RESERVATION_CAPACITY}: {} folded into a neighbour, at most {} between them reserved too",
                merged.reservations,
                ByteSize(merged.gap_bytes)
            ),
        }
    }
}

/// One problem the description worked around, and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warning<'dtb> {
    /// The node (or `/memreserve/`) it is about.
    pub subject: Subject,
    /// What was wrong, and what was done.
    pub problem: Problem<'dtb>,
}

impl Blank for Warning<'_> {
    const BLANK: Self = Warning {
        subject: Subject::MemReserve,
        problem: Problem::ZeroSizeReg,
    };
}

/// `subject: problem`, such as `/reserved-memory/foo@0: zero-size reg entry, skipped`.
impl fmt::Display for Warning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// Counts a warning about the node at `path`, keeping it if there is room.
pub(super) fn warn<'dtb>(warnings: &mut Warnings<'dtb>, path: NodePath, problem: Problem<'dtb>) {
    warnings.offer(Warning {
        subject: Subject::Node(path),
        problem,
    });
}
