//! The kernel address space: one page-table tree, the frame stack that feeds it,
//! and the primitives everything else is built from (allocate frames, map a frame
//! at an address, unmap, flush).

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr, VirtRange};
use crate::memory::frames::{
    ContiguousError, FrameStack, FreeError, OutOfFrames, RangeRefused, StackWindow,
};
use crate::memory::heap::HeapBacking;
use crate::memory::paging::{
    Attributes, FLUSH_BATCH_CAPACITY, FrameList, MapError, Mapper, PageTableFormat, TableAccess,
    Tlb, UnmapError,
};
use crate::memory::window::{MappedWindow, PageView};

/// Most page tables one mapping can need (`LEVELS - 1` on every format).
const TABLES_PER_PAGE: usize = 8;

/// Why a run of pages could not be mapped. Nothing stays mapped or allocated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapPagesError {
    /// Not enough free frames for the pages (and their tables).
    OutOfFrames(OutOfFrames),
    /// The mapper refused a page.
    Map(MapError),
}

impl fmt::Display for MapPagesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfFrames(error) => write!(f, "{error}"),
            Self::Map(error) => write!(f, "{error}"),
        }
    }
}

/// A page-table tree together with the frames that back it.
///
/// Every free frame lives in the frame stack: the tables a mapping needs are
/// taken from it just before the walk, and the tables an unmap releases go
/// back to it, checked like every other free.
pub struct AddressSpace<F: PageTableFormat, A: TableAccess, T: Tlb> {
    mapper: Mapper<F, A, T>,
    frames: FrameStack,
    stack_window: VirtRange,
    view: PageView,
    /// Frees the space made on its own behalf that the frame stack refused.
    refused_frees: usize,
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> AddressSpace<F, A, T> {
    /// Joins `mapper` and an empty `frames` stack whose pages live at
    /// `stack_window`, reached as `view` says.
    pub fn new(
        mapper: Mapper<F, A, T>,
        frames: FrameStack,
        stack_window: VirtRange,
        view: PageView,
    ) -> Self {
        Self {
            mapper,
            frames,
            stack_window,
            view,
            refused_frees: 0,
        }
    }

    #[inline]
    fn window(&mut self) -> (&mut FrameStack, MappedWindow<'_, F, A, T>) {
        let window = MappedWindow {
            mapper: &mut self.mapper,
            range: self.stack_window,
            view: self.view,
        };
        (&mut self.frames, window)
    }

    /// The frame stack (read-only: counts and checks).
    pub fn frames(&self) -> &FrameStack {
        &self.frames
    }

    /// The frame that holds the frame stack's top page (a free frame the
    /// stack uses), if the stack has a page: what a test frees to check that
    /// such frames are refused as double frees.
    pub fn top_stack_page(&mut self) -> Option<PhysAddr> {
        let pages = self.frames.window_page_count();
        let (_, mut window) = self.window();
        window.page_frame(pages.checked_sub(1)?)
    }

    /// The mapper, to translate or walk the tree.
    pub fn mapper(&mut self) -> &mut Mapper<F, A, T> {
        &mut self.mapper
    }

    /// The virtual range of the frame stack's window.
    pub fn stack_window(&self) -> VirtRange {
        self.stack_window
    }

    /// How many frames can still be allocated.
    pub fn free_frame_count(&self) -> usize {
        self.frames.free_frame_count()
    }

    /// How many frees the space made on its own behalf (frames of pages it
    /// unmapped, page tables it released, frames of a failed mapping) the
    /// frame stack refused. Each is a lost frame and a bug; 0 in a healthy
    /// kernel.
    pub fn refused_free_count(&self) -> usize {
        self.refused_frees
    }

    /// Gives the frames of `range` to the frame stack as a fresh range; see
    /// [`FrameStack::add_range`].
    pub fn add_free_range(&mut self, range: PhysRange) -> Result<usize, RangeRefused> {
        self.frames.add_range(range)
    }

    /// One free frame, or `None` when memory is exhausted.
    #[inline]
    pub fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let (frames, mut window) = self.window();
        frames.pop(&mut window)
    }

    /// `count` physically contiguous frames from an `align`-aligned address
    /// on, for DMA buffers and large pages, while fresh ranges last; see
    /// [`FrameStack::allocate_contiguous`] for when it fails. The frames are
    /// the caller's, freed one by one like any other.
    pub fn allocate_contiguous(
        &mut self,
        count: usize,
        align: u64,
    ) -> Result<PhysRange, ContiguousError> {
        let (frames, mut window) = self.window();
        frames.allocate_contiguous(count, align, &mut window)
    }

    /// Fills `out` with free frames, all or nothing.
    pub fn allocate_frames(&mut self, out: &mut [PhysAddr]) -> Result<(), OutOfFrames> {
        let (frames, mut window) = self.window();
        frames.pop_many(out, &mut window)
    }

    /// Returns a frame; refused frames (not RAM, reserved, unaligned, already
    /// free) leave everything unchanged.
    #[inline]
    pub fn free_frame(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
        let (frames, mut window) = self.window();
        frames.push(frame, &mut window)
    }

    /// Returns every frame of `frames`; see [`FrameStack::push_many`].
    pub fn free_frames_from(&mut self, list: &[PhysAddr]) -> Result<(), (usize, FreeError)> {
        let (frames, mut window) = self.window();
        frames.push_many(list, &mut window)
    }

