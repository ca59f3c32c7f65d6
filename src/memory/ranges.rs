//! Allocation of page-aligned virtual ranges inside one window.
//!
//! Free ranges are the nodes of one AVL tree ordered by start address; each
//! node also knows the largest free range in its subtree. Allocation takes the
//! lowest free range that fits, free finds the neighbours and coalesces with
//! them: both O(log n) in the number of free ranges. The nodes live on the
//! kernel heap.
//!
//! **A free never needs memory.** A free adds at most one node, and every range
//! handed out carries that node with it ([`AllocatedRange`]): an allocation
//! that splits a free range takes a node from the heap (and fails cleanly when
//! it cannot), one that takes a whole free range reuses that range's node.
//!
//! **Guard pages.** Every range is followed by the allocator's guard pages,
//! which belong to it and are never mapped, so that a run past the end of one
//! range faults instead of reaching the next (device registers, say).

use alloc::alloc::{Layout, alloc};
use alloc::boxed::Box;
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
    /// The heap has no room for the free-range record the request needs.
    OutOfMemory {
        /// Pages asked for.
        pages: usize,
    },
    /// The range to free lies (partly) outside the window: it came from
    /// another allocator.
    OutsideWindow(VirtRange),
    /// The range to free overlaps a free range: it came from another allocator.
    DoubleFree(VirtRange),
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "a range of zero pages was requested"),
            Self::Exhausted { pages } => write!(f, "no free virtual range of {pages} pages"),
            Self::OutOfMemory { pages } => {
                write!(f, "no heap memory to record a range of {pages} pages")
            }
            Self::OutsideWindow(range) => write!(f, "{range} is not a page range of this window"),
            Self::DoubleFree(range) => write!(f, "{range} is already (partly) free"),
        }
    }
}

/// One free range in the tree (or the record an [`AllocatedRange`] carries).
struct Node {
    start: u64,
    size: u64,
    /// The largest `size` in this subtree.
    largest: u64,
    height: u8,
    left: Link,
    right: Link,
}

type Link = Option<Box<Node>>;

/// A free range as (start, end), end exclusive.
type Span = (u64, u64);

impl Node {
    /// A node from the heap, or `None` when the heap is exhausted (never a
    /// panic: `Box::new` would abort there).
    fn allocate(start: u64, size: u64) -> Option<Box<Self>> {
        let layout = Layout::new::<Self>();
        // SAFETY: `Node` has a non-zero size.
        let raw = unsafe { alloc(layout) }.cast::<Self>();
        if raw.is_null() {
            return None;
        }
        let node = Self {
            start,
            size,
            largest: size,
            height: 1,
            left: None,
            right: None,
        };
        // SAFETY: `raw` is a fresh allocation from the global allocator with
        // `Node`'s layout; it is initialised before `Box` owns it.
        unsafe {
            raw.write(node);
            Some(Box::from_raw(raw))
        }
    }

    fn end(&self) -> u64 {
        self.start + self.size
    }
}

fn height(link: &Link) -> u8 {
    link.as_ref().map_or(0, |node| node.height)
}

fn largest(link: &Link) -> u64 {
    link.as_ref().map_or(0, |node| node.largest)
}

/// Recomputes `node`'s height and largest size from its children.
fn update(node: &mut Node) {
    node.height = 1 + height(&node.left).max(height(&node.right));
    node.largest = node.size.max(largest(&node.left)).max(largest(&node.right));
}

fn rotate_right(mut node: Box<Node>) -> Box<Node> {
    let mut left = node.left.take().expect("a right rotation has a left child");
    node.left = left.right.take();
    update(&mut node);
    left.right = Some(node);
    update(&mut left);
    left
}

fn rotate_left(mut node: Box<Node>) -> Box<Node> {
    let mut right = node
        .right
        .take()
        .expect("a left rotation has a right child");
    node.right = right.left.take();
    update(&mut node);
    right.left = Some(node);
    update(&mut right);
    right
}

/// Restores the AVL balance at `node`, whose subtrees are balanced and differ
/// in height by at most 2.
fn rebalance(mut node: Box<Node>) -> Box<Node> {
    update(&mut node);
    let (left, right) = (height(&node.left), height(&node.right));
    if left > right + 1 {
        let inner = node
            .left
            .as_ref()
            .is_some_and(|l| height(&l.right) > height(&l.left));
        if inner {
            node.left = node.left.take().map(rotate_left);
        }
        return rotate_right(node);
    }
    if right > left + 1 {
        let inner = node
            .right
            .as_ref()
            .is_some_and(|r| height(&r.left) > height(&r.right));
        if inner {
            node.right = node.right.take().map(rotate_right);
        }
        return rotate_left(node);
    }
    node
}

