//! RAM regions, reservations, and the usable RAM left between them.

use core::fmt;

use super::bounded::{Blank, BoundedList};
use super::pvh::MemoryType;
use super::warning::{Problem, Subject, Warning, Warnings};
use super::{Error, NodePath, RegionList};
use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};

/// How many RAM regions (before merging) a description can hold.
pub const RAM_CAPACITY: usize = 32;

/// How many reservations a description can hold.
pub const RESERVATION_CAPACITY: usize = 128;

/// Why a range of physical memory must not be handed out as free frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationReason<'dtb> {
    /// An entry of the blob's `/memreserve/` map.
    MemReserve,
    /// A child of `/reserved-memory` with a `reg`.
    ReservedMemory {
        /// The child's node name, such as `nvram@3b400000`.
        name: &'dtb str,
    },
    /// The initial ramdisk named by `/chosen` `linux,initrd-start`/`-end`.
    Initrd,
    /// The device-tree blob itself.
    DeviceTree,
    /// The kernel's own image (added by the kernel with `reserve`).
    KernelImage,
    /// The page tables the boot code built (added by the kernel with `reserve`).
    BootTables,
    /// The frame stack's free-frame map and the tables that map it (added by
    /// the kernel with `reserve`).
    FreeFrameMap,
    /// The first MiB on x86 (see [`LOW_MEMORY`](super::LOW_MEMORY) for why).
    LowMemory,
    /// A PVH memory-map entry that is not RAM, with its type.
    Firmware(MemoryType),
    /// The PVH start info itself.
    StartInfo,
    /// The PVH memory map.
    MemoryMap,
    /// The PVH command line, its NUL included.
    CommandLine,
    /// The PVH module list.
    ModuleList,
    /// A PVH module (such as an initrd), by its index in the module list.
    Module {
        /// Its index, from 0.
        index: u32,
    },
}

impl fmt::Display for ReservationReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MemReserve => f.write_str("memreserve"),
            Self::ReservedMemory { name } => write!(f, "reserved-memory:{name}"),
            Self::Initrd => f.write_str("initrd"),
            Self::DeviceTree => f.write_str("device tree blob"),
            Self::KernelImage => f.write_str("kernel image"),
            Self::BootTables => f.write_str("boot page tables"),
            Self::FreeFrameMap => f.write_str("free-frame map"),
            Self::LowMemory => f.write_str("first MiB"),
            Self::Firmware(kind) => write!(f, "firmware: {kind}"),
            Self::StartInfo => f.write_str("PVH start info"),
            Self::MemoryMap => f.write_str("memory map"),
            Self::CommandLine => f.write_str("command line"),
            Self::ModuleList => f.write_str("module list"),
            Self::Module { index } => write!(f, "module {index}"),
        }
    }
}

/// A range of physical memory that is not free, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation<'dtb> {
    /// The bytes reserved: never empty, and its end fits in 64 bits.
    pub range: PhysRange,
    /// Who needs them.
    pub reason: ReservationReason<'dtb>,
}

const EMPTY: PhysRange = PhysRange::new(PhysAddr(0), 0);

impl Blank for PhysRange {
    const BLANK: Self = EMPTY;
}

impl Blank for Reservation<'_> {
    const BLANK: Self = Reservation {
        range: EMPTY,
        reason: ReservationReason::MemReserve,
    };
}

/// The RAM regions of a description.
pub(super) type RamList = BoundedList<PhysRange, RAM_CAPACITY>;

/// The reservations of a description.
pub(super) type ReservationList<'dtb> = BoundedList<Reservation<'dtb>, RESERVATION_CAPACITY>;

/// Appends `reservation`, checking that its range is not empty and ends below 2^64.
pub(super) fn push_reservation<'dtb>(
    list: &mut ReservationList<'dtb>,
    range: PhysRange,
    reason: ReservationReason<'dtb>,
) -> Result<(), Error> {
    if range.size == 0 || range.end().is_none() {
        return Err(Error::BadReservation { range });
    }
    list.push(Reservation { range, reason })
        .map_err(|_| Error::TooManyRegions {
            list: RegionList::Reserved,
            capacity: list.capacity(),
        })
}

/// Where in the tree a reservation for `reason` comes from: `None` for those
/// the kernel or the PVH start info adds.
pub(super) fn subject(reason: ReservationReason<'_>) -> Option<Subject> {
    match reason {
        ReservationReason::MemReserve => Some(Subject::MemReserve),
        ReservationReason::ReservedMemory { name } => Some(Subject::Node(
            NodePath::root().child("reserved-memory").child(name),
        )),
        ReservationReason::Initrd => Some(Subject::Node(NodePath::root().child("chosen"))),
        _ => None,
    }
}

