//! Host tests of the memory system over simulated physical memory.

use std::collections::HashSet;
use std::vec::Vec;

use proptest::prelude::*;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr, VirtRange};
use crate::memory::frames::{ENTRIES_PER_PAGE, FreeError, OutOfFrames};
use crate::memory::paging::aarch64::{Aarch64, tlb_counter};
use crate::memory::paging::{Attributes, FlushBatch, MapError, UnmapError};
use crate::memory::sim::SimMachine;

const P: u64 = PAGE_SIZE as u64;

/// Frames the window keeps as tables when its first pages cross the L0, L1 and
/// L2 boundaries (see `STACK_WINDOW`): three for the first page, three more
/// when page 2 crosses into the next 512 GiB.
fn drain(machine: &mut SimMachine) -> Vec<PhysAddr> {
    let mut taken = Vec::new();
    while let Some(frame) = machine.space.allocate_frame() {
        taken.push(frame);
    }
    taken
}

#[test]
fn stack_grows_across_pages_and_eats_itself_to_empty() {
    // 3 window pages' worth of entries plus some.
    let pages = 3 * ENTRIES_PER_PAGE + 100;
    let mut machine = SimMachine::new(pages, 4);
    let total = machine.space.frames().total_frames();
    let free = machine.space.free_frames();
    let tables = machine.space.frames().table_frames();
    assert_eq!(
        free + tables,
        total,
        "every frame is free or a window table"
    );
    assert!(machine.space.frames().window_pages() >= 3);

    let taken = drain(&mut machine);
    let unique: HashSet<_> = taken.iter().copied().collect();
    assert_eq!(unique.len(), taken.len(), "no frame handed out twice");
    assert_eq!(machine.space.free_frames(), 0);
    assert_eq!(machine.space.frames().window_pages(), 0);
    // Eating its own pages returns every table as well.
    assert_eq!(taken.len(), total);
    assert_eq!(machine.space.allocate_frame(), None);

    for frame in &taken {
        machine.space.free_frame(*frame).unwrap();
    }
    assert_eq!(
        machine.space.free_frames() + machine.space.frames().table_frames(),
        total
    );
}

#[test]
fn refusals_leave_the_stack_unchanged() {
    let mut machine = SimMachine::new(600, 4);
    let ram = machine.memory.range();
    let frame = machine.space.allocate_frame().unwrap();
    let before = machine.space.free_frames();
    let cases = [
        (
            PhysAddr(frame.0 + 8),
            FreeError::Unaligned(PhysAddr(frame.0 + 8)),
        ),
        (PhysAddr(0x1000), FreeError::NotRam(PhysAddr(0x1000))),
        (ram.end().unwrap(), FreeError::NotRam(ram.end().unwrap())),
        (ram.start, FreeError::Reserved(ram.start)),
        (
            PhysAddr(ram.start.0 + 2 * P),
            FreeError::Reserved(PhysAddr(ram.start.0 + 2 * P)),
        ),
    ];
    for (address, error) in cases {
        assert_eq!(machine.space.free_frame(address), Err(error));
    }
    assert_eq!(machine.space.free_frames(), before);
    machine.space.free_frame(frame).unwrap();
    assert_eq!(
        machine.space.free_frame(frame),
        Err(FreeError::DoubleFree(frame))
    );
    // A frame that currently serves as a window page is free too. Of an empty
    // stack, the first three frees become the window's tables, the fourth its
    // first page.
    let taken = drain(&mut machine);
    machine
        .space
        .free_frames_from(&taken[..ENTRIES_PER_PAGE + 2])
        .unwrap();
    let page_frame = taken[3];
    assert_eq!(
        machine.space.free_frame(page_frame),
        Err(FreeError::DoubleFree(page_frame))
    );
    let table_frame = taken[0];
    assert_eq!(
        machine.space.free_frame(table_frame),
        Err(FreeError::DoubleFree(table_frame))
    );
}

#[test]
fn batch_allocation_is_all_or_nothing() {
    let mut machine = SimMachine::new(300, 1);
    let free = machine.space.free_frames();
    let mut too_many = std::vec![PhysAddr(0); free + 1];
    assert_eq!(
        machine.space.allocate_frames(&mut too_many),
        Err(OutOfFrames {
            requested: free + 1,
            available: free
        })
    );
    assert_eq!(machine.space.free_frames(), free);
    let mut some = [PhysAddr(0); 16];
    machine.space.allocate_frames(&mut some).unwrap();
    assert_eq!(some.iter().collect::<HashSet<_>>().len(), 16);
    assert_eq!(machine.space.free_frames(), free - 16);
    machine.space.free_frames_from(&some).unwrap();
    assert_eq!(machine.space.free_frames(), free);
}

