//! One bit per frame, set while the frame is free: the frame stack's
//! double-free check in every build, in O(1).
//!
//! The stack itself can only say whether a frame is free by scanning all of its
//! entries (O(n)), which the host tests do on every free. A kernel needs the
//! answer on every free too, at any RAM size, so it keeps this map beside the
//! stack.
//!
//! **Bit `n` stands for physical frame `first_frame + n`**, so a bit is found
//! by a subtraction, not by a search through the RAM ranges; the holes between
//! RAM ranges simply never get pages. A bit is set while its frame is free:
//! in the stack, or still in one of the stack's fresh ranges (RAM never handed
//! out since it was given to the stack).
//!
//! **Pages appear lazily.** One page of the map covers [`SPAN_FRAMES`] frames
//! (128 MiB). It is made *present* (mapped, zeroed, and given the bits of the
//! fresh frames of its span) when the first frame of its span is handed out
//! from a fresh range, so neither the map's memory nor its setup grows with
//! RAM at boot. Until then the span's frames are all fresh or were never given
//! to the stack, which the stack tells apart with its short list of fresh
//! ranges. A frame the stack holds (entries, window pages, spares, tables) was
//! freed, and a free needs its bit: so the map's page for it is present, and a
//! free never needs memory. Making a page present may need memory (a frame for
//! the page and up to three for the tables that map it); it happens only on
//! allocation, from a reserve set aside when the map is made
//! ([`MapPages::Reserved`]), never from the stack's own frames, so the stack's
//! free-frame count stays exact.
//!
//! **Reach.** The map covers [`REACH_BYTES`] (4 TiB) of physical addresses
//! from the lowest RAM frame on ([`MAX_PAGES`] spans; its window is 128 MiB of
//! virtual space). RAM beyond that is never accepted by a stack that has a
//! map ([`FrameStack::add_range`] and [`FrameStack::push`] refuse it with
//! [`FreeError::BeyondFreeMap`], which the boot report names): so every frame
//! the stack ever holds has a bit, and no free of one needs a fresh range.
//!
//! The cost: 1 bit per 4 KiB frame, 32 KiB per GiB of RAM handed out at least
//! once (0.003%), plus a 4 KiB summary of which pages are present. Why the
//! check needs it at all: the stack's entries are kept in the free frames
//! themselves in the order they were freed, so without an index by address a
//! free would have to search them.

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::memory::frames::StackWindow;
#[cfg(doc)]
use crate::memory::frames::{FrameStack, FreeError};
use crate::memory::paging::FrameSource;

/// Bits per word of the map.
const BITS: usize = u64::BITS as usize;

/// Words in one page of the map.
const WORDS_PER_PAGE: usize = PAGE_SIZE / core::mem::size_of::<u64>();

/// Frames one page of the map covers (its span): 32768, 128 MiB.
pub const SPAN_FRAMES: usize = WORDS_PER_PAGE * BITS;

/// Pages the map can have: 32768 spans, [`REACH_BYTES`] (4 TiB) of physical
/// addresses from the lowest RAM frame on, in a window of 128 MiB; the
/// summary of present pages is 4 KiB. A stack with a map refuses the frames
/// beyond ([`FreeError::BeyondFreeMap`]), so none of them is ever free.
pub const MAX_PAGES: usize = 32768;

/// Bytes of physical addresses the map can cover from the lowest RAM frame on.
pub const REACH_BYTES: u64 = (MAX_PAGES * SPAN_FRAMES * PAGE_SIZE) as u64;

// `FreeError::BeyondFreeMap` says the reach in TiB.
const _: () = assert!(REACH_BYTES.is_multiple_of(1 << 40));

/// Where the map's pages come from.
pub enum MapPages {
    /// Each page is mapped at the map's own address when it becomes present,
    /// from the frames of a reserved range taken in order (the page first,
    /// then the tables its mapping lacks). The kernel's case.
    Reserved {
        /// The next frame of the reserve.
        next: PhysAddr,
        /// The reserve's end (exclusive).
        end: PhysAddr,
    },
    /// Every page is readable and writable memory already (host tests and
    /// benchmarks, whose map is host memory).
    Ready,
}

