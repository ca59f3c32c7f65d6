//! The frame stack: free physical frames hold the list of free physical frames.
//!
//! Free frame addresses are kept as a stack of `u64` entries in a dedicated
//! virtual window. The window's pages are themselves free frames:
//!
//! - **push** writes an entry into the top page; when that page is full, the frame
//!   being freed is mapped as the next page of the window instead of being
//!   recorded (if the window needs a page table first, the frame becomes that
//!   table);
//! - **pop** takes the top entry; when the top page has no entries left, it is
//!   unmapped and handed out itself, and page tables the window no longer needs
//!   are handed out next.
//!
//! So every free frame can be allocated (the stack eats its own pages), the
//! bookkeeping costs no memory that could be handed out, and both operations are
//! O(1). Every page below the top one is full.

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use crate::memory::paging::{FrameList, FrameSink, MapError, OneFrame};

/// Entries in one page of the stack.
pub const ENTRIES_PER_PAGE: usize = PAGE_SIZE / core::mem::size_of::<u64>();

/// Most RAM or usable ranges a frame stack checks frees against.
pub const MAX_RANGES: usize = 160;

/// The virtual window that holds the stack's pages.
///
/// The kernel implements it with its page tables and the window's virtual
/// addresses; the host tests with the same mapper over simulated memory.
pub trait StackWindow {
    /// Maps `frame` as page number `index` of the window, or, when the window
    /// lacks a page table there, makes the frame in `tables` (the frame being
    /// freed) that table instead and leaves the page unmapped (`tables` is then
    /// empty). The frame stack never allocates from itself while it changes.
    fn map_page(
        &mut self,
        index: usize,
        frame: PhysAddr,
        tables: &mut OneFrame,
    ) -> Result<(), MapError>;

    /// Unmaps page number `index` (flushing its translation) and returns its frame.
    /// Tables that became empty go to `freed_tables`.
    fn unmap_page(&mut self, index: usize, freed_tables: &mut impl FrameSink) -> PhysAddr;

    /// A pointer to the entries of mapped page number `index`.
    fn page(&mut self, index: usize) -> *mut [u64; ENTRIES_PER_PAGE];

    /// The frame that backs mapped page number `index`.
    fn page_frame(&mut self, index: usize) -> PhysAddr;

    /// True when `frame` serves as one of the window's page tables on the way to
    /// pages `0..=last_page`.
    fn is_table(&mut self, frame: PhysAddr, last_page: usize) -> bool;

    /// Pages the window can hold at most.
    fn capacity_pages(&self) -> usize;
}

/// Why a frame was not accepted. The stack is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FreeError {
    /// The address is not the start of a 4 KiB frame.
    Unaligned(PhysAddr),
    /// The frame is not in any RAM region.
    NotRam(PhysAddr),
    /// The frame is RAM but reserved (kernel image, device tree, firmware…).
    Reserved(PhysAddr),
    /// The frame is already free (detected in debug builds; O(n) check).
    DoubleFree(PhysAddr),
    /// The window cannot hold another page (more RAM than the layout supports).
    WindowFull(PhysAddr),
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unaligned(frame) => write!(f, "cannot free {frame}: not frame-aligned"),
            Self::NotRam(frame) => write!(f, "cannot free {frame}: not RAM"),
            Self::Reserved(frame) => write!(f, "cannot free {frame}: reserved memory"),
            Self::DoubleFree(frame) => write!(f, "cannot free {frame}: already free"),
            Self::WindowFull(frame) => {
                write!(f, "cannot free {frame}: the frame-stack window is full")
            }
        }
    }
}

/// A batch allocation asked for more frames than are free; nothing was taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutOfFrames {
    /// Frames asked for.
    pub requested: usize,
    /// Frames that were free.
    pub available: usize,
}

impl fmt::Display for OutOfFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of frames: {} requested, {} free",
            self.requested, self.available
        )
    }
}

/// A stack of free frames stored in the free frames themselves.
pub struct FrameStack {
    ram: [PhysRange; MAX_RANGES],
    ram_count: usize,
    usable: [PhysRange; MAX_RANGES],
    usable_count: usize,
    /// Mapped pages of the window.
    pages: usize,
    /// Entries used in the top page (0 when no page is mapped).
    top_entries: usize,
    /// Tables the window released, handed out before anything else. The window
    /// releases at most LEVELS - 1 tables per page, and they are handed out
    /// before the next page can be released.
    spares: FrameList<4>,
    /// Frames used as the window's page tables.
    table_frames: usize,
    /// Frames ever accepted (free or allocated), to report totals.
    total: usize,
}