/// Warns about every reservation from the tree that touches no region of
/// `ram` (unless there is no RAM at all), and about every one that shares
/// bytes with an earlier one from the tree (the union is what is reserved).
pub(super) fn warn_about_reservations<'dtb>(
    ram: &[PhysRange],
    reserved: &[Reservation<'dtb>],
    warnings: &mut Warnings<'dtb>,
) {
    let from_tree = |reservation: &&Reservation<'dtb>| subject(reservation.reason).is_some();
    for (index, reservation) in reserved.iter().enumerate() {
        let Some(subject) = subject(reservation.reason) else {
            continue;
        };
        let range = reservation.range;
        if !ram.is_empty() && !ram.iter().any(|region| region.overlaps(&range)) {
            warnings.offer(Warning {
                subject,
                problem: Problem::OutsideRam { range },
            });
        }
        if let Some(earlier) = reserved[..index]
            .iter()
            .filter(from_tree)
            .find(|earlier| earlier.range.overlaps(&range))
        {
            warnings.offer(Warning {
                subject,
                problem: Problem::OverlappingReservation {
                    range,
                    earlier: earlier.range,
                },
            });
        }
    }
}

/// Sorts `ram` by base and merges regions that touch; regions that share a
/// byte are `OverlappingRam`. Every region's end must already fit in 64 bits.
/// What overlapping RAM regions mean.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Overlaps {
    /// A tree the kernel will not trust: [`Error::OverlappingRam`].
    Refuse,
    /// Merged, as adjacent regions are (for inspecting a tree as written).
    Merge,
}

pub(super) fn normalize_ram(ram: &mut RamList, overlaps: Overlaps) -> Result<(), Error> {
    ram.as_mut_slice()
        .sort_unstable_by_key(|region| region.start);
    let regions = ram.as_mut_slice();
    // Compacts in place: `kept` regions at the front are final, merged ones.
    let mut kept: usize = 0;
    for index in 0..regions.len() {
        let Some(&region) = regions.get(index) else {
            break;
        };
        if let Some(previous) = kept.checked_sub(1).and_then(|last| regions.get_mut(last)) {
            let previous_end = previous.end().ok_or(Error::OverlappingRam {
                a: *previous,
                b: region,
            })?;
            if previous_end > region.start && overlaps == Overlaps::Refuse {
                return Err(Error::OverlappingRam {
                    a: *previous,
                    b: region,
                });
            }
            if previous_end >= region.start {
                let end = region.end().ok_or(Error::OverlappingRam {
                    a: *previous,
                    b: region,
                })?;
                previous.size = end.max(previous_end).0 - previous.start.0;
                continue;
            }
        }
        if let Some(slot) = regions.get_mut(kept) {
            *slot = region;
        }
        kept += 1;
    }
    ram.truncate(kept);
    Ok(())
}

/// The pieces of `ram` that no reservation touches, each shrunk inward to whole
/// pages, empty pieces dropped, in address order (given `ram` is sorted).
pub(super) fn usable<'a>(
    ram: &'a [PhysRange],
    reserved: &'a [Reservation<'a>],
) -> impl Iterator<Item = PhysRange> + 'a {
    ram.iter()
        .flat_map(move |region| FreePieces::new(*region, reserved))
        .filter_map(whole_pages)
}

/// The sub-ranges of one RAM region outside every reservation, in order.
struct FreePieces<'a> {
    cursor: u64,
    end: u64,
    reserved: &'a [Reservation<'a>],
}

impl<'a> FreePieces<'a> {
    fn new(region: PhysRange, reserved: &'a [Reservation<'a>]) -> Self {
        let end = region.end().map_or(u64::MAX, PhysAddr::as_u64);
        Self {
            cursor: region.start.as_u64(),
            end,
            reserved,
        }
    }
}

impl Iterator for FreePieces<'_> {
    type Item = PhysRange;

    fn next(&mut self) -> Option<PhysRange> {
        while self.cursor < self.end {
            // The reservation overlapping [cursor, end) that starts lowest.
            let blocker = self
                .reserved
                .iter()
                .filter_map(|reservation| {
                    let start = reservation.range.start.as_u64();
                    let end = reservation.range.end()?.as_u64();
                    (start < self.end && end > self.cursor).then_some((start, end))
                })
                .min_by_key(|&(start, _)| start);
            let Some((start, end)) = blocker else {
                let piece = PhysRange::new(PhysAddr(self.cursor), self.end - self.cursor);
                self.cursor = self.end;
                return Some(piece);
            };
            let piece_start = self.cursor;
            // `end > cursor`, so the cursor always moves forward.
            self.cursor = end.min(self.end);
            if start > piece_start {
                return Some(PhysRange::new(PhysAddr(piece_start), start - piece_start));
            }
        }
        None
    }
}

/// `range` shrunk inward to page boundaries, or `None` if no whole page is left.
fn whole_pages(range: PhysRange) -> Option<PhysRange> {
    let page = PAGE_SIZE as u64;
    let start = range.start.align_up(page)?;
    let end = range.end()?.align_down(page);
    (end > start).then(|| PhysRange::new(start, end.as_u64() - start.as_u64()))
}