impl FrameSource for MapPages {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        match self {
            Self::Reserved { next, end } => (*next < *end).then(|| {
                let frame = *next;
                *next = PhysAddr(frame.0 + PAGE_SIZE as u64);
                frame
            }),
            Self::Ready => None,
        }
    }
}

/// One bit for each frame from a first frame on; pages present on demand.
pub struct FreeMap {
    /// Word 0 of the map; page `p` of it is readable and writable while the
    /// summary marks it present.
    words: *mut u64,
    /// Physical frame number of bit 0.
    first_frame: u64,
    /// Bits of the map (frames it covers).
    bits: usize,
    /// One bit per page of the map: set once it is present (never cleared).
    present: [u64; MAX_PAGES / BITS],
    /// Pages present.
    present_pages: usize,
    pages: MapPages,
}

// SAFETY: the map is the only user of its window (`new`'s contract), so
// moving it to another thread moves every access to the window with it.
unsafe impl Send for FreeMap {}

impl FreeMap {
    /// The frames a map of `ram` covers: the first frame and how many follow
    /// it (up to the last RAM frame, at most `MAX_PAGES * SPAN_FRAMES`).
    fn coverage(ram: &[PhysRange]) -> (u64, usize) {
        let page = PAGE_SIZE as u64;
        let first = ram.iter().map(|range| range.start.0 / page).min();
        let end = ram
            .iter()
            .map(|range| range.end().map_or(u64::MAX / page, |end| end.0 / page))
            .max();
        match first.zip(end) {
            Some((first, end)) => {
                let frames = (end.saturating_sub(first)).min((MAX_PAGES * SPAN_FRAMES) as u64);
                (first, frames as usize)
            }
            None => (0, 0),
        }
    }

    /// Bytes of virtual space a map of `ram` spans (whole pages), of which only
    /// the present pages are ever backed.
    pub fn window_bytes(ram: &[PhysRange]) -> usize {
        Self::coverage(ram).1.div_ceil(SPAN_FRAMES) * PAGE_SIZE
    }

    /// An upper bound on the frames a [`MapPages::Reserved`] reserve needs to
    /// make every page of a map of `ram` present: per RAM range (its part
    /// within the map's reach), one per span it touches and one per
    /// last-level table those pages touch; then the three tables above.
    /// Computed per range: O(ranges), whatever the RAM size. With this
    /// reserve a page can always be made present, so no frame is handed out
    /// without its bit.
    pub fn reserve_frames(ram: &[PhysRange]) -> usize {
        let (first, frames) = Self::coverage(ram);
        let per_table = crate::memory::paging::ENTRIES_PER_TABLE;
        let (pages, tables) = ram
            .iter()
            .filter_map(|range| bits_of(*range, first, frames))
            .map(|(start, end)| (start / SPAN_FRAMES, (end - 1) / SPAN_FRAMES))
            .fold((0, 0), |(pages, tables), (first, last)| {
                let touched = last / per_table - first / per_table + 1;
                (pages + last - first + 1, tables + touched)
            });
        pages.min(MAX_PAGES) + tables.min(MAX_PAGES.div_ceil(per_table)) + 3
    }

    /// A map of the frames of `ram` whose word 0 is at `words`, no page
    /// present yet (every bit reads as "not free"); pages come from `pages`.
    ///
    /// # Safety
    ///
    /// `words` is page-aligned and starts [`Self::window_bytes`] bytes of
    /// virtual space used by this map alone. With [`MapPages::Ready`] all of
    /// it is readable and writable memory for as long as the map lives; with
    /// [`MapPages::Reserved`] nothing is mapped there yet, the reserve's
    /// frames belong to the map alone, and a page becomes usable once the
    /// frame stack's window maps it (`StackWindow::map_bookkeeping_page`).
    pub unsafe fn new(ram: &[PhysRange], words: *mut u64, pages: MapPages) -> Self {
        let (first_frame, bits) = Self::coverage(ram);
        Self {
            words,
            first_frame,
            bits,
            present: [0; MAX_PAGES / BITS],
            present_pages: 0,
            pages,
        }
    }

    /// Whether the map has a bit for `frame` (it lies within its reach).
    #[inline]
    pub fn covers(&self, frame: PhysAddr) -> bool {
        self.bit(frame).is_some()
    }

    /// The first frame past the map's reach.
    pub fn end(&self) -> PhysAddr {
        self.frame_of(self.bits)
    }

