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
//!
//! **Fresh ranges.** RAM given to the stack ([`FrameStack::add_range`]) is not
//! written into it: it stays a short list of fresh ranges (at most
//! [`MAX_RANGES`]), and frames are cut from the start of the last one when the
//! entries run out. So giving 16 GiB costs what giving 16 MiB does, and RAM the
//! kernel never uses is never touched. A freed frame goes to the stack proper,
//! so the fresh ranges only shrink (but for a frame never given to the stack,
//! see below). The fresh frames are free frames of
//! this one stack: they are counted, handed out and checked against like the
//! others (a free of a fresh frame is a double free). Order of [`pop`]: spares,
//! entries, fresh ranges, then the window's idle tables and pages.
//!
//! While fresh ranges last they also serve physically contiguous, aligned runs
//! ([`FrameStack::allocate_contiguous`]): the frames a run skips for its
//! alignment go to the stack (one push each, fewer than `align / 4 KiB`), so
//! none is lost.
//!
//! **Double frees** are refused through the [`FreeMap`] (one bit per frame, set
//! while it is free, pages made present lazily: see its module) when one is
//! installed, in O(1) and in every build. With a map, RAM beyond the map's
//! reach (4 TiB above the lowest RAM) is refused ([`FreeError::BeyondFreeMap`]),
//! so every frame the stack holds has a bit. A frame whose map page is not
//! present yet is fresh (a double free) or was never given to the stack, and
//! then becomes a fresh range of its own: a frame the stack handed out always
//! has its page (the map's reserve covers every page), so a legitimate free
//! never needs a fresh-range slot. Without a map, fresh frames are found by
//! the list of fresh ranges and the stack's entries by an O(n) scan in debug
//! builds only.
//!
//! **The hot path** asks the window nothing: the stack keeps the pointer to
//! its top page (taken when a page is mapped or becomes the top) and the
//! number of tables the next page lacks (until the window's tables change), a
//! free checks first the usable range the last checked frame lay in, and the
//! free map finds a bit by a subtraction. The kernel and the host benchmarks
//! run this same code.
//!
//! [`pop`]: FrameStack::pop

use core::fmt;
use core::ptr::NonNull;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::memory::free_map::FreeMap;
use crate::memory::paging::{FrameList, FrameSink, FrameSource, MapError, UnmapError};

/// Entries in one page of the stack.
pub const ENTRIES_PER_PAGE: usize = PAGE_SIZE / core::mem::size_of::<u64>();

/// Most RAM or usable ranges a frame stack checks frees against, and most
/// fresh ranges it keeps.
pub const MAX_RANGES: usize = 160;

/// Spare frames held beside the stack: at least the page tables one window page
/// can need (`LEVELS - 1`, three on both targets), plus room for one more level.
const SPARES: usize = 4;

const FRAME: u64 = PAGE_SIZE as u64;

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

    /// Maps `frame` read-write at `virt`, outside the window: a page of the
    /// stack's own bookkeeping (a free-map page), taking missing tables from
    /// `tables`. Those frames are not the stack's; the mapping stays for good.
    fn map_bookkeeping_page(
        &mut self,
        virt: VirtAddr,
        frame: PhysAddr,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError>;
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
    /// The frame is already free: in the stack or in a fresh range (always
    /// detected with a free map; without one, stack entries only by the O(n)
    /// scan of debug builds).
    DoubleFree(PhysAddr),
    /// The window cannot hold another page (more RAM than the layout supports).
    WindowFull(PhysAddr),
    /// The frame would start a fresh range of its own (it was never given to
    /// the stack, or [`FrameStack::add_range`] gave it), and the stack holds
    /// [`MAX_RANGES`] fresh ranges already.
    TooManyRanges(PhysAddr),
    /// The frame lies beyond the free map's reach
    /// ([`REACH_BYTES`](crate::memory::free_map::REACH_BYTES) above the lowest
    /// RAM frame): it has no bit, so a stack with a map never holds it.
    BeyondFreeMap(PhysAddr),
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
            Self::TooManyRanges(frame) => {
                write!(f, "cannot free {frame}: too many fresh ranges")
            }
            Self::BeyondFreeMap(frame) => write!(
                f,
                "cannot free {frame}: beyond the free-frame map's reach ({} TiB above the lowest RAM)",
                crate::memory::free_map::REACH_BYTES >> 40
            ),
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

/// Why [`FrameStack::allocate_contiguous`] handed out nothing. Nothing changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContiguousError {
    /// `count` was 0, or `align` is not a power of two.
    BadRequest {
        /// Frames asked for.
        count: usize,
        /// Alignment asked for, in bytes.
        align: u64,
    },
    /// No fresh range holds `count` frames from an `align`-aligned address on
    /// (the stack's other free frames are scattered and never serve runs).
    NoRun {
        /// Frames asked for.
        count: usize,
        /// Alignment asked for, in bytes.
        align: u64,
    },
}

