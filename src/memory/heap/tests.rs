//! Host tests of the heap over host memory standing in for its window, with a
//! backing that records which pages are mapped and spends a frame budget.

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use core::alloc::Layout;
use core::ptr::NonNull;

use proptest::prelude::*;

use super::small::KEPT_EMPTY_PAGES;
use super::*;

const P: u64 = PAGE_SIZE as u64;

/// Mapped pages and a frame budget: mapping spends frames, unmapping returns
/// them; both check that the heap maps only unmapped pages of its window and
/// unmaps only its own.
struct Ledger {
    window: VirtRange,
    mapped: BTreeSet<u64>,
    frames_left: usize,
    refuse_unmap: bool,
}

/// The frame budget is spent, or unmapping is refused.
#[derive(Debug, PartialEq)]
struct Refused;

impl HeapBacking for Ledger {
    type Error = Refused;

    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), Refused> {
        assert!(at.is_page_aligned());
        assert!(
            self.window.contains(at)
                && at.0 + pages as u64 * P <= self.window.start.0 + self.window.size
        );
        if pages > self.frames_left {
            return Err(Refused);
        }
        for page in 0..pages as u64 {
            assert!(self.mapped.insert(at.0 + page * P), "page mapped twice");
        }
        self.frames_left -= pages;
        Ok(())
    }

    fn unmap_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), Refused> {
        if self.refuse_unmap {
            return Err(Refused);
        }
        for page in 0..pages as u64 {
            assert!(
                self.mapped.remove(&(at.0 + page * P)),
                "unmapped a page not mapped"
            );
        }
        self.frames_left += pages;
        Ok(())
    }
}

impl Ledger {
    fn covers(&self, block: NonNull<u8>, size: usize) -> bool {
        let start = block.as_ptr() as u64;
        let first = start & !(P - 1);
        let last = (start + size.max(1) as u64 - 1) & !(P - 1);
        (first..=last)
            .step_by(PAGE_SIZE)
            .all(|page| self.mapped.contains(&page))
    }
}

