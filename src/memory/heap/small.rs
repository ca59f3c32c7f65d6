//! The heap's front end: blocks of up to a page in size classes, O(1) to
//! allocate and to free, on pages that go back to the frame stack when they
//! empty.
//!
//! Pages are taken from the top of the heap window downwards. Blocks of every
//! class are cut from the current page one after another; when the next block
//! does not fit, what is left of the page is cut into blocks of the largest
//! classes that fit and put on their free lists, so no page tail is lost. Each
//! class has a free list threaded through its free blocks: an allocation pops
//! (or cuts a new block), a free pushes. A block never straddles two pages.
//!
//! A side table at the bottom of the window holds one `u32` per page of the
//! window, counted down from the top: how many blocks of the page are handed
//! out. It is mapped as far as the pages it describes reach (4 bytes per
//! 4 KiB, 0.1%) and shrinks with them.
//!
//! Shrinking: a page whose count drops to 0 is empty, but its blocks still sit
//! on free lists. When the empty pages reach [`KEPT_EMPTY_PAGES`] and an eighth
//! of the pages in use, a trim drops the empty pages' blocks from the lists and
//! unmaps the pages, their frames going back to the frame stack. Unmapped pages
//! keep their place in the window on a list threaded through the side table and
//! are mapped again before the region grows further; when the lowest pages are
//! unmapped, the region's bottom rises again. A trim costs O(free blocks +
//! pages); it waits until the empty pages are a fixed share of the pages in
//! use, so its cost is spread over the frees that emptied them.

use core::ptr::NonNull;

use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::memory::heap::classes;
use crate::memory::heap::{HeapBacking, HeapError};

/// Empty pages the front end keeps mapped at least before it trims: below
/// this, freeing and allocating again never maps or unmaps a page.
pub const KEPT_EMPTY_PAGES: usize = 256;

/// The empty pages may reach `1 / TRIM_SHARE` of the pages in use before a
/// trim (when that is more than [`KEPT_EMPTY_PAGES`]).
const TRIM_SHARE: usize = 8;

// A page the backing cannot unmap goes back whole, as one block of the
// largest class.
const _: () = assert!(classes::LARGEST == PAGE_SIZE, "the largest class is a page");

/// A side-table entry with this bit set is an unmapped page; its other bits
/// name the next unmapped page, [`NO_PAGE`] for none.
const UNMAPPED: u32 = 1 << 31;
const NO_PAGE: u32 = UNMAPPED - 1;

/// A free block: the next free block of its class.
struct FreeBlock {
    next: Option<NonNull<FreeBlock>>,
}

/// The small-block front end over the top of a heap window.
pub struct SmallBlocks {
    /// Start of the window: where the side table lives.
    table: usize,
    /// End of the window: pages are numbered down from here.
    top: usize,
    /// Lowest page of the region; every page from here to `top` is in use,
    /// empty or unmapped.
    bottom: usize,
    /// Bytes of the side table mapped.
    table_mapped: usize,
    lists: [Option<NonNull<FreeBlock>>; classes::COUNT],
    /// The rest of the current page, where new blocks are cut.
    cut_next: usize,
    cut_end: usize,
    /// First unmapped page of the region (a page index), or [`NO_PAGE`].
    unmapped: u32,
    mapped_pages: usize,
    empty_pages: usize,
    used: usize,
}

impl SmallBlocks {
    /// A front end with nothing mapped over the window `[table, top)`, both
    /// page-aligned.
    pub const fn new(table: usize, top: usize) -> Self {
        Self {
            table,
            top,
            bottom: top,
            table_mapped: 0,
            lists: [None; classes::COUNT],
            cut_next: 0,
            cut_end: 0,
            unmapped: NO_PAGE,
            mapped_pages: 0,
            empty_pages: 0,
            used: 0,
        }
    }

    /// Bytes the side table needs for a window of `window_bytes`.
    pub const fn table_bytes(window_bytes: usize) -> usize {
        (window_bytes / PAGE_SIZE * size_of::<u32>()).next_multiple_of(PAGE_SIZE)
    }

    /// Lowest address of the region: the back end may grow up to here.
    pub fn bottom(&self) -> usize {
        self.bottom
    }

    /// True when `address` lies in the region (so a block there is small).
    #[inline]
    pub fn contains(&self, address: usize) -> bool {
        address >= self.bottom && address < self.top
    }

    /// Bytes mapped: pages in use or empty, and the side table.
    pub fn mapped_bytes(&self) -> usize {
        self.mapped_pages * PAGE_SIZE + self.table_mapped
    }

    /// Bytes of the blocks handed out (their class sizes).
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// Pages mapped with no block handed out.
    #[cfg(test)]
    pub fn empty_pages(&self) -> usize {
        self.empty_pages
    }

    fn page_index(&self, address: usize) -> usize {
        (self.top - 1 - address) / PAGE_SIZE
    }

