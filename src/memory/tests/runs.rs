//! Host tests of runs of pages: the mapper's cursor and the address space's
//! range API built on it, on both table formats.

use std::vec::Vec;

use super::{Aarch64, P, SimMachineOf, X86_64};
use crate::addr::{PhysAddr, VirtAddr, VirtRange};
use crate::memory::paging::{Attributes, Cursor, MapError, PageTableFormat};

/// Three pages below a 1 GiB boundary, in the kernel half but outside the
/// tests' frame-stack window: a run from here crosses a last-level table and
/// a 1 GiB table (a new level-2 table on both formats) at its fourth page.
const START: VirtAddr = VirtAddr(0xffff_0200_4000_0000 - 3 * P);
/// Pages of the test run: it touches four last-level tables (3 + 512 + 512 + 3).
const PAGES: usize = 1030;
const LAST_LEVEL_TABLES: usize = 4;

fn page(index: usize) -> VirtAddr {
    VirtAddr(START.0 + index as u64 * P)
}

/// Tables in the machine's tree that are not free: the root and every table
/// but the frame stack's window tables (those count as free frames).
fn tables<F: PageTableFormat>(machine: &mut SimMachineOf<F>) -> usize {
    machine.space.table_frames_in_use()
}

/// TLB invalidations the kernel would have made so far: table-slot switches
/// and invalidation instructions.
fn invalidations<F: PageTableFormat>(machine: &mut SimMachineOf<F>) -> u64 {
    let mapper = machine.space.mapper();
    mapper.access().switches() + mapper.tlb().invalidations as u64
}

fn take_frames<F: PageTableFormat>(machine: &mut SimMachineOf<F>, count: usize) -> Vec<PhysAddr> {
    let mut frames = std::vec![PhysAddr(0); count];
    machine.space.allocate_frames(&mut frames).unwrap();
    frames
}

/// A run across last-level and 1 GiB boundaries maps every page to its frame,
/// walks from the root once per last-level table (so the slot switches a
/// handful of times per table, not per page) and needs no TLB flush.
fn a_run_crosses_table_boundaries_with_one_walk_per_table<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(PAGES + 64, 0);
    let frames = take_frames(&mut machine, PAGES);
    let flushes = machine.space.mapper().tlb().flushes;
    let before = invalidations(&mut machine);
    machine
        .space
        .map_run(START, &frames, Attributes::KERNEL_DATA)
        .unwrap();
    let switches = invalidations(&mut machine) - before;
    // Per last-level table: a count walk and a map walk (at most 4 tables
    // each), new tables zeroed, and the frame stack's page read for each table
    // it hands out (host only).
    assert!(
        switches <= 20 * LAST_LEVEL_TABLES as u64,
        "{switches} switches for {PAGES} pages"
    );
    assert_eq!(machine.space.mapper().tlb().flushes, flushes);
    for (index, frame) in frames.iter().enumerate() {
        let mapped = machine.space.mapper().translate(page(index));
        assert_eq!(
            mapped,
            Some((*frame, Attributes::KERNEL_DATA)),
            "page {index}"
        );
    }

    // The same run through the mapper's cursor alone, page by page: the
    // cursor stays on a table until the run leaves it.
    let mut machine = SimMachineOf::<F>::new(PAGES + 64, 0);
    let frames = take_frames(&mut machine, PAGES);
    let mut tables = crate::memory::paging::FrameList::<16>::new();
    for _ in 0..16 {
        tables.push(machine.space.allocate_frame().unwrap());
    }
    let mapper = machine.space.mapper();
    let mut cursor = Cursor::at(START);
    let mut walks = 0;
    for frame in &frames {
        let before = mapper.access().switches();
        mapper
            .map_run(&mut cursor, [*frame], Attributes::KERNEL_DATA, &mut tables)
            .unwrap();
        walks += usize::from(mapper.access().switches() - before > 1);
    }
    assert_eq!(cursor.next(), page(PAGES));
    assert_eq!(walks, LAST_LEVEL_TABLES, "one walk per last-level table");
    // The start made three tables (levels 1 to 3 of a fresh 512 GiB), the
    // 1 GiB boundary two, the two 2 MiB boundaries one each.
    assert_eq!(tables.as_slice().len(), 16 - 7);
}

/// Running out of frames in the middle of a run (for its pages or its tables)
/// leaves nothing mapped, loses no frame and frees the tables it made.
fn a_run_out_of_frames_leaves_nothing_and_loses_no_frame<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(PAGES + 8, 0);
    let free = machine.space.free_frame_count();
    let tables_before = tables(&mut machine);
    // Enough frames for most pages, not for all pages and their tables: the
    // run fails in its third last-level table.
    let pages = free - 4;
    assert!(
        machine
            .space
            .map_new_pages(START, pages, Attributes::KERNEL_DATA)
            .is_err()
    );
    assert_eq!(machine.space.free_frame_count(), free);
    assert_eq!(tables(&mut machine), tables_before);
    assert_eq!(machine.space.refused_free_count(), 0);
    for index in [0, 3, 514, 515, pages - 1] {
        assert_eq!(machine.space.mapper().translate(page(index)), None);
    }

    // The caller's frames: the first pages take three new tables, the 1 GiB
    // boundary needs two more, and only one is left.
    let device = PhysAddr(0x1_0000_0000);
    let keep = machine.space.free_frame_count() - 4;
    let held = take_frames(&mut machine, keep);
    let tables_before = tables(&mut machine);
    assert_eq!(
        machine
            .space
            .map_frames(START, device, PAGES, Attributes::DEVICE),
        Err(MapError::OutOfTableFrames { virt: page(3) })
    );
    assert_eq!(machine.space.free_frame_count(), 4);
    assert_eq!(tables(&mut machine), tables_before);
    assert_eq!(machine.space.mapper().translate(START), None);
    machine.space.free_frames_from(&held).unwrap();
    assert_eq!(machine.space.free_frame_count(), free);
}

