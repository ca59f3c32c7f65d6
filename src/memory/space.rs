//! The kernel address space: one page-table tree, the frame stack that feeds it,
//! and the primitives everything else is built from (allocate frames, map a frame
//! at an address, unmap, flush).

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr, VirtRange};
use crate::memory::frames::{FrameStack, FreeError, OutOfFrames};
use crate::memory::heap::{HeapBacking, OutOfMemory};
use crate::memory::paging::{
    Attributes, FLUSH_BATCH_CAPACITY, FlushBatch, FrameList, FrameSink, FrameSource, MapError,
    Mapper, PageTableFormat, TableAccess, UnmapError,
};
use crate::memory::window::{MappedWindow, PageView};

/// Table frames kept at hand so that a mapping never has to pop from the frame
/// stack in the middle of a walk: enough for one page's worth of new tables.
const POOL_SIZE: usize = 3;

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
pub struct AddressSpace<F: PageTableFormat, A: TableAccess> {
    mapper: Mapper<F, A>,
    frames: FrameStack,
    /// Table frames kept at hand so that a mapping never has to pop from the
    /// frame stack in the middle of a walk.
    pool: FrameList<POOL_SIZE>,
    stack_window: VirtRange,
    view: PageView,
}

impl<F: PageTableFormat, A: TableAccess> AddressSpace<F, A> {
    /// Joins `mapper` and an empty `frames` stack whose pages live at
    /// `stack_window`, reached as `view` says.
    pub fn new(
        mapper: Mapper<F, A>,
        frames: FrameStack,
        stack_window: VirtRange,
        view: PageView,
    ) -> Self {
        Self {
            mapper,
            frames,
            pool: FrameList::new(),
            stack_window,
            view,
        }
    }

    fn window(&mut self) -> (&mut FrameStack, MappedWindow<'_, F, A>) {
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

    /// The mapper, to translate or walk the tree.
    pub fn mapper(&mut self) -> &mut Mapper<F, A> {
        &mut self.mapper
    }

    /// The virtual range of the frame stack's window.
    pub fn stack_window(&self) -> VirtRange {
        self.stack_window
    }

    /// Frames that can still be allocated (stack plus table pool).
    pub fn free_frames(&self) -> usize {
        self.frames.free_frames() + self.pool.as_slice().len()
    }

    /// Gives the frames of `range` to the frame stack; see [`FrameStack::add_range`].
    pub fn add_free_range(&mut self, range: crate::addr::PhysRange) -> Result<usize, FreeError> {
        let (frames, mut window) = self.window();
        frames.add_range(range, &mut window)
    }

    /// One free frame, or `None` when memory is exhausted.
    pub fn allocate_frame(&mut self) -> Option<PhysAddr> {
        let (frames, mut window) = self.window();
        frames
            .pop(&mut window)
            .or_else(|| self.pool.allocate_frame())
    }

    /// Fills `out` with free frames, all or nothing.
    pub fn allocate_frames(&mut self, out: &mut [PhysAddr]) -> Result<(), OutOfFrames> {
        let (frames, mut window) = self.window();
        frames.pop_many(out, &mut window)
    }

    /// Returns a frame; refused frames (not RAM, reserved, unaligned, already
    /// free) leave everything unchanged.
    pub fn free_frame(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
        let (frames, mut window) = self.window();
        frames.push(frame, &mut window)
    }

    /// Returns every frame of `frames`; see [`FrameStack::push_many`].
    pub fn free_frames_from(&mut self, list: &[PhysAddr]) -> Result<(), (usize, FreeError)> {
        let (frames, mut window) = self.window();
        frames.push_many(list, &mut window)
    }

    fn fill_pool(&mut self) {
        while !self.pool.is_full() {
            let (frames, mut window) = self.window();
            let Some(frame) = frames.pop(&mut window) else {
                return;
            };
            self.pool.free_frame(frame);
        }
    }

    /// Maps `frame` at `virt`. Tables come from the pool, refilled from the frame
    /// stack beforehand. No flush is needed for a new mapping.
    pub fn map(
        &mut self,
        virt: VirtAddr,
        frame: PhysAddr,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        self.fill_pool();
        self.mapper.map(virt, frame, attributes, &mut self.pool)
    }

    /// Unmaps the page at `virt` and returns its frame (still owned by the
    /// caller). The page joins `flush`, which the caller flushes before reusing
    /// the frame. Emptied tables go back to the pool or the frame stack.
    pub fn unmap(
        &mut self,
        virt: VirtAddr,
        flush: &mut FlushBatch<F>,
    ) -> Result<PhysAddr, UnmapError> {
        let mut released = FrameList::<8>::new();
        let frame = self.mapper.unmap(virt, flush, &mut released)?;
        for table in released.as_slice() {
            self.recycle_table(*table);
        }
        Ok(frame)
    }

    fn recycle_table(&mut self, table: PhysAddr) {
        if !self.pool.is_full() {
            self.pool.free_frame(table);
        } else {
            // A table frame came from the stack, so the stack takes it back.
            let _accepted = self.free_frame(table);
        }
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
                    available: index + self.free_frames(),
                })),
                Some(frame) => self.map(virt, frame, attributes).map_err(|error| {
                    let _accepted = self.free_frame(frame);
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
        let mut flush = FlushBatch::<F>::new();
        let pages = range.size / PAGE_SIZE as u64;
        let unmapped = (0..pages)
            .filter(|&page| {
                let virt = VirtAddr(range.start.0 + page * PAGE_SIZE as u64);
                self.unmap(virt, &mut flush).is_ok()
            })
            .count();
        flush.flush();
        unmapped
    }

    /// Unmaps every mapped page of `range`, flushes once, then frees their
    /// frames. Returns how many pages were unmapped.
    pub fn unmap_and_free(&mut self, range: VirtRange) -> usize {
        let mut flush = FlushBatch::<F>::new();
        let mut count = 0;
        // As many frames as the batch flushes page by page.
        let mut pending = FrameList::<FLUSH_BATCH_CAPACITY>::new();
        let pages = (range.size / PAGE_SIZE as u64) as usize;
        for index in 0..pages {
            let virt = VirtAddr(range.start.0 + (index * PAGE_SIZE) as u64);
            let Ok(frame) = self.unmap(virt, &mut flush) else {
                continue;
            };
            pending.free_frame(frame);
            count += 1;
            if pending.is_full() {
                self.release(&mut flush, &mut pending);
            }
        }
        self.release(&mut flush, &mut pending);
        count
    }

    /// Flushes, then frees the frames whose translations the flush removed.
    fn release(
        &mut self,
        flush: &mut FlushBatch<F>,
        pending: &mut FrameList<FLUSH_BATCH_CAPACITY>,
    ) {
        flush.flush();
        while let Some(frame) = pending.pop() {
            // These frames were allocated by this space, so they are valid RAM.
            let _accepted = self.free_frame(frame);
        }
    }
}

impl<F: PageTableFormat, A: TableAccess> HeapBacking for AddressSpace<F, A> {
    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), OutOfMemory> {
        self.map_new_pages(at, pages, Attributes::KERNEL_DATA)
            .map_err(|_| OutOfMemory)
    }
}