fn insert(link: Link, mut new: Box<Node>) -> Box<Node> {
    match link {
        None => {
            update(&mut new);
            new
        }
        Some(mut node) => {
            if new.start < node.start {
                node.left = Some(insert(node.left.take(), new));
            } else {
                node.right = Some(insert(node.right.take(), new));
            }
            rebalance(node)
        }
    }
}

/// Detaches the lowest node of the tree at `node`: (what is left, that node).
fn remove_lowest(mut node: Box<Node>) -> (Link, Box<Node>) {
    match node.left.take() {
        None => (node.right.take(), node),
        Some(left) => {
            let (rest, lowest) = remove_lowest(left);
            node.left = rest;
            (Some(rebalance(node)), lowest)
        }
    }
}

/// Detaches the node that starts at `start`: (what is left, that node).
fn remove(link: Link, start: u64) -> (Link, Option<Box<Node>>) {
    let Some(mut node) = link else {
        return (None, None);
    };
    if start < node.start {
        let (rest, removed) = remove(node.left.take(), start);
        node.left = rest;
        return (Some(rebalance(node)), removed);
    }
    if start > node.start {
        let (rest, removed) = remove(node.right.take(), start);
        node.right = rest;
        return (Some(rebalance(node)), removed);
    }
    let rest = match (node.left.take(), node.right.take()) {
        (None, other) | (other, None) => other,
        (Some(left), Some(right)) => {
            let (right, mut lowest) = remove_lowest(right);
            lowest.left = Some(left);
            lowest.right = right;
            Some(rebalance(lowest))
        }
    };
    (rest, Some(node))
}

/// Applies `change` to the node that starts at `start` (which must keep its
/// place in the order) and updates the sizes above it. False if not found.
fn adjust(link: &mut Link, start: u64, change: impl FnOnce(&mut Node)) -> bool {
    let Some(node) = link else {
        return false;
    };
    let found = if start < node.start {
        adjust(&mut node.left, start, change)
    } else if start > node.start {
        adjust(&mut node.right, start, change)
    } else {
        change(node);
        true
    };
    update(node);
    found
}

/// A range handed out by a [`RangeAllocator`], together with the record its
/// free may need. Give it back with [`RangeAllocator::free`]; dropping it
/// instead keeps the range (and its guard pages) allocated for good.
#[must_use = "a range that is dropped is never freed"]
pub struct AllocatedRange {
    range: VirtRange,
    /// Start and size of the range with its guard pages.
    node: Box<Node>,
}

impl AllocatedRange {
    /// The usable pages, as asked for; the guard pages follow them.
    pub fn range(&self) -> VirtRange {
        self.range
    }
}

impl fmt::Debug for AllocatedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllocatedRange({})", self.range)
    }
}

/// Lowest-fit allocator of page ranges, with guard pages, coalescing on free.
pub struct RangeAllocator {
    window: VirtRange,
    guard_pages: usize,
    root: Link,
    free_bytes: u64,
    free_ranges: usize,
}

impl RangeAllocator {
    /// An allocator that hands out pieces of `window`, all free at first, each
    /// followed by `guard_pages` unmapped pages. `window` must be page-aligned
    /// and must not end at 2^64. Fails only when the heap cannot hold the first
    /// free-range record.
    pub fn new(window: VirtRange, guard_pages: usize) -> Result<Self, RangeError> {
        let pages = (window.size / PAGE_SIZE as u64) as usize;
        let root = match window.size {
            0 => None,
            size => Some(
                Node::allocate(window.start.0, size).ok_or(RangeError::OutOfMemory { pages })?,
            ),
        };
        Ok(Self {
            window,
            guard_pages,
            root,
            free_bytes: window.size,
            free_ranges: usize::from(window.size > 0),
        })
    }

    /// The window this allocator serves.
    pub fn window(&self) -> VirtRange {
        self.window
    }

