//! Allocation of page-aligned virtual ranges inside one window.
//!
//! Free ranges are the nodes of one AVL tree ordered by start address; each
//! node also knows the largest free range in its subtree. Allocation takes the
//! lowest free range that fits, free finds the neighbours and coalesces with
//! them: both O(log n) in the number of free ranges, worst case. Each is one
//! walk down (led by the largest sizes, or by the address) that keeps its path,
//! then at most one change and a walk back up that stops where no height or
//! largest size changed, with at most two rotations per level. The neighbours
//! of a freed range lie on its search path, so a free walks down once. The
//! nodes live on the kernel heap.
//!
//! **A free never needs memory.** A free adds at most one node, and every range
//! handed out carries that node with it ([`AllocatedRange`]): an allocation
//! that splits a free range takes a node from the heap (and fails cleanly when
//! it cannot), one that takes a whole free range reuses that range's node. A
//! free that merges returns the nodes it no longer needs to the heap.
//!
//! **Guard pages.** Every range is followed by the allocator's guard pages,
//! which belong to it and are never mapped, so that a run past the end of one
//! range faults instead of reaching the next (device registers, say).

use alloc::alloc::{Layout, alloc};
use alloc::boxed::Box;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

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

/// What a parent keeps of each child subtree: its height and its largest
/// free range. Kept in the parent, so that neither a walk down (which only
/// asks whether a side holds a fit) nor a walk back up (which updates the side
/// it came from) reads a node off its path. One word: sizes are whole pages,
/// so the low bits of the largest size are free, and the height (at most 73,
/// see [`MAX_PATH`]) lives there.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Summary(u64);

impl Summary {
    const HEIGHT: u64 = PAGE_SIZE as u64 - 1;

    fn new(height: u8, largest: u64) -> Self {
        debug_assert_eq!(largest & Self::HEIGHT, 0, "sizes are whole pages");
        Self(largest | u64::from(height))
    }

    fn height(self) -> u8 {
        (self.0 & Self::HEIGHT) as u8
    }

    fn largest(self) -> u64 {
        self.0 & !Self::HEIGHT
    }
}

/// One free range in the tree (or the record an [`AllocatedRange`] carries).
struct Node {
    start: u64,
    size: u64,
    /// The summaries of the left and right subtrees.
    sides: [Summary; 2],
    left: Link,
    right: Link,
}

type Link = Option<Box<Node>>;

const LEFT: usize = 0;
const RIGHT: usize = 1;

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
            sides: [Summary::default(); 2],
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

    /// The summary of the subtree this node roots.
    fn summary(&self) -> Summary {
        let [left, right] = self.sides;
        Summary::new(
            1 + left.height().max(right.height()),
            self.size.max(left.largest()).max(right.largest()),
        )
    }

    /// Reads both children's summaries anew.
    fn update(&mut self) {
        self.sides = [summary(&self.left), summary(&self.right)];
    }
}

fn summary(link: &Link) -> Summary {
    link.as_ref()
        .map_or(Summary::default(), |node| node.summary())
}

fn rotate_right(mut node: Box<Node>) -> Box<Node> {
    let mut left = node.left.take().expect("a right rotation has a left child");
    node.left = left.right.take();
    node.sides[LEFT] = left.sides[RIGHT];
    left.sides[RIGHT] = node.summary();
    left.right = Some(node);
    left
}

fn rotate_left(mut node: Box<Node>) -> Box<Node> {
    let mut right = node
        .right
        .take()
        .expect("a left rotation has a right child");
    node.right = right.left.take();
    node.sides[RIGHT] = right.sides[LEFT];
    right.sides[LEFT] = node.summary();
    right.left = Some(node);
    right
}

/// Restores the AVL balance at `link`, whose subtrees are balanced, differ in
/// height by at most 2 and are summed right in the node. At most two
/// rotations; reads a child only when it rotates.
#[inline]
fn rebalance(link: &mut Link) {
    if let Some(node) = link.as_ref()
        && node.sides[LEFT]
            .height()
            .abs_diff(node.sides[RIGHT].height())
            > 1
    {
        rotate(link);
    }
}

