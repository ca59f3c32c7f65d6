//! The kernel heap: a window of virtual space that starts empty and grows at its
//! top by whole pages, with `linked_list_allocator` managing the bytes.

use core::alloc::Layout;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};

/// Smallest growth step: growing one page at a time would map and flush far too
/// often for small allocations.
pub const MIN_GROWTH: usize = 16 * PAGE_SIZE;

/// Why the heap could not satisfy an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HeapError<E> {
    /// The heap window has no room left for the growth the request needs.
    WindowFull {
        /// Bytes the request needed mapped.
        needed: usize,
    },
    /// The backing could not map the new pages; its reason.
    Backing(E),
}

/// Backs new heap pages with memory.
pub trait HeapBacking {
    /// Why pages could not be mapped.
    type Error;

    /// Maps `pages` fresh read-write pages at `at` (page-aligned, inside the heap
    /// window, currently unmapped). All or nothing: on `Err` nothing stays mapped.
    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), Self::Error>;
}

/// A heap that grows on demand inside a fixed virtual window.
pub struct GrowingHeap {
    heap: Heap,
    window: VirtRange,
    mapped: u64,
}

// SAFETY: the heap only holds addresses inside its own window, which it owns;
// moving it between threads moves that ownership.
unsafe impl Send for GrowingHeap {}

impl GrowingHeap {
    /// A heap over `window` with nothing mapped yet. The window must be
    /// page-aligned and reserved for this heap alone.
    pub const fn new(window: VirtRange) -> Self {
        Self {
            heap: Heap::empty(),
            window,
            mapped: 0,
        }
    }

    /// The heap's virtual window.
    pub fn window(&self) -> VirtRange {
        self.window
    }

    /// Bytes mapped for the heap so far.
    pub fn mapped_bytes(&self) -> u64 {
        self.mapped
    }

    /// Bytes handed out and not yet freed.
    pub fn used_bytes(&self) -> usize {
        self.heap.used()
    }

    /// Allocates `layout`, growing the heap through `backing` when no free block
    /// fits. Fails when the window or the memory behind it is exhausted, and
    /// says which; it never panics.
    pub fn allocate<B: HeapBacking>(
        &mut self,
        layout: Layout,
        backing: &mut B,
    ) -> Result<NonNull<u8>, HeapError<B::Error>> {
        if let Ok(block) = self.heap.allocate_first_fit(layout) {
            return Ok(block);
        }
        let needed = self.grow_for(layout, backing)?;
        // The growth alone fits the block, so this cannot fail; say so if it does.
        self.heap
            .allocate_first_fit(layout)
            .map_err(|()| HeapError::WindowFull { needed })
    }

    /// Frees a block returned by [`allocate`](Self::allocate).
    ///
    /// # Safety
    ///
    /// `block` must have come from `allocate` on this heap with this `layout` and
    /// must not be used afterwards.
    pub unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.deallocate(block, layout) }
    }

    /// Maps enough new pages at the top that `layout` fits in them alone, even if
    /// the free block below cannot be merged with them. Returns the bytes mapped.
    fn grow_for<B: HeapBacking>(
        &mut self,
        layout: Layout,
        backing: &mut B,
    ) -> Result<usize, HeapError<B::Error>> {
        // The block may need `align` bytes of padding, plus room for the
        // allocator's hole headers on either side of it.
        let too_big = HeapError::WindowFull {
            needed: layout.size(),
        };
        let bytes = layout
            .align()
            .checked_add(4 * core::mem::size_of::<usize>())
            .and_then(|slack| layout.size().checked_add(slack))
            .and_then(|needed| needed.max(MIN_GROWTH).checked_next_multiple_of(PAGE_SIZE))
            .ok_or(too_big)?;
        let available = self.window.size - self.mapped;
        if bytes as u64 > available {
            return Err(HeapError::WindowFull { needed: bytes });
        }
        let top = self
            .window
            .start
            .checked_add(self.mapped)
            .ok_or(HeapError::WindowFull { needed: bytes })?;
        backing
            .map_pages(top, bytes / PAGE_SIZE)
            .map_err(HeapError::Backing)?;
        if self.mapped == 0 {
            // SAFETY: the window's first `bytes` are now mapped read-write and
            // owned by this heap alone.
            unsafe { self.heap.init(top.as_mut_ptr(), bytes) };
        } else {
            // SAFETY: the `bytes` just above the heap's current top are now mapped
            // read-write and owned by this heap alone.
            unsafe { self.heap.extend(bytes) };
        }
        self.mapped += bytes as u64;
        Ok(bytes)
    }
}
