//! Host tests of the memory system over simulated physical memory.

use std::collections::HashSet;
use std::vec::Vec;

use proptest::prelude::*;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr, VirtRange};
use crate::arch::aarch64::paging::Aarch64;
use crate::arch::x86_64::paging::X86_64;
use crate::memory::frames::{ENTRIES_PER_PAGE, FreeError, OutOfFrames, RangeRefused};
use crate::memory::paging::PageTableFormat;
use crate::memory::paging::{Attributes, CountingTlb, MapError, UnmapError};
use crate::memory::sim::{SimMachine, SimMachineOf};

const P: u64 = PAGE_SIZE as u64;

/// Every attribute combination decodes as it was encoded, and addresses
/// index the four levels as 9-bit fields above the page offset.
fn attributes_survive_encoding_and_indices_split_the_address<F: PageTableFormat>() {
    use crate::memory::paging::{Descriptor, MemoryKind};
    let frame = PhysAddr(0x1_2345_6000);
    for kind in [MemoryKind::Normal, MemoryKind::Device] {
        for bits in 0..8u8 {
            let attributes = Attributes {
                kind,
                writable: bits & 1 != 0,
                executable: bits & 2 != 0,
                user: bits & 4 != 0,
            };
            let entry = F::encode_page(frame, attributes);
            assert_eq!(F::decode(entry, 3), Descriptor::Leaf(frame, attributes));
        }
    }
    let table = PhysAddr(0x8_0000);
    assert_eq!(
        F::decode(F::encode_table(table), 0),
        Descriptor::Table(table)
    );
    let address = VirtAddr(0xffff_ffff_8000_2b14);
    let indices: Vec<usize> = (0..4).map(|level| F::index(address, level)).collect();
    assert_eq!(indices, [511, 510, 0, 2]);
}

on_both_formats!(
    attributes_survive_encoding_and_indices_split_the_address,
    stack_grows_across_pages_and_eats_itself_to_empty,
    refusals_leave_the_stack_unchanged,
    batch_allocation_is_all_or_nothing,
    mapper_maps_translates_and_releases_tables,
    unmapped_pages_flush_once_and_many_fall_back_to_everything,
    map_new_pages_is_all_or_nothing,
    map_frames_is_all_or_nothing_and_unmap_range_keeps_the_frames,
    freed_frames_can_be_allocated_after_total_exhaustion,
    every_free_frame_is_refused_as_a_double_free_after_map_and_unmap,
    push_pop_across_a_table_boundary_keeps_the_table,
    the_free_map_refuses_a_range_given_twice,
);

/// Takes every free frame of the machine.
fn drain<F: PageTableFormat>(machine: &mut SimMachineOf<F>) -> Vec<PhysAddr> {
    let mut taken = Vec::new();
    while let Some(frame) = machine.space.allocate_frame() {
        taken.push(frame);
    }
    taken
}

fn stack_grows_across_pages_and_eats_itself_to_empty<F: PageTableFormat>() {
    // 3 window pages' worth of entries plus some.
    let pages = 3 * ENTRIES_PER_PAGE + 100;
    let mut machine = SimMachineOf::<F>::new(pages, 4);
    let total = machine.space.frames().total_frame_count();
    assert_eq!(machine.space.free_frame_count(), total);
    assert_eq!(
        machine.space.frames().fresh_frame_count(),
        total,
        "RAM given to the stack stays fresh: nothing is written"
    );
    assert_eq!(machine.space.frames().window_page_count(), 0);
    let fresh = drain(&mut machine);
    assert_eq!(fresh.len(), total);
    assert_eq!(machine.space.frames().fresh_ranges(), &[]);

    // Freed frames build the stack, whose pages and tables are free frames.
    machine.space.free_frames_from(&fresh).unwrap();
    assert_eq!(machine.space.free_frame_count(), total);
    assert_eq!(machine.space.frames().fresh_frame_count(), 0);
    assert!(
        machine.space.frames().table_frame_count() >= 3,
        "the window's tables are among the free frames"
    );
    assert!(machine.space.frames().window_page_count() >= 3);

    let taken = drain(&mut machine);
    let unique: HashSet<_> = taken.iter().copied().collect();
    assert_eq!(unique.len(), taken.len(), "no frame handed out twice");
    assert_eq!(machine.space.free_frame_count(), 0);
    assert_eq!(machine.space.frames().window_page_count(), 0);
    // Eating its own pages returns every table as well.
    assert_eq!(taken.len(), total);
    assert_eq!(machine.space.allocate_frame(), None);

    for frame in &taken {
        machine.space.free_frame(*frame).unwrap();
    }
    assert_eq!(machine.space.free_frame_count(), total);
}

