//! The frame stack: free physical frames hold the list of free physical frames.
//!
//! Free frame addresses are kept as a stack of `u64` entries in a dedicated
//! virtual window. The window's pages are themselves free frames:
//!
//! - **push** writes an entry into the top page; when that page is full, the frame
//!   being freed is mapped as the next page of the window instead of being
//!   recorded. If the window needs page tables for that page, they are built
//!   from spare frames held beside the stack; until enough spares are at hand,
//!   freed frames wait there as spares, free and ready to be handed out;
//! - **pop** hands out a spare first, then the top entry; when the top page has
//!   no entries left, it is unmapped and handed out itself. Its page tables stay
//!   in place as idle tables (so a push and a pop across a table boundary do
//!   not rebuild a table each time) and are handed out on the next pop that
//!   finds the new top page empty too.
//!
//! So every free frame can be allocated (the stack eats its own pages and
//! tables), the bookkeeping costs no memory that could be handed out, and both
//! operations are O(1). Every page below the top one is full. Only tables that
//! serve mapped pages are not free; they come back when their pages go.

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use crate::memory::free_map::FreeMap;
use crate::memory::paging::{FrameList, FrameSink, FrameSource, MapError, UnmapError};

/// Entries in one page of the stack.
pub const ENTRIES_PER_PAGE: usize = PAGE_SIZE / core::mem::size_of::<u64>();

/// Most RAM or usable ranges a frame stack checks frees against.
pub const MAX_RANGES: usize = 160;

/// Spare frames held beside the stack: at least the page tables one window page
/// can need (`LEVELS - 1`, three on both targets), plus room for one more level.
const SPARES: usize = 4;

/// The virtual window that holds the stack's pages.
///
/// The kernel implements it with its page tables and the window's virtual
/// addresses; the host tests with the same mapper over simulated memory.
/// Implementors promise that the window's page tables serve the window alone.
pub trait StackWindow {
    /// How many page tables must be made before page number `index` can be
    /// mapped. Fails when the page cannot be mapped at all (something is mapped
    /// there already: the window is misconfigured).
    fn missing_tables(&mut self, index: usize) -> Result<usize, MapError>;

