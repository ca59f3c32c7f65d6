//! Simulated physical RAM: page-aligned host memory standing for RAM at a
//! physical base address, reached by the real mapper through [`TableAccess`].

use std::alloc::{Layout, alloc_zeroed, dealloc};

use kernel::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use kernel::memory::paging::{Table, TableAccess};

/// Physical base of the simulated RAM (QEMU `virt`'s).
pub const RAM_BASE: PhysAddr = PhysAddr(0x4000_0000);

/// Host pages standing for physical RAM `[base, base + frames * 4 KiB)`.
///
/// Held as a raw allocation, never as a `Box` or `Vec` that moves: the mapper
/// and the frame stack reach the pages through raw pointers.
pub struct SimRam {
    base: PhysAddr,
    pages: *mut Table,
    frames: usize,
}

impl SimRam {
    /// `frames` zeroed frames at `base`, every host page faulted in now so that
    /// no benchmark pays for first touches.
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
        }
    }

    fn layout(frames: usize) -> Layout {
        Layout::from_size_align(frames.max(1) * PAGE_SIZE, PAGE_SIZE)
            .expect("simulated RAM size fits a layout")
    }

    /// The physical range the RAM covers.
    pub fn range(&self) -> PhysRange {
        PhysRange::new(self.base, (self.frames * PAGE_SIZE) as u64)
    }

    /// Frames of RAM.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// A table access into this RAM. The RAM must outlive it and every mapper
    /// built on it.
    pub fn access(&self) -> SimAccess {
        SimAccess {
            base: self.base,
            pages: self.pages,
            frames: self.frames,
        }
    }

    /// The first word of frame `frame`, for benchmarks that touch what they get.
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

impl Drop for SimRam {
    fn drop(&mut self) {
        // SAFETY: `pages` came from `alloc_zeroed` with this layout in `new`.
        unsafe { dealloc(self.pages.cast(), Self::layout(self.frames)) };
    }
}

/// Reaches simulated frames by pointer; what a fixmap slot is in the kernel.
#[derive(Clone, Copy)]
pub struct SimAccess {
    base: PhysAddr,
    pages: *mut Table,
    frames: usize,
}

// SAFETY: `table` returns a pointer to the whole simulated frame at `phys`, valid
// while the `SimRam` lives; the benchmarks drop every mapper before its RAM.
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
