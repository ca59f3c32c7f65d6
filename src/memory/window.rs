//! The frame stack's window, realised with the mapper.

use crate::addr::PhysAddr;
use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};
use crate::memory::frames::{ENTRIES_PER_PAGE, StackWindow};
use crate::memory::paging::{
    Attributes, FrameSink, FrameSource, MapError, Mapper, PageTableFormat, TableAccess, Tlb,
    UnmapError,
};

/// How the frame stack reaches the pages of its window.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageView {
    /// Through the window's own virtual addresses: the tree is the live one.
    Live,
    /// Through [`TableAccess`]: the tree is not live (host tests). The frame
    /// stack keeps its top page's pointer across calls, so this view needs an
    /// access whose pointers stay valid while their frame holds a window page,
    /// beyond what [`TableAccess`] promises: simulated memory's do (every
    /// frame is host memory), a fixmap slot's do not.
    ThroughTableAccess,
}

/// A [`StackWindow`] that maps the stack's pages at `range` with `mapper`.
///
/// Each page is mapped and unmapped as a run of one page: the mapper's cursor
/// code, the same that heap growth and device mappings go through.
///
/// The tables on the way to `range` must serve the window alone (no other
/// mapping may share them; the kernel gives the window its own level-0 entry),
/// so that the frame stack's count of its tables stays exact.
pub struct MappedWindow<'m, F: PageTableFormat, A: TableAccess, T: Tlb> {
    /// The mapper of the tree that holds the window.
    pub mapper: &'m mut Mapper<F, A, T>,
    /// The window's virtual range.
    pub range: VirtRange,
    /// How pages are reached.
    pub view: PageView,
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> MappedWindow<'_, F, A, T> {
    fn address(&self, index: usize) -> VirtAddr {
        VirtAddr(self.range.start.0 + (index * PAGE_SIZE) as u64)
    }
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> StackWindow for MappedWindow<'_, F, A, T> {
    fn missing_tables(&mut self, index: usize) -> Result<usize, MapError> {
        self.mapper.missing_tables(self.address(index))
    }

    fn map_page(
        &mut self,
        index: usize,
        frame: PhysAddr,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        self.mapper
            .map(self.address(index), frame, Attributes::KERNEL_DATA, tables)
    }

    fn unmap_page(&mut self, index: usize) -> Result<PhysAddr, UnmapError> {
        let frame = self.mapper.unmap_keeping_tables(self.address(index));
        self.mapper.flush();
        frame
    }

    fn idle_tables(&mut self, index: usize) -> usize {
        self.mapper.idle_tables(self.address(index))
    }

    fn release_idle_tables(&mut self, index: usize, freed_tables: &mut impl FrameSink) -> usize {
        self.mapper
            .release_idle_tables(self.address(index), freed_tables)
    }

    fn page(&mut self, index: usize) -> *mut [u64; ENTRIES_PER_PAGE] {
        match self.view {
            PageView::Live => self.address(index).as_mut_ptr(),
            PageView::ThroughTableAccess => {
                let frame = self
                    .page_frame(index)
                    .expect("the frame stack reads only window pages it mapped");
                self.mapper.access().table(frame)
            }
        }
    }

    fn page_frame(&mut self, index: usize) -> Option<PhysAddr> {
        self.mapper
            .translate(self.address(index))
            .map(|(frame, _)| frame)
    }

    fn is_table(&mut self, frame: PhysAddr, last_page: usize) -> bool {
        // Pages of one last-level table share every table on their path, so one
        // walk per 2 MiB of window (plus the last page) sees them all.
        let per_table = crate::memory::paging::ENTRIES_PER_TABLE;
        let last_page = last_page.min(self.capacity_pages().saturating_sub(1));
        let first = self.address(0).0 / (per_table * PAGE_SIZE) as u64;
        let last = self.address(last_page).0 / (per_table * PAGE_SIZE) as u64;
        (first..=last).any(|block| {
            let virt = VirtAddr((block * (per_table * PAGE_SIZE) as u64).max(self.range.start.0));
            self.mapper.is_table_on_path(virt, frame)
        })
    }

    fn capacity_pages(&self) -> usize {
        (self.range.size / PAGE_SIZE as u64) as usize
    }

    fn map_bookkeeping_page(
        &mut self,
        virt: VirtAddr,
        frame: PhysAddr,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        self.mapper
            .map(virt, frame, Attributes::KERNEL_DATA, tables)
    }
}
