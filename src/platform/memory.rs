//! RAM regions, reservations, and the usable RAM left between them.

use core::fmt;

use super::bounded::{Blank, BoundedList};
use super::pvh::MemoryType;
use super::warning::{Problem, Subject, Warning, Warnings};
use super::{Error, NodePath};
use crate::addr::{ByteSize, PAGE_SIZE, PhysAddr, PhysRange};

/// How many RAM regions (before merging) a description can hold.
pub const RAM_CAPACITY: usize = 32;

/// How many reservations a description keeps apart. A tree may have more:
/// the list then makes room by folding neighbours together (see [`Merged`]).
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
    /// The 4 KiB page holding a `spin-table` CPU's `cpu-release-addr`,
    /// reserved by the description itself rather than trusting a
    /// `/memreserve/` to cover it (booting.rst asks the loader for one, but a
    /// tree may lack it). The page, not just the 8-byte word: the loaders the
    /// project knows keep their parking loop beside the release words, in the
    /// same page (the Raspberry Pi firmware's armstub8 spins below 0xd8 and
    /// its words end at 0x100; QEMU `raspi4b` parks the cores in code at
    /// 0x300 polling 0xd8..0xf0). A loop elsewhere is not named by the tree:
    /// only the loader's `/memreserve/` can cover it. One reservation per
    /// distinct page.
    SpinTable,
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
    /// Reservations for different reasons folded into one to keep the list
    /// within [`RESERVATION_CAPACITY`] (see [`Merged`]).
    Merged,
}

impl fmt::Display for ReservationReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MemReserve => f.write_str("memreserve"),
            Self::ReservedMemory { name } => write!(f, "reserved-memory:{name}"),
            Self::Initrd => f.write_str("initrd"),
            Self::SpinTable => f.write_str("spin table"),
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
            Self::Merged => f.write_str("merged"),
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

/// What a description's reservation list gave up to stay within
/// [`RESERVATION_CAPACITY`] reservations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// How many reservations were folded into a neighbour.
    pub reservations: usize,
    /// The bytes between neighbours folded when none touched: at most this
    /// many bytes are reserved that no reservation asked for (fewer if a
    /// later one asks for some of them). 0 while only touching or
    /// overlapping reservations were folded.
    pub gap_bytes: u64,
}

/// The reservations of a description; it never runs out of room.
///
/// It keeps up to [`RESERVATION_CAPACITY`] reservations apart, in the order
/// pushed. A push that finds it full first sorts it by address and folds
/// every reservation that touches or overlaps the one before into it, which
/// reserves exactly the same bytes. When none touch, it folds the two
/// neighbours with the smallest gap between them into one range spanning
/// both: more is reserved, never less, so no reserved byte can become free.
/// A tree with thousands of reservations boots this way, keeping all but the
/// smallest gaps usable; [`Self::merged`] says what it cost.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReservationList<'dtb> {
    list: BoundedList<Reservation<'dtb>, RESERVATION_CAPACITY>,
    merged: Merged,
}

impl<'dtb> ReservationList<'dtb> {
    /// An empty list.
    pub(super) const fn new() -> Self {
        Self {
            list: BoundedList::new(),
            merged: Merged {
                reservations: 0,
                gap_bytes: 0,
            },
        }
    }

    /// What making room has cost so far.
    pub(super) fn merged(&self) -> Merged {
        self.merged
    }

    /// Appends a reservation of `range` for `reason`, making room first if the
    /// list is full. Fails only with [`Error::BadReservation`]: `range` is
    /// empty or ends past 2^64.
    pub(super) fn push(
        &mut self,
        range: PhysRange,
        reason: ReservationReason<'dtb>,
    ) -> Result<(), Error> {
        if range.size == 0 || range.end().is_none() {
            return Err(Error::BadReservation { range });
        }
        let reservation = Reservation { range, reason };
        if self.list.push(reservation).is_err() {
            self.make_room();
            // Cannot fail: `make_room` freed at least one slot.
            let _ = self.list.push(reservation);
        }
        Ok(())
    }

    /// Frees at least one slot of a full list (see the type's documentation).
    fn make_room(&mut self) {
        let items = self.list.as_mut_slice();
        items.sort_unstable_by_key(|reservation| reservation.range.start);
        // Compacts in place: the first `kept` items are final.
        let mut kept: usize = 0;
        for index in 0..items.len() {
            let current = items[index];
            if let Some(previous) = kept.checked_sub(1).map(|last| &mut items[last])
                && end(previous.range) >= current.range.start.as_u64()
            {
                *previous = fold(*previous, current);
                self.merged.reservations += 1;
                continue;
            }
            items[kept] = current;
            kept += 1;
        }
        if kept == items.len() {
            // Sorted and apart, so each gap is at least one byte.
            let gap =
                |index: usize| items[index].range.start.as_u64() - end(items[index - 1].range);
            if let Some(index) = (1..kept).min_by_key(|&index| gap(index)) {
                self.merged.gap_bytes += gap(index);
                self.merged.reservations += 1;
                items[index - 1] = fold(items[index - 1], items[index]);
                items.copy_within(index + 1.., index);
                kept -= 1;
            }
        }
        self.list.truncate(kept);
    }
}