impl fmt::Display for ContiguousError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest { count, align } => {
                write!(
                    f,
                    "bad contiguous request: {count} frames aligned to {align:#x}"
                )
            }
            Self::NoRun { count, align } => write!(
                f,
                "no fresh range holds {count} contiguous frames aligned to {align:#x}"
            ),
        }
    }
}

/// True when the whole frame at `frame` lies in `range`.
#[inline]
fn holds(range: &PhysRange, frame: PhysAddr) -> bool {
    let offset = frame.0.wrapping_sub(range.start.0);
    offset < range.size && range.size - offset >= FRAME
}

/// A stack of free frames stored in the free frames themselves, and the fresh
/// ranges not cut into frames yet.
pub struct FrameStack {
    ram: [PhysRange; MAX_RANGES],
    ram_count: usize,
    usable: [PhysRange; MAX_RANGES],
    usable_count: usize,
    /// The usable range the last checked frame lay in, tried first.
    usable_hint: usize,
    /// Free RAM never handed out since it was given: frames are cut from the
    /// start of the last one. None is empty, none overlaps another.
    fresh: [PhysRange; MAX_RANGES],
    fresh_count: usize,
    /// Frames in the fresh ranges.
    fresh_frames: usize,
    /// Mapped pages of the window.
    pages: usize,
    /// The entries of the top page (`None` when no page is mapped), kept
    /// from when the page was mapped or became the top, so a push or pop
    /// asks the window nothing.
    top: Option<NonNull<[u64; ENTRIES_PER_PAGE]>>,
    /// How many tables window page `pages` lacks, once asked and until the
    /// window's tables change (only the stack changes them): a push and a pop
    /// at the edge of the mapped pages then walk no table each.
    next_page_missing: Option<usize>,
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
    /// One bit per frame, set while it is free (see [`FreeMap`]).
    free_map: Option<FreeMap>,
}

// SAFETY: `top` points at the stack's own top window page, which nothing but
// the stack uses; moving the stack to another thread moves that one user.
unsafe impl Send for FrameStack {}

impl FrameStack {
    /// An empty stack that will accept frames of `usable` (RAM minus reservations)
    /// and tell `Reserved` from `NotRam` using `ram`. Ranges beyond
    /// [`MAX_RANGES`] are ignored: their frames are refused as not RAM. Every
    /// usable frame counts as allocated until [`add_range`](Self::add_range)
    /// or [`push`](Self::push) gives it.
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
            usable_hint: 0,
            fresh: [empty; MAX_RANGES],
            fresh_count: 0,
            fresh_frames: 0,
            pages: 0,
            top: None,
            next_page_missing: None,
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
    /// build. Without a map a double free of a frame in the stack is found
    /// only by the O(n) scan of debug builds.
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

    /// Bytes of the free map backed now (its present pages), 0 without one:
    /// the stack's only bookkeeping beyond this value itself.
    pub fn free_map_bytes(&self) -> usize {
        self.free_map.as_ref().map_or(0, FreeMap::size_bytes)
    }

    /// Whether a free map checks every free (see [`Self::install_free_map`]).
    pub fn has_free_map(&self) -> bool {
        self.free_map.is_some()
    }