fn refusals_leave_the_stack_unchanged<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(600, 4);
    let ram = machine.memory.range();
    let frame = machine.space.allocate_frame().unwrap();
    let before = machine.space.free_frame_count();
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
    assert_eq!(machine.space.free_frame_count(), before);
    machine.space.free_frame(frame).unwrap();
    assert_eq!(
        machine.space.free_frame(frame),
        Err(FreeError::DoubleFree(frame))
    );
    // A frame that currently serves as a window page is free too. Of an empty
    // stack, the first three frees wait as spares and become the window's
    // tables when the fourth becomes its first page.
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

fn batch_allocation_is_all_or_nothing<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(300, 1);
    let free = machine.space.free_frame_count();
    let mut too_many = std::vec![PhysAddr(0); free + 1];
    assert_eq!(
        machine.space.allocate_frames(&mut too_many),
        Err(OutOfFrames {
            requested: free + 1,
            available: free
        })
    );
    assert_eq!(machine.space.free_frame_count(), free);
    let mut some = [PhysAddr(0); 16];
    machine.space.allocate_frames(&mut some).unwrap();
    assert_eq!(some.iter().collect::<HashSet<_>>().len(), 16);
    assert_eq!(machine.space.free_frame_count(), free - 16);
    machine.space.free_frames_from(&some).unwrap();
    assert_eq!(machine.space.free_frame_count(), free);
}

fn mapper_maps_translates_and_releases_tables<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(400, 0);
    let free = machine.space.free_frame_count();
    let base = VirtAddr(0xffff_0200_0000_0000 - 2 * P);
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
    let flushes_before = machine.space.mapper().tlb().flushes;
    assert_eq!(machine.space.unmap_and_free(VirtRange::new(base, 4 * P)), 4);
    let flushes_after = machine.space.mapper().tlb().flushes;
    // The two halves each free their tables (one flush each), then one batch.
    assert!(
        flushes_after - flushes_before <= 3,
        "flushed {} times",
        flushes_after - flushes_before
    );
    assert_eq!(
        machine.space.free_frame_count(),
        free,
        "pages and tables all came back"
    );
    assert_eq!(machine.space.unmap(base), Err(UnmapError::NotMapped(base)));
}

fn unmapped_pages_flush_once_and_many_fall_back_to_everything<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(300, 0);
    let base = VirtAddr(0xffff_0200_0000_0000);
    machine
        .space
        .map_new_pages(base, 110, Attributes::KERNEL_DATA)
        .unwrap();
    let mapper = machine.space.mapper();
    let before = mapper.tlb().flushes;
    // Tables stay, so only the pages wait for the flush.
    for page in 0..10u64 {
        mapper
            .unmap_keeping_tables(VirtAddr(base.0 + page * P))
            .unwrap();
    }
    assert_eq!(
        mapper.tlb().flushes,
        before,
        "nothing flushed before flush()"
    );
    mapper.flush();
    assert_eq!(
        (mapper.tlb().flushes, mapper.tlb().last_batch),
        (before + 1, 10)
    );
    mapper.flush();
    assert_eq!(
        mapper.tlb().flushes,
        before + 1,
        "an empty batch flushes nothing"
    );
    for page in 10..110u64 {
        mapper
            .unmap_keeping_tables(VirtAddr(base.0 + page * P))
            .unwrap();
    }
    mapper.flush();
    assert_eq!(
        (mapper.tlb().flushes, mapper.tlb().last_batch),
        (before + 2, usize::MAX)
    );
}