    fn page_address(&self, index: usize) -> usize {
        self.top - (index + 1) * PAGE_SIZE
    }

    /// The side-table entry of page `index`.
    #[inline]
    fn entry(&mut self, index: usize) -> &mut u32 {
        debug_assert!((index + 1) * size_of::<u32>() <= self.table_mapped);
        // SAFETY: the table's first `table_mapped` bytes are mapped and this
        // front end's alone; the entries of pages in the region lie in them
        // (`take_page` maps them before a page joins the region).
        unsafe { &mut *VirtAddr((self.table + index * size_of::<u32>()) as u64).as_mut_ptr() }
    }

    /// One block of `class`; the region may grow down to `limit`.
    #[inline]
    pub fn allocate<B: HeapBacking>(
        &mut self,
        class: usize,
        limit: usize,
        backing: &mut B,
    ) -> Result<NonNull<u8>, HeapError<B::Error>> {
        let size = classes::size(class);
        let block = if let Some(block) = self.lists[class] {
            self.pop(class, block)
        } else if self.cut_end - self.cut_next >= size {
            self.cut_next += size;
            self.cut_next - size
        } else {
            match self.take_page(limit, backing) {
                Ok(page) => {
                    self.free_pieces(self.cut_next, self.cut_end);
                    self.cut_next = page + size;
                    self.cut_end = page + PAGE_SIZE;
                    page
                }
                Err(error) => {
                    let (larger, block) = self.larger_listed(class).ok_or(error)?;
                    let block = self.pop(larger, block);
                    self.free_pieces(block + size, block + classes::size(larger));
                    block
                }
            }
        };
        let index = self.page_index(block);
        let entry = self.entry(index);
        let was_empty = *entry == 0;
        *entry += 1;
        if was_empty {
            self.empty_pages -= 1;
        }
        self.used += size;
        Ok(NonNull::new(VirtAddr(block as u64).as_mut_ptr()).expect("heap blocks are not at 0"))
    }

    /// Frees `block` of `class`; may trim.
    ///
    /// # Safety
    ///
    /// `block` came from [`allocate`](Self::allocate) with `class` and is not
    /// used again.
    #[inline]
    pub unsafe fn deallocate<B: HeapBacking>(
        &mut self,
        block: NonNull<u8>,
        class: usize,
        backing: &mut B,
    ) {
        self.used -= classes::size(class);
        // SAFETY: the caller gives the block up; it is mapped and at least 8
        // bytes, 8-aligned: room for the link.
        unsafe { self.push(block.as_ptr() as usize, class) };
        let index = self.page_index(block.as_ptr() as usize);
        let entry = self.entry(index);
        *entry -= 1;
        let now_empty = *entry == 0;
        if now_empty {
            self.empty_pages += 1;
            let in_use = self.mapped_pages - self.empty_pages;
            if self.empty_pages >= KEPT_EMPTY_PAGES.max(in_use / TRIM_SHARE) {
                self.trim(backing);
            }
        }
    }

    /// Puts the free block at `address` on the list of `class`.
    ///
    /// # Safety
    ///
    /// The block is free, mapped, in the region and `classes::size(class)`
    /// bytes long.
    unsafe fn push(&mut self, address: usize, class: usize) {
        let block: *mut FreeBlock = VirtAddr(address as u64).as_mut_ptr();
        // SAFETY: per the contract, the block is free memory we may write.
        unsafe {
            block.write(FreeBlock {
                next: self.lists[class],
            })
        };
        self.lists[class] = NonNull::new(block);
    }

    /// Takes `block`, the head of the list of `class`, off it.
    #[inline]
    fn pop(&mut self, class: usize, block: NonNull<FreeBlock>) -> usize {
        // SAFETY: a listed block is free, mapped and holds its link.
        self.lists[class] = unsafe { block.as_ref().next };
        block.as_ptr() as usize
    }

    /// The smallest class above `class` with a free block, and that block:
    /// a linear search, for when no page can be had.
    fn larger_listed(&self, class: usize) -> Option<(usize, NonNull<FreeBlock>)> {
        (class + 1..classes::COUNT).find_map(|larger| Some((larger, self.lists[larger]?)))
    }

    /// Cuts the free bytes `[start, end)` of one page into free blocks, the
    /// largest classes first.
    fn free_pieces(&mut self, mut start: usize, end: usize) {
        while end - start >= classes::ALIGN {
            let class = classes::largest_within(end - start);
            // SAFETY: the caller gives the bytes up: mapped, in the region, free.
            unsafe { self.push(start, class) };
            start += classes::size(class);
        }
    }

    /// Cuts what is left of the current page into free blocks.
    fn cut_rest(&mut self) {
        self.free_pieces(self.cut_next, self.cut_end);
        self.cut_next = self.cut_end;
    }

