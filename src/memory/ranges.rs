//! Allocation of page-aligned virtual ranges inside one window.
//!
//! Free ranges are kept twice, on the kernel heap: by start address (to find the
//! neighbours to coalesce with on free) and by size (to find the best fit).
//! Allocation and free are O(log n) in the number of free ranges.

use alloc::collections::{BTreeMap, BTreeSet};
use core::fmt;

use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};

/// Why a range could not be allocated or freed. The allocator is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RangeError {
    /// A request for zero pages.
    Empty,
    /// No free range is large enough.
    Exhausted {
        /// Pages asked for.
        pages: usize,
    },
    /// The range to free is unaligned or lies (partly) outside the window.
    OutsideWindow(VirtRange),
    /// The range to free overlaps a range that is already free.
    DoubleFree(VirtRange),
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "a range of zero pages was requested"),
            Self::Exhausted { pages } => write!(f, "no free virtual range of {pages} pages"),
            Self::OutsideWindow(range) => write!(f, "{range} is not a page range of this window"),
            Self::DoubleFree(range) => write!(f, "{range} is already (partly) free"),
        }
    }
}

/// Best-fit allocator of page ranges, coalescing on free.
pub struct RangeAllocator {
    window: VirtRange,
    by_start: BTreeMap<u64, u64>,
    by_size: BTreeSet<(u64, u64)>,
}

impl RangeAllocator {
    /// An allocator that hands out pieces of `window`, all free at first.
    /// `window` must be page-aligned and must not end at 2^64.
    pub fn new(window: VirtRange) -> Self {
        let mut allocator = Self {
            window,
            by_start: BTreeMap::new(),
            by_size: BTreeSet::new(),
        };
        if window.size > 0 {
            allocator.insert(window.start.0, window.size);
        }
        allocator
    }

    /// The window this allocator serves.
    pub fn window(&self) -> VirtRange {
        self.window
    }

    /// Bytes free in the window.
    pub fn free_bytes(&self) -> u64 {
        self.by_start.values().sum()
    }

    /// Number of separate free ranges (fragmentation).
    pub fn free_ranges(&self) -> usize {
        self.by_start.len()
    }

    fn insert(&mut self, start: u64, size: u64) {
        self.by_start.insert(start, size);
        self.by_size.insert((size, start));
    }

    fn remove(&mut self, start: u64, size: u64) {
        self.by_start.remove(&start);
        self.by_size.remove(&(size, start));
    }

    /// Allocates `pages` contiguous pages: the smallest free range that fits, at
    /// its lowest address.
    pub fn allocate(&mut self, pages: usize) -> Result<VirtRange, RangeError> {
        if pages == 0 {
            return Err(RangeError::Empty);
        }
        let size = (pages as u64)
            .checked_mul(PAGE_SIZE as u64)
            .ok_or(RangeError::Exhausted { pages })?;
        let &(free_size, start) = self
            .by_size
            .range((size, 0)..)
            .next()
            .ok_or(RangeError::Exhausted { pages })?;
        self.remove(start, free_size);
        if free_size > size {
            self.insert(start + size, free_size - size);
        }
        Ok(VirtRange::new(VirtAddr(start), size))
    }