fn map_new_pages_is_all_or_nothing<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(64, 0);
    let free = machine.space.free_frame_count();
    let base = VirtAddr(0xffff_0200_0000_0000);
    assert!(
        machine
            .space
            .map_new_pages(base, free + 1, Attributes::KERNEL_DATA)
            .is_err()
    );
    assert_eq!(machine.space.free_frame_count(), free);
    assert_eq!(machine.space.mapper().translate(base), None);
}

/// A machine whose usable RAM is two ranges, frames `1..low_end` and
/// `high_start..frames` (frame 0 is the root table, the frames between are
/// reserved), given to a stack with a free map: two fresh ranges.
fn split_machine(frames: usize, low_end: usize, high_start: usize) -> SimMachine {
    use crate::addr::PhysRange;
    use crate::memory::frames::FrameStack;
    use crate::memory::paging::Mapper;
    use crate::memory::sim::{STACK_WINDOW, SimMemory};
    use crate::memory::space::AddressSpace;
    use crate::memory::window::PageView;

    let memory = SimMemory::new(PhysAddr(0x4000_0000), frames);
    let ram = memory.range();
    let frame = |index: usize| PhysAddr(ram.start.0 + index as u64 * P);
    let low = PhysRange::new(frame(1), (low_end as u64 - 1) * P);
    let high = PhysRange::new(frame(high_start), (frames - high_start) as u64 * P);
    // SAFETY: frame 0 is the zeroed root, used only by this mapper.
    let mapper = unsafe { Mapper::new(ram.start, memory.slot_access(), CountingTlb::default()) };
    let mut stack = FrameStack::new([ram], [low, high]);
    stack.install_free_map(memory.free_map());
    let mut space = AddressSpace::new(mapper, stack, STACK_WINDOW, PageView::ThroughTableAccess);
    assert_eq!(space.add_free_range(low), Ok(low_end - 1));
    assert_eq!(space.add_free_range(high), Ok(frames - high_start));
    SimMachine { memory, space }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random frame allocations, batch and contiguous allocations, frees and
    /// frees of frames that are free already (fresh or in the stack) against
    /// a model set, on two fresh ranges: no frame is handed out twice, every
    /// double free is refused, and free + allocated always equals the total.
    #[test]
    fn frame_model(ops in proptest::collection::vec((0u8..6, 1usize..40, any::<usize>()), 1..400)) {
        let frames = 2 * ENTRIES_PER_PAGE + 77;
        let mut machine = split_machine(frames, 300, 340);
        let usable: Vec<PhysAddr> = (1..300).chain(340..frames)
            .map(|index| PhysAddr(0x4000_0000 + index as u64 * P))
            .collect();
        let total = machine.space.frames().total_frame_count();
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
                3 => {
                    let n = count.min(allocated.len());
                    let batch: Vec<PhysAddr> = allocated.drain(..n).collect();
                    for frame in &batch { owned.remove(frame); }
                    prop_assert!(machine.space.free_frames_from(&batch).is_ok());
                }
                4 => {
                    let align = P << (pick % 8);
                    let free = machine.space.free_frame_count();
                    match machine.space.allocate_contiguous(count, align) {
                        Ok(run) => {
                            prop_assert_eq!(run.start.0 % align, 0);
                            prop_assert_eq!(run.size, count as u64 * P);
                            for index in 0..count as u64 {
                                let frame = PhysAddr(run.start.0 + index * P);
                                prop_assert!(owned.insert(frame), "{frame} handed out twice");
                                allocated.push(frame);
                            }
                        }
                        Err(_) => prop_assert_eq!(machine.space.free_frame_count(), free),
                    }
                }
                _ => {
                    let frame = usable[pick % usable.len()];
                    if !owned.contains(&frame) {
                        prop_assert_eq!(machine.space.free_frame(frame), Err(FreeError::DoubleFree(frame)));
                    }
                }
            }
            prop_assert_eq!(
                machine.space.free_frame_count() + allocated.len(),
                total
            );
        }
    }
}