    /// Maps `frame` as page number `index`, taking the missing tables from
    /// `tables` (which holds at least [`missing_tables`](Self::missing_tables)
    /// frames). The frame stack never allocates from itself while it changes.
    fn map_page(
        &mut self,
        index: usize,
        frame: PhysAddr,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError>;

    /// Unmaps page number `index` (flushing its translation) and returns its
    /// frame. Every page table stays, empty ones included.
    fn unmap_page(&mut self, index: usize) -> Result<PhysAddr, UnmapError>;

    /// How many page tables on the way to page number `index` serve no mapped
    /// page (the idle tables).
    fn idle_tables(&mut self, index: usize) -> usize;

    /// Unlinks the idle tables on the way to page number `index`, flushes, and
    /// hands them to `freed_tables`. Returns how many there were.
    fn release_idle_tables(&mut self, index: usize, freed_tables: &mut impl FrameSink) -> usize;

    /// A pointer to the entries of mapped page number `index`.
    fn page(&mut self, index: usize) -> *mut [u64; ENTRIES_PER_PAGE];

    /// The frame that backs page number `index`, or `None` when it is unmapped.
    fn page_frame(&mut self, index: usize) -> Option<PhysAddr>;

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

/// [`FrameStack::add_range`] met a frame it refused: the frames before it were
/// accepted, the rest of the range was not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RangeRefused {
    /// Frames of the range accepted before the refusal.
    pub accepted: usize,
    /// Why the first refused frame was refused.
    pub error: FreeError,
}

impl fmt::Display for RangeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after {} frames)", self.error, self.accepted)
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
    /// Free frames held beside the stack, handed out before anything else:
    /// frames waiting to become the tables of the next window page, and idle
    /// tables the window released. Never more than `LEVELS - 1`: a push adds
    /// one only while fewer are held than the next page needs, and a pop
    /// releases tables only when no spare is left.
    spares: FrameList<SPARES>,
    /// Frames linked as the window's page tables, idle ones included.
    tables: usize,
    /// Window tables that serve no mapped page: all on the way to page `pages`.
    /// They are free.
    idle_tables: usize,
    /// Frames ever accepted (free or allocated), to report totals.
    total: usize,
    /// One bit per frame of RAM, set while it is free (see [`FreeMap`]).
    free_map: Option<FreeMap>,
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
            tables: 0,
            idle_tables: 0,
            total: 0,
            free_map: None,
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

    /// Checks every free against `map` from now on, in O(1) and in every
    /// build. Without a map a double free is found only by the O(n) scan of
    /// debug builds.
    ///
    /// # Panics
    ///
    /// When frames were given to the stack before: the map would not know them.
    pub fn install_free_map(&mut self, map: FreeMap) {
        assert_eq!(
            self.total, 0,
            "the free map must be installed before the first frame is added"
        );
        self.free_map = Some(map);
    }

    /// Bytes of the free map, 0 without one: the stack's only bookkeeping
    /// beyond this value itself.
    pub fn free_map_bytes(&self) -> usize {
        self.free_map.as_ref().map_or(0, FreeMap::size_bytes)
    }

    /// Whether a free map checks every free (see [`Self::install_free_map`]).
    pub fn has_free_map(&self) -> bool {
        self.free_map.is_some()
    }

    /// The number of `frame` among the frames of the stack's RAM ranges, in
    /// order: its bit in the free map.
    fn frame_number(&self, frame: PhysAddr) -> Option<usize> {
        let mut first = 0;
        for range in &self.ram[..self.ram_count] {
            let frames = (range.size / PAGE_SIZE as u64) as usize;
            if let Some(offset) = frame.0.checked_sub(range.start.0)
                && ((offset / PAGE_SIZE as u64) as usize) < frames
            {
                return Some(first + (offset / PAGE_SIZE as u64) as usize);
            }
            first += frames;
        }
        None
    }

    /// True when the free map marks `frame` free.
    fn marked_free(&self, frame: PhysAddr) -> bool {
        self.free_map
            .as_ref()
            .zip(self.frame_number(frame))
            .is_some_and(|(map, bit)| map.is_set(bit))
    }

    fn mark(&mut self, frame: PhysAddr, free: bool) {
        if let Some(bit) = self.frame_number(frame)
            && let Some(map) = self.free_map.as_mut()
        {
            map.set(bit, free);
        }
    }

    /// How many frames [`pop`](Self::pop) can still hand out: entries, window
    /// pages, spares and the window's tables (the stack eats those too, last).
    /// Exact: `pop` succeeds exactly this many times in a row.
    pub fn free_frame_count(&self) -> usize {
        let entries = match self.pages {
            0 => 0,
            pages => (pages - 1) * ENTRIES_PER_PAGE + self.top_entries,
        };
        entries + self.pages + self.spares.as_slice().len() + self.tables
    }

    /// How many frames were given to the stack since it was made (free now or not).
    pub fn total_frame_count(&self) -> usize {
        self.total
    }

    /// How many pages the window maps now.
    pub fn window_page_count(&self) -> usize {
        self.pages
    }

    /// How many of the free frames serve as page tables of mapped window
    /// pages now: they are handed out after the pages they serve.
    pub fn table_frame_count(&self) -> usize {
        self.tables - self.idle_tables
    }

    /// Gives every frame of `range` to the stack (the range is shrunk to whole
    /// frames). Returns the number of frames accepted; stops at the first
    /// refusal, which says how many frames were accepted before it.
    /// The range is checked once, and entries are written a page at a time, so
    /// this costs little more than the stores.
    pub fn add_range(
        &mut self,
        range: PhysRange,
        window: &mut impl StackWindow,
    ) -> Result<usize, RangeRefused> {
        let page = PAGE_SIZE as u64;
        let Some(start) = range.start.align_up(page) else {
            return Ok(0);
        };
        let end = range.end().unwrap_or(PhysAddr(u64::MAX)).align_down(page);
        if start >= end {
            return Ok(0);
        }
        let last = PhysAddr(end.0 - page);
        let refused = |accepted| move |error| RangeRefused { accepted, error };
        self.check(start).map_err(refused(0))?;
        self.check(last).map_err(refused(0))?;
        let one_usable_range = self.usable[..self.usable_count]
            .iter()
            .any(|usable| usable.contains(start) && usable.contains(last));
        let mut frame = start;
        while frame < end {
            let accepted = ((frame.0 - start.0) / page) as usize;
            if !one_usable_range {
                // The range spans a hole: check every frame.
                self.push_checked(frame, window, false)
                    .map_err(refused(accepted))?;
                self.total += 1;
                frame = PhysAddr(frame.0 + page);
            } else if self.pages > 0 && self.top_entries < ENTRIES_PER_PAGE {
                let room = (ENTRIES_PER_PAGE - self.top_entries) as u64;
                let count = room.min((end.0 - frame.0) / page) as usize;
                let entries = window.page(self.pages - 1);
                // The range lies in one usable (so one RAM) range: its frames'
                // bits follow each other, found once per batch.
                let first_bit = self.frame_number(frame);
                for index in 0..count {
                    let next = PhysAddr(frame.0 + index as u64 * page);
                    let map = self.free_map.as_mut().zip(first_bit);
                    if let Some((map, first_bit)) = map {
                        if map.is_set(first_bit + index) {
                            return Err(RangeRefused {
                                accepted: accepted + index,
                                error: FreeError::DoubleFree(next),
                            });
                        }
                        map.set(first_bit + index, true);
                    }
                    // SAFETY: the top page is mapped and `top_entries` stays
                    // below ENTRIES_PER_PAGE.
                    unsafe { (*entries)[self.top_entries] = next.0 };
                    self.top_entries += 1;
                    self.total += 1;
                }
                frame = PhysAddr(frame.0 + count as u64 * page);
            } else {
                self.push_checked(frame, window, false)
                    .map_err(refused(accepted))?;
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
        let already_free = match &self.free_map {
            Some(_) => {
                let free = self.marked_free(frame);
                debug_assert!(
                    !scan || free == self.scan(frame, window),
                    "the free map disagrees with the stack about {frame}"
                );
                free
            }
            None => scan && self.scan(frame, window),
        };
        if already_free {
            return Err(FreeError::DoubleFree(frame));
        }
        self.store(frame, window)?;
        self.mark(frame, true);
        Ok(())
    }

    /// Puts a checked frame into the stack: as an entry, a spare or the next
    /// window page.
    fn store(&mut self, frame: PhysAddr, window: &mut impl StackWindow) -> Result<(), FreeError> {
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
        // The frame becomes the next window page once its tables are at hand.
        let missing = window
            .missing_tables(self.pages)
            .map_err(|_| FreeError::WindowFull(frame))?;
        let at_hand = self.spares.as_slice().len();
        if at_hand < missing {
            // Fewer than LEVELS - 1 spares are held, so there is room.
            self.spares.push(frame);
            return Ok(());
        }
        window
            .map_page(self.pages, frame, &mut self.spares)
            .expect("a free window page maps with its missing tables at hand");
        debug_assert_eq!(at_hand - self.spares.as_slice().len(), missing);
        // The idle tables lay on the way to this page: they serve it now.
        self.tables += missing;
        self.idle_tables = 0;
        self.pages += 1;
        self.top_entries = 0;
        Ok(())
    }

    /// The first RAM region the stack knows that shares a byte with `range`,
    /// if any: a device mapping there would alias memory the stack hands out.
    pub fn ram_overlapping(&self, range: PhysRange) -> Option<PhysRange> {
        self.ram[..self.ram_count]
            .iter()
            .copied()
            .find(|ram| ram.overlaps(&range))
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

    /// True when `frame` is in the stack now: an entry, a window page, a spare
    /// or a window table. O(n): for double-free detection and tests. A frame
    /// that serves as one of the window's page tables was freed into the stack,
    /// so a second free of it is a double free too.
    pub fn contains(&self, frame: PhysAddr, window: &mut impl StackWindow) -> bool {
        match &self.free_map {
            Some(_) => self.marked_free(frame),
            None => self.scan(frame, window),
        }
    }

    /// Looks for `frame` among the entries, window pages, spares and window
    /// tables: O(n).
    fn scan(&self, frame: PhysAddr, window: &mut impl StackWindow) -> bool {
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
        (0..self.pages).any(|index| window.page_frame(index) == Some(frame))
            || window.is_table(frame, self.pages)
    }

    /// Takes a free frame, or `None` when there is none. O(1).
    pub fn pop(&mut self, window: &mut impl StackWindow) -> Option<PhysAddr> {
        let frame = self.take(window)?;
        self.mark(frame, false);
        Some(frame)
    }

    fn take(&mut self, window: &mut impl StackWindow) -> Option<PhysAddr> {
        if let Some(spare) = self.spares.pop() {
            return Some(spare);
        }
        if self.pages > 0 && self.top_entries > 0 {
            self.top_entries -= 1;
            let page = window.page(self.pages - 1);
            // SAFETY: page `pages - 1` is mapped and entry `top_entries` was written.
            return Some(PhysAddr(unsafe { (*page)[self.top_entries] }));
        }
        if self.idle_tables > 0 {
            // The top page (if any) is empty and still mapped, so only the idle
            // tables beyond it are released; they become spares.
            let released = window.release_idle_tables(self.pages, &mut self.spares);
            assert_eq!(
                released, self.idle_tables,
                "the frame-stack window's tables serve the window alone"
            );
            self.tables -= released;
            self.idle_tables = 0;
            return self.spares.pop();
        }
        if self.pages == 0 {
            return None;
        }
        // The top page is empty: hand out the page itself; its tables stay idle.
        self.pages -= 1;
        let frame = window
            .unmap_page(self.pages)
            .expect("every window page below `pages` is mapped");
        self.idle_tables = window.idle_tables(self.pages);
        self.top_entries = if self.pages > 0 { ENTRIES_PER_PAGE } else { 0 };
        Some(frame)
    }

    /// Fills `frames` with free frames, all or nothing.
    pub fn pop_many(
        &mut self,
        frames: &mut [PhysAddr],
        window: &mut impl StackWindow,
    ) -> Result<(), OutOfFrames> {
        let available = self.free_frame_count();
        if frames.len() > available {
            return Err(OutOfFrames {
                requested: frames.len(),
                available,
            });
        }
        for slot in frames.iter_mut() {
            *slot = self
                .pop(window)
                .expect("free_frame_count counts only frames that pop hands out");
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