    /// Maps a page for the region: an unmapped one of the region first, else
    /// a new one below its bottom (not below `limit`).
    #[cold]
    fn take_page<B: HeapBacking>(
        &mut self,
        limit: usize,
        backing: &mut B,
    ) -> Result<usize, HeapError<B::Error>> {
        let index = if self.unmapped != NO_PAGE {
            let index = self.unmapped as usize;
            backing
                .map_pages(VirtAddr(self.page_address(index) as u64), 1)
                .map_err(HeapError::Backing)?;
            self.unmapped = *self.entry(index) & !UNMAPPED;
            index
        } else {
            let full = HeapError::WindowFull { needed: PAGE_SIZE };
            let page = self.bottom.checked_sub(PAGE_SIZE).ok_or(full)?;
            if page < limit {
                return Err(HeapError::WindowFull { needed: PAGE_SIZE });
            }
            let index = self.page_index(page);
            let table_needed = (index + 1) * size_of::<u32>();
            if table_needed > self.table_mapped {
                backing
                    .map_pages(VirtAddr((self.table + self.table_mapped) as u64), 1)
                    .map_err(HeapError::Backing)?;
                self.table_mapped += PAGE_SIZE;
            }
            backing
                .map_pages(VirtAddr(page as u64), 1)
                .map_err(HeapError::Backing)?;
            self.bottom = page;
            index
        };
        *self.entry(index) = 0;
        self.mapped_pages += 1;
        self.empty_pages += 1;
        Ok(self.page_address(index))
    }

    /// Returns every empty page to the backing (see the module's comment):
    /// their blocks leave the free lists, the pages are unmapped, and the
    /// region's bottom and side table shrink past unmapped pages at the
    /// bottom. A page the backing refuses to unmap now stays mapped, as one
    /// free block of the largest class, for a later trim.
    #[cold]
    pub fn trim<B: HeapBacking>(&mut self, backing: &mut B) {
        self.cut_rest();
        for class in 0..classes::COUNT {
            let mut kept = None;
            let mut tail: Option<NonNull<FreeBlock>> = None;
            let mut next = self.lists[class];
            while let Some(mut block) = next {
                // SAFETY: listed blocks are free and mapped; the empty pages
                // they may lie in are unmapped only after this walk.
                next = unsafe { block.as_ref().next };
                let index = self.page_index(block.as_ptr() as usize);
                if *self.entry(index) == 0 {
                    continue;
                }
                // SAFETY: as above; `block` is the new last kept block.
                unsafe { block.as_mut().next = None };
                match tail {
                    // SAFETY: `last` is a kept block, free and mapped.
                    Some(mut last) => unsafe { last.as_mut().next = Some(block) },
                    None => kept = Some(block),
                }
                tail = Some(block);
            }
            self.lists[class] = kept;
        }
        let pages = (self.top - self.bottom) / PAGE_SIZE;
        let mut kept_empty = 0;
        let mut index = 0;
        while index < pages {
            if *self.entry(index) != 0 {
                index += 1;
                continue;
            }
            // A run of empty pages `index..end`, at descending addresses.
            let mut end = index + 1;
            while end < pages && *self.entry(end) == 0 {
                end += 1;
            }
            let lowest = VirtAddr(self.page_address(end - 1) as u64);
            if backing.unmap_pages(lowest, end - index).is_ok() {
                for page in index..end {
                    *self.entry(page) = UNMAPPED;
                }
                self.mapped_pages -= end - index;
            } else {
                for page in index..end {
                    // SAFETY: the page is empty and its blocks left the lists.
                    unsafe { self.push(self.page_address(page), classes::COUNT - 1) };
                }
                kept_empty += end - index;
            }
            index = end;
        }
        self.empty_pages = kept_empty;
        self.relink_unmapped(backing);
    }

    /// Raises the bottom past unmapped pages, shrinks the side table to the
    /// pages left, and threads the unmapped pages above the bottom into a list.
    fn relink_unmapped<B: HeapBacking>(&mut self, backing: &mut B) {
        let mut pages = (self.top - self.bottom) / PAGE_SIZE;
        while pages > 0 && *self.entry(pages - 1) & UNMAPPED != 0 {
            pages -= 1;
        }
        self.bottom = self.top - pages * PAGE_SIZE;
        let table_needed = (pages * size_of::<u32>()).next_multiple_of(PAGE_SIZE);
        if table_needed < self.table_mapped {
            let start = VirtAddr((self.table + table_needed) as u64);
            let count = (self.table_mapped - table_needed) / PAGE_SIZE;
            if backing.unmap_pages(start, count).is_ok() {
                self.table_mapped = table_needed;
            }
        }
        self.unmapped = NO_PAGE;
        for index in (0..pages).rev() {
            if *self.entry(index) & UNMAPPED != 0 {
                *self.entry(index) = UNMAPPED | self.unmapped;
                self.unmapped = index as u32;
            }
        }
    }
}