#[test]
fn mapper_maps_translates_and_releases_tables() {
    let mut machine = SimMachine::new(400, 0);
    let free = machine.space.free_frames();
    let base = VirtAddr(0xffff_0100_0000_0000 - 2 * P);
    machine
        .space
        .map_new_pages(base, 4, Attributes::KERNEL_DATA)
        .unwrap();
    let (frame, attributes) = machine
        .space
        .mapper()
        .translate(VirtAddr(base.0 + P + 5))
        .unwrap();
    assert_eq!(frame.0 & 0xfff, 5);
    assert_eq!(attributes, Attributes::KERNEL_DATA);
    let existing = machine.space.mapper().translate(base).unwrap();
    assert!(matches!(
        machine
            .space
            .map(base, PhysAddr(0x4000_0000), Attributes::DEVICE),
        Err(MapError::AlreadyMapped { .. })
    ));
    assert_eq!(
        machine
            .space
            .map(VirtAddr(base.0 + 1), existing.0, Attributes::DEVICE),
        Err(MapError::Unaligned {
            virt: VirtAddr(base.0 + 1),
            phys: existing.0
        })
    );
    let (flushes_before, _) = tlb_counter::read();
    assert_eq!(machine.space.unmap_and_free(VirtRange::new(base, 4 * P)), 4);
    let (flushes_after, _) = tlb_counter::read();
    // The two halves each free their tables (one flush each), then one batch.
    assert!(
        flushes_after - flushes_before <= 3,
        "flushed {} times",
        flushes_after - flushes_before
    );
    assert_eq!(
        machine.space.free_frames(),
        free,
        "pages and tables all came back"
    );
    let mut flush = FlushBatch::<Aarch64>::new();
    assert_eq!(
        machine.space.unmap(base, &mut flush),
        Err(UnmapError::NotMapped(base))
    );
}

#[test]
fn flush_batch_flushes_once_and_falls_back_to_everything() {
    let (before, _) = tlb_counter::read();
    let mut batch = FlushBatch::<Aarch64>::new();
    for page in 0..10u64 {
        batch.add(VirtAddr(page * P));
    }
    batch.flush();
    assert_eq!(tlb_counter::read(), (before + 1, 10));
    for page in 0..100u64 {
        batch.add(VirtAddr(page * P));
    }
    drop(batch);
    assert_eq!(tlb_counter::read(), (before + 2, usize::MAX));
}

#[test]
fn map_new_pages_is_all_or_nothing() {
    let mut machine = SimMachine::new(64, 0);
    let free = machine.space.free_frames();
    let base = VirtAddr(0xffff_0100_0000_0000);
    assert!(
        machine
            .space
            .map_new_pages(base, free + 1, Attributes::KERNEL_DATA)
            .is_err()
    );
    assert_eq!(machine.space.free_frames(), free);
    assert_eq!(machine.space.mapper().translate(base), None);
}

mod heap {
    use super::*;
    use crate::memory::heap::{GrowingHeap, HeapBacking, MIN_GROWTH, OutOfMemory};
    use core::alloc::Layout;

    /// Host memory standing in for the heap window; "mapping" only checks that
    /// growth is contiguous, page-aligned and within a frame budget.
    struct Budget {
        next: VirtAddr,
        frames_left: usize,
        grows: usize,
    }