impl FrameStack {
    /// An empty stack that will accept frames of `usable` (RAM minus reservations)
    /// and tell `Reserved` from `NotRam` using `ram`. Ranges beyond
    /// [`MAX_RANGES`] are ignored: their frames are refused as not RAM.
    pub fn new(
        ram: impl IntoIterator<Item = PhysRange>,
        usable: impl IntoIterator<Item = PhysRange>,
    ) -> Self {
        let empty = PhysRange::new(PhysAddr(0), 0);
        let mut stack = Self {
            ram: [empty; MAX_RANGES],
            ram_count: 0,
            usable: [empty; MAX_RANGES],
            usable_count: 0,
            pages: 0,
            top_entries: 0,
            spares: FrameList::new(),
            table_frames: 0,
            total: 0,
        };
        for range in ram.into_iter().take(MAX_RANGES) {
            stack.ram[stack.ram_count] = range;
            stack.ram_count += 1;
        }
        for range in usable.into_iter().take(MAX_RANGES) {
            stack.usable[stack.usable_count] = range;
            stack.usable_count += 1;
        }
        stack
    }

    /// Frames that [`pop`](Self::pop) can still hand out.
    pub fn free_frames(&self) -> usize {
        let entries = match self.pages {
            0 => 0,
            pages => (pages - 1) * ENTRIES_PER_PAGE + self.top_entries,
        };
        entries + self.pages + self.spares.as_slice().len()
    }

    /// Frames given to the stack since it was made (free now or not).
    pub fn total_frames(&self) -> usize {
        self.total
    }

    /// Pages the window maps now.
    pub fn window_pages(&self) -> usize {
        self.pages
    }

    /// Frames that currently serve as the window's page tables (not free).
    pub fn table_frames(&self) -> usize {
        self.table_frames
    }

    /// Gives every frame of `range` to the stack (the range is shrunk to whole
    /// frames). Returns the number of frames accepted; stops at the first refusal.
    /// The range is checked once, and entries are written a page at a time, so
    /// this costs little more than the stores.
    pub fn add_range(
        &mut self,
        range: PhysRange,
        window: &mut impl StackWindow,
    ) -> Result<usize, FreeError> {
        let page = PAGE_SIZE as u64;
        let Some(start) = range.start.align_up(page) else {
            return Ok(0);
        };
        let end = range.end().unwrap_or(PhysAddr(u64::MAX)).align_down(page);
        if start >= end {
            return Ok(0);
        }
        let last = PhysAddr(end.0 - page);
        self.check(start)?;
        self.check(last)?;
        let one_usable_range = self.usable[..self.usable_count]
            .iter()
            .any(|usable| usable.contains(start) && usable.contains(last));
        let mut frame = start;
        while frame < end {
            if !one_usable_range {
                // The range spans a hole: check every frame.
                self.push_checked(frame, window, false)?;
                self.total += 1;
                frame = PhysAddr(frame.0 + page);
            } else if self.pages > 0 && self.top_entries < ENTRIES_PER_PAGE {
                let room = (ENTRIES_PER_PAGE - self.top_entries) as u64;
                let count = room.min((end.0 - frame.0) / page) as usize;
                let entries = window.page(self.pages - 1);
                for index in 0..count {
                    // SAFETY: the top page is mapped and `top_entries + index`
                    // stays below ENTRIES_PER_PAGE.
                    unsafe { (*entries)[self.top_entries + index] = frame.0 + index as u64 * page };
                }
                self.top_entries += count;
                self.total += count;
                frame = PhysAddr(frame.0 + count as u64 * page);
            } else {
                self.push_checked(frame, window, false)?;
                self.total += 1;
                frame = PhysAddr(frame.0 + page);
            }
        }
        Ok(((end.0 - start.0) / page) as usize)
    }

    /// Returns `frame` to the stack. O(1) (plus an O(n) double-free scan in debug
    /// builds). Refused frames leave the stack unchanged.
    pub fn push(
        &mut self,
        frame: PhysAddr,
        window: &mut impl StackWindow,
    ) -> Result<(), FreeError> {
        self.push_checked(frame, window, cfg!(debug_assertions))
    }

