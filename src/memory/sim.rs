//! Simulated physical memory for host tests and benchmarks: page-aligned host
//! memory standing for RAM at a physical base address, reached by the real
//! mapper through [`TableAccess`]. Built only for tests and with the `sim`
//! feature (the benchmarks); never part of the kernel.

use alloc::alloc::{Layout, alloc, alloc_zeroed, dealloc};
use alloc::vec::Vec;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use crate::memory::free_map::{FreeMap, MapPages};
#[cfg(test)]
use crate::memory::paging::PageTableFormat;
use crate::memory::paging::{SlotAccess, Table, TableAccess, TableSlot};
#[cfg(test)]
use crate::{
    addr::{VirtAddr, VirtRange},
    arch::aarch64::paging::Aarch64,
    memory::{
        frames::FrameStack,
        paging::{CountingTlb, Mapper},
        space::AddressSpace,
        window::PageView,
    },
};

/// Host pages standing for physical RAM `[base, base + frames * 4 KiB)`.
///
/// Held as a raw page-aligned allocation, never as a `Box` or `Vec` that moves:
/// the mapper and the frame stack reach the pages through raw pointers while
/// the owner moves around, and moving a `Box` would assert unique access and
/// invalidate them (Miri checks this).
pub struct SimMemory {
    base: PhysAddr,
    pages: *mut Table,
    frames: usize,
    /// The words of every free map made over this memory (`free_map`), kept
    /// raw for the same reason as the pages and freed with it.
    map_words: core::cell::RefCell<Vec<(*mut u64, Layout)>>,
}

impl SimMemory {
    /// `frames` zeroed frames at `base`, every host page faulted in now so that
    /// nothing measured later pays for first touches.
    pub fn new(base: PhysAddr, frames: usize) -> Self {
        let layout = Self::layout(frames);
        // SAFETY: the layout has a non-zero size (at least one frame).
        let pages = unsafe { alloc_zeroed(layout) }.cast::<Table>();
        assert!(
            !pages.is_null(),
            "cannot allocate {frames} simulated frames"
        );
        for index in 0..frames {
            // SAFETY: `index < frames`, inside the allocation.
            unsafe { (&raw mut (*pages.add(index))[0]).write_volatile(0) };
        }
        Self {
            base,
            pages,
            frames,
            map_words: core::cell::RefCell::new(Vec::new()),
        }
    }

    /// A free map of this memory's frames, as the kernel keeps one, except
    /// that its window is host memory beside the simulated RAM
    /// ([`MapPages::Ready`]: pages become present without being mapped),
    /// valid while the memory lives. Each call makes a new window, so that
    /// frame stacks built one after another over the same memory (the
    /// benchmarks do) each own theirs.
    pub fn free_map(&self) -> FreeMap {
        self.free_map_over(&[self.range()])
    }

    /// A free map as [`Self::free_map`] makes, but of the frames of `ram`,
    /// which may describe RAM beyond this memory (only frames that are
    /// handed out and freed, never written, may lie there). Its window is
    /// as large as `ram` asks (up to 128 MiB), touched only where pages
    /// become present.
    pub fn free_map_over(&self, ram: &[PhysRange]) -> FreeMap {
        let layout = Self::map_layout(ram);
        // Not zeroed, as the kernel's window is not: the map zeroes each page
        // when it becomes present and reads no other.
        // SAFETY: a non-zero size; freed in `drop` with the same layout.
        let pointer = unsafe { alloc(layout) }.cast::<u64>();
        assert!(!pointer.is_null(), "cannot allocate the free map");
        self.map_words.borrow_mut().push((pointer, layout));
        // SAFETY: the window is page-aligned host memory of the map's size,
        // owned by this memory until it is dropped and handed out only here.
        unsafe { FreeMap::new(ram, pointer, MapPages::Ready) }
    }

    fn map_layout(ram: &[PhysRange]) -> Layout {
        Layout::from_size_align(FreeMap::window_bytes(ram).max(PAGE_SIZE), PAGE_SIZE)
            .expect("the free map fits a layout")
    }

    fn layout(frames: usize) -> Layout {
        Layout::from_size_align(frames.max(1) * PAGE_SIZE, PAGE_SIZE)
            .expect("simulated RAM size fits a layout")
    }

    /// The physical range the memory covers.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.base, (self.frames * PAGE_SIZE) as u64)
    }

    /// Frames of memory.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// A table access into this memory. The memory must outlive it and every
    /// mapper built on it.
    pub fn access(&self) -> SimAccess {
        SimAccess {
            base: self.base,
            pages: self.pages,
            frames: self.frames,
        }
    }

    /// The first word of frame `frame`, for code that touches what it gets.
    pub fn word(&self, frame: PhysAddr) -> *mut u64 {
        self.access().table(frame).cast::<u64>()
    }

    /// Zeroes frame `frame` (a root table about to be reused).
    pub fn zero(&self, frame: PhysAddr) {
        let table = self.access().table(frame);
        // SAFETY: `table` is one whole frame inside the allocation.
        unsafe { table.write_bytes(0, 1) };
    }
}