    /// Returns `range` (as handed out, or any page-aligned part of the window
    /// that is not free) and merges it with free neighbours.
    pub fn free(&mut self, range: VirtRange) -> Result<(), RangeError> {
        let page = PAGE_SIZE as u64;
        let window_end = self.window.start.0 + self.window.size;
        let end = range.end().map(|end| end.0);
        let inside = range.size > 0
            && range.start.is_page_aligned()
            && range.size.is_multiple_of(page)
            && range.start >= self.window.start
            && end.is_some_and(|end| end <= window_end);
        if !inside {
            return Err(RangeError::OutsideWindow(range));
        }
        let (mut start, mut size) = (range.start.0, range.size);
        let end = start + size;
        let before = self
            .by_start
            .range(..=start)
            .next_back()
            .map(|(&s, &z)| (s, z));
        let after = self.by_start.range(start..).next().map(|(&s, &z)| (s, z));
        if before.is_some_and(|(s, z)| s + z > start) || after.is_some_and(|(s, _)| s < end) {
            return Err(RangeError::DoubleFree(range));
        }
        if let Some((s, z)) = before.filter(|&(s, z)| s + z == start) {
            self.remove(s, z);
            start = s;
            size += z;
        }
        if let Some((s, z)) = after.filter(|&(s, _)| s == end) {
            self.remove(s, z);
            size += z;
        }
        self.insert(start, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const BASE: u64 = 0xffff_0100_0000_0000;
    const P: u64 = PAGE_SIZE as u64;

    fn window(pages: u64) -> RangeAllocator {
        RangeAllocator::new(VirtRange::new(VirtAddr(BASE), pages * P))
    }

    #[test]
    fn allocates_lowest_best_fit_and_coalesces() {
        let mut ranges = window(16);
        let a = ranges.allocate(4).unwrap();
        let b = ranges.allocate(4).unwrap();
        let c = ranges.allocate(4).unwrap();
        assert_eq!(a.start, VirtAddr(BASE));
        assert_eq!(b.start, VirtAddr(BASE + 4 * P));
        ranges.free(b).unwrap();
        // Best fit: the 4-page hole, not the 4-page tail... both fit; the hole
        // is the lowest of equal size.
        assert_eq!(ranges.allocate(3).unwrap().start, b.start);
        ranges.free(VirtRange::new(b.start, 3 * P)).unwrap();
        ranges.free(a).unwrap();
        ranges.free(c).unwrap();
        assert_eq!(ranges.free_ranges(), 1);
        assert_eq!(ranges.free_bytes(), 16 * P);
    }

    #[test]
    fn refuses_bad_frees_and_exhaustion() {
        let mut ranges = window(8);
        let a = ranges.allocate(2).unwrap();
        assert_eq!(ranges.allocate(0), Err(RangeError::Empty));
        assert_eq!(ranges.allocate(7), Err(RangeError::Exhausted { pages: 7 }));
        ranges.free(a).unwrap();
        assert_eq!(ranges.free(a), Err(RangeError::DoubleFree(a)));
        let outside = VirtRange::new(VirtAddr(BASE + 8 * P), P);
        assert_eq!(
            ranges.free(outside),
            Err(RangeError::OutsideWindow(outside))
        );
        let unaligned = VirtRange::new(VirtAddr(BASE + 1), P);
        assert_eq!(
            ranges.free(unaligned),
            Err(RangeError::OutsideWindow(unaligned))
        );
        assert_eq!(ranges.free_bytes(), 8 * P);
    }

    proptest! {
        /// Random allocations and frees never hand out overlapping ranges, and
        /// after freeing everything the window is one free range again.
        #[test]
        fn model(ops in proptest::collection::vec((any::<bool>(), 1usize..64, any::<usize>()), 1..300)) {
            let total = 4096u64;
            let mut ranges = window(total);
            let mut live: Vec<VirtRange> = Vec::new();
            for (allocate, pages, pick) in ops {
                if allocate || live.is_empty() {
                    match ranges.allocate(pages) {
                        Ok(range) => {
                            prop_assert!(live.iter().all(|other| !other.overlaps(&range)));
                            prop_assert_eq!(range.size, pages as u64 * P);
                            live.push(range);
                        }
                        Err(RangeError::Exhausted { .. }) => {}
                        Err(other) => prop_assert!(false, "{other}"),
                    }
                } else {
                    let range = live.swap_remove(pick % live.len());
                    prop_assert_eq!(ranges.free(range), Ok(()));
                }
                let used: u64 = live.iter().map(|range| range.size).sum();
                prop_assert_eq!(ranges.free_bytes() + used, total * P);
            }
            for range in live.drain(..) {
                ranges.free(range).unwrap();
            }
            prop_assert_eq!(ranges.free_ranges(), 1);
        }
    }
}