#[test]
fn fresh_frames_are_refused_as_double_frees() {
    let mut machine = SimMachine::new(600, 0);
    let ram = machine.memory.range();
    let free = machine.space.free_frame_count();
    let last = PhysAddr(ram.end().unwrap().0 - P);
    assert_eq!(
        machine.space.free_frame(last),
        Err(FreeError::DoubleFree(last))
    );
    let first = machine.space.allocate_frame().unwrap();
    assert_eq!(first, PhysAddr(ram.start.0 + P), "cut from the start");
    let next = PhysAddr(first.0 + P);
    assert_eq!(
        machine.space.free_frame(next),
        Err(FreeError::DoubleFree(next)),
        "still fresh"
    );
    machine.space.free_frame(first).unwrap();
    assert_eq!(
        machine.space.free_frame(first),
        Err(FreeError::DoubleFree(first))
    );
    assert_eq!(machine.space.free_frame_count(), free);
}

#[test]
fn free_map_pages_appear_span_by_span_and_fresh_frames_stay_refused() {
    use crate::memory::free_map::SPAN_FRAMES;
    let mut machine = SimMachine::new(SPAN_FRAMES + 64, 0);
    let ram = machine.memory.range();
    assert_eq!(
        machine.space.frames().free_map_bytes(),
        0,
        "nothing at boot"
    );
    let frame = machine.space.allocate_frame().unwrap();
    assert_eq!(machine.space.frames().free_map_bytes(), PAGE_SIZE);
    // The second span's page is absent: its fresh frames are still refused.
    let in_second = PhysAddr(ram.start.0 + (SPAN_FRAMES as u64 + 10) * P);
    assert_eq!(
        machine.space.free_frame(in_second),
        Err(FreeError::DoubleFree(in_second))
    );
    // Frames 2.. up to 8 frames before the span boundary, then a run across
    // it, which makes the second page present.
    let before = machine
        .space
        .allocate_contiguous(SPAN_FRAMES - 10, P)
        .unwrap();
    assert_eq!(machine.space.frames().free_map_bytes(), PAGE_SIZE);
    let start = PhysAddr(ram.start.0 + (SPAN_FRAMES as u64 - 8) * P);
    let run = machine.space.allocate_contiguous(16, 8 * P).unwrap();
    assert_eq!(run.start, start);
    assert_eq!(machine.space.frames().free_map_bytes(), 2 * PAGE_SIZE);
    assert_eq!(
        machine.space.free_frame(in_second),
        Err(FreeError::DoubleFree(in_second)),
        "marked free in the new page"
    );
    for range in [before, run] {
        for index in 0..range.size / P {
            machine
                .space
                .free_frame(PhysAddr(range.start.0 + index * P))
                .unwrap();
        }
    }
    machine.space.free_frame(frame).unwrap();
    assert_eq!(
        machine.space.free_frame_count(),
        machine.space.frames().total_frame_count()
    );
}

#[test]
fn contiguous_runs_are_aligned_and_skipped_frames_are_not_lost() {
    let mut machine = SimMachine::new(4 * ENTRIES_PER_PAGE, 3);
    let ram = machine.memory.range();
    let free = machine.space.free_frame_count();
    let align = ENTRIES_PER_PAGE as u64 * P;
    let run = machine.space.allocate_contiguous(16, align).unwrap();
    // Usable RAM starts at frame 4; the first 2 MiB boundary is frame 512.
    assert_eq!(
        run,
        crate::addr::PhysRange::new(PhysAddr(ram.start.0 + align), 16 * P)
    );
    assert_eq!(
        machine.space.free_frame_count(),
        free - 16,
        "the 508 skipped frames are free, in the stack"
    );
    assert_eq!(machine.space.frames().fresh_frame_count(), free - 16 - 508);
    let rest: HashSet<PhysAddr> = drain(&mut machine).into_iter().collect();
    assert_eq!(rest.len(), free - 16);
    assert!((0..16).all(|index| !rest.contains(&PhysAddr(run.start.0 + index * P))));
    for index in 4..512 {
        assert!(rest.contains(&PhysAddr(ram.start.0 + index * P)));
    }
    // Exhausted: no run, however small, but every frame comes back.
    assert!(machine.space.allocate_contiguous(1, P).is_err());
    let back: Vec<PhysAddr> = rest.into_iter().collect();
    machine.space.free_frames_from(&back).unwrap();
    assert_eq!(machine.space.free_frame_count(), free - 16);
    assert!(
        machine.space.allocate_contiguous(1, P).is_err(),
        "freed frames go to the stack, never back to a fresh range"
    );
    assert!(machine.space.allocate_frame().is_some());
}

