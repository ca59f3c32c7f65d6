//! Simulated physical memory for the host tests: a block of host pages that
//! stands for RAM at some physical base address.

use std::boxed::Box;
use std::vec;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr, VirtRange};
use crate::memory::frames::FrameStack;
use crate::memory::paging::aarch64::Aarch64;
use crate::memory::paging::{Mapper, Table, TableAccess};
use crate::memory::space::AddressSpace;
use crate::memory::window::PageView;

/// Host pages standing for physical RAM `[base, base + pages * 4 KiB)`.
///
/// Held as a raw allocation, not a `Box`: the mapper reaches the pages through
/// raw pointers while the owner moves around, and moving a `Box` would assert
/// unique access and invalidate those pointers (Miri checks this).
pub struct SimMemory {
    base: PhysAddr,
    pages: *mut Table,
    count: usize,
}

impl SimMemory {
    /// Zeroed simulated RAM.
    pub fn new(base: PhysAddr, pages: usize) -> Self {
        let allocation: Box<[Table]> = vec![[0u64; 512]; pages].into_boxed_slice();
        Self {
            base,
            pages: Box::into_raw(allocation).cast::<Table>(),
            count: pages,
        }
    }

    /// The physical range the memory covers.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.base, (self.count * PAGE_SIZE) as u64)
    }

    /// A table access into this memory. The memory must outlive it.
    pub fn access(&mut self) -> SimAccess {
        SimAccess {
            base: self.base,
            pages: self.pages,
            count: self.count,
        }
    }
}

impl Drop for SimMemory {
    fn drop(&mut self) {
        let slice = core::ptr::slice_from_raw_parts_mut(self.pages, self.count);
        // SAFETY: `pages` came from `Box::into_raw` of a slice of `count` tables
        // in `new`, and is freed only here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// Reaches simulated frames by pointer.
pub struct SimAccess {
    base: PhysAddr,
    pages: *mut Table,
    count: usize,
}

// SAFETY: `table` returns a pointer to the whole simulated page at `phys`, valid
// while the `SimMemory` lives (the tests keep it alive for the mapper's lifetime).
unsafe impl TableAccess for SimAccess {
    fn table(&mut self, phys: PhysAddr) -> *mut Table {
        let index = ((phys.0 - self.base.0) / PAGE_SIZE as u64) as usize;
        assert!(
            phys >= self.base && index < self.count,
            "{phys} is not simulated RAM"
        );
        // SAFETY: `index < count`, inside the boxed slice.
        unsafe { self.pages.add(index) }
    }
}

/// A simulated machine: RAM, a root table in its first frame, a frame stack
/// window and a space over the rest.
pub struct SimMachine {
    /// Keeps the simulated RAM alive; the space points into it.
    pub memory: SimMemory,
    /// The address space under test.
    pub space: AddressSpace<Aarch64, SimAccess>,
}

/// Kernel-half window used by the tests for the frame stack: it starts two
/// pages below a 512 GiB boundary so a few pages cross every table level.
pub const STACK_WINDOW: VirtRange = VirtRange::new(
    VirtAddr(0xffff_0080_0000_0000 - 2 * PAGE_SIZE as u64),
    1 << 30,
);

impl SimMachine {
    /// A machine with `pages` of RAM at 0x4000_0000; frame 0 is the root table
    /// and `reserved` frames after it are reserved.
    pub fn new(pages: usize, reserved: usize) -> Self {
        let mut memory = SimMemory::new(PhysAddr(0x4000_0000), pages);
        let ram = memory.range();
        let first_free = PhysAddr(ram.start.0 + ((1 + reserved) * PAGE_SIZE) as u64);
        let usable = PhysRange::new(first_free, ram.size - (first_free.0 - ram.start.0));
        // SAFETY: frame 0 of the simulated RAM is zeroed and used only as this root.
        let mapper = unsafe { Mapper::new(ram.start, memory.access()) };
        let frames = FrameStack::new([ram], [usable]);
        let mut space =
            AddressSpace::new(mapper, frames, STACK_WINDOW, PageView::ThroughTableAccess);
        let added = space
            .add_free_range(usable)
            .expect("usable RAM is accepted");
        assert_eq!(added, pages - 1 - reserved);
        Self { memory, space }
    }
}