    /// Frees a frame the space itself took; a refusal is counted, since no
    /// caller could act on it.
    fn give_back(&mut self, frame: PhysAddr) {
        if self.free_frame(frame).is_err() {
            self.refused_frees += 1;
        }
    }

    /// Maps `frame` at `virt`. The tables the walk needs are taken from the
    /// frame stack first, so the walk never pops in its middle; when there are
    /// not enough, nothing changes. No flush is needed for a new mapping.
    pub fn map(
        &mut self,
        virt: VirtAddr,
        frame: PhysAddr,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        if !virt.is_page_aligned() || !frame.is_page_aligned() {
            return Err(MapError::Unaligned { virt, phys: frame });
        }
        let missing = self.mapper.missing_tables(virt)?;
        let mut tables = FrameList::<TABLES_PER_PAGE>::new();
        while tables.as_slice().len() < missing {
            let Some(table) = self.allocate_frame() else {
                while let Some(table) = tables.pop() {
                    self.give_back(table);
                }
                return Err(MapError::OutOfTableFrames { virt });
            };
            tables.push(table);
        }
        let mapped = self.mapper.map(virt, frame, attributes, &mut tables);
        // The walk takes exactly the tables it lacked; should it ever take
        // fewer, the rest goes back rather than out of sight.
        debug_assert!(tables.as_slice().is_empty(), "the walk left tables unused");
        while let Some(table) = tables.pop() {
            self.give_back(table);
        }
        mapped
    }

    /// Unmaps the page at `virt` and returns its frame (still owned by the
    /// caller). The page waits for the mapper's next flush, which must come
    /// before the frame is reused. Emptied tables go back to the frame stack.
    pub fn unmap(&mut self, virt: VirtAddr) -> Result<PhysAddr, UnmapError> {
        let mut released = FrameList::<TABLES_PER_PAGE>::new();
        let frame = self.mapper.unmap(virt, &mut released)?;
        // The mapper flushed the released tables already.
        while let Some(table) = released.pop() {
            self.give_back(table);
        }
        Ok(frame)
    }

    /// Allocates `pages` frames and maps them at `at` onwards with `attributes`.
    /// All or nothing: on error every page mapped so far is unmapped and every
    /// frame returned.
    pub fn map_new_pages(
        &mut self,
        at: VirtAddr,
        pages: usize,
        attributes: Attributes,
    ) -> Result<(), MapPagesError> {
        for index in 0..pages {
            let virt = VirtAddr(at.0 + (index * PAGE_SIZE) as u64);
            let result = match self.allocate_frame() {
                None => Err(MapPagesError::OutOfFrames(OutOfFrames {
                    requested: pages,
                    available: index + self.free_frame_count(),
                })),
                Some(frame) => self.map(virt, frame, attributes).map_err(|error| {
                    self.give_back(frame);
                    MapPagesError::Map(error)
                }),
            };
            if let Err(error) = result {
                self.unmap_and_free(VirtRange::new(at, (index * PAGE_SIZE) as u64));
                return Err(error);
            }
        }
        Ok(())
    }

    /// Maps `pages` frames the caller owns (device registers, say), from `phys`
    /// on, at `at` on. All or nothing: on error the pages mapped so far are
    /// unmapped again.
    pub fn map_frames(
        &mut self,
        at: VirtAddr,
        phys: PhysAddr,
        pages: usize,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let page = PAGE_SIZE as u64;
        for index in 0..pages as u64 {
            let mapped = self.map(
                VirtAddr(at.0 + index * page),
                PhysAddr(phys.0 + index * page),
                attributes,
            );
            if let Err(error) = mapped {
                self.unmap_range(VirtRange::new(at, index * page));
                return Err(error);
            }
        }
        Ok(())
    }

    /// Unmaps every mapped page of `range` and flushes once; the frames stay
    /// the caller's. Returns how many pages were unmapped.
    pub fn unmap_range(&mut self, range: VirtRange) -> usize {
        let pages = range.size / PAGE_SIZE as u64;
        let unmapped = (0..pages)
            .filter(|&page| {
                let virt = VirtAddr(range.start.0 + page * PAGE_SIZE as u64);
                self.unmap(virt).is_ok()
            })
            .count();
        self.mapper.flush();
        unmapped
    }

    /// Unmaps every mapped page of `range`, flushes once, then frees their
    /// frames. Returns how many pages were unmapped.
    pub fn unmap_and_free(&mut self, range: VirtRange) -> usize {
        let mut count = 0;
        // As many frames as the batch flushes page by page.
        let mut pending = FrameList::<FLUSH_BATCH_CAPACITY>::new();
        let pages = (range.size / PAGE_SIZE as u64) as usize;
        for index in 0..pages {
            let virt = VirtAddr(range.start.0 + (index * PAGE_SIZE) as u64);
            let Ok(frame) = self.unmap(virt) else {
                continue;
            };
            pending.push(frame);
            count += 1;
            if pending.is_full() {
                self.release(&mut pending);
            }
        }
        self.release(&mut pending);
        count
    }

    /// Flushes, then frees the frames whose translations the flush removed.
    fn release(&mut self, pending: &mut FrameList<FLUSH_BATCH_CAPACITY>) {
        self.mapper.flush();
        while let Some(frame) = pending.pop() {
            self.give_back(frame);
        }
    }
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> HeapBacking for AddressSpace<F, A, T> {
    type Error = MapPagesError;

    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), MapPagesError> {
        self.map_new_pages(at, pages, Attributes::KERNEL_DATA)
    }
}