#[test]
fn contiguous_runs_never_cross_the_end_of_a_fresh_range() {
    use crate::memory::frames::ContiguousError;
    let mut machine = split_machine(1200, 100, 200);
    let base = 0x4000_0000;
    let free = machine.space.free_frame_count();
    assert_eq!(
        machine.space.allocate_contiguous(0, P),
        Err(ContiguousError::BadRequest { count: 0, align: P })
    );
    assert_eq!(
        machine.space.allocate_contiguous(1, 3 * P),
        Err(ContiguousError::BadRequest {
            count: 1,
            align: 3 * P
        })
    );
    // Neither range holds 1001 frames: nothing changes.
    assert_eq!(
        machine.space.allocate_contiguous(1001, P),
        Err(ContiguousError::NoRun {
            count: 1001,
            align: P
        })
    );
    assert_eq!(machine.space.free_frame_count(), free);
    // All of the high range, then the low range alone is left: 120 frames
    // would cross the reserved hole, 99 fit.
    let high = machine.space.allocate_contiguous(1000, P).unwrap();
    assert_eq!(high.start, PhysAddr(base + 200 * P));
    assert!(machine.space.allocate_contiguous(120, P).is_err());
    let low = machine.space.allocate_contiguous(99, P).unwrap();
    assert_eq!(low.start, PhysAddr(base + P));
    assert_eq!(machine.space.free_frame_count(), 0);
    assert_eq!(machine.space.allocate_frame(), None);
    machine.space.free_frame(high.start).unwrap();
    assert_eq!(machine.space.allocate_frame(), Some(high.start));
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
    let mapper =
        unsafe { Mapper::<Aarch64, _, _>::new(ram.start, memory.access(), CountingTlb::default()) };
    let mut space = AddressSpace::new(
        mapper,
        FrameStack::new([ram], [low, high]),
        STACK_WINDOW,
        PageView::ThroughTableAccess,
    );
    let hole = PhysAddr(ram.start.0 + 21 * P);
    assert_eq!(
        space.add_free_range(ram),
        Err(RangeRefused {
            accepted: 0,
            error: FreeError::Reserved(ram.start)
        })
    );
    let spanning = PhysRange::new(low.start, 40 * P);
    assert_eq!(
        space.add_free_range(spanning),
        Err(RangeRefused {
            accepted: 20,
            error: FreeError::Reserved(hole)
        })
    );
    assert_eq!(
        space.frames().total_frame_count(),
        20,
        "the frames before the hole were accepted"
    );
    assert_eq!(space.add_free_range(high), Ok(34));
    assert_eq!(space.free_frame_count(), 54);
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
    let mapper =
        unsafe { Mapper::<Aarch64, _, _>::new(ram.start, memory.access(), CountingTlb::default()) };
    let mut space = AddressSpace::new(
        mapper,
        FrameStack::new([ram], [usable]),
        one_page,
        PageView::ThroughTableAccess,
    );
    assert_eq!(
        space.add_free_range(usable),
        Ok(599),
        "fresh: no window page"
    );
    let taken: Vec<PhysAddr> = std::iter::from_fn(|| space.allocate_frame()).collect();
    // Three frees become the window's tables, one its only page, 512 fill it.
    let fits = 3 + 1 + ENTRIES_PER_PAGE;
    space.free_frames_from(&taken[..fits]).unwrap();
    let next = taken[fits];
    assert_eq!(space.free_frame(next), Err(FreeError::WindowFull(next)));
    assert_eq!(
        space.free_frame_count(),
        fits,
        "the refusal changed nothing"
    );
}