    impl HeapBacking for Budget {
        fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), OutOfMemory> {
            assert_eq!(at, self.next, "the heap grows at its top");
            assert!(at.is_page_aligned());
            if pages > self.frames_left {
                return Err(OutOfMemory);
            }
            self.frames_left -= pages;
            self.next = VirtAddr(at.0 + (pages * PAGE_SIZE) as u64);
            self.grows += 1;
            Ok(())
        }
    }

    fn window(bytes: usize) -> (Vec<u8>, VirtRange) {
        let buffer = std::vec![0u8; bytes + PAGE_SIZE];
        let start = VirtAddr::from_ptr(buffer.as_ptr()).align_up(P).unwrap();
        (buffer, VirtRange::new(start, bytes as u64))
    }

    #[test]
    fn starts_empty_and_grows_on_demand() {
        let (_buffer, range) = window(1 << 22);
        let mut heap = GrowingHeap::new(range);
        let mut backing = Budget {
            next: range.start,
            frames_left: 1 << 10,
            grows: 0,
        };
        assert_eq!(heap.mapped_bytes(), 0);
        let small = heap
            .allocate(Layout::from_size_align(24, 8).unwrap(), &mut backing)
            .unwrap();
        assert_eq!(heap.mapped_bytes(), MIN_GROWTH as u64);
        let big_layout = Layout::from_size_align(200_000, 8192).unwrap();
        let big = heap.allocate(big_layout, &mut backing).unwrap();
        assert_eq!(big.as_ptr() as usize % 8192, 0);
        assert_eq!(backing.grows, 2);
        // SAFETY: both blocks came from this heap with these layouts.
        unsafe {
            heap.deallocate(big, big_layout);
            heap.deallocate(small, Layout::from_size_align(24, 8).unwrap());
        }
        assert_eq!(heap.used_bytes(), 0);
    }

    #[test]
    fn exhaustion_returns_none_and_keeps_working() {
        let (_buffer, range) = window(1 << 20);
        let mut heap = GrowingHeap::new(range);
        let mut backing = Budget {
            next: range.start,
            frames_left: 40,
            grows: 0,
        };
        let layout = Layout::from_size_align(100 * PAGE_SIZE, 8).unwrap();
        assert!(
            heap.allocate(layout, &mut backing).is_none(),
            "beyond the frame budget"
        );
        let window_overflow = Layout::from_size_align(2 << 20, 8).unwrap();
        assert!(
            heap.allocate(window_overflow, &mut backing).is_none(),
            "beyond the window"
        );
        assert!(heap.allocate(Layout::new::<u64>(), &mut backing).is_some());
    }

    proptest! {
        /// Random allocations and frees: live blocks never overlap, keep their
        /// contents and alignment, and the used-byte count is conserved.
        #[test]
        fn model(ops in proptest::collection::vec((any::<bool>(), 1usize..5000, 0u32..13, any::<usize>()), 1..200)) {
            let (_buffer, range) = window(8 << 20);
            let mut heap = GrowingHeap::new(range);
            let mut backing = Budget { next: range.start, frames_left: usize::MAX, grows: 0 };
            let mut live: Vec<(core::ptr::NonNull<u8>, Layout, u8)> = Vec::new();
            for (index, (allocate, size, align_shift, pick)) in ops.into_iter().enumerate() {
                if allocate || live.is_empty() {
                    let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                    let block = heap.allocate(layout, &mut backing).unwrap();
                    prop_assert_eq!(block.as_ptr() as usize % layout.align(), 0);
                    let start = block.as_ptr() as usize;
                    for (other, other_layout, _) in &live {
                        let o = other.as_ptr() as usize;
                        prop_assert!(start + size <= o || o + other_layout.size() <= start);
                    }
                    let tag = index as u8;
                    // SAFETY: the block is `size` bytes we own.
                    unsafe { block.as_ptr().write_bytes(tag, size) };
                    live.push((block, layout, tag));
                } else {
                    let (block, layout, tag) = live.swap_remove(pick % live.len());
                    // SAFETY: the block is live, `layout.size()` bytes long.
                    let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), layout.size()) };
                    prop_assert!(bytes.iter().all(|&b| b == tag));
                    // SAFETY: allocated from this heap with `layout`.
                    unsafe { heap.deallocate(block, layout) };
                }
                let used: usize = live.iter().map(|(_, layout, _)| layout.size()).sum();
                prop_assert!(heap.used_bytes() >= used);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random frame allocations, batch allocations and frees against a model
    /// set: no frame is handed out twice and free + allocated + window tables
    /// always equals the total.
    #[test]
    fn frame_model(ops in proptest::collection::vec((0u8..4, 1usize..40, any::<usize>()), 1..400)) {
        let mut machine = SimMachine::new(2 * ENTRIES_PER_PAGE + 77, 3);
        let total = machine.space.frames().total_frames();
        let mut allocated: Vec<PhysAddr> = Vec::new();
        let mut owned: HashSet<PhysAddr> = HashSet::new();
        for (op, count, pick) in ops {
            match op {
                0 => if let Some(frame) = machine.space.allocate_frame() {
                    prop_assert!(owned.insert(frame), "{frame} handed out twice");
                    allocated.push(frame);
                },
                1 => {
                    let mut batch = std::vec![PhysAddr(0); count];
                    if machine.space.allocate_frames(&mut batch).is_ok() {
                        for frame in batch {
                            prop_assert!(owned.insert(frame), "{frame} handed out twice");
                            allocated.push(frame);
                        }
                    }
                }
                2 if !allocated.is_empty() => {
                    let frame = allocated.swap_remove(pick % allocated.len());
                    owned.remove(&frame);
                    prop_assert_eq!(machine.space.free_frame(frame), Ok(()));
                    prop_assert_eq!(machine.space.free_frame(frame), Err(FreeError::DoubleFree(frame)));
                }
                _ => {
                    let n = count.min(allocated.len());
                    let batch: Vec<PhysAddr> = allocated.drain(..n).collect();
                    for frame in &batch { owned.remove(frame); }
                    prop_assert!(machine.space.free_frames_from(&batch).is_ok());
                }
            }
            prop_assert_eq!(
                machine.space.free_frames() + allocated.len() + machine.space.frames().table_frames(),
                total
            );
        }
    }
}