impl<'dtb> core::ops::Deref for ReservationList<'dtb> {
    type Target = [Reservation<'dtb>];

    fn deref(&self) -> &[Reservation<'dtb>] {
        self.list.as_slice()
    }
}

/// Where `range` ends, exclusive (a reservation's end always fits in 64 bits).
fn end(range: PhysRange) -> u64 {
    range.end().map_or(u64::MAX, PhysAddr::as_u64)
}

/// One reservation covering `a`, `b` and the bytes between them (`a` starts
/// first), for their reason if they share it, else [`ReservationReason::Merged`].
fn fold<'dtb>(a: Reservation<'dtb>, b: Reservation<'dtb>) -> Reservation<'dtb> {
    let last = end(a.range).max(end(b.range));
    Reservation {
        range: PhysRange::new(a.range.start, last - a.range.start.as_u64()),
        reason: if a.reason == b.reason {
            a.reason
        } else {
            ReservationReason::Merged
        },
    }
}

/// Reserves the page holding `release`, a spin-table CPU's release address,
/// unless an earlier spin-table reservation holds that page already (see
/// [`ReservationReason::SpinTable`]). The last page of the address space
/// stops one byte short, as a range's end must fit in 64 bits.
pub(super) fn reserve_spin_table(
    list: &mut ReservationList<'_>,
    release: PhysAddr,
) -> Result<(), Error> {
    let page = release.align_down(PAGE_SIZE as u64);
    let range = PhysRange::new(page, (PAGE_SIZE as u64).min(u64::MAX - page.as_u64()));
    let known = list.iter().any(|reservation| {
        reservation.reason == ReservationReason::SpinTable && reservation.range == range
    });
    if known {
        return Ok(());
    }
    list.push(range, ReservationReason::SpinTable)
}

/// How many reusable `/reserved-memory` pools a description lists; more are
/// counted.
pub const REUSABLE_CAPACITY: usize = 8;

/// A `/reserved-memory` child marked `reusable` and not `no-map`, such as
/// the Raspberry Pi's `linux,cma` (`shared-dma-pool`): **left usable**.
///
/// The reserved-memory binding says the operating system may use such memory
/// as long as the driver owning the region can claim it back; nothing outside
/// the operating system uses it. This kernel has no driver that owns such a
/// pool (no contiguous-memory allocator; `allocate_contiguous` serves
/// physically contiguous runs from the frame stack's fresh ranges), so its
/// frames are ordinary free RAM. A child with both `reusable` and `no-map`
/// (which the binding forbids) is reserved: `no-map` is the safe reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReusableMemory<'dtb> {
    /// The child's node name, such as `linux,cma`.
    pub name: &'dtb str,
    /// Where it is: one `reg` entry, or `None` for a pool without `reg`,
    /// which the operating system would place itself (`size`, `alloc-ranges`).
    pub range: Option<PhysRange>,
    /// A pool's `size`, when it has no `reg` (one or two cells, as the
    /// parent's `#size-cells` says; `None` if unreadable).
    pub size: Option<u64>,
}

impl Blank for ReusableMemory<'_> {
    const BLANK: Self = Self {
        name: "",
        range: None,
        size: None,
    };
}

impl fmt::Display for ReusableMemory<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/reserved-memory/{} ", self.name)?;
        match (self.range, self.size) {
            (Some(range), _) => write!(f, "{range}")?,
            (None, Some(size)) => write!(f, "{} placed by the OS (no reg)", ByteSize(size))?,
            (None, None) => f.write_str("(no reg, no size)")?,
        }
        f.write_str(": reusable, left usable (no driver here claims it back)")
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The bytes in the union of `ranges`.
    fn covered(ranges: impl Iterator<Item = PhysRange>) -> u64 {
        let mut sorted: Vec<(u64, u64)> = ranges
            .map(|range| (range.start.as_u64(), end(range)))
            .collect();
        sorted.sort_unstable();
        let (mut total, mut reach) = (0, 0);
        for (start, end) in sorted {
            let from = start.max(reach);
            total += end.saturating_sub(from);
            reach = reach.max(end);
        }
        total
    }

    proptest! {
        /// Whatever is pushed, every pushed range stays inside one kept
        /// reservation, and the bytes reserved beyond the union of what was
        /// asked are at most the gaps `merged` counts.
        #[test]
        fn folding_reserves_more_never_less(
            ranges in proptest::collection::vec((0u64..1 << 24, 1u64..1 << 16), 0..600)
        ) {
            let mut list = ReservationList::new();
            let asked: Vec<PhysRange> =
                ranges.iter().map(|&(start, size)| PhysRange::new(PhysAddr(start * 16), size)).collect();
            for range in &asked {
                list.push(*range, ReservationReason::MemReserve).unwrap();
            }
            prop_assert!(list.len() <= RESERVATION_CAPACITY);
            prop_assert_eq!(list.merged().reservations, asked.len() - list.len());
            for range in &asked {
                prop_assert!(list.iter().any(|kept| kept.range.contains(range.start)
                    && range.last().is_some_and(|last| kept.range.contains(last))));
            }
            let reserved = covered(list.iter().map(|kept| kept.range));
            let union = covered(asked.iter().copied());
            prop_assert!(reserved >= union);
            prop_assert!(reserved <= union + list.merged().gap_bytes);
        }
    }
}