/// A page already mapped in the middle of a run stops it there, and the pages
/// mapped before it are undone.
fn a_run_meeting_a_mapping_undoes_itself<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(PAGES + 64, 0);
    let frames = take_frames(&mut machine, PAGES);
    let taken = page(700);
    machine
        .space
        .map(taken, frames[0], Attributes::KERNEL_DATA)
        .unwrap();
    let free = machine.space.free_frame_count();
    let tables_before = tables(&mut machine);
    assert!(matches!(
        machine.space.map_run(START, &frames, Attributes::KERNEL_DATA),
        Err(MapError::AlreadyMapped { virt, .. }) if virt == taken
    ));
    assert_eq!(machine.space.free_frame_count(), free);
    assert_eq!(tables(&mut machine), tables_before);
    assert_eq!(machine.space.mapper().translate(page(699)), None);
    assert_eq!(machine.space.mapper().translate(START), None);
    assert!(machine.space.mapper().translate(taken).is_some());
}

/// Unmapping a run frees its frames and every table it emptied, in one TLB
/// round per batch: per last-level table when the frames stay the caller's,
/// per `FLUSH_BATCH_CAPACITY` pages when they are freed.
fn unmapping_a_run_frees_what_it_should_in_one_round_per_batch<F: PageTableFormat>() {
    use crate::memory::paging::FLUSH_BATCH_CAPACITY;
    let mut machine = SimMachineOf::<F>::new(PAGES + 64, 0);
    let free = machine.space.free_frame_count();
    let tables_before = tables(&mut machine);
    let run = VirtRange::new(START, PAGES as u64 * P);

    machine
        .space
        .map_new_pages(START, PAGES, Attributes::KERNEL_DATA)
        .unwrap();
    let flushes = machine.space.mapper().tlb().flushes;
    assert_eq!(machine.space.unmap_and_free(run), PAGES);
    let batches: usize = [3, 512, 512, 3]
        .iter()
        .map(|pages: &usize| pages.div_ceil(FLUSH_BATCH_CAPACITY))
        .sum();
    assert_eq!(machine.space.mapper().tlb().flushes - flushes, batches);
    assert_eq!(machine.space.free_frame_count(), free);
    assert_eq!(tables(&mut machine), tables_before);

    // Caller's frames: one round per last-level table, each one releasing it.
    let device = PhysAddr(0x1_0000_0000);
    machine
        .space
        .map_frames(START, device, PAGES, Attributes::DEVICE)
        .unwrap();
    let flushes = machine.space.mapper().tlb().flushes;
    assert_eq!(machine.space.unmap_range(run), PAGES);
    assert_eq!(
        machine.space.mapper().tlb().flushes - flushes,
        LAST_LEVEL_TABLES
    );
    assert_eq!(machine.space.free_frame_count(), free);
    assert_eq!(tables(&mut machine), tables_before);

    // Part of a table: the table stays, the pages go, one round at the end.
    machine
        .space
        .map_frames(START, device, PAGES, Attributes::DEVICE)
        .unwrap();
    let flushes = machine.space.mapper().tlb().flushes;
    let middle = VirtRange::new(page(10), 100 * P);
    assert_eq!(machine.space.unmap_range(middle), 100);
    assert_eq!(machine.space.mapper().tlb().flushes - flushes, 1);
    assert_eq!(
        machine
            .space
            .mapper()
            .translate(page(9))
            .map(|(frame, _)| frame),
        Some(PhysAddr(device.0 + 9 * P))
    );
    assert_eq!(machine.space.mapper().translate(page(10)), None);
    assert_eq!(machine.space.mapper().translate(page(109)), None);
    assert!(machine.space.mapper().translate(page(110)).is_some());
    assert_eq!(machine.space.unmap_range(run), PAGES - 100);
    assert_eq!(tables(&mut machine), tables_before);
}

/// Growing the heap by 64 MiB through the range API costs a few TLB
/// invalidations per last-level table instead of several per page (the
/// mapping alone: the frames are taken first, as the kernel's frame stack
/// hands them out without the tables). 4 MiB under Miri, which is slow.
fn a_64_mib_growth_costs_invalidations_per_table_not_per_page<F: PageTableFormat>() {
    let bytes: u64 = if cfg!(miri) { 4 << 20 } else { 64 << 20 };
    let pages = (bytes / P) as usize;
    let mut machine = SimMachineOf::<F>::new(pages + 64, 0);
    let frames = take_frames(&mut machine, pages);
    let before = invalidations(&mut machine);
    machine
        .space
        .map_run(
            VirtAddr(0xffff_0000_0000_0000),
            &frames,
            Attributes::KERNEL_DATA,
        )
        .unwrap();
    let per_page = (invalidations(&mut machine) - before) as f64 / pages as f64;
    assert!(per_page < 0.05, "{per_page} TLB invalidations per page");
}

on_both_formats!(
    a_run_crosses_table_boundaries_with_one_walk_per_table,
    a_run_out_of_frames_leaves_nothing_and_loses_no_frame,
    a_run_meeting_a_mapping_undoes_itself,
    unmapping_a_run_frees_what_it_should_in_one_round_per_batch,
    a_64_mib_growth_costs_invalidations_per_table_not_per_page,
);