    /// Bytes of the map that are backed now: the present pages.
    pub fn size_bytes(&self) -> usize {
        self.present_pages * PAGE_SIZE
    }

    /// The frame bit `bit` stands for.
    #[inline]
    fn frame_of(&self, bit: usize) -> PhysAddr {
        PhysAddr((self.first_frame + bit as u64) * PAGE_SIZE as u64)
    }

    /// The bit of `frame`, if the map covers it.
    #[inline]
    fn bit(&self, frame: PhysAddr) -> Option<usize> {
        let bit = (frame.0 / PAGE_SIZE as u64).checked_sub(self.first_frame)? as usize;
        (bit < self.bits).then_some(bit)
    }

    #[inline]
    fn page_present(&self, page: usize) -> bool {
        self.present[page / BITS] & (1 << (page % BITS)) != 0
    }

    /// The word that holds `bit`, if its page is present.
    #[inline]
    fn word(&self, bit: usize) -> Option<*mut u64> {
        // SAFETY: `bit < bits`, so the word lies inside the map's window, and
        // its page is present (readable and writable); only the pointer is made.
        self.page_present(bit / SPAN_FRAMES)
            .then(|| unsafe { self.words.add(bit / BITS) })
    }

    /// Whether `frame` is free, or `None` when its page is not present (or
    /// the map does not cover it): then nothing of its span was ever handed
    /// out from a fresh range.
    #[inline]
    pub fn get(&self, frame: PhysAddr) -> Option<bool> {
        let bit = self.bit(frame)?;
        let word = self.word(bit)?;
        // SAFETY: `word` returns pointers into present pages only.
        Some(unsafe { *word } & (1 << (bit % BITS)) != 0)
    }

    /// Marks `frame` free and says whether it was free already, or `None`
    /// (and nothing changes) when its page is not present: [`Self::get`] and
    /// [`Self::set`] in one lookup, for the frame stack's push.
    #[inline]
    pub fn test_and_set(&mut self, frame: PhysAddr) -> Option<bool> {
        let bit = self.bit(frame)?;
        let word = self.word(bit)?;
        let mask = 1 << (bit % BITS);
        // SAFETY: `word` returns pointers into present pages only; the map is
        // their one user.
        let old = unsafe { word.replace(*word | mask) };
        Some(old & mask != 0)
    }

    /// Marks fresh frame `frame` taken, making its page present first (see
    /// [`Self::make_present`]; `fresh` are the fresh ranges, `frame`'s
    /// included). Nothing changes when the page cannot be made present.
    #[inline]
    pub fn take_fresh(
        &mut self,
        frame: PhysAddr,
        fresh: &[PhysRange],
        window: &mut impl StackWindow,
    ) {
        let Some(bit) = self.bit(frame) else {
            return;
        };
        if self.page_present(bit / SPAN_FRAMES) || self.make_present(frame, fresh, window) {
            // SAFETY: the page of `bit` is present (`bit < bits`); the map is
            // its one user.
            unsafe { *self.words.add(bit / BITS) &= !(1 << (bit % BITS)) };
        }
    }

    /// Marks `frame` free or not. Does nothing when its page is not present.
    #[inline]
    pub fn set(&mut self, frame: PhysAddr, free: bool) {
        if let Some(bit) = self.bit(frame)
            && let Some(word) = self.word(bit)
        {
            let mask = 1 << (bit % BITS);
            // SAFETY: `word` returns pointers into present pages only; the map
            // is their one user.
            unsafe { *word = if free { *word | mask } else { *word & !mask } };
        }
    }

    /// Marks every frame of `range` free or not, a word at a time; frames of
    /// pages that are not present are left alone (O(1) while none is, as at
    /// boot).
    pub fn set_range(&mut self, range: PhysRange, free: bool) {
        if self.present_pages == 0 {
            return;
        }
        let Some((mut bit, end)) = bits_of(range, self.first_frame, self.bits) else {
            return;
        };
        while bit < end {
            let Some(word) = self.word(bit) else {
                bit = next_page(bit);
                continue;
            };
            let (mask, in_word) = word_mask(bit, end);
            // SAFETY: a word of a present page; the map is its one user.
            unsafe { *word = if free { *word | mask } else { *word & !mask } };
            bit += in_word;
        }
    }

