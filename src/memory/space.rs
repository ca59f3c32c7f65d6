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
    Attributes, Cursor, ENTRIES_PER_TABLE, FLUSH_BATCH_CAPACITY, FrameList, MapError, Mapper,
    PageTableFormat, TableAccess, Tlb, UnmapError,
};
use crate::memory::window::{MappedWindow, PageView};

/// Most page tables one mapping can need (`LEVELS - 1` on every format).
const TABLES_PER_PAGE: usize = 8;

/// Frames [`AddressSpace::map_new_pages`] takes from the frame stack at once
/// and then maps as one run (512 bytes of stack).
const NEW_PAGES_BATCH: usize = 64;

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

    /// How many frames the page tables hold that are not free: every table
    /// of the tree but the frame stack's window tables, which count as free
    /// frames ([`Self::free_frame_count`]).
    pub fn table_frames_in_use(&mut self) -> usize {
        let mut tables = 0;
        self.mapper.for_each_table(&mut |_| tables += 1);
        tables - self.frames.window_table_count()
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

    /// Maps `frame` at `virt`: a run of one page (see
    /// [`map_run`](Self::map_run)). The tables the walk needs are taken from
    /// the frame stack first, so the walk never pops in its middle; when there
    /// are not enough, nothing changes. No flush is needed for a new mapping.
    pub fn map(
        &mut self,
        virt: VirtAddr,
        frame: PhysAddr,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        if !virt.is_page_aligned() || !frame.is_page_aligned() {
            return Err(MapError::Unaligned { virt, phys: frame });
        }
        self.map_in_table(&mut Cursor::at(virt), [frame], attributes)
    }

    /// Maps `frames` from the cursor on, at most up to the end of its
    /// last-level table, with the tables that table lacks taken from the
    /// frame stack first (exactly as many: none once the table exists). The
    /// tables a failed run did not use go back. Errors as
    /// [`Mapper::map_run`]'s, the cursor at the page that failed.
    fn map_in_table(
        &mut self,
        cursor: &mut Cursor,
        frames: impl IntoIterator<Item = PhysAddr>,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let missing = self.mapper.missing_tables_at(cursor)?;
        let mut tables = FrameList::<TABLES_PER_PAGE>::new();
        while tables.as_slice().len() < missing {
            let Some(table) = self.allocate_frame() else {
                while let Some(table) = tables.pop() {
                    self.give_back(table);
                }
                return Err(MapError::OutOfTableFrames {
                    virt: cursor.next(),
                });
            };
            tables.push(table);
        }
        let in_table = cursor.pages_left_in_table();
        let mapped = self.mapper.map_run(
            cursor,
            frames.into_iter().take(in_table),
            attributes,
            &mut tables,
        );
        // A run that maps its first page takes exactly the tables its walk
        // lacked; whatever is left goes back rather than out of sight.
        debug_assert!(
            mapped.is_err() || tables.as_slice().is_empty(),
            "the walk left tables unused"
        );
        while let Some(table) = tables.pop() {
            self.give_back(table);
        }
        mapped
    }

    /// Maps the caller's frames through one [`Cursor`], one last-level table
    /// at a time; all or nothing: on error the pages mapped so far are
    /// unmapped again (emptied tables go back to the frame stack).
    fn map_owned_frames(
        &mut self,
        at: VirtAddr,
        frames: impl IntoIterator<Item = PhysAddr>,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let mut cursor = Cursor::at(at);
        let mut frames = frames.into_iter().peekable();
        while frames.peek().is_some() {
            if let Err(error) = self.map_in_table(&mut cursor, frames.by_ref(), attributes) {
                self.unmap_range(VirtRange::new(at, cursor.next().0 - at.0));
                return Err(error);
            }
        }
        Ok(())
    }

    /// Maps `frames` (the caller's: they stay its own) at `at` onwards, one
    /// page each, in order: the range API. The walk from the root happens once
    /// per last-level table the run touches (so, in the kernel, the fixmap
    /// keeps showing that table), and a new mapping needs no TLB flush.
    ///
    /// All or nothing: on error no page of the run stays mapped, and tables
    /// that the undo left empty go back to the frame stack.
    pub fn map_run(
        &mut self,
        at: VirtAddr,
        frames: &[PhysAddr],
        attributes: Attributes,
    ) -> Result<(), MapError> {
        self.map_owned_frames(at, frames.iter().copied(), attributes)
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

    /// Allocates `pages` frames and maps them at `at` onwards with `attributes`,
    /// taking them from the frame stack 64 at a time (`NEW_PAGES_BATCH`) and
    /// mapping each batch as a run (the heap grows this way).
    ///
    /// All or nothing: on error every page mapped so far is unmapped and every
    /// frame returned, tables left empty included.
    pub fn map_new_pages(
        &mut self,
        at: VirtAddr,
        pages: usize,
        attributes: Attributes,
    ) -> Result<(), MapPagesError> {
        let page = PAGE_SIZE as u64;
        let mut cursor = Cursor::at(at);
        let mut left = pages;
        while left > 0 {
            let count = left.min(cursor.pages_left_in_table()).min(NEW_PAGES_BATCH);
            let mut batch = [PhysAddr(0); NEW_PAGES_BATCH];
            let frames = &mut batch[..count];
            let result = match self.allocate_frames(frames) {
                Err(short) => Err(MapPagesError::OutOfFrames(OutOfFrames {
                    requested: pages,
                    available: pages - left + short.available,
                })),
                Ok(()) => {
                    let first = cursor.next();
                    let mapped = self.map_in_table(&mut cursor, frames.iter().copied(), attributes);
                    if mapped.is_err() {
                        let done = ((cursor.next().0 - first.0) / page) as usize;
                        for frame in &frames[done..] {
                            self.give_back(*frame);
                        }
                    }
                    mapped.map_err(MapPagesError::Map)
                }
            };
            if let Err(error) = result {
                self.unmap_and_free(VirtRange::new(at, cursor.next().0 - at.0));
                return Err(error);
            }
            left -= count;
        }
        Ok(())
    }

    /// Maps `pages` frames the caller owns (device registers, say), from `phys`
    /// on, at `at` on, as one run (see [`map_run`](Self::map_run)). All or
    /// nothing: on error the pages mapped so far are unmapped again.
    pub fn map_frames(
        &mut self,
        at: VirtAddr,
        phys: PhysAddr,
        pages: usize,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let page = PAGE_SIZE as u64;
        let frames = (0..pages as u64).map(|index| PhysAddr(phys.0.wrapping_add(index * page)));
        self.map_owned_frames(at, frames, attributes)
    }

    /// Unmaps every mapped page of `range` and flushes; the frames stay the
    /// caller's. One cursor walks the range, so the walk happens once per
    /// last-level table, and the TLB gets one round at the end (plus one
    /// wherever a last-level table went idle and is released). Returns how
    /// many pages were unmapped.
    pub fn unmap_range(&mut self, range: VirtRange) -> usize {
        self.unmap_pages(range, false)
    }

    /// Unmaps every mapped page of `range`, flushes, then frees their frames.
    /// The TLB gets one round per [`FLUSH_BATCH_CAPACITY`] pages (the frames
    /// wait for it on the stack). Returns how many pages were unmapped.
    pub fn unmap_and_free(&mut self, range: VirtRange) -> usize {
        self.unmap_pages(range, true)
    }

    /// Unmaps `range` through one [`Cursor`], in batches that stay on one
    /// last-level table and, when the frames are to be freed, hold at most
    /// [`FLUSH_BATCH_CAPACITY`] of them. A batch whose frames or tables go back
    /// to the frame stack ends with one flush first (per page up to that many
    /// pages, of everything beyond: the mapper's threshold); the others wait
    /// for the one flush at the end.
    fn unmap_pages(&mut self, range: VirtRange, free_frames: bool) -> usize {
        let page = PAGE_SIZE as u64;
        let mut cursor = Cursor::at(range.start);
        let mut left = (range.size / page) as usize;
        let mut count = 0;
        while left > 0 {
            let mut batch = cursor.pages_left_in_table().min(left);
            if free_frames {
                batch = batch.min(FLUSH_BATCH_CAPACITY);
            }
            let mut frames = FrameList::<FLUSH_BATCH_CAPACITY>::new();
            count += self.mapper.unmap_run(&mut cursor, batch, |frame| {
                if free_frames {
                    frames.push(frame);
                }
            });
            left -= batch;
            let mut tables = FrameList::<TABLES_PER_PAGE>::new();
            if left == 0 || cursor.pages_left_in_table() == ENTRIES_PER_TABLE {
                // The batch finished with its last-level table: release it
                // (and the tables above) if nothing is mapped through it now.
                let last = VirtAddr(cursor.next().0.wrapping_sub(page));
                // This flushes, when it releases any.
                self.mapper.release_idle_tables(last, &mut tables);
            }
            if free_frames {
                self.mapper.flush();
            }
            for frame in frames.as_slice().iter().chain(tables.as_slice()) {
                self.give_back(*frame);
            }
        }
        self.mapper.flush();
        count
    }
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> HeapBacking for AddressSpace<F, A, T> {
    type Error = MapPagesError;

    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), MapPagesError> {
        self.map_new_pages(at, pages, Attributes::KERNEL_DATA)
    }

    fn unmap_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), MapPagesError> {
        self.unmap_and_free(VirtRange::new(at, (pages * PAGE_SIZE) as u64));
        Ok(())
    }
}