fn map_frames_is_all_or_nothing_and_unmap_range_keeps_the_frames<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(200, 0);
    let device = PhysAddr(0x900_0000);
    let base = VirtAddr(0xffff_0200_0000_0000);
    // A page in the middle is taken: nothing of the run may stay mapped.
    let free = machine.space.free_frame_count();
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
    assert_eq!(machine.space.free_frame_count(), free);
}

fn freed_frames_can_be_allocated_after_total_exhaustion<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(600, 0);
    let taken = drain(&mut machine);
    machine.space.free_frame(taken[0]).unwrap();
    machine.space.free_frame(taken[1]).unwrap();
    assert_eq!(
        machine.space.free_frame_count(),
        2,
        "both freed frames are free"
    );
    assert_eq!(machine.space.frames().table_frame_count(), 0);
    let again: HashSet<_> = drain(&mut machine).into_iter().collect();
    assert_eq!(again, HashSet::from([taken[0], taken[1]]));
}

fn every_free_frame_is_refused_as_a_double_free_after_map_and_unmap<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(1024, 0);
    let free = machine.space.free_frame_count();
    let base = VirtAddr(0xffff_0200_0000_0000);
    machine
        .space
        .map_new_pages(base, 1, Attributes::KERNEL_DATA)
        .unwrap();
    assert_eq!(machine.space.unmap_and_free(VirtRange::new(base, P)), 1);
    assert_eq!(machine.space.free_frame_count(), free);
    // Nothing is handed out: a free of any usable frame is a double free.
    let ram = machine.memory.range();
    for index in 1..machine.memory.frames() as u64 {
        let frame = PhysAddr(ram.start.0 + index * P);
        assert_eq!(
            machine.space.free_frame(frame),
            Err(FreeError::DoubleFree(frame))
        );
    }
    assert_eq!(machine.space.free_frame_count(), free);
}

fn push_pop_across_a_table_boundary_keeps_the_table<F: PageTableFormat>() {
    // Page 2 of the window is the first one past a 512 GiB boundary: mapping it
    // needs three new tables. Refill until it is the (empty) top page.
    let mut machine = SimMachineOf::<F>::new(3 * ENTRIES_PER_PAGE, 0);
    let taken = drain(&mut machine);
    let mut frees = taken.iter();
    while machine.space.frames().window_page_count() < 3 {
        machine.space.free_frame(*frees.next().unwrap()).unwrap();
    }
    let free = machine.space.free_frame_count();
    let page = VirtAddr(crate::memory::sim::STACK_WINDOW.start.0 + 2 * P);
    let table = last_level_table(&mut machine, page).expect("page 2 is mapped");
    for _ in 0..4 {
        // The pop hands out page 2 itself; its three tables stay, idle but free.
        let frame = machine.space.allocate_frame().unwrap();
        assert_eq!(last_level_table(&mut machine, page), Some(table));
        assert_eq!(machine.space.free_frame_count(), free - 1);
        machine.space.free_frame(frame).unwrap();
        assert_eq!(last_level_table(&mut machine, page), Some(table));
    }
    // Draining still hands out every frame freed, the idle tables included.
    let freed = taken.len() - frees.len();
    assert_eq!(drain(&mut machine).len(), freed);
    assert_eq!(machine.space.frames().table_frame_count(), 0);
}

/// The last-level table on the walk to `virt`, if the walk gets that far.
fn last_level_table<F: PageTableFormat>(
    machine: &mut SimMachineOf<F>,
    virt: VirtAddr,
) -> Option<PhysAddr> {
    use crate::memory::paging::Descriptor;
    let mapper = machine.space.mapper();
    let mut table = mapper.root();
    for level in 0..F::LEVELS - 1 {
        let entry = mapper.access_table(table)[F::index(virt, level)];
        match F::decode(entry, level) {
            Descriptor::Table(next) => table = next,
            _ => return None,
        }
    }
    Some(table)
}