    /// How many bytes of the window are free (guard pages of allocated ranges
    /// are not).
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes
    }

    /// The most pages one [`Self::allocate`] can get now (0 when none fits).
    pub fn largest_allocation_pages(&self) -> usize {
        ((largest(&self.root) / PAGE_SIZE as u64) as usize).saturating_sub(self.guard_pages)
    }

    /// How many separate free ranges there are (fragmentation).
    pub fn free_range_count(&self) -> usize {
        self.free_ranges
    }

    /// The lowest free range of at least `size` bytes: (start, size).
    fn lowest_fit(&self, size: u64) -> Option<(u64, u64)> {
        let mut link = &self.root;
        while let Some(node) = link {
            if largest(&node.left) >= size {
                link = &node.left;
            } else if node.size >= size {
                return Some((node.start, node.size));
            } else if largest(&node.right) >= size {
                link = &node.right;
            } else {
                return None;
            }
        }
        None
    }

    /// The free ranges just below and just above `start`: (start, end) each.
    fn neighbours(&self, start: u64) -> (Option<Span>, Option<Span>) {
        let (mut below, mut above) = (None, None);
        let mut link = &self.root;
        while let Some(node) = link {
            if node.start <= start {
                below = Some((node.start, node.end()));
                link = &node.right;
            } else {
                above = Some((node.start, node.end()));
                link = &node.left;
            }
        }
        (below, above)
    }

    /// Allocates `pages` contiguous pages (plus the guard pages after them):
    /// the lowest free range that fits. Needs at most one heap allocation, for
    /// the record the range's free will use.
    pub fn allocate(&mut self, pages: usize) -> Result<AllocatedRange, RangeError> {
        if pages == 0 {
            return Err(RangeError::Empty);
        }
        let page = PAGE_SIZE as u64;
        let usable = (pages as u64)
            .checked_mul(page)
            .ok_or(RangeError::Exhausted { pages })?;
        let size = (self.guard_pages as u64)
            .checked_mul(page)
            .and_then(|guard| guard.checked_add(usable))
            .ok_or(RangeError::Exhausted { pages })?;
        let (start, free_size) = self
            .lowest_fit(size)
            .ok_or(RangeError::Exhausted { pages })?;
        let mut node = if free_size == size {
            let (rest, node) = remove(self.root.take(), start);
            self.root = rest;
            self.free_ranges -= 1;
            node.expect("the lowest fit is a node of the tree")
        } else {
            let node = Node::allocate(start, size).ok_or(RangeError::OutOfMemory { pages })?;
            // The rest of the free range keeps its place in the order.
            adjust(&mut self.root, start, |free| {
                free.start += size;
                free.size -= size;
            });
            node
        };
        node.start = start;
        node.size = size;
        self.free_bytes -= size;
        Ok(AllocatedRange {
            range: VirtRange::new(VirtAddr(start), usable),
            node,
        })
    }

    /// Returns `allocated` with its guard pages and merges it with free
    /// neighbours. Never needs memory. A range of another allocator is refused
    /// (and stays allocated there for good).
    pub fn free(&mut self, allocated: AllocatedRange) -> Result<(), RangeError> {
        let AllocatedRange { range, mut node } = allocated;
        let (start, size) = (node.start, node.size);
        let end = start + size;
        let window_end = self.window.start.0 + self.window.size;
        if start < self.window.start.0 || end > window_end {
            return Err(RangeError::OutsideWindow(range));
        }
        let (below, above) = self.neighbours(start);
        if below.is_some_and(|(_, below_end)| below_end > start)
            || above.is_some_and(|(above_start, _)| above_start < end)
        {
            return Err(RangeError::DoubleFree(range));
        }
        let below = below.filter(|&(_, below_end)| below_end == start);
        let above = above.filter(|&(above_start, _)| above_start == end);
        match (below, above) {
            (Some((below_start, _)), Some((above_start, above_end))) => {
                let (rest, _above) = remove(self.root.take(), above_start);
                self.root = rest;
                self.free_ranges -= 1;
                adjust(&mut self.root, below_start, |free| {
                    free.size = above_end - below_start;
                });
            }
            (Some((below_start, _)), None) => {
                adjust(&mut self.root, below_start, |free| free.size += size);
            }
            (None, Some((above_start, _))) => {
                // The merged range starts lower but keeps its place in the order.
                adjust(&mut self.root, above_start, |free| {
                    free.start = start;
                    free.size += size;
                });
            }
            (None, None) => {
                node.left = None;
                node.right = None;
                self.root = Some(insert(self.root.take(), node));
                self.free_ranges += 1;
            }
        }
        self.free_bytes += size;
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

    fn window(pages: u64, guard_pages: usize) -> RangeAllocator {
        RangeAllocator::new(VirtRange::new(VirtAddr(BASE), pages * P), guard_pages).unwrap()
    }

    #[test]
    fn allocates_the_lowest_fit_and_coalesces() {
        let mut ranges = window(16, 0);
        let a = ranges.allocate(4).unwrap();
        let b = ranges.allocate(4).unwrap();
        let c = ranges.allocate(4).unwrap();
        assert_eq!(a.range().start, VirtAddr(BASE));
        let b_start = b.range().start;
        assert_eq!(b_start, VirtAddr(BASE + 4 * P));
        ranges.free(b).unwrap();
        // The 4-page hole is lower than the 4-page tail.
        let b = ranges.allocate(3).unwrap();
        assert_eq!(b.range().start, b_start);
        assert_eq!(ranges.free_range_count(), 2);
        ranges.free(b).unwrap();
        ranges.free(a).unwrap();
        ranges.free(c).unwrap();
        assert_eq!(ranges.free_range_count(), 1);
        assert_eq!(ranges.free_bytes(), 16 * P);
    }

    #[test]
    fn refuses_bad_requests_and_ranges_of_another_allocator() {
        let mut ranges = window(8, 0);
        assert_eq!(ranges.allocate(0).unwrap_err(), RangeError::Empty);
        assert_eq!(
            ranges.allocate(9).unwrap_err(),
            RangeError::Exhausted { pages: 9 }
        );
        let mut elsewhere =
            RangeAllocator::new(VirtRange::new(VirtAddr(BASE + 8 * P), 8 * P), 0).unwrap();
        let foreign = elsewhere.allocate(1).unwrap();
        let foreign_range = foreign.range();
        assert_eq!(
            ranges.free(foreign),
            Err(RangeError::OutsideWindow(foreign_range))
        );
        // Same window, other allocator: its range is free here.
        let mut twin = window(8, 0);
        let twin_range = twin.allocate(2).unwrap();
        let overlap = twin_range.range();
        assert_eq!(
            ranges.free(twin_range),
            Err(RangeError::DoubleFree(overlap))
        );
        assert_eq!(ranges.free_bytes(), 8 * P);
    }

    #[test]
    fn consecutive_ranges_have_an_unmapped_guard_page_between_them() {
        let mut ranges = window(16, 1);
        let a = ranges.allocate(1).unwrap();
        let b = ranges.allocate(1).unwrap();
        assert!(
            b.range().start.0 >= a.range().start.0 + 2 * P,
            "{a:?} and {b:?} touch"
        );
        assert_eq!(ranges.free_bytes(), 12 * P, "each guard page is taken");
        // A range as large as what is left, minus its guard, still fits.
        let c = ranges.allocate(11).unwrap();
        assert_eq!(
            ranges.allocate(1).unwrap_err(),
            RangeError::Exhausted { pages: 1 }
        );
        for range in [b, a, c] {
            ranges.free(range).unwrap();
        }
        assert_eq!(ranges.free_bytes(), 16 * P);
        assert_eq!(ranges.free_range_count(), 1);
    }

    #[test]
    fn free_needs_no_memory() {
        let mut ranges = window(512, 1);
        let held: Vec<AllocatedRange> = (0..64).map(|_| ranges.allocate(2).unwrap()).collect();
        let (odd, even): (Vec<_>, Vec<_>) = held
            .into_iter()
            .enumerate()
            .partition(|(index, _)| index % 2 == 1);
        crate::memory::tests::without_heap(|| {
            // Every other range: each free makes a new free-range record.
            for (_, range) in even {
                ranges.free(range).unwrap();
            }
            // An allocation that would split a free range fails cleanly.
            assert_eq!(
                ranges.allocate(1).unwrap_err(),
                RangeError::OutOfMemory { pages: 1 }
            );
            // One that takes a whole free range reuses its record.
            let whole = ranges.allocate(2).unwrap();
            ranges.free(whole).unwrap();
            for (_, range) in odd {
                ranges.free(range).unwrap();
            }
        });
        assert_eq!(ranges.free_range_count(), 1);
        assert_eq!(ranges.free_bytes(), 512 * P);
    }

    proptest! {
        /// Random allocations and frees never hand out overlapping ranges or
        /// ranges that touch, and after freeing everything the window is one
        /// free range again.
        #[test]
        fn model(ops in proptest::collection::vec((any::<bool>(), 1usize..64, any::<usize>()), 1..300)) {
            let total = 4096u64;
            let mut ranges = window(total, 1);
            let mut live: Vec<AllocatedRange> = Vec::new();
            for (allocate, pages, pick) in ops {
                if allocate || live.is_empty() {
                    match ranges.allocate(pages) {
                        Ok(allocated) => {
                            let range = allocated.range();
                            let guarded = VirtRange::new(range.start, range.size + P);
                            prop_assert!(live.iter().all(|other| !other.range().overlaps(&guarded)));
                            prop_assert_eq!(range.size, pages as u64 * P);
                            live.push(allocated);
                        }
                        Err(RangeError::Exhausted { .. }) => {}
                        Err(other) => prop_assert!(false, "{other}"),
                    }
                } else {
                    let range = live.swap_remove(pick % live.len());
                    prop_assert_eq!(ranges.free(range), Ok(()));
                }
                let used: u64 = live.iter().map(|range| range.range().size + P).sum();
                prop_assert_eq!(ranges.free_bytes() + used, total * P);
            }
            for range in live.drain(..) {
                ranges.free(range).unwrap();
            }
            prop_assert_eq!(ranges.free_range_count(), 1);
        }
    }
}
