//! Host tests that page tables never show what their frames held before: a
//! frame comes back from its last owner as it was left, and a table made from
//! it must start empty, or the old bytes would be translations.

use std::vec::Vec;

use crate::addr::{PhysAddr, VirtAddr};
use crate::arch::aarch64::paging::Aarch64;
use crate::arch::x86_64::paging::X86_64;
use crate::memory::paging::{Attributes, PageTableFormat, TableAccess};
use crate::memory::sim::SimMachineOf;

/// What the dirtied frames hold in every word: valid-looking entries on both
/// formats (a block or page on AArch64, a huge or 4 KiB page on x86_64) that
/// point outside the simulated RAM, so no entry the mapper writes equals it.
const OLD_CONTENTS: u64 = 0xa5a5_a5a5_a5a5_a5a5;

/// Pages in three top-level entries the tree has never used: each needs a
/// new table at every level below the root.
const FRESH_PAGES: [VirtAddr; 3] = [
    VirtAddr(0xffff_9000_0000_0000),
    VirtAddr(0xffff_a000_0020_0000),
    VirtAddr(0xffff_b040_0000_1000),
];

/// Dirties every frame the stack hands out, frees them all, then maps pages
/// that need new tables (the frame stack's window rebuilds its own tables
/// on the way): no table of the tree may hold a word of the old contents.
fn new_tables_are_zeroed_over_dirty_frames<F: PageTableFormat>() {
    let mut machine = SimMachineOf::<F>::new(300, 0);
    let mut taken = Vec::new();
    while let Some(frame) = machine.space.allocate_frame() {
        taken.push(frame);
    }
    let mut access = machine.memory.access();
    for &frame in &taken {
        let table = access.table(frame);
        // SAFETY: the frame is out of the stack, ours, one whole table.
        unsafe { table.write(table.read().map(|_| OLD_CONTENTS)) };
    }
    let space = &mut machine.space;
    space
        .free_frames_from(&taken)
        .expect("every frame comes back");
    for page in FRESH_PAGES {
        let frame = space.allocate_frame().expect("a frame to map");
        space
            .map(page, frame, Attributes::KERNEL_DATA)
            .expect("mapped");
    }
    let mut tables: Vec<PhysAddr> = Vec::new();
    space
        .mapper()
        .for_each_table(&mut |table| tables.push(table));
    // The root, three new tables per page, and the window's own.
    assert!(tables.len() > 1 + 3 * FRESH_PAGES.len(), "{tables:?}");
    for table in tables {
        let entries = space.mapper().access_table(table);
        assert!(
            !entries.contains(&OLD_CONTENTS),
            "the table at {table} holds its frame's old contents"
        );
    }
}

on_both_formats!(new_tables_are_zeroed_over_dirty_frames);