std::thread_local! {
    static HEAP_REFUSES: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// The host tests' global allocator: the system allocator, except that it
/// returns null on a thread inside [`without_heap`], as an exhausted kernel
/// heap does.
struct ExhaustibleHeap;

// SAFETY: forwards to the system allocator, or returns null (allowed).
unsafe impl core::alloc::GlobalAlloc for ExhaustibleHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        if HEAP_REFUSES.with(core::cell::Cell::get) {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded from the caller.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: forwarded from the caller; every block came from `System`.
        unsafe { std::alloc::System.dealloc(block, layout) }
    }
}

#[global_allocator]
static HOST_HEAP: ExhaustibleHeap = ExhaustibleHeap;

/// Runs `operation` with every heap allocation on this thread failing.
pub(crate) fn without_heap<R>(operation: impl FnOnce() -> R) -> R {
    HEAP_REFUSES.with(|refuses| refuses.set(true));
    let result = operation();
    HEAP_REFUSES.with(|refuses| refuses.set(false));
    result
}

#[test]
fn device_ranges_over_ram_are_found() {
    let machine = SimMachine::new(64, 0);
    let ram = machine.memory.range();
    let stack = machine.space.frames();
    let page = |at: u64| crate::addr::PhysRange::new(PhysAddr(at), P);
    assert_eq!(stack.ram_overlapping(page(ram.start.0)), Some(ram));
    assert_eq!(
        stack.ram_overlapping(page(ram.end().unwrap().0 - 1)),
        Some(ram)
    );
    assert_eq!(stack.ram_overlapping(page(ram.end().unwrap().0)), None);
    assert_eq!(stack.ram_overlapping(page(ram.start.0 - P)), None);
    assert_eq!(stack.ram_overlapping(page(0x900_0000)), None);
}

fn the_free_map_refuses_a_range_given_twice<F: PageTableFormat>() {
    // `add_range` skips the O(n) scan, so only the free map can see this.
    let mut machine = SimMachineOf::<F>::new(600, 4);
    let free = machine.space.free_frame_count();
    let range = crate::addr::PhysRange::new(PhysAddr(0x4000_0000 + 5 * P), 10 * P);
    let taken = drain(&mut machine);
    assert_eq!(machine.space.add_free_range(range), Ok(10));
    assert_eq!(
        machine.space.add_free_range(range),
        Err(RangeRefused {
            accepted: 0,
            error: FreeError::DoubleFree(range.start)
        })
    );
    assert_eq!(machine.space.free_frame_count(), 10);
    let mut back: Vec<PhysAddr> = taken
        .into_iter()
        .filter(|frame| !range.contains(*frame))
        .collect();
    back.sort();
    assert_eq!(machine.space.free_frames_from(&back), Ok(()));
    assert_eq!(machine.space.free_frame_count(), free);
}