/// The rotations of [`rebalance`], out of line: most calls find the balance
/// kept, and the check alone is what the walks up should carry.
#[inline(never)]
fn rotate(link: &mut Link) {
    let mut node = link.take().expect("an unbalanced node is there");
    let [left, right] = node.sides;
    if left.height() > right.height() {
        let [outer, inner] = node.left.as_ref().expect("the higher side").sides;
        if inner.height() > outer.height() {
            node.left = node.left.take().map(rotate_left);
        }
        *link = Some(rotate_right(node));
    } else {
        let [inner, outer] = node.right.as_ref().expect("the higher side").sides;
        if inner.height() > outer.height() {
            node.right = node.right.take().map(rotate_right);
        }
        *link = Some(rotate_left(node));
    }
}

/// Takes the node at `link` out of the tree, which keeps its order, balance
/// and summaries below `link` (the node above must read the new summary):
/// that node, without children.
fn detach(link: &mut Link) -> Box<Node> {
    let mut node = link.take().expect("detach is called on a node");
    *link = match (node.left.take(), node.right.take()) {
        (None, other) | (other, None) => other,
        (Some(left), right) => {
            let mut right = right;
            let mut successor = detach_lowest(&mut right);
            successor.left = Some(left);
            successor.right = right;
            successor.update();
            let mut successor = Some(successor);
            rebalance(&mut successor);
            successor
        }
    };
    node.sides = [Summary::default(); 2];
    node
}

/// Takes the lowest node out of the non-empty tree at `link`, keeping the
/// balance and summaries below `link`: that node.
fn detach_lowest(link: &mut Link) -> Box<Node> {
    let node = link.as_mut().expect("detach_lowest is called on a node");
    if node.left.is_none() {
        let mut lowest = link.take().expect("the node is there");
        *link = lowest.right.take();
        return lowest;
    }
    let lowest = detach_lowest(&mut node.left);
    node.sides[LEFT] = summary(&node.left);
    rebalance(link);
    lowest
}

/// The most links a [`Path`] holds. A window has fewer than 2^52 pages and
/// free ranges never touch, so it holds at most 2^51 of them; an AVL tree of
/// height h has at least N(h) nodes, N(h) = N(h - 1) + N(h - 2) + 1, and N(74)
/// exceeds 2^51, so h is at most 73. A path holds the links of h nodes and the
/// empty link below the last.
const MAX_PATH: usize = 74;

/// The links from the root down to one place in the tree: an explicit stack,
/// so that an operation is one loop down and, where summaries change, one loop
/// back up (a recursion paid a call and a return at every level).
///
/// Every link on the path stays valid while the path lives: the tree is only
/// reached through [`Path::link`], which first forgets the links below the one
/// it hands out, so a change there cannot leave a stale link behind. The links
/// above it are fields of nodes that such a change does not move.
struct Path<'tree> {
    /// The links from the root down; those below `len` are written.
    links: [MaybeUninit<*mut Link>; MAX_PATH],
    /// Whether each link is its parent's right child (index 0, the root, has
    /// no parent).
    right: [bool; MAX_PATH],
    len: usize,
    tree: PhantomData<&'tree mut Link>,
}

impl<'tree> Path<'tree> {
    /// A path that holds the root link only.
    fn new(root: &'tree mut Link) -> Self {
        let mut links = [MaybeUninit::<*mut Link>::uninit(); MAX_PATH];
        links[0].write(root);
        Self {
            links,
            right: [false; MAX_PATH],
            len: 1,
            tree: PhantomData,
        }
    }

    /// How many links lie above the last one (0 at the root).
    fn depth(&self) -> usize {
        self.len - 1
    }

    /// Walks down from the last link. At each node, `choose` is given the
    /// node and its depth and answers where to go: `Some(true)` right,
    /// `Some(false)` left, `None` stop at this node. The walk also stops at an
    /// empty link, which is then the path's last.
    fn descend(&mut self, mut choose: impl FnMut(&Node, usize) -> Option<bool>) {
        // The current link and the length stay in locals: the arrays are only
        // written on the way down, so no level waits for a store to be read
        // back.
        let mut len = self.len;
        // SAFETY: links below `len` are written and valid (the type's
        // invariant).
        let mut link = unsafe { self.links[len - 1].assume_init() };
        // SAFETY: `link` is valid, and `&mut self` keeps every other way into
        // the tree closed; each child link taken here lies in a node of the
        // tree, valid until the tree is changed through `link`.
        while let Some(node) = unsafe { &mut *link }.as_mut() {
            let Some(right) = choose(node, len - 1) else {
                break;
            };
            assert!(len < MAX_PATH, "an AVL tree of ranges is shallower");
            link = if right {
                &mut node.right
            } else {
                &mut node.left
            };
            self.links[len].write(link);
            self.right[len] = right;
            len += 1;
        }
        self.len = len;
    }

