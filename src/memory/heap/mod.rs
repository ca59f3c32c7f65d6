//! The kernel heap: a window of virtual space that starts empty, with two
//! allocators that grow towards each other from its ends.
//!
//! ```text
//! window start                                                    window end
//! | side table | back end: linked_list_allocator →   …   ← front end: pages |
//! ```
//!
//! - The front end ([`small`]) serves blocks of up to a page with at most
//!   8-byte alignment, the kernel's common case, in size classes
//!   ([`classes`]): O(1) allocation and free. Its pages come from the window's
//!   top down, one at a time, and go back to the frame stack when they empty
//!   (see [`small`] for when).
//! - The back end, `linked_list_allocator`, serves larger blocks and larger
//!   alignments over the window's bottom, which grows at its top by at least
//!   [`MIN_GROWTH`]. Its free memory stays mapped while it holds any block;
//!   when it holds none, it shrinks back to its first [`MIN_GROWTH`] bytes.
//!
//! A small request the front end cannot serve (the window's middle is used
//! up, or no frame is left for a page) falls back to the back end's free
//! memory. Frees find their allocator by address.

pub mod classes;
pub mod small;

use core::alloc::Layout;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};
use small::SmallBlocks;

/// Smallest growth step of the back end: growing one page at a time would map
/// and flush far too often.
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

/// Backs heap pages with memory, and takes it back.
pub trait HeapBacking {
    /// Why pages could not be mapped or unmapped.
    type Error;

    /// Maps `pages` fresh read-write pages at `at` (page-aligned, inside the heap
    /// window, currently unmapped). All or nothing: on `Err` nothing stays mapped.
    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), Self::Error>;

    /// Unmaps `pages` pages at `at` that [`map_pages`](Self::map_pages) mapped,
    /// and frees their frames. Must not need memory. On `Err` (the backing
    /// cannot unmap now) every page stays mapped and the heap keeps it.
    fn unmap_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), Self::Error>;
}

/// A heap that grows on demand inside a fixed virtual window, and shrinks.
pub struct GrowingHeap {
    window: VirtRange,
    small: SmallBlocks,
    large: Heap,
    /// Where the back end starts: just above the side table.
    large_start: usize,
    /// End of the back end's mapped bytes.
    large_top: usize,
}

// SAFETY: the heap only holds addresses inside its own window, which it owns;
// moving it between threads moves that ownership.
unsafe impl Send for GrowingHeap {}

impl GrowingHeap {
    /// A heap over `window` with nothing mapped yet. The window must be
    /// page-aligned, reserved for this heap alone, and larger than its side
    /// table (a 1024th of it, at least a page).
    pub const fn new(window: VirtRange) -> Self {
        let start = window.start.0 as usize;
        let size = window.size as usize;
        let large_start = start + SmallBlocks::table_bytes(size);
        assert!(
            large_start < start + size,
            "the heap window holds its side table"
        );
        Self {
            window,
            small: SmallBlocks::new(start, start + size),
            large: Heap::empty(),
            large_start,
            large_top: large_start,
        }
    }

    /// The heap's virtual window.
    pub fn window(&self) -> VirtRange {
        self.window
    }

    /// The part of the window between the two allocators, never mapped.
    pub fn unmapped_middle(&self) -> VirtRange {
        VirtRange::new(
            VirtAddr(self.large_top as u64),
            (self.small.bottom() - self.large_top) as u64,
        )
    }

    /// Bytes mapped for the heap now.
    pub fn mapped_bytes(&self) -> u64 {
        (self.small.mapped_bytes() + self.large_top - self.large_start) as u64
    }

    /// Bytes handed out and not yet freed (small blocks count their class size).
    pub fn used_bytes(&self) -> usize {
        self.small.used_bytes() + self.large.used()
    }

    /// Allocates `layout`: a small block from the front end, anything else from
    /// the back end, growing through `backing` when no free block fits. Fails
    /// when the window or the memory behind it is exhausted, and says which; it
    /// never panics.
    #[inline]
    pub fn allocate<B: HeapBacking>(
        &mut self,
        layout: Layout,
        backing: &mut B,
    ) -> Result<NonNull<u8>, HeapError<B::Error>> {
        let Some(class) = classes::for_layout(layout) else {
            return self.allocate_large(layout, backing);
        };
        self.small
            .allocate(class, self.large_top, backing)
            .or_else(|error| self.large.allocate_first_fit(layout).map_err(|()| error))
    }

