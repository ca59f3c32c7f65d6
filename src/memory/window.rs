//! The frame stack's window, realised with the mapper.

use crate::addr::PhysAddr;
use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};
use crate::memory::frames::{ENTRIES_PER_PAGE, StackWindow};
use crate::memory::paging::{
    Attributes, FlushBatch, FrameSink, MapError, Mapper, OneFrame, PageTableFormat, TableAccess,
};

/// How the frame stack reaches the pages of its window.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageView {
    /// Through the window's own virtual addresses: the tree is the live one.
    Live,
    /// Through [`TableAccess`]: the tree is not live (host tests).
    ThroughTableAccess,
}

/// A [`StackWindow`] that maps the stack's pages at `range` with `mapper`.
pub struct MappedWindow<'m, F: PageTableFormat, A: TableAccess> {
    /// The mapper of the tree that holds the window.
    pub mapper: &'m mut Mapper<F, A>,
    /// The window's virtual range.
    pub range: VirtRange,
    /// How pages are reached.
    pub view: PageView,
}

impl<F: PageTableFormat, A: TableAccess> MappedWindow<'_, F, A> {
    fn address(&self, index: usize) -> VirtAddr {
        VirtAddr(self.range.start.0 + (index * PAGE_SIZE) as u64)
    }
}

impl<F: PageTableFormat, A: TableAccess> StackWindow for MappedWindow<'_, F, A> {
    fn map_page(
        &mut self,
        index: usize,
        frame: PhysAddr,
        tables: &mut OneFrame,
    ) -> Result<(), MapError> {
        let virt = self.address(index);
        match self
            .mapper
            .map(virt, frame, Attributes::KERNEL_DATA, &mut OneFrame(None))
        {
            Err(MapError::OutOfTableFrames { .. }) => match self.mapper.create_tables(virt, tables)
            {
                // One table per frame: a missing next level waits for the next one.
                Ok(()) | Err(MapError::OutOfTableFrames { .. }) => Ok(()),
                Err(error) => Err(error),
            },
            result => result,
        }
    }

    fn unmap_page(&mut self, index: usize, freed_tables: &mut impl FrameSink) -> PhysAddr {
        let mut flush = FlushBatch::<F>::new();
        // The frame stack only unmaps pages it mapped.
        let frame = self
            .mapper
            .unmap(self.address(index), &mut flush, freed_tables);
        flush.flush();
        frame.unwrap_or_default()
    }

    fn page(&mut self, index: usize) -> *mut [u64; ENTRIES_PER_PAGE] {
        match self.view {
            PageView::Live => self.address(index).as_mut_ptr(),
            PageView::ThroughTableAccess => {
                let frame = self.page_frame(index);
                self.mapper.access().table(frame)
            }
        }
    }

    fn page_frame(&mut self, index: usize) -> PhysAddr {
        self.mapper
            .translate(self.address(index))
            .map(|(frame, _)| frame)
            .unwrap_or_default()
    }

    fn is_table(&mut self, frame: PhysAddr, last_page: usize) -> bool {
        // Pages of one last-level table share every table on their path, so one
        // walk per 2 MiB of window (plus the last page) sees them all.
        let per_table = crate::memory::paging::ENTRIES_PER_TABLE;
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
}