    /// The link at `depth`, after forgetting the links below it.
    fn link(&mut self, depth: usize) -> &mut Link {
        assert!(depth < self.len, "a path holds the link");
        self.len = depth + 1;
        // SAFETY: links below `len` are written and valid; nothing else
        // reaches the tree while `&mut self` is held, and no link below this
        // one is kept, so a change through it leaves no stale link.
        unsafe { &mut *self.links[depth].assume_init() }
    }

    /// After a change at the link at `from` (a node there changed its
    /// range, or the subtree there is new), rebalances there and tells each
    /// parent its child's new summary, up to the parent at `top` (≤ `from`),
    /// stopping at the first parent that already knew it: nothing above that
    /// one changed.
    fn refresh_up(&mut self, from: usize, top: usize) {
        for depth in (top.max(1)..=from).rev() {
            let link = self.link(depth);
            rebalance(link);
            let child = summary(link);
            let side = usize::from(self.right[depth]);
            let parent = self
                .link(depth - 1)
                .as_mut()
                .expect("a link below the root lies in a node");
            if parent.sides[side] == child {
                return;
            }
            parent.sides[side] = child;
        }
        if top == 0 {
            rebalance(self.link(0));
        }
    }
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
    /// and must not end at 2^64 (panics otherwise: the tree's summaries count
    /// on whole pages). Fails only when the heap cannot hold the first
    /// free-range record.
    pub fn new(window: VirtRange, guard_pages: usize) -> Result<Self, RangeError> {
        let page = PAGE_SIZE as u64;
        assert!(
            window.start.0.is_multiple_of(page)
                && window.size.is_multiple_of(page)
                && window.start.0.checked_add(window.size).is_some(),
            "a range window is whole pages below 2^64: {window}"
        );
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
        ((summary(&self.root).largest() / PAGE_SIZE as u64) as usize)
            .saturating_sub(self.guard_pages)
    }