    /// How many frames [`pop`](Self::pop) can still hand out: entries, window
    /// pages, spares, the window's tables (the stack eats those too, last) and
    /// fresh frames. Exact: `pop` succeeds exactly this many times in a row.
    pub fn free_frame_count(&self) -> usize {
        let entries = match self.pages {
            0 => 0,
            pages => (pages - 1) * ENTRIES_PER_PAGE + self.top_entries,
        };
        entries + self.pages + self.spares.as_slice().len() + self.tables + self.fresh_frames
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

    /// How many frames the window's page tables are made of, idle ones
    /// included: all of them count as free ([`Self::free_frame_count`]).
    pub fn window_table_count(&self) -> usize {
        self.tables
    }

    /// The fresh ranges now: free RAM not cut into frames yet.
    pub fn fresh_ranges(&self) -> &[PhysRange] {
        &self.fresh[..self.fresh_count]
    }

    /// How many of the free frames lie in fresh ranges.
    pub fn fresh_frame_count(&self) -> usize {
        self.fresh_frames
    }

    /// Gives every frame of `range` to the stack (the range is shrunk to whole
    /// frames) as fresh ranges: nothing is written, so this costs O(ranges)
    /// whatever the size (plus a word of the free map per 64 frames that lie
    /// in its present pages). Returns the number of frames accepted; stops at
    /// the first refusal (not usable, already free, no fresh range left,
    /// beyond the free map's reach), which says how many frames were accepted
    /// before it: of a range that crosses the end of the map's reach, the part
    /// within it is accepted and the rest refused.
    pub fn add_range(&mut self, range: PhysRange) -> Result<usize, RangeRefused> {
        let Some(start) = range.start.align_up(FRAME) else {
            return Ok(0);
        };
        let end = range.end().unwrap_or(PhysAddr(u64::MAX)).align_down(FRAME);
        let mut accepted = 0;
        let mut next = start;
        while next < end {
            let refused = |error| RangeRefused { accepted, error };
            self.check(next).map_err(refused)?;
            // The part of the range inside the usable range that holds `next`,
            // which `check` has just left at `usable_hint`.
            let usable_end = self.usable[self.usable_hint]
                .end()
                .map_or(end, |usable_end| usable_end.align_down(FRAME));
            let mut piece_end = usable_end.min(end);
            if let Some(map) = self.free_map.as_ref() {
                if !map.covers(next) {
                    return Err(refused(FreeError::BeyondFreeMap(next)));
                }
                piece_end = piece_end.min(map.end());
            }
            let piece = PhysRange::new(next, piece_end.0 - next.0);
            let conflict = self.first_free_in(piece);
            let given = conflict.map_or(piece, |frame| PhysRange::new(next, frame.0 - next.0));
            if given.size > 0 {
                self.give_fresh(given).map_err(refused)?;
                accepted += (given.size / FRAME) as usize;
                self.total += (given.size / FRAME) as usize;
            }
            if let Some(frame) = conflict {
                return Err(RangeRefused {
                    accepted,
                    error: FreeError::DoubleFree(frame),
                });
            }
            next = piece_end;
        }
        Ok(accepted)
    }

    /// The first frame of `range` that is free already: fresh, or marked in
    /// the free map's present pages. Without a map, the stack's entries are
    /// not looked at.
    fn first_free_in(&self, range: PhysRange) -> Option<PhysAddr> {
        let fresh = self
            .fresh_ranges()
            .iter()
            .filter_map(|fresh| fresh.intersection(&range))
            .map(|overlap| overlap.start)
            .min();
        let marked = self
            .free_map
            .as_ref()
            .and_then(|map| map.first_free_in(range));
        fresh.into_iter().chain(marked).min()
    }

    /// Adds `range` (usable, free of anything free) to the fresh ranges,
    /// joining the last one when they touch, and marks its frames free in the
    /// map's present pages. Needs no memory.
    #[cold]
    fn give_fresh(&mut self, range: PhysRange) -> Result<(), FreeError> {
        let joined = self.fresh_count.checked_sub(1).and_then(|last| {
            let last = &mut self.fresh[last];
            if last.end() == Some(range.start) {
                last.size += range.size;
                Some(())
            } else if range.end() == Some(last.start) {
                *last = PhysRange::new(range.start, last.size + range.size);
                Some(())
            } else {
                None
            }
        });
        if joined.is_none() {
            if self.fresh_count == MAX_RANGES {
                return Err(FreeError::TooManyRanges(range.start));
            }
            self.fresh[self.fresh_count] = range;
            self.fresh_count += 1;
        }
        self.fresh_frames += (range.size / FRAME) as usize;
        if let Some(map) = self.free_map.as_mut() {
            map.set_range(range, true);
        }
        Ok(())
    }

    /// True when `frame` lies in a fresh range: O(fresh ranges).
    fn is_fresh(&self, frame: PhysAddr) -> bool {
        self.fresh_ranges()
            .iter()
            .any(|range| range.contains(frame))
    }

    /// Returns `frame` to the stack. O(1) (plus an O(n) double-free scan in
    /// debug builds, except under Miri where a free map answers). Refused
    /// frames leave the stack unchanged; with a free map, frames beyond its
    /// reach are refused ([`FreeError::BeyondFreeMap`]). A
    /// frame never given to the stack whose free-map page is not present
    /// becomes a fresh range instead (no memory needed); a frame the stack
    /// handed out always has its page present.
    // Always inlined: the kernel's few callers and the benchmarks (another
    // crate) then run the hot path without a call.
    #[inline(always)]
    pub fn push(
        &mut self,
        frame: PhysAddr,
        window: &mut impl StackWindow,
    ) -> Result<(), FreeError> {
        self.check(frame)?;
        // The scan cross-checks the free map in debug builds. Under Miri,
        // which interprets every step, it would make each drain O(n²) and the
        // tests hours long, so there it runs only where it is the detector:
        // without a free map.
        let cross_check = !cfg!(miri) || self.free_map.is_none();
        let scanned = (cfg!(debug_assertions) && cross_check).then(|| self.scan(frame, window));
        // Marks the frame free at once; undone below if it is refused.
        let marked = self
            .free_map
            .as_mut()
            .and_then(|map| map.test_and_set(frame));
        let already_free = match marked {
            Some(free) => free,
            None => self.is_fresh(frame) || (self.free_map.is_none() && scanned == Some(true)),
        };
        debug_assert!(
            scanned.is_none_or(|scanned| scanned == already_free),
            "the free map disagrees with the stack about {frame}"
        );
        if already_free {
            return Err(FreeError::DoubleFree(frame));
        }
        if let Some(map) = self.free_map.as_ref()
            && marked.is_none()
        {
            if !map.covers(frame) {
                // No bit: it could never be told free again. Never accepted.
                return Err(FreeError::BeyondFreeMap(frame));
            }
            // Nothing of its span was handed out from a fresh range: the
            // frame was never given to the stack.
            return self.give_fresh(PhysRange::new(frame, FRAME));
        }
        let stored = self.store(frame, window);
        if stored.is_err()
            && let Some(map) = self.free_map.as_mut()
        {
            map.set(frame, false);
        }
        stored
    }

    /// Puts a checked frame into the stack: as an entry, a spare or the next
    /// window page.
    #[inline]
    fn store(&mut self, frame: PhysAddr, window: &mut impl StackWindow) -> Result<(), FreeError> {
        if let Some(top) = self.top
            && self.top_entries < ENTRIES_PER_PAGE
        {
            // SAFETY: `top` is the mapped top page, only the stack uses it,
            // and `top_entries < ENTRIES_PER_PAGE`.
            unsafe { (*top.as_ptr())[self.top_entries] = frame.0 };
            self.top_entries += 1;
            return Ok(());
        }
        if let Some(missing) = self.next_page_missing
            && self.spares.as_slice().len() < missing
            && self.pages < window.capacity_pages()
        {
            // Fewer than LEVELS - 1 spares are held, so there is room.
            self.spares.push(frame);
            return Ok(());
        }
        self.store_in_new_page(frame, window)
    }

    /// Stores `frame` when the top page is full (or there is none): as a spare
    /// or as the next window page.
    #[inline(never)]
    fn store_in_new_page(
        &mut self,
        frame: PhysAddr,
        window: &mut impl StackWindow,
    ) -> Result<(), FreeError> {
        if self.pages == window.capacity_pages() {
            return Err(FreeError::WindowFull(frame));
        }
        // The frame becomes the next window page once its tables are at hand.
        let missing = match self.next_page_missing {
            Some(missing) => missing,
            None => {
                let missing = window
                    .missing_tables(self.pages)
                    .map_err(|_| FreeError::WindowFull(frame))?;
                *self.next_page_missing.insert(missing)
            }
        };
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
        self.top = NonNull::new(window.page(self.pages));
        self.next_page_missing = None;
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

    /// Refuses frames that are unaligned, reserved or not RAM. O(1) when the
    /// frame lies in the same usable range as the last one checked.
    #[inline]
    fn check(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
        if frame.is_page_aligned()
            && let Some(range) = self.usable.get(self.usable_hint)
            && holds(range, frame)
        {
            return Ok(());
        }
        self.check_all(frame)
    }

    /// [`Self::check`] through every range, remembering the usable one found.
    #[cold]
    #[inline(never)]
    fn check_all(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
        if !frame.is_page_aligned() {
            return Err(FreeError::Unaligned(frame));
        }
        let usable = self.usable[..self.usable_count]
            .iter()
            .position(|range| holds(range, frame));
        if let Some(index) = usable {
            self.usable_hint = index;
            Ok(())
        } else if self.ram[..self.ram_count]
            .iter()
            .any(|range| range.overlaps(&PhysRange::new(frame, FRAME)))
        {
            Err(FreeError::Reserved(frame))
        } else {
            Err(FreeError::NotRam(frame))
        }
    }

    /// True when `frame` is free now: an entry, a window page, a spare, a
    /// window table or a fresh frame. A frame that serves as one of the
    /// window's page tables was freed into the stack, so a second free of it
    /// is a double free too. O(1) with a free map; O(n) without.
    pub fn contains(&self, frame: PhysAddr, window: &mut impl StackWindow) -> bool {
        match &self.free_map {
            Some(map) => map.get(frame).unwrap_or_else(|| self.is_fresh(frame)),
            None => self.scan(frame, window),
        }
    }

    /// Looks for `frame` among the fresh ranges, entries, window pages, spares
    /// and window tables: O(n).
    fn scan(&self, frame: PhysAddr, window: &mut impl StackWindow) -> bool {
        if self.is_fresh(frame) || self.spares.as_slice().contains(&frame) {
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
    // Always inlined, as `push`.
    #[inline(always)]
    pub fn pop(&mut self, window: &mut impl StackWindow) -> Option<PhysAddr> {
        let frame = if let Some(spare) = self.spares.pop() {
            spare
        } else if let Some(top) = self.top
            && self.top_entries > 0
        {
            self.top_entries -= 1;
            // SAFETY: `top` is the mapped top page and entry `top_entries` was written.
            PhysAddr(unsafe { (*top.as_ptr())[self.top_entries] })
        } else if let Some(last) = self.fresh_count.checked_sub(1) {
            return Some(self.take_fresh(last, window));
        } else {
            self.take_from_window(window)?
        };
        if let Some(map) = self.free_map.as_mut() {
            map.set(frame, false);
        }
        Some(frame)
    }

    /// Cuts the first frame of fresh range `last` (the last one), its bit
    /// cleared (its map page made present first if need be).
    #[inline]
    fn take_fresh(&mut self, last: usize, window: &mut impl StackWindow) -> PhysAddr {
        let frame = self.fresh[last].start;
        if let Some(map) = self.free_map.as_mut() {
            // A frame handed out without its page (the reserve spent) comes
            // back as a fresh range of its own.
            map.take_fresh(frame, &self.fresh[..self.fresh_count], window);
        }
        self.cut_fresh(last, PhysRange::new(frame, FRAME));
        frame
    }

    /// Takes a frame when no spare, entry or fresh frame is left: the
    /// window's idle tables, then its pages.
    #[inline(never)]
    fn take_from_window(&mut self, window: &mut impl StackWindow) -> Option<PhysAddr> {
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
            self.next_page_missing = None;
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
        self.next_page_missing = None;
        self.top_entries = if self.pages > 0 { ENTRIES_PER_PAGE } else { 0 };
        self.top = self
            .pages
            .checked_sub(1)
            .and_then(|index| NonNull::new(window.page(index)));
        Some(frame)
    }

    /// Removes `taken` (which starts fresh range `index`) from that range.
    fn cut_fresh(&mut self, index: usize, taken: PhysRange) {
        let range = &mut self.fresh[index];
        debug_assert_eq!(range.start, taken.start);
        *range = PhysRange::new(
            PhysAddr(range.start.0 + taken.size),
            range.size - taken.size,
        );
        if range.size == 0 {
            self.fresh_count -= 1;
            self.fresh[index] = self.fresh[self.fresh_count];
        }
        self.fresh_frames -= (taken.size / FRAME) as usize;
    }

    /// Hands out `count` physically contiguous frames whose first address is a
    /// multiple of `align` bytes (a power of two; below 4 KiB means 4 KiB), cut
    /// from a fresh range; the frames skipped before the run for its alignment
    /// go to the stack, one push each (fewer than `align / 4 KiB`), so none is
    /// lost. O(fresh ranges + skipped frames + 1 per 128 MiB of the run for
    /// its free-map pages).
    ///
    /// Fails ([`ContiguousError::NoRun`]) when no fresh range holds such a
    /// run: once the fresh ranges are used up (or cut into pieces smaller
    /// than the run) only single frames are left, whatever the free count; and
    /// when the window could not hold the skipped frames, or the free map's
    /// pages over the run could not all be made present (its reserve spent,
    /// which its size rules out). No frame is handed out or moved then and
    /// the counts stay, but map pages made present before the failing one
    /// stay present (with correct bits), their reserve frames spent.
    pub fn allocate_contiguous(
        &mut self,
        count: usize,
        align: u64,
        window: &mut impl StackWindow,
    ) -> Result<PhysRange, ContiguousError> {
        if count == 0 || !align.is_power_of_two() {
            return Err(ContiguousError::BadRequest { count, align });
        }
        let bytes = (count as u64).checked_mul(FRAME);
        for index in (0..self.fresh_count).rev() {
            let range = self.fresh[index];
            let Some(run) = range
                .start
                .align_up(align.max(FRAME))
                .zip(bytes)
                .map(|(start, bytes)| PhysRange::new(start, bytes))
                .filter(|run| run.end().is_some_and(|end| Some(end) <= range.end()))
            else {
                continue;
            };
            let skipped = PhysRange::new(range.start, run.start.0 - range.start.0);
            let through_run = PhysRange::new(range.start, skipped.size + run.size);
            if !self.has_room(skipped, window) {
                continue;
            }
            if let Some(map) = self.free_map.as_mut()
                && !map.make_range_present(through_run, &self.fresh[..self.fresh_count], window)
            {
                continue;
            }
            self.cut_fresh(index, through_run);
            if let Some(map) = self.free_map.as_mut() {
                map.set_range(run, false);
            }
            // Skipped frames stay free (their bits set) and move to the stack.
            for frame in (skipped.start.0..run.start.0).step_by(PAGE_SIZE) {
                self.store(PhysAddr(frame), window)
                    .expect("room for the skipped frames was checked");
            }
            return Ok(run);
        }
        Err(ContiguousError::NoRun { count, align })
    }

    /// True when the window can surely store every frame of `range` (a few
    /// entries of slack for the frames that become spares or pages).
    fn has_room(&self, range: PhysRange, window: &mut impl StackWindow) -> bool {
        let frames = (range.size / FRAME) as usize;
        let in_top = if self.pages > 0 {
            ENTRIES_PER_PAGE - self.top_entries
        } else {
            0
        };
        let pages_left = window.capacity_pages() - self.pages;
        frames == 0 || in_top + pages_left.saturating_sub(1) * ENTRIES_PER_PAGE >= frames
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