    /// The first frame of `range` the map marks free, looking only at
    /// present pages.
    pub fn first_free_in(&self, range: PhysRange) -> Option<PhysAddr> {
        if self.present_pages == 0 {
            return None;
        }
        let (mut bit, end) = bits_of(range, self.first_frame, self.bits)?;
        while bit < end {
            let Some(word) = self.word(bit) else {
                bit = next_page(bit);
                continue;
            };
            let (mask, in_word) = word_mask(bit, end);
            // SAFETY: a word of a present page.
            let found = unsafe { *word } & mask;
            if found != 0 {
                let first = bit - bit % BITS + found.trailing_zeros() as usize;
                return Some(self.frame_of(first));
            }
            bit += in_word;
        }
        None
    }

    /// Makes the page of `frame` present if it is not: maps it (from the
    /// reserve, through `window`), zeroes it, and marks free the frames of
    /// `fresh` in its span. Returns false when the map does not cover the
    /// frame or the reserve is spent (the page stays absent).
    #[cold]
    #[inline(never)]
    pub fn make_present(
        &mut self,
        frame: PhysAddr,
        fresh: &[PhysRange],
        window: &mut impl StackWindow,
    ) -> bool {
        let Some(bit) = self.bit(frame) else {
            return false;
        };
        let page = bit / SPAN_FRAMES;
        if self.page_present(page) {
            return true;
        }
        // SAFETY: page `page` lies inside the map's window (`bit < bits`).
        let address = unsafe { self.words.add(page * WORDS_PER_PAGE) };
        if let MapPages::Reserved { .. } = self.pages {
            let Some(frame) = self.pages.allocate_frame() else {
                return false;
            };
            let virt = VirtAddr::from_ptr(address);
            if window
                .map_bookkeeping_page(virt, frame, &mut self.pages)
                .is_err()
            {
                return false;
            }
        }
        // SAFETY: the page is mapped read-write now (or was memory already),
        // and only the map uses it.
        unsafe {
            address
                .cast::<[u64; WORDS_PER_PAGE]>()
                .write([0; WORDS_PER_PAGE])
        };
        self.present[page / BITS] |= 1 << (page % BITS);
        self.present_pages += 1;
        // The span, up to the map's reach (so it never runs past 2^64).
        let first_bit = page * SPAN_FRAMES;
        let span = PhysRange::new(
            self.frame_of(first_bit),
            (SPAN_FRAMES.min(self.bits - first_bit) * PAGE_SIZE) as u64,
        );
        for range in fresh {
            if let Some(overlap) = range.intersection(&span) {
                self.set_range(overlap, true);
            }
        }
        true
    }

    /// Makes present every page over `range` (see [`Self::make_present`]).
    /// False, with nothing made present, when the map does not cover the
    /// whole range; also false when the reserve runs out on the way.
    pub fn make_range_present(
        &mut self,
        range: PhysRange,
        fresh: &[PhysRange],
        window: &mut impl StackWindow,
    ) -> bool {
        let Some(last) = range.last() else {
            return true;
        };
        let (Some(first), Some(last)) = (self.bit(range.start), self.bit(last)) else {
            return false;
        };
        (first / SPAN_FRAMES..=last / SPAN_FRAMES)
            .all(|page| self.make_present(self.frame_of(page * SPAN_FRAMES), fresh, window))
    }
}

/// The bits `[first, end)` of the frames of `range`, from the frame of its
/// first byte to the last frame it holds whole (every frame of a page-aligned
/// range), in a map whose bit 0 is frame number `first_frame` and which has
/// `bits` bits: clipped to the map.
fn bits_of(range: PhysRange, first_frame: u64, bits: usize) -> Option<(usize, usize)> {
    let page = PAGE_SIZE as u64;
    let first = (range.start.0 / page).saturating_sub(first_frame);
    let end = range
        .end()
        .map_or(u64::MAX / page + 1, |end| end.0 / page)
        .saturating_sub(first_frame)
        .min(bits as u64);
    (first < end).then_some((first as usize, end as usize))
}

/// The first bit of the page after `bit`'s.
fn next_page(bit: usize) -> usize {
    (bit / SPAN_FRAMES + 1) * SPAN_FRAMES
}