    /// How many separate free ranges there are (fragmentation).
    pub fn free_range_count(&self) -> usize {
        self.free_ranges
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
        if summary(&self.root).largest() < size {
            return Err(RangeError::Exhausted { pages });
        }
        // Down to the lowest free range that fits, led by the largest sizes.
        let mut path = Path::new(&mut self.root);
        path.descend(|node, _| {
            let left_fits = node.sides[LEFT].largest() >= size;
            (left_fits || node.size < size).then_some(!left_fits)
        });
        let depth = path.depth();
        let link = path.link(depth);
        let free = link.as_mut().expect("the path ends at the fit");
        let (start, free_size) = (free.start, free.size);
        let node = if free_size == size {
            // The whole free range goes, and its node is the record.
            let node = detach(link);
            path.refresh_up(depth, 0);
            self.free_ranges -= 1;
            node
        } else {
            let node = Node::allocate(start, size).ok_or(RangeError::OutOfMemory { pages })?;
            // The rest keeps its place in the order.
            free.start += size;
            free.size -= size;
            path.refresh_up(depth, 0);
            node
        };
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
        let AllocatedRange { range, node } = allocated;
        let (start, size) = (node.start, node.size);
        let window_end = self.window.start.0 + self.window.size;
        if start < self.window.start.0 || start + size > window_end {
            return Err(RangeError::OutsideWindow(range));
        }
        let end = start + size;
        // Down to the empty link where the range belongs. The search turns
        // right at every free range below it and left at every one above, so
        // its neighbours are the last ones where it turned each way: (depth,
        // start, end) each. The deeper of the two is the last node visited,
        // with no child on the side the search left it by.
        let mut path = Path::new(&mut self.root);
        let (mut below, mut above) = (None, None);
        path.descend(|node, depth| {
            let right = node.start <= start;
            let here = Some((depth, node.start, node.end()));
            if right {
                below = here;
            } else {
                above = here;
            }
            Some(right)
        });
        if below.is_some_and(|(_, _, below_end)| below_end > start)
            || above.is_some_and(|(_, above_start, _)| above_start < end)
        {
            return Err(RangeError::DoubleFree(range));
        }
        let below = below.filter(|&(_, _, below_end)| below_end == start);
        let above = above.filter(|&(_, above_start, _)| above_start == end);
        let grow = |path: &mut Path, depth: usize, start: u64, end: u64| {
            // Grows in place: the merged range keeps its place in the order.
            let free = path.link(depth).as_mut().expect("a neighbour is a node");
            free.start = start;
            free.size = end - start;
            path.refresh_up(depth, 0);
        };
        match (below, above) {
            (None, None) => {
                // A record is a leaf already: no children, empty sides.
                let bottom = path.depth();
                *path.link(bottom) = Some(node);
                path.refresh_up(bottom, 0);
                self.free_ranges += 1;
            }
            (Some((depth, below_start, _)), None) => {
                grow(&mut path, depth, below_start, end);
            }
            (None, Some((depth, _, above_end))) => {
                grow(&mut path, depth, start, above_end);
            }
            (Some((below_depth, below_start, _)), Some((above_depth, _, above_end))) => {
                // Remove the deeper neighbour (at most one child: cheap) and
                // grow the other over both. The summaries between them are
                // refreshed first, while the other is still where the path has it.
                let (deeper, other) = (below_depth.max(above_depth), below_depth.min(above_depth));
                drop(detach(path.link(deeper)));
                path.refresh_up(deeper, other + 1);
                grow(&mut path, other, below_start, above_end);
                self.free_ranges -= 1;
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

    fn pages_of(range: &AllocatedRange) -> u64 {
        range.range().size / P
    }

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
    #[should_panic(expected = "a range window is whole pages")]
    fn refuses_a_window_of_part_pages() {
        let _ = RangeAllocator::new(VirtRange::new(VirtAddr(BASE), 3 * P + 1), 0);
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

    /// Checks every invariant of the tree against a walk of all of it: order,
    /// free ranges that neither overlap nor touch, inside the window, AVL
    /// balance, every height and largest size, the counts. The free ranges
    /// in order, as (start, end).
    fn check(ranges: &RangeAllocator) -> Vec<(u64, u64)> {
        /// The summary of the subtree at `link`, computed from all of it;
        /// checks each node's balance and the summaries it keeps.
        fn walk(link: &Link, spans: &mut Vec<(u64, u64)>) -> Summary {
            let Some(node) = link else {
                return Summary::default();
            };
            let left = walk(&node.left, spans);
            spans.push((node.start, node.end()));
            let right = walk(&node.right, spans);
            assert!(
                left.height().abs_diff(right.height()) <= 1,
                "unbalanced at {:#x}",
                node.start
            );
            assert_eq!(
                node.sides,
                [left, right],
                "stale summary at {:#x}",
                node.start
            );
            Summary::new(
                1 + left.height().max(right.height()),
                node.size.max(left.largest()).max(right.largest()),
            )
        }
        let mut spans = Vec::new();
        walk(&ranges.root, &mut spans);
        let window = (
            ranges.window.start.0,
            ranges.window.start.0 + ranges.window.size,
        );
        for pair in spans.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:x?} overlap or touch");
        }
        for &(start, end) in &spans {
            assert!(window.0 <= start && start < end && end <= window.1);
            assert_eq!((start % P, end % P), (0, 0));
        }
        let free: u64 = spans.iter().map(|(start, end)| end - start).sum();
        assert_eq!(free, ranges.free_bytes());
        assert_eq!(spans.len(), ranges.free_range_count());
        spans
    }

    /// The allocator's contract by brute force: sorted free ranges, lowest
    /// fit, coalescing on free.
    struct Model {
        spans: Vec<(u64, u64)>,
    }

    impl Model {
        fn allocate(&mut self, size: u64) -> Option<u64> {
            let index = self
                .spans
                .iter()
                .position(|(start, end)| end - start >= size)?;
            let start = self.spans[index].0;
            self.spans[index].0 += size;
            if self.spans[index].0 == self.spans[index].1 {
                self.spans.remove(index);
            }
            Some(start)
        }

        fn free(&mut self, start: u64, end: u64) {
            let index = self.spans.partition_point(|&(other, _)| other < start);
            self.spans.insert(index, (start, end));
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for &(start, end) in &self.spans {
                match merged.last_mut() {
                    Some(last) if last.1 == start => last.1 = end,
                    _ => merged.push((start, end)),
                }
            }
            self.spans = merged;
        }
    }

    /// An AVL tree of `nodes` nodes is at most this high: the least nodes
    /// of height h are N(h) = N(h - 1) + N(h - 2) + 1.
    fn avl_height_bound(nodes: u64) -> u8 {
        let (mut height, mut smaller, mut least) = (0u8, 0u64, 1u64);
        while least <= nodes {
            (smaller, least) = (least, least + smaller + 1);
            height += 1;
        }
        height
    }

    #[test]
    fn a_path_holds_the_deepest_tree_a_window_can_have() {
        // At most 2^51 free ranges (fewer than 2^52 pages, never touching).
        let height = avl_height_bound(1 << 51);
        assert_eq!(usize::from(height) + 1, MAX_PATH);
        assert_eq!(avl_height_bound(1), 1);
        assert_eq!(avl_height_bound(4), 3);
        assert_eq!(avl_height_bound(7), 4);
    }

    /// Frees every other range of `count` one-page ranges in `order`
    /// (ascending, descending or from both ends inwards), checking the tree
    /// after each free; then the others, each joining two neighbours.
    fn worst_case_shapes(order: impl Fn(usize, usize) -> usize) {
        // Each step walks the whole tree: fewer under Miri.
        let count = if cfg!(miri) { 64 } else { 1024 };
        let mut ranges = window(count as u64 + 1, 0);
        let mut held: Vec<Option<AllocatedRange>> = (0..count)
            .map(|_| Some(ranges.allocate(1).unwrap()))
            .collect();
        for pass in [0, 1] {
            for step in 0..count / 2 {
                let index = 2 * order(step, count / 2) + pass;
                ranges.free(held[index].take().unwrap()).unwrap();
                let spans = check(&ranges);
                assert!(summary(&ranges.root).height() <= avl_height_bound(spans.len() as u64));
            }
        }
        assert_eq!(check(&ranges), [(BASE, BASE + (count as u64 + 1) * P)]);
    }

    #[test]
    fn ascending_descending_and_inward_frees_keep_the_tree_balanced_and_summed() {
        worst_case_shapes(|step, _| step);
        worst_case_shapes(|step, half| half - 1 - step);
        worst_case_shapes(|step, half| {
            if step % 2 == 0 {
                step / 2
            } else {
                half - 1 - step / 2
            }
        });
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

        /// Random allocations, frees and refused double frees match the
        /// brute-force model step by step, and every height and largest
        /// size stays right after every insertion, removal and rotation.
        #[test]
        fn matches_the_brute_force_model(
            guard_pages in 0usize..3,
            ops in proptest::collection::vec((0u8..4, 1usize..24, any::<usize>()), 1..400),
        ) {
            let total = 512u64;
            let mut ranges = window(total, guard_pages);
            let mut model = Model { spans: vec![(BASE, BASE + total * P)] };
            let mut live: Vec<AllocatedRange> = Vec::new();
            for (kind, pages, pick) in ops {
                match kind {
                    0 | 1 => {
                        let size = (pages + guard_pages) as u64 * P;
                        match (ranges.allocate(pages), model.allocate(size)) {
                            (Ok(range), Some(start)) => {
                                prop_assert_eq!(range.range().start, VirtAddr(start));
                                live.push(range);
                            }
                            (Err(RangeError::Exhausted { .. }), None) => {}
                            (got, expected) => prop_assert!(false, "{got:?}, model {expected:?}"),
                        }
                    }
                    2 if !live.is_empty() => {
                        let range = live.swap_remove(pick % live.len());
                        let start = range.range().start.0;
                        model.free(start, start + (pages_of(&range) + guard_pages as u64) * P);
                        prop_assert_eq!(ranges.free(range), Ok(()));
                    }
                    _ => {
                        // A twin allocator's range over pages that may be free here.
                        let mut twin = window(total, guard_pages);
                        let Ok(foreign) = twin.allocate(pages) else { continue };
                        let start = foreign.range().start.0;
                        let end = start + (pages + guard_pages) as u64 * P;
                        let overlaps = model.spans.iter().any(|&(low, high)| low < end && start < high);
                        if overlaps {
                            let range = foreign.range();
                            prop_assert_eq!(ranges.free(foreign), Err(RangeError::DoubleFree(range)));
                        }
                    }
                }
                prop_assert_eq!(check(&ranges), model.spans.clone());
            }
        }
    }
}
