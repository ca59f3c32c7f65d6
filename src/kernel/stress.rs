//! The stress run of the memory system in the kernel: the portable driver
//! ([`crate::memory::stress`]) over the kernel's real frames, heap, vmap
//! ranges and mappings.
//!
//! `stress` on the command line runs [`FULL_OPERATIONS`] operations after the
//! boot report (with `exit=semihosting`, QEMU then ends with status 0 only when
//! nothing was lost); the self-test suite runs a short one. `stress-seed=N`
//! picks another seed.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::addr::{PhysAddr, VirtAddr, VirtRange};
use crate::arch::current::layout;
use crate::kernel::{Boot, memory};
use crate::memory::frames::{FreeError, OutOfFrames};
use crate::memory::paging::MemoryKind;
use crate::memory::ranges::AllocatedRange;
use crate::memory::stress::{self, Limits, MemorySystem, Report, Words};
use crate::println;

/// Operations of the full run (`stress` on the command line).
pub const FULL_OPERATIONS: u64 = 1_000_000;

/// Operations of the short run in the self-tests.
pub const SHORT_OPERATIONS: u64 = 30_000;

/// The seed when the command line names none.
pub const DEFAULT_SEED: u64 = 0x5eed_57e5;

/// Progress is printed every this many operations of a long run.
const PROGRESS_EVERY: u64 = 100_000;

/// The kernel's memory system as the stress driver sees it.
struct KernelMemory;

impl MemorySystem for KernelMemory {
    type Mapping = memory::Mapping;
    type Range = AllocatedRange;

    fn free_frame_count(&mut self) -> usize {
        memory::free_frame_count()
    }

    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        memory::with_space(|space| space.allocate_frame()).flatten()
    }

    fn allocate_frames(&mut self, frames: &mut [PhysAddr]) -> Result<(), OutOfFrames> {
        memory::with_space(|space| space.allocate_frames(frames)).unwrap_or(Err(OutOfFrames {
            requested: frames.len(),
            available: 0,
        }))
    }

    fn free_frame(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
        memory::free_frame(frame)
    }

    fn refused_free_count(&mut self) -> usize {
        memory::refused_free_count()
    }

    fn heap_allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: every layout the driver makes has a non-zero size.
        NonNull::new(unsafe { alloc::alloc::alloc(layout) })
    }

    unsafe fn heap_reallocate(
        &mut self,
        block: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded from the caller; `new_size` is non-zero.
        NonNull::new(unsafe { alloc::alloc::realloc(block.as_ptr(), layout, new_size) })
    }

    unsafe fn heap_free(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { alloc::alloc::dealloc(block.as_ptr(), layout) }
    }

    fn heap_trim(&mut self) {
        memory::trim_heap();
    }

    fn heap_used_bytes(&mut self) -> usize {
        memory::heap_used_bytes()
    }

    fn heap_mapped_bytes(&mut self) -> u64 {
        memory::heap_mapped_bytes()
    }

    fn allocate_range(&mut self, pages: usize) -> Option<AllocatedRange> {
        memory::allocate_range(pages).ok()
    }

    fn free_range(&mut self, range: AllocatedRange) {
        memory::free_range(range);
    }

    fn range_free_bytes(&mut self) -> u64 {
        memory::vmap_free_bytes()
    }

    fn largest_range_pages(&mut self) -> usize {
        memory::vmap_largest_allocation_pages()
    }

    fn map_pages(&mut self, pages: usize) -> Option<memory::Mapping> {
        memory::allocate_pages(pages).ok()
    }

    fn mapping_range(mapping: &memory::Mapping) -> VirtRange {
        mapping.range()
    }

    fn unmap(&mut self, mapping: memory::Mapping) {
        drop(mapping);
    }

    fn translate(&mut self, virt: VirtAddr) -> Option<PhysAddr> {
        memory::with_space(|space| space.mapper().translate(virt).map(|(frame, _)| frame)).flatten()
    }

    fn write_word(&mut self, virt: VirtAddr, value: u64) {
        // SAFETY: the driver writes only into pages of its own live mappings.
        unsafe { virt.as_mut_ptr::<u64>().write_volatile(value) }
    }

    fn read_word(&mut self, virt: VirtAddr) -> u64 {
        // SAFETY: the driver reads only pages of its own live mappings.
        unsafe { virt.as_mut_ptr::<u64>().read_volatile() }
    }

    fn table_frames(&mut self) -> usize {
        memory::with_space(|space| space.table_frames_in_use()).unwrap_or(0)
    }

    fn frames_in_use(&mut self, skip: &dyn Fn(VirtAddr) -> bool, each: &mut dyn FnMut(PhysAddr)) {
        // The image maps its own boot tables as data; they count as tables.
        let boot_tables = crate::kernel::boot().map(|boot| boot.boot_tables);
        memory::with_space(|space| {
            let mapper = space.mapper();
            mapper.for_each_table(&mut |table| each(table));
            mapper.for_each_leaf(true, &mut |virt, frame, attributes, _| {
                // The fixmap maps page tables (counted above) and the device
                // tree; device memory is not RAM; the image's view of the boot
                // tables is counted above too.
                let counted = attributes.kind == MemoryKind::Normal
                    && !layout::FIXMAP.contains(virt)
                    && !boot_tables.is_some_and(|tables| tables.contains(frame))
                    && !skip(virt);
                if counted {
                    each(frame);
                }
            });
        });
    }
}

/// Runs `operations` stress operations from `seed` over the kernel's memory
/// system, printing progress on long runs, and returns the report.
pub fn run(boot: &Boot, operations: u64, seed: u64) -> Report {
    let limits = Limits::for_free_frames(memory::free_frame_count());
    let words = Words::new(seed)
        .take(operations as usize)
        .enumerate()
        .map(move |(index, word)| {
            let done = index as u64;
            if operations > PROGRESS_EVERY && done > 0 && done.is_multiple_of(PROGRESS_EVERY) {
                println!("stress: {done} of {operations} operations");
            }
            word
        });
    stress::run(&mut KernelMemory, boot.platform.ram(), limits, words)
}