impl Drop for SimMemory {
    fn drop(&mut self) {
        // SAFETY: `pages` came from `alloc_zeroed` with this layout in `new`.
        unsafe { dealloc(self.pages.cast(), Self::layout(self.frames)) };
        for (map, layout) in self.map_words.get_mut().drain(..) {
            // SAFETY: allocated in `free_map_over` with this layout.
            unsafe { dealloc(map.cast(), layout) };
        }
    }
}

/// Reaches simulated frames by pointer: what a fixmap slot is in the kernel.
#[derive(Clone, Copy)]
pub struct SimAccess {
    base: PhysAddr,
    pages: *mut Table,
    frames: usize,
}

// SAFETY: `table` returns a pointer to the whole simulated frame at `phys`, valid
// while the `SimMemory` lives; users drop every mapper before its memory.
unsafe impl TableAccess for SimAccess {
    fn table(&mut self, phys: PhysAddr) -> *mut Table {
        let index = (phys.0.wrapping_sub(self.base.0) / PAGE_SIZE as u64) as usize;
        assert!(
            phys >= self.base && index < self.frames,
            "{phys} is not simulated RAM"
        );
        // SAFETY: `index < frames`, inside the allocation.
        unsafe { self.pages.add(index) }
    }
}

// SAFETY: every simulated frame is always reachable: showing one changes
// nothing, and `reach` is `table`'s pointer, valid while the memory lives.
unsafe impl TableSlot for SimAccess {
    fn show(&mut self, _phys: PhysAddr) {}

    fn reach(&mut self, phys: PhysAddr) -> *mut Table {
        self.table(phys)
    }
}

impl SimMemory {
    /// A table access into this memory that reaches tables as the kernel's
    /// fixmap does ([`SlotAccess`]), so that its switches can be counted.
    /// The memory must outlive it and every mapper built on it.
    pub fn slot_access(&self) -> SlotAccess<SimAccess> {
        SlotAccess::over(self.access())
    }
}

/// A simulated machine: RAM, a root table of format `F` in its first frame, a
/// frame stack window and a space over the rest. Tables are reached as the
/// kernel reaches them, through one slot ([`SlotAccess`]), which counts its
/// switches.
#[cfg(test)]
pub struct SimMachineOf<F: PageTableFormat> {
    /// Keeps the simulated RAM alive; the space points into it.
    pub memory: SimMemory,
    /// The address space under test.
    pub space: AddressSpace<F, SlotAccess<SimAccess>, CountingTlb>,
}

/// The simulated machine most tests use: AArch64 tables (every test that
/// exercises the tables also runs on x86_64's through [`SimMachineOf`]).
#[cfg(test)]
pub type SimMachine = SimMachineOf<Aarch64>;

#[cfg(test)]
/// Kernel-half window used by the tests for the frame stack: it starts two
/// pages below a 512 GiB boundary so a few pages cross every table level.
///
/// Its tables must serve it alone, as the kernel's layout guarantees. The
/// tests also map heap pages at host addresses (the heap's bytes are host
/// memory), which use top-level entries 0..256; this window sits in entries
/// 256 and 257, where no host pointer can lie. (Under Miri, whose addresses
/// are small, an earlier window in entries 0 and 1 shared the heap's tables,
/// and the stack's count of its own tables went wrong.)
pub const STACK_WINDOW: VirtRange = VirtRange::new(
    VirtAddr(0xffff_8080_0000_0000 - 2 * PAGE_SIZE as u64),
    1 << 30,
);

#[cfg(test)]
impl<F: PageTableFormat> SimMachineOf<F> {
    /// A machine with `pages` of RAM at 0x4000_0000; frame 0 is the root table
    /// and `reserved` frames after it are reserved.
    pub fn new(pages: usize, reserved: usize) -> Self {
        Self::with_stack_window(pages, reserved, STACK_WINDOW)
    }

    /// [`Self::new`] with the frame stack in `window`, whose tables must
    /// serve it alone.
    pub fn with_stack_window(pages: usize, reserved: usize, window: VirtRange) -> Self {
        let memory = SimMemory::new(PhysAddr(0x4000_0000), pages);
        let ram = memory.range();
        let first_free = PhysAddr(ram.start.0 + ((1 + reserved) * PAGE_SIZE) as u64);
        let usable = PhysRange::new(first_free, ram.size - (first_free.0 - ram.start.0));
        // SAFETY: frame 0 of the simulated RAM is zeroed and used only as this root.
        let mapper =
            unsafe { Mapper::new(ram.start, memory.slot_access(), CountingTlb::default()) };
        let mut frames = FrameStack::new([ram], [usable]);
        frames.install_free_map(memory.free_map());
        let mut space = AddressSpace::new(mapper, frames, window, PageView::ThroughTableAccess);
        let added = space
            .add_free_range(usable)
            .expect("usable RAM is accepted");
        assert_eq!(added, pages - 1 - reserved);
        Self { memory, space }
    }
}