#[test]
fn add_range_refuses_ranges_that_span_a_reservation() {
    use crate::addr::PhysRange;
    use crate::memory::frames::FrameStack;
    use crate::memory::paging::Mapper;
    use crate::memory::sim::{STACK_WINDOW, SimMemory};
    use crate::memory::space::AddressSpace;
    use crate::memory::window::PageView;

    let memory = SimMemory::new(PhysAddr(0x4000_0000), 64);
    let ram = memory.range();
    let low = PhysRange::new(PhysAddr(ram.start.0 + P), 20 * P);
    let high = PhysRange::new(PhysAddr(ram.start.0 + 30 * P), 34 * P);
    // SAFETY: frame 0 is the zeroed root, used only by this mapper.
    let mapper = unsafe { Mapper::<Aarch64, _>::new(ram.start, memory.access()) };
    let mut space = AddressSpace::new(
        mapper,
        FrameStack::new([ram], [low, high]),
        STACK_WINDOW,
        PageView::ThroughTableAccess,
    );
    let hole = PhysAddr(ram.start.0 + 21 * P);
    assert_eq!(
        space.add_free_range(ram),
        Err(FreeError::Reserved(ram.start))
    );
    let spanning = PhysRange::new(low.start, 40 * P);
    assert_eq!(
        space.add_free_range(spanning),
        Err(FreeError::Reserved(hole))
    );
    assert_eq!(
        space.frames().total_frames(),
        20,
        "the frames before the hole were accepted"
    );
    assert_eq!(space.add_free_range(high), Ok(34));
    assert_eq!(space.free_frames() + space.frames().table_frames(), 54);
}

#[test]
fn a_full_window_refuses_more_frames() {
    use crate::addr::PhysRange;
    use crate::memory::frames::FrameStack;
    use crate::memory::paging::Mapper;
    use crate::memory::sim::SimMemory;
    use crate::memory::space::AddressSpace;
    use crate::memory::window::PageView;

    let memory = SimMemory::new(PhysAddr(0x4000_0000), 600);
    let ram = memory.range();
    let usable = PhysRange::new(PhysAddr(ram.start.0 + P), ram.size - P);
    let one_page = VirtRange::new(VirtAddr(0xffff_0040_0000_0000), P);
    // SAFETY: frame 0 is the zeroed root, used only by this mapper.
    let mapper = unsafe { Mapper::<Aarch64, _>::new(ram.start, memory.access()) };
    let mut space = AddressSpace::new(
        mapper,
        FrameStack::new([ram], [usable]),
        one_page,
        PageView::ThroughTableAccess,
    );
    // Three frames become the window's tables, one its only page, 512 fill it.
    let fits = PhysRange::new(usable.start, (3 + 1 + ENTRIES_PER_PAGE as u64) * P);
    assert_eq!(space.add_free_range(fits), Ok(3 + 1 + ENTRIES_PER_PAGE));
    let next = fits.end().unwrap();
    assert_eq!(space.free_frame(next), Err(FreeError::WindowFull(next)));
    assert_eq!(
        space.free_frames(),
        1 + ENTRIES_PER_PAGE,
        "the refusal changed nothing"
    );
}

#[test]
fn map_frames_is_all_or_nothing_and_unmap_range_keeps_the_frames() {
    let mut machine = SimMachine::new(200, 0);
    let device = PhysAddr(0x900_0000);
    let base = VirtAddr(0xffff_0080_0000_0000);
    // A page in the middle is taken: nothing of the run may stay mapped.
    let free = machine.space.free_frames();
    let taken = VirtAddr(base.0 + 2 * P);
    machine
        .space
        .map(taken, device, Attributes::DEVICE)
        .unwrap();
    assert!(matches!(
        machine
            .space
            .map_frames(base, device, 4, Attributes::DEVICE),
        Err(MapError::AlreadyMapped { .. })
    ));
    assert_eq!(machine.space.mapper().translate(base), None);
    assert_eq!(machine.space.mapper().translate(VirtAddr(base.0 + P)), None);
    assert_eq!(machine.space.unmap_range(VirtRange::new(base, 4 * P)), 1);
    machine
        .space
        .map_frames(base, device, 4, Attributes::DEVICE)
        .unwrap();
    let (frame, attributes) = machine
        .space
        .mapper()
        .translate(VirtAddr(base.0 + 3 * P))
        .unwrap();
    assert_eq!(
        (frame, attributes),
        (PhysAddr(device.0 + 3 * P), Attributes::DEVICE)
    );
    assert_eq!(machine.space.unmap_range(VirtRange::new(base, 4 * P)), 4);
    // Device frames are not RAM: none went to the frame stack; tables came back.
    assert_eq!(machine.space.free_frames(), free);
}