/// The mask of bits `bit..end` that lie in `bit`'s word, and how many they are.
fn word_mask(bit: usize, end: usize) -> (u64, usize) {
    let in_word = (BITS - bit % BITS).min(end - bit);
    let ones = if in_word == BITS {
        u64::MAX
    } else {
        (1u64 << in_word) - 1
    };
    (ones << (bit % BITS), in_word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::frames::ENTRIES_PER_PAGE;
    use crate::memory::paging::{FrameSink, MapError, UnmapError};
    use std::vec;

    /// A window that is never asked to map anything (the map is `Ready`).
    struct NoWindow;

    impl StackWindow for NoWindow {
        fn missing_tables(&mut self, _: usize) -> Result<usize, MapError> {
            unreachable!("the free map maps no stack page")
        }
        fn map_page(
            &mut self,
            _: usize,
            _: PhysAddr,
            _: &mut impl FrameSource,
        ) -> Result<(), MapError> {
            unreachable!("the free map maps no stack page")
        }
        fn unmap_page(&mut self, _: usize) -> Result<PhysAddr, UnmapError> {
            unreachable!("the free map unmaps no stack page")
        }
        fn idle_tables(&mut self, _: usize) -> usize {
            0
        }
        fn release_idle_tables(&mut self, _: usize, _: &mut impl FrameSink) -> usize {
            0
        }
        fn page(&mut self, _: usize) -> *mut [u64; ENTRIES_PER_PAGE] {
            unreachable!("the free map reads no stack page")
        }
        fn page_frame(&mut self, _: usize) -> Option<PhysAddr> {
            None
        }
        fn is_table(&mut self, _: PhysAddr, _: usize) -> bool {
            false
        }
        fn capacity_pages(&self) -> usize {
            0
        }
        fn map_bookkeeping_page(
            &mut self,
            _: VirtAddr,
            _: PhysAddr,
            _: &mut impl FrameSource,
        ) -> Result<(), MapError> {
            unreachable!("a ready map maps nothing")
        }
    }

    const P: u64 = PAGE_SIZE as u64;

    #[test]
    fn pages_appear_with_their_fresh_bits_and_bits_follow_sets() {
        let low = PhysRange::new(PhysAddr(0x4000_0000), 70 * P);
        let high = PhysRange::new(PhysAddr(0x4000_0000 + SPAN_FRAMES as u64 * P), 3 * P);
        let ram = [low, high];
        assert_eq!(FreeMap::window_bytes(&ram), 2 * PAGE_SIZE);
        let mut words = vec![u64::MAX; 2 * WORDS_PER_PAGE];
        // SAFETY: two pages of host memory, used by this map alone, outlive it.
        let mut map = unsafe { FreeMap::new(&ram, words.as_mut_ptr(), MapPages::Ready) };
        let frame = |n: u64| PhysAddr(0x4000_0000 + n * P);
        assert_eq!(map.get(frame(0)), None, "no page is present at first");
        let fresh = [PhysRange::new(frame(10), 5 * P)];
        assert!(map.make_present(frame(10), &fresh, &mut NoWindow));
        assert_eq!(map.size_bytes(), PAGE_SIZE);
        assert_eq!(map.get(frame(9)), Some(false), "the page is zeroed");
        assert_eq!(map.get(frame(10)), Some(true), "fresh frames are free");
        assert_eq!(map.get(frame(14)), Some(true));
        assert_eq!(map.get(frame(15)), Some(false));
        assert_eq!(map.get(high.start), None, "the next span's page is absent");
        map.set(frame(10), false);
        map.set(frame(63), true);
        map.set(frame(64), true);
        assert_eq!(map.get(frame(10)), Some(false));
        assert_eq!(
            map.first_free_in(PhysRange::new(frame(0), 70 * P)),
            Some(frame(11))
        );
        map.set_range(PhysRange::new(frame(11), 60 * P), false);
        assert_eq!(map.first_free_in(PhysRange::new(frame(0), 70 * P)), None);
        map.set(high.start, true);
        assert_eq!(map.get(high.start), None, "absent pages are left alone");
        assert_eq!(map.get(PhysAddr(0x1000)), None, "below the map");
    }

    #[test]
    fn a_range_is_made_present_whole_or_not_at_all() {
        let ram = [PhysRange::new(
            PhysAddr(0x4000_0000),
            2 * SPAN_FRAMES as u64 * P,
        )];
        let mut words = vec![0; 2 * WORDS_PER_PAGE];
        // SAFETY: two pages of host memory, used by this map alone, outlive it.
        let mut map = unsafe { FreeMap::new(&ram, words.as_mut_ptr(), MapPages::Ready) };
        let empty = PhysRange::new(PhysAddr(0x4000_0000), 0);
        assert!(map.make_range_present(empty, &[], &mut NoWindow));
        let past_the_end = PhysRange::new(PhysAddr(0x4000_0000), ram[0].size + P);
        assert!(!map.make_range_present(past_the_end, &[], &mut NoWindow));
        let below = PhysRange::new(PhysAddr(0x4000_0000 - P), 2 * P);
        assert!(!map.make_range_present(below, &[], &mut NoWindow));
        assert_eq!(map.size_bytes(), 0, "a refused range makes nothing present");
        // Two frames either side of the span boundary: both pages.
        let span = SPAN_FRAMES as u64 * P;
        let across = PhysRange::new(PhysAddr(0x4000_0000 + span - P), 2 * P);
        assert!(map.make_range_present(across, &ram, &mut NoWindow));
        assert_eq!(map.size_bytes(), 2 * PAGE_SIZE);
        assert_eq!(map.get(ram[0].last().unwrap()), Some(true));
    }

    #[test]
    fn the_reserve_is_bounded_per_range() {
        let gib = 1u64 << 30;
        let ram = [PhysRange::new(PhysAddr(0x4000_0000), 8 * gib)];
        // 64 pages, one last-level table, three tables above.
        assert_eq!(FreeMap::reserve_frames(&ram), 64 + 1 + 3);
        // RAM beyond the reach never gets pages.
        let beyond = PhysRange::new(PhysAddr(0x4000_0000 + REACH_BYTES), 8 * gib);
        assert_eq!(FreeMap::reserve_frames(&[ram[0], beyond]), 64 + 1 + 3);
        // Three ranges of two pages, each across a last-level table's 512
        // pages (64 GiB of RAM): six pages and six tables.
        let span = SPAN_FRAMES as u64 * P;
        let across =
            |n: u64| PhysRange::new(PhysAddr(0x4000_0000 + n * 512 * span - span), 2 * span);
        let ram = [ram[0], across(1), across(2), across(3)];
        assert_eq!(FreeMap::reserve_frames(&ram), 64 + 1 + 6 + 6 + 3);
        // RAM off a page boundary, as a device tree may give it: its last
        // whole frame lies in a second span, which needs its page too.
        let unaligned = PhysRange::new(PhysAddr(0x4000_0800), span + 0x800);
        assert_eq!(FreeMap::reserve_frames(&[unaligned]), 2 + 1 + 3);
    }

    #[test]
    fn the_map_covers_its_reach_and_no_more() {
        let gib = 1u64 << 30;
        let low = PhysRange::new(PhysAddr(0x8000_0000), 2 * gib);
        // Arm's standard memory map: DRAM banks at 2 GiB, 34 GiB and 544 GiB.
        let banks = [
            low,
            PhysRange::new(PhysAddr(0x8_8000_0000), 30 * gib),
            PhysRange::new(PhysAddr(0x88_0000_0000), 64 * gib),
        ];
        let top = banks[2].end().unwrap();
        assert_eq!(
            FreeMap::window_bytes(&banks),
            (top.0 - low.start.0) as usize / (SPAN_FRAMES * PAGE_SIZE) * PAGE_SIZE
        );
        let far = [
            low,
            PhysRange::new(PhysAddr(0x8000_0000 + REACH_BYTES), gib),
        ];
        assert_eq!(FreeMap::window_bytes(&far), MAX_PAGES * PAGE_SIZE);
        assert_eq!(MAX_PAGES * PAGE_SIZE, 128 << 20);
        let mut words = vec![0u64; FreeMap::window_bytes(&banks) / 8];
        // SAFETY: host memory of the map's size, used by this map alone,
        // outlives it.
        let map = unsafe { FreeMap::new(&banks, words.as_mut_ptr(), MapPages::Ready) };
        assert!(map.covers(low.start) && map.covers(PhysAddr(top.0 - P)));
        assert!(!map.covers(top) && !map.covers(PhysAddr(low.start.0 - P)));
        assert_eq!(map.end(), top);
    }
}