    fn push_checked(
        &mut self,
        frame: PhysAddr,
        window: &mut impl StackWindow,
        scan: bool,
    ) -> Result<(), FreeError> {
        self.check(frame)?;
        if scan && self.contains(frame, window) {
            return Err(FreeError::DoubleFree(frame));
        }
        if self.pages > 0 && self.top_entries < ENTRIES_PER_PAGE {
            let page = window.page(self.pages - 1);
            // SAFETY: page `pages - 1` is mapped and `top_entries < ENTRIES_PER_PAGE`.
            unsafe { (*page)[self.top_entries] = frame.0 };
            self.top_entries += 1;
            return Ok(());
        }
        if self.pages == window.capacity_pages() {
            return Err(FreeError::WindowFull(frame));
        }
        let mut table_source = OneFrame(Some(frame));
        match window.map_page(self.pages, frame, &mut table_source) {
            Ok(()) if table_source.0.is_some() => {
                self.pages += 1;
                self.top_entries = 0;
                Ok(())
            }
            // The frame became a table of the window; the next free maps a page.
            Ok(()) | Err(MapError::OutOfTableFrames { .. }) if table_source.0.is_none() => {
                self.table_frames += 1;
                Ok(())
            }
            // Any other failure means the window is misconfigured; the frame
            // stays unused rather than corrupting the stack.
            Ok(()) | Err(_) => Err(FreeError::WindowFull(frame)),
        }
    }

    fn check(&self, frame: PhysAddr) -> Result<(), FreeError> {
        if !frame.is_page_aligned() {
            return Err(FreeError::Unaligned(frame));
        }
        let whole = PhysRange::new(frame, PAGE_SIZE as u64);
        let within = |range: &PhysRange| {
            range.start <= frame
                && range
                    .end()
                    .is_none_or(|end| whole.end().is_some_and(|e| e <= end))
        };
        if self.usable[..self.usable_count].iter().any(within) {
            Ok(())
        } else if self.ram[..self.ram_count]
            .iter()
            .any(|range| range.overlaps(&whole))
        {
            Err(FreeError::Reserved(frame))
        } else {
            Err(FreeError::NotRam(frame))
        }
    }

    /// True when `frame` is free now: an entry, a window page or a spare table.
    /// O(n): for double-free detection and tests. A frame that serves as one of
    /// the window's page tables counts as free: it was freed into the stack.
    pub fn contains(&self, frame: PhysAddr, window: &mut impl StackWindow) -> bool {
        if self.spares.as_slice().contains(&frame) {
            return true;
        }
        for index in 0..self.pages {
            let page = window.page(index);
            let used = if index + 1 == self.pages {
                self.top_entries
            } else {
                ENTRIES_PER_PAGE
            };
            // SAFETY: page `index` is mapped; `used` entries of it are initialised.
            let entries = unsafe { &(&*page)[..used] };
            if entries.contains(&frame.0) {
                return true;
            }
        }
        (0..self.pages).any(|index| window.page_frame(index) == frame)
            || window.is_table(frame, self.pages)
    }

    /// Takes a free frame, or `None` when there is none. O(1).
    pub fn pop(&mut self, window: &mut impl StackWindow) -> Option<PhysAddr> {
        if let Some(table) = self.spares.pop() {
            return Some(table);
        }
        if self.pages == 0 {
            return None;
        }
        if self.top_entries > 0 {
            self.top_entries -= 1;
            let page = window.page(self.pages - 1);
            // SAFETY: page `pages - 1` is mapped and entry `top_entries` was written.
            return Some(PhysAddr(unsafe { (*page)[self.top_entries] }));
        }
        // The top page is empty: hand out the page itself.
        self.pages -= 1;
        let frame = window.unmap_page(self.pages, &mut self.spares);
        self.table_frames -= self.spares.as_slice().len();
        self.top_entries = if self.pages > 0 { ENTRIES_PER_PAGE } else { 0 };
        Some(frame)
    }

    /// Fills `frames` with free frames, all or nothing.
    pub fn pop_many(
        &mut self,
        frames: &mut [PhysAddr],
        window: &mut impl StackWindow,
    ) -> Result<(), OutOfFrames> {
        let available = self.free_frames();
        if frames.len() > available {
            return Err(OutOfFrames {
                requested: frames.len(),
                available,
            });
        }
        for slot in frames.iter_mut() {
            // Cannot fail: enough frames were counted above.
            *slot = self.pop(window).unwrap_or_default();
        }
        Ok(())
    }

    /// Returns every frame of `frames`. Stops at the first refusal and says which
    /// index it was; the frames before it were accepted.
    pub fn push_many(
        &mut self,
        frames: &[PhysAddr],
        window: &mut impl StackWindow,
    ) -> Result<(), (usize, FreeError)> {
        for (index, frame) in frames.iter().enumerate() {
            self.push(*frame, window).map_err(|error| (index, error))?;
        }
        Ok(())
    }
}