/// RAM far above the lowest: a range 600 GiB up, which the free map covers,
/// and one across the end of its reach (4 TiB up). The stack accepts exactly
/// the part within the reach and refuses the rest by name; frees of far
/// frames in scattered order go to the stack with their bits (never to fresh
/// ranges, which once filled up and refused frees), so none is lost.
fn ram_beyond_the_free_map_reach_is_refused_and_far_frees_need_no_range<F: PageTableFormat>() {
    use crate::addr::PhysRange;
    use crate::memory::frames::FrameStack;
    use crate::memory::free_map::REACH_BYTES;
    use crate::memory::paging::Mapper;
    use crate::memory::sim::{STACK_WINDOW, SimMemory};
    use crate::memory::space::AddressSpace;
    use crate::memory::window::PageView;

    const GIB: u64 = 1 << 30;
    let memory = SimMemory::new(PhysAddr(0x4000_0000), 64);
    let low = memory.range();
    let base = low.start.0;
    // The far ranges are not simulated: their frames are only handed out and
    // freed (as entries of a low window page), never written.
    let far = PhysRange::new(PhysAddr(base + 600 * GIB), GIB);
    let reach_end = PhysAddr(base + REACH_BYTES);
    let across = PhysRange::new(PhysAddr(reach_end.0 - 100 * P), 300 * P);
    let low_usable = PhysRange::new(PhysAddr(base + P), low.size - P);
    let ram = [low, far, across];
    // SAFETY: frame 0 is the zeroed root, used only by this mapper.
    let mapper =
        unsafe { Mapper::<F, _, _>::new(low.start, memory.slot_access(), CountingTlb::default()) };
    let mut stack = FrameStack::new(ram, [low_usable, far, across]);
    stack.install_free_map(memory.free_map_over(&ram));
    let mut space = AddressSpace::new(mapper, stack, STACK_WINDOW, PageView::ThroughTableAccess);
    assert_eq!(space.add_free_range(low_usable), Ok(63));
    // Three low frames become the window's tables, one its first page.
    let four: Vec<PhysAddr> = (0..4).map(|_| space.allocate_frame().unwrap()).collect();
    space.free_frames_from(&four).unwrap();
    assert_eq!(space.frames().window_page_count(), 1);

    assert_eq!(space.add_free_range(far), Ok((GIB / P) as usize));
    let refused = space.add_free_range(across).unwrap_err();
    assert_eq!(
        refused,
        RangeRefused {
            accepted: 100,
            error: FreeError::BeyondFreeMap(reach_end)
        },
        "the part within the reach is accepted, the rest refused"
    );
    assert_eq!(
        refused.error.to_string(),
        std::format!(
            "cannot free {reach_end}: beyond the free-frame map's reach \
             (4 TiB above the lowest RAM)"
        )
    );
    let beyond = PhysAddr(reach_end.0 + 50 * P);
    assert_eq!(
        space.free_frame(beyond),
        Err(FreeError::BeyondFreeMap(beyond)),
        "never a fresh range of its own"
    );
    let total = space.frames().total_frame_count();
    assert_eq!(total, 63 + (GIB / P) as usize + 100);
    let free = space.free_frame_count();

    // The last 100 frames of the reach (the map's last page), then 100 of
    // the range 600 GiB up.
    let taken: Vec<PhysAddr> = (0..200).map(|_| space.allocate_frame().unwrap()).collect();
    assert_eq!(taken[0], across.start);
    assert_eq!(taken[99], PhysAddr(reach_end.0 - P));
    assert_eq!(taken[100], far.start);
    let fresh_ranges = space.frames().fresh_ranges().len();
    assert_eq!(fresh_ranges, 2, "the rest of the low and the far range");
    // Freed in scattered order: no two in a row are neighbours.
    let scattered: Vec<PhysAddr> = (0..200).map(|index| taken[index * 77 % 200]).collect();
    for frame in &scattered {
        assert_eq!(space.free_frame(*frame), Ok(()));
        assert_eq!(space.frames().fresh_ranges().len(), fresh_ranges);
    }
    assert_eq!(space.free_frame_count(), free);
    for frame in &scattered {
        assert_eq!(space.free_frame(*frame), Err(FreeError::DoubleFree(*frame)));
    }
    let still_fresh = PhysAddr(far.start.0 + 150 * P);
    assert_eq!(
        space.free_frame(still_fresh),
        Err(FreeError::DoubleFree(still_fresh))
    );
    // Every one can be allocated again: they are entries of the stack.
    let again: HashSet<PhysAddr> = (0..200).map(|_| space.allocate_frame().unwrap()).collect();
    assert_eq!(again, taken.iter().copied().collect::<HashSet<_>>());
    assert_eq!(space.free_frame_count(), free - 200);
    assert_eq!(space.refused_free_count(), 0);
}

on_both_formats!(ram_beyond_the_free_map_reach_is_refused_and_far_frees_need_no_range);

mod runs;