    /// Frees a block returned by [`allocate`](Self::allocate); may give pages
    /// back through `backing`.
    ///
    /// # Safety
    ///
    /// `block` must have come from `allocate` on this heap with this `layout` and
    /// must not be used afterwards.
    #[inline]
    pub unsafe fn deallocate<B: HeapBacking>(
        &mut self,
        block: NonNull<u8>,
        layout: Layout,
        backing: &mut B,
    ) {
        if self.small.contains(block.as_ptr() as usize)
            && let Some(class) = classes::for_layout(layout)
        {
            // SAFETY: a block in the front end's region came from it, with
            // the class of its layout (forwarded from the caller).
            unsafe { self.small.deallocate(block, class, backing) };
            return;
        }
        // SAFETY: forwarded from the caller; blocks outside the front end's
        // region are the back end's.
        unsafe { self.deallocate_large(block, layout, backing) };
    }

    /// Frees a back-end block; shrinks the back end when it empties. Kept out
    /// of line, so that the small-block path stays short.
    ///
    /// # Safety
    ///
    /// As for [`deallocate`](Self::deallocate), and `block` is the back end's.
    #[inline(never)]
    unsafe fn deallocate_large<B: HeapBacking>(
        &mut self,
        block: NonNull<u8>,
        layout: Layout,
        backing: &mut B,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { self.large.deallocate(block, layout) };
        if self.large.used() == 0 {
            self.shrink_large(backing);
        }
    }

    /// Gives every page the heap can spare back through `backing` now: the
    /// front end's empty pages, and the back end's growth when it holds no
    /// block.
    pub fn trim<B: HeapBacking>(&mut self, backing: &mut B) {
        self.small.trim(backing);
        if self.large.used() == 0 {
            self.shrink_large(backing);
        }
    }

    /// Allocates from the back end, growing it. Kept out of line, so that the
    /// small-block path stays short.
    #[inline(never)]
    fn allocate_large<B: HeapBacking>(
        &mut self,
        layout: Layout,
        backing: &mut B,
    ) -> Result<NonNull<u8>, HeapError<B::Error>> {
        if let Ok(block) = self.large.allocate_first_fit(layout) {
            return Ok(block);
        }
        let needed = self.grow_large_for(layout, backing)?;
        // The growth alone fits the block, so this cannot fail; say so if it does.
        self.large
            .allocate_first_fit(layout)
            .map_err(|()| HeapError::WindowFull { needed })
    }

    /// Unmaps the empty back end down to its first [`MIN_GROWTH`] bytes.
    fn shrink_large<B: HeapBacking>(&mut self, backing: &mut B) {
        let keep = self.large_start + MIN_GROWTH;
        if self.large_top <= keep {
            return;
        }
        let pages = (self.large_top - keep) / PAGE_SIZE;
        if backing.unmap_pages(VirtAddr(keep as u64), pages).is_err() {
            return;
        }
        self.large_top = keep;
        self.large = Heap::empty();
        // SAFETY: the first `MIN_GROWTH` bytes of the back end stay mapped,
        // and no block lives in them (the back end holds none).
        unsafe {
            self.large
                .init(VirtAddr(self.large_start as u64).as_mut_ptr(), MIN_GROWTH)
        };
    }

    /// Maps enough new pages at the back end's top that `layout` fits in them
    /// alone, even if the free block below cannot be merged with them. Returns
    /// the bytes mapped.
    fn grow_large_for<B: HeapBacking>(
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
        if bytes > self.small.bottom() - self.large_top {
            return Err(HeapError::WindowFull { needed: bytes });
        }
        let top = self.large_top;
        backing
            .map_pages(VirtAddr(top as u64), bytes / PAGE_SIZE)
            .map_err(HeapError::Backing)?;
        if top == self.large_start {
            // SAFETY: the back end's first `bytes` are now mapped read-write and
            // owned by this heap alone.
            unsafe { self.large.init(VirtAddr(top as u64).as_mut_ptr(), bytes) };
        } else {
            // SAFETY: the `bytes` just above the back end's top are now mapped
            // read-write and owned by this heap alone.
            unsafe { self.large.extend(bytes) };
        }
        self.large_top += bytes;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests;