/// A heap over `bytes` of host memory, with `frames` to spend.
fn heap(bytes: usize, frames: usize) -> (Vec<u8>, GrowingHeap, Ledger) {
    let buffer = std::vec![0u8; bytes + PAGE_SIZE];
    let start = VirtAddr::from_ptr(buffer.as_ptr()).align_up(P).unwrap();
    let window = VirtRange::new(start, bytes as u64);
    let ledger = Ledger {
        window,
        mapped: BTreeSet::new(),
        frames_left: frames,
        refuse_unmap: false,
    };
    (buffer, GrowingHeap::new(window), ledger)
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn starts_empty_and_grows_on_demand() {
    let (_buffer, mut heap, mut ledger) = heap(1 << 22, 1 << 10);
    assert_eq!(heap.mapped_bytes(), 0);
    let small = heap.allocate(layout(24, 8), &mut ledger).unwrap();
    // One page for the block, one for the side table's entries.
    assert_eq!(heap.mapped_bytes(), 2 * P);
    assert!(ledger.covers(small, 24));
    let big_layout = layout(200_000, 8192);
    let big = heap.allocate(big_layout, &mut ledger).unwrap();
    assert_eq!(big.as_ptr() as usize % 8192, 0);
    assert!(ledger.covers(big, 200_000));
    assert_eq!(
        heap.mapped_bytes() as usize,
        ledger.mapped.len() * PAGE_SIZE
    );
    // SAFETY: both blocks came from this heap with these layouts.
    unsafe {
        heap.deallocate(big, big_layout, &mut ledger);
        heap.deallocate(small, layout(24, 8), &mut ledger);
    }
    assert_eq!(heap.used_bytes(), 0);
    // The empty back end keeps its first growth step.
    heap.trim(&mut ledger);
    assert_eq!(heap.mapped_bytes(), MIN_GROWTH as u64);
}

#[test]
fn exhaustion_returns_an_error_and_keeps_working() {
    let (_buffer, mut heap, mut ledger) = heap(1 << 20, 40);
    assert_eq!(
        heap.allocate(layout(100 * PAGE_SIZE, 8), &mut ledger),
        Err(HeapError::Backing(Refused)),
        "beyond the frame budget"
    );
    assert!(
        matches!(
            heap.allocate(layout(2 << 20, 8), &mut ledger),
            Err(HeapError::WindowFull { .. })
        ),
        "beyond the window"
    );
    // Small blocks until the frames run out: the failure loses nothing.
    let mut blocks = Vec::new();
    let error = loop {
        match heap.allocate(layout(1000, 8), &mut ledger) {
            Ok(block) => blocks.push(block),
            Err(error) => break error,
        }
    };
    assert_eq!(error, HeapError::Backing(Refused));
    assert_eq!(ledger.frames_left, 0);
    assert_eq!(heap.mapped_bytes() as usize, 40 * PAGE_SIZE);
    // One free makes room again, without a new frame.
    let last = blocks.pop().unwrap();
    // SAFETY: allocated above with this layout.
    unsafe { heap.deallocate(last, layout(1000, 8), &mut ledger) };
    blocks.push(heap.allocate(layout(1000, 8), &mut ledger).unwrap());
    for block in blocks.drain(..) {
        // SAFETY: allocated above with this layout.
        unsafe { heap.deallocate(block, layout(1000, 8), &mut ledger) };
    }
    heap.trim(&mut ledger);
    assert_eq!(heap.mapped_bytes(), 0);
    assert_eq!(ledger.frames_left, 40);
}

#[test]
fn small_requests_fill_the_whole_window() {
    // Pages come down from the top until they meet the back end.
    let bytes = 64 * PAGE_SIZE;
    let (_buffer, mut heap, mut ledger) = heap(bytes, usize::MAX);
    let mut count = 0;
    while heap.allocate(layout(4096, 8), &mut ledger).is_ok() {
        count += 1;
    }
    // Every page but the side table's.
    assert_eq!(count, 63);
    assert_eq!(heap.unmapped_middle().size, 0);
}

#[test]
fn emptied_pages_go_back_and_are_mapped_again() {
    let (_buffer, mut heap, mut ledger) = heap(64 << 20, usize::MAX);
    let frames = ledger.frames_left;
    // Two blocks a page: enough pages to trim, few blocks (for Miri).
    let size = layout(2048, 8);
    let per_page = 2;
    let pages = 4 * KEPT_EMPTY_PAGES;
    let blocks: Vec<_> = (0..pages * per_page)
        .map(|_| heap.allocate(size, &mut ledger).unwrap())
        .collect();
    let peak = heap.mapped_bytes();
    let bottom = heap.unmapped_middle().end().unwrap();
    // Free the blocks of the pages in the middle: their pages go back (once
    // there are enough of them to trim), the region keeps its bottom.
    let (middle_start, middle_end) = (pages / 4 * per_page, 3 * pages / 4 * per_page);
    for &block in &blocks[middle_start..middle_end] {
        // SAFETY: allocated above with `size`, freed once.
        unsafe { heap.deallocate(block, size, &mut ledger) };
    }
    assert!(heap.mapped_bytes() < peak - (KEPT_EMPTY_PAGES as u64 - 2) * P);
    assert!(heap.small.empty_pages() < KEPT_EMPTY_PAGES);
    assert_eq!(heap.unmapped_middle().end().unwrap(), bottom);
    // New blocks reuse the unmapped pages before the region grows down.
    let again: Vec<_> = (middle_start..middle_end)
        .map(|_| heap.allocate(size, &mut ledger).unwrap())
        .collect();
    assert_eq!(heap.unmapped_middle().end().unwrap(), bottom);
    for &block in again
        .iter()
        .chain(&blocks[..middle_start])
        .chain(&blocks[middle_end..])
    {
        assert!(ledger.covers(block, 2048));
        // SAFETY: allocated above with `size`, freed once.
        unsafe { heap.deallocate(block, size, &mut ledger) };
    }
    assert!(heap.small.empty_pages() < KEPT_EMPTY_PAGES);
    heap.trim(&mut ledger);
    assert_eq!(heap.mapped_bytes(), 0, "the side table went back too");
    assert_eq!(ledger.frames_left, frames);
    assert_eq!(heap.unmapped_middle().end(), heap.window().end());
}

#[test]
fn a_refused_unmap_keeps_the_pages_usable() {
    let (_buffer, mut heap, mut ledger) = heap(8 << 20, usize::MAX);
    let size = layout(4096, 8);
    let blocks: Vec<_> = (0..8)
        .map(|_| heap.allocate(size, &mut ledger).unwrap())
        .collect();
    for &block in &blocks {
        // SAFETY: allocated above with `size`, freed once.
        unsafe { heap.deallocate(block, size, &mut ledger) };
    }
    ledger.refuse_unmap = true;
    let mapped = heap.mapped_bytes();
    heap.trim(&mut ledger);
    assert_eq!(heap.mapped_bytes(), mapped);
    // The kept pages serve blocks again without a new page.
    let again: Vec<_> = (0..8)
        .map(|_| heap.allocate(size, &mut ledger).unwrap())
        .collect();
    assert_eq!(heap.mapped_bytes(), mapped);
    for &block in &again {
        // SAFETY: allocated above with `size`, freed once.
        unsafe { heap.deallocate(block, size, &mut ledger) };
    }
    ledger.refuse_unmap = false;
    heap.trim(&mut ledger);
    assert_eq!(heap.mapped_bytes(), 0);
}

/// One step of the model test: allocate (size, alignment shift) or free the
/// live block `pick` chooses.
#[derive(Clone, Debug)]
enum Step {
    Allocate(usize, u32),
    Free(usize),
    Trim,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..600, 0u32..4).prop_map(|(size, shift)| Step::Allocate(size, shift)),
        2 => (1usize..5000, 0u32..13).prop_map(|(size, shift)| Step::Allocate(size, shift)),
        5 => any::<usize>().prop_map(Step::Free),
        1 => Just(Step::Trim),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 64 }))]

    /// Random allocations, frees and trims against a model of the live
    /// blocks, with a frame budget small enough to run out: blocks never
    /// overlap, lie on mapped pages, keep their contents and alignment; a
    /// failure changes nothing; at the end every frame comes back.
    #[test]
    fn model(steps in proptest::collection::vec(step(), 1..if cfg!(miri) { 60 } else { 600 })) {
        let frames = 96;
        let (_buffer, mut heap, mut ledger) = heap(4 << 20, frames);
        let mut live: BTreeMap<usize, (Layout, u8)> = BTreeMap::new();
        let mut order: Vec<usize> = Vec::new();
        for (index, step) in steps.into_iter().enumerate() {
            match step {
                Step::Allocate(size, shift) => {
                    let layout = layout(size, 1 << shift);
                    let (used, mapped) = (heap.used_bytes(), heap.mapped_bytes());
                    let Ok(block) = heap.allocate(layout, &mut ledger) else {
                        prop_assert_eq!((used, mapped), (heap.used_bytes(), heap.mapped_bytes()));
                        continue;
                    };
                    let start = block.as_ptr() as usize;
                    prop_assert_eq!(start % layout.align(), 0);
                    prop_assert!(ledger.covers(block, size));
                    if let Some((&below, (other, _))) = live.range(..=start).next_back() {
                        prop_assert!(below + other.size() <= start, "overlaps the block below");
                    }
                    if let Some((&above, _)) = live.range(start + 1..).next() {
                        prop_assert!(start + size <= above, "overlaps the block above");
                    }
                    let tag = index as u8;
                    // SAFETY: the block is `size` bytes we own.
                    unsafe { block.as_ptr().write_bytes(tag, size) };
                    live.insert(start, (layout, tag));
                    order.push(start);
                }
                Step::Free(pick) if !order.is_empty() => {
                    let start = order.swap_remove(pick % order.len());
                    let (layout, tag) = live.remove(&start).unwrap();
                    let block = NonNull::new(start as *mut u8).unwrap();
                    prop_assert!(ledger.covers(block, layout.size()));
                    // SAFETY: the block is live, `layout.size()` bytes long.
                    let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), layout.size()) };
                    prop_assert!(bytes.iter().all(|&b| b == tag));
                    // SAFETY: allocated from this heap with `layout`.
                    unsafe { heap.deallocate(block, layout, &mut ledger) };
                }
                Step::Free(_) => {}
                Step::Trim => heap.trim(&mut ledger),
            }
            prop_assert_eq!(heap.mapped_bytes() as usize, ledger.mapped.len() * PAGE_SIZE);
            let used: usize = live.values().map(|(layout, _)| layout.size()).sum();
            prop_assert!(heap.used_bytes() >= used);
        }
        for (start, (layout, _)) in core::mem::take(&mut live) {
            // SAFETY: every live block came from this heap with its layout.
            unsafe { heap.deallocate(NonNull::new(start as *mut u8).unwrap(), layout, &mut ledger) };
        }
        prop_assert_eq!(heap.used_bytes(), 0);
        heap.trim(&mut ledger);
        // All but the back end's first growth step, if it was used.
        prop_assert!(heap.mapped_bytes() as usize <= MIN_GROWTH);
        prop_assert_eq!(ledger.frames_left + ledger.mapped.len(), frames);
    }
}
