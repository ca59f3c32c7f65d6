//! Map, unmap and translate 4 KiB pages in a radix page table, one page or a
//! run of pages at a time.
//!
//! A run goes through a [`Cursor`], which remembers the last-level table of
//! the page it stands at: the pages after it on that table need no walk from
//! the root, and the table access keeps showing that one table (in the kernel,
//! its fixmap slot stays; every switch would cost a TLB invalidation). A single
//! page is a run of one, so there is one walk for both.

use core::fmt;
use core::marker::PhantomData;

use super::{
    Attributes, Descriptor, ENTRIES_PER_TABLE, FrameList, FrameSink, FrameSource, PageTableFormat,
    Table, TableAccess, Tlb,
};
use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};

/// Why a page could not be mapped. That page was not changed; new empty
/// intermediate tables made on the way to it stay for the next mapping (and
/// the pages of a run before it stay mapped, see [`Mapper::map_run`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapError {
    /// The virtual or physical address is not page-aligned.
    Unaligned {
        /// The virtual address asked for.
        virt: VirtAddr,
        /// The frame asked for.
        phys: PhysAddr,
    },
    /// Something is already mapped at `virt`.
    AlreadyMapped {
        /// The virtual address asked for.
        virt: VirtAddr,
        /// What it maps today.
        existing: Descriptor,
    },
    /// A table was needed and the frame source had none.
    OutOfTableFrames {
        /// The virtual address asked for.
        virt: VirtAddr,
    },
}

/// Why a page could not be unmapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnmapError {
    /// No page is mapped at this address.
    NotMapped(VirtAddr),
    /// The address is covered by a block mapping, which this mapper never makes.
    BlockMapping(VirtAddr),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unaligned { virt, phys } => {
                write!(f, "cannot map {phys} at {virt}: not page-aligned")
            }
            Self::AlreadyMapped { virt, existing } => {
                write!(f, "cannot map at {virt}: already mapped ({existing:?})")
            }
            Self::OutOfTableFrames { virt } => {
                write!(f, "cannot map at {virt}: no frame left for a page table")
            }
        }
    }
}

impl fmt::Display for UnmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMapped(virt) => write!(f, "nothing is mapped at {virt}"),
            Self::BlockMapping(virt) => write!(f, "{virt} lies in a block mapping"),
        }
    }
}

/// Pages whose translations changed and must leave the TLB, flushed together
/// in one round: [`Tlb::flush_pages`] for up to [`FLUSH_BATCH_CAPACITY`]
/// pages, [`Tlb::flush_all`] beyond.
struct PendingFlush {
    pages: [VirtAddr; FLUSH_BATCH_CAPACITY],
    count: usize,
    overflowed: bool,
}

/// Pages the mapper tracks one by one before it falls back to a full flush.
///
/// Up to this many, a flush is one invalidation per page and one wait for all
/// of them (AArch64: `tlbi vaae1is` each, then one `dsb ish; isb`; x86_64:
/// `invlpg` each); beyond, one full flush (`tlbi vmalle1is`, or a CR3 reload),
/// which also drops translations that are still valid, so it pays only for
/// large batches. 32 is near where Linux switches on x86 (33 pages), and it
/// bounds the frames a caller holds while it waits for the flush.
pub const FLUSH_BATCH_CAPACITY: usize = 32;

impl PendingFlush {
    const fn new() -> Self {
        Self {
            pages: [VirtAddr(0); FLUSH_BATCH_CAPACITY],
            count: 0,
            overflowed: false,
        }
    }

    fn add(&mut self, page: VirtAddr) {
        if self.count > 0 && self.pages[self.count - 1] == page {
            return;
        }
        if self.count < FLUSH_BATCH_CAPACITY {
            self.pages[self.count] = page;
            self.count += 1;
        } else {
            self.overflowed = true;
        }
    }

    fn flush(&mut self, tlb: &mut impl Tlb) {
        if self.overflowed {
            tlb.flush_all();
        } else if self.count > 0 {
            tlb.flush_pages(&self.pages[..self.count]);
        }
        self.count = 0;
        self.overflowed = false;
    }
}

/// Where a run of pages stands: the page a [`Mapper`] maps or unmaps next,
/// and the last-level table that holds it once a walk found it.
///
/// Runs go up in address order. The cursor walks from the root again when the
/// run crosses into another last-level table (every 2 MiB on both formats) or
/// when its mapper released a table since it found its own, so a stale cursor
/// costs a walk, never a wrong table. A cursor belongs to one mapper.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    next: VirtAddr,
    leaf: Option<LeafTable>,
}

/// The last-level table a cursor found, for which 2 MiB region, and under
/// which of its mapper's table generations.
#[derive(Clone, Copy, Debug)]
struct LeafTable {
    region: u64,
    table: PhysAddr,
    generation: u64,
}

/// Where a walk ended short of a last-level table: after `depth` tables, at
/// `entry` (invalid, or a block mapping).
struct WalkStop {
    depth: usize,
    entry: Descriptor,
}

/// Shift from an address to the 2 MiB region one last-level table maps.
const LEAF_REGION_SHIFT: u32 = 12 + 9;

impl Cursor {
    /// A cursor at `virt`, which a run maps or unmaps first (a map fails
    /// there if it is not page-aligned).
    pub const fn at(virt: VirtAddr) -> Self {
        Self {
            next: virt,
            leaf: None,
        }
    }

    /// The page the run maps or unmaps next.
    pub fn next(&self) -> VirtAddr {
        self.next
    }

    /// Pages from the cursor to the end of its last-level table (1 to 512): a
    /// run at most this long stays on one table.
    pub fn pages_left_in_table(&self) -> usize {
        ENTRIES_PER_TABLE - ((self.next.0 >> 12) as usize & (ENTRIES_PER_TABLE - 1))
    }

    fn region(&self) -> u64 {
        self.next.0 >> LEAF_REGION_SHIFT
    }

    fn skip(&mut self, pages: usize) {
        self.next = VirtAddr(self.next.0.wrapping_add((pages * PAGE_SIZE) as u64));
    }
}

/// Edits one page-table tree, rooted at a fixed table.
///
/// Only 4 KiB pages are made. Intermediate tables are created on demand from a
/// [`FrameSource`] and released to a [`FrameSink`] once their last entry goes.
///
/// Unmapped pages wait in a batch for one round of TLB maintenance:
/// [`flush`](Self::flush) it before the frames [`unmap`](Self::unmap) returned
/// are used again. Released tables are flushed before they are handed out.
pub struct Mapper<F: PageTableFormat, A: TableAccess, T: Tlb> {
    root: PhysAddr,
    access: A,
    tlb: T,
    pending: PendingFlush,
    /// Counts releases of tables, so that a [`Cursor`] can tell whether the
    /// table it remembers may be gone.
    generation: u64,
    format: PhantomData<F>,
}

impl<F: PageTableFormat, A: TableAccess, T: Tlb> Mapper<F, A, T> {
    /// A mapper for the tree whose root table is at `root`.
    ///
    /// # Safety
    ///
    /// `root` must be a page table of format `F` that only this mapper edits, whose
    /// tables `access` can reach, and whose intermediate tables (if any) were
    /// allocated as whole frames that the mapper may release when they empty.
    /// `tlb` must reach every CPU that uses the tree.
    pub unsafe fn new(root: PhysAddr, access: A, tlb: T) -> Self {
        Self {
            root,
            access,
            tlb,
            pending: PendingFlush::new(),
            generation: 0,
            format: PhantomData,
        }
    }

    /// The TLB the mapper maintains.
    pub fn tlb(&mut self) -> &mut T {
        &mut self.tlb
    }

    /// Flushes the pages unmapped since the last flush, in one round of TLB
    /// maintenance. After it, their frames may be reused.
    pub fn flush(&mut self) {
        self.pending.flush(&mut self.tlb);
    }

    /// The physical address of the root table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// The table access, for callers that reach tables too (tests, walkers).
    pub fn access(&mut self) -> &mut A {
        &mut self.access
    }

    /// A copy of the table at `table` (for inspection, e.g. of another root).
    pub fn access_table(&mut self, table: PhysAddr) -> Table {
        let pointer = self.access.table(table);
        // SAFETY: `TableAccess` promises a readable table at `pointer`.
        unsafe { pointer.read_volatile() }
    }

    fn read(&mut self, table: PhysAddr, index: usize) -> u64 {
        let pointer = self.access.table(table);
        // SAFETY: `TableAccess` promises `pointer` addresses the whole table at
        // `table`, and `index < ENTRIES_PER_TABLE`. Volatile: the walker reads it too.
        unsafe { (&raw const (*pointer)[index]).read_volatile() }
    }

    fn write(&mut self, table: PhysAddr, index: usize, entry: u64) {
        let pointer = self.access.table(table);
        // SAFETY: as in `read`; the mapper owns the tables of its tree.
        unsafe { (&raw mut (*pointer)[index]).write_volatile(entry) }
    }

    fn zero(&mut self, table: PhysAddr) {
        let pointer = self.access.table(table);
        // SAFETY: the frame came from a frame source and is ours to fill.
        unsafe { pointer.write_bytes(0, 1) }
    }

    /// Maps the page at `virt` to the frame `phys`: a run of one page (see
    /// [`map_run`](Self::map_run)), so on `Err` nothing was mapped.
    pub fn map(
        &mut self,
        virt: VirtAddr,
        phys: PhysAddr,
        attributes: Attributes,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        self.map_run(&mut Cursor::at(virt), [phys], attributes, tables)
    }

    /// Maps one page per frame of `frames`, in order, from the cursor's page
    /// on, and leaves the cursor after the last one.
    ///
    /// The walk from the root happens for the first page and again only where
    /// the run crosses into another last-level table; missing intermediate
    /// tables come from `tables`. Mappings from invalid to valid need no TLB
    /// flush; the new entries are published to the table walker before this
    /// returns.
    ///
    /// # Errors
    ///
    /// At the first page that cannot be mapped ([`MapError::Unaligned`],
    /// [`MapError::AlreadyMapped`], [`MapError::OutOfTableFrames`]), with the
    /// cursor left at that page. The pages before it stay mapped: a caller
    /// that wants all or nothing unmaps them (the address space does).
    pub fn map_run(
        &mut self,
        cursor: &mut Cursor,
        frames: impl IntoIterator<Item = PhysAddr>,
        attributes: Attributes,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        let mapped = frames
            .into_iter()
            .try_for_each(|phys| self.map_at(cursor, phys, attributes, tables));
        F::publish_tables();
        mapped
    }

    /// Maps the cursor's page to `phys` and moves the cursor on; leaves it
    /// there on error.
    fn map_at(
        &mut self,
        cursor: &mut Cursor,
        phys: PhysAddr,
        attributes: Attributes,
        tables: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        let virt = cursor.next;
        if !virt.is_page_aligned() || !phys.is_page_aligned() {
            return Err(MapError::Unaligned { virt, phys });
        }
        let table = match self.known_leaf(cursor) {
            Some(table) => table,
            None => {
                let table = self.walk_creating(virt, tables)?;
                self.remember(cursor, table);
                table
            }
        };
        self.ensure_unmapped(table, virt)?;
        let index = F::index(virt, F::LEVELS - 1);
        self.write(table, index, F::encode_page(phys, attributes));
        cursor.skip(1);
        Ok(())
    }

    /// The last-level table `cursor` found, if it is still the one for its page.
    fn known_leaf(&self, cursor: &Cursor) -> Option<PhysAddr> {
        cursor
            .leaf
            .filter(|leaf| leaf.region == cursor.region() && leaf.generation == self.generation)
            .map(|leaf| leaf.table)
    }

    fn remember(&self, cursor: &mut Cursor, table: PhysAddr) {
        cursor.leaf = Some(LeafTable {
            region: cursor.region(),
            table,
            generation: self.generation,
        });
    }

    /// Walks to the last-level table for `virt`, creating missing tables.
    fn walk_creating(
        &mut self,
        virt: VirtAddr,
        tables: &mut impl FrameSource,
    ) -> Result<PhysAddr, MapError> {
        let mut table = self.root;
        for level in 0..F::LEVELS - 1 {
            let index = F::index(virt, level);
            table = match F::decode(self.read(table, index), level) {
                Descriptor::Table(next) => next,
                Descriptor::Invalid => {
                    let next = tables
                        .allocate_frame()
                        .ok_or(MapError::OutOfTableFrames { virt })?;
                    self.zero(next);
                    // The zeroed table must be visible before the entry that
                    // points at it.
                    F::publish_tables();
                    self.write(table, index, F::encode_table(next));
                    next
                }
                existing @ Descriptor::Leaf(..) => {
                    return Err(MapError::AlreadyMapped { virt, existing });
                }
            };
        }
        Ok(table)
    }

    /// Tables that [`map`](Self::map) would have to create for `virt`. Fails
    /// with `AlreadyMapped` when the walk meets a block mapping or `virt` is
    /// mapped already, so that a caller can take exactly this many frames first.
    pub fn missing_tables(&mut self, virt: VirtAddr) -> Result<usize, MapError> {
        let mut cursor = Cursor::at(virt);
        let missing = self.missing_tables_at(&mut cursor)?;
        if let Some(table) = self.known_leaf(&cursor) {
            self.ensure_unmapped(table, virt)?;
        }
        Ok(missing)
    }

    /// Fails with `AlreadyMapped` when `virt`'s entry in its last-level
    /// `table` is not empty.
    fn ensure_unmapped(&mut self, table: PhysAddr, virt: VirtAddr) -> Result<(), MapError> {
        let existing = F::decode(
            self.read(table, F::index(virt, F::LEVELS - 1)),
            F::LEVELS - 1,
        );
        match existing {
            Descriptor::Invalid => Ok(()),
            existing => Err(MapError::AlreadyMapped { virt, existing }),
        }
    }

    /// Tables that [`map_run`](Self::map_run) would have to create before it
    /// maps the cursor's page: 0 when its last-level table exists, which the
    /// cursor then remembers (the run starts without another walk). A run that
    /// stays within [`Cursor::pages_left_in_table`] needs no more. Fails with
    /// `AlreadyMapped` when the walk meets a block mapping.
    pub fn missing_tables_at(&mut self, cursor: &mut Cursor) -> Result<usize, MapError> {
        match self.find_leaf(cursor) {
            Ok(_) => Ok(0),
            Err(WalkStop {
                depth,
                entry: Descriptor::Invalid,
            }) => Ok(F::LEVELS - depth),
            Err(WalkStop { entry, .. }) => Err(MapError::AlreadyMapped {
                virt: cursor.next,
                existing: entry,
            }),
        }
    }

    /// The last-level table of the cursor's page, walking from the root unless
    /// the cursor knows it (and remembering it then); where the walk stopped
    /// when the tree has none there.
    fn find_leaf(&mut self, cursor: &mut Cursor) -> Result<PhysAddr, WalkStop> {
        if let Some(table) = self.known_leaf(cursor) {
            return Ok(table);
        }
        let virt = cursor.next;
        let (path, depth) = self.path(virt);
        if depth < F::LEVELS {
            let level = depth - 1;
            let entry = F::decode(self.read(path[level], F::index(virt, level)), level);
            return Err(WalkStop { depth, entry });
        }
        self.remember(cursor, path[depth - 1]);
        Ok(path[depth - 1])
    }

    /// Clears the page at `virt` in its last-level `table` and queues it for
    /// the next flush; its frame, or `None` when nothing was mapped there.
    fn clear_page(&mut self, table: PhysAddr, virt: VirtAddr) -> Option<PhysAddr> {
        let last = F::LEVELS - 1;
        let index = F::index(virt, last);
        let Descriptor::Leaf(frame, _) = F::decode(self.read(table, index), last) else {
            return None;
        };
        self.write(table, index, 0);
        self.pending.add(virt);
        Some(frame)
    }

    /// The tables on the walk to `virt`, root first, and how many there are:
    /// the walk stops at the first entry that is not a table.
    fn path(&mut self, virt: VirtAddr) -> ([PhysAddr; 8], usize) {
        let mut path = [self.root; 8];
        let mut depth = 1;
        while depth < F::LEVELS {
            let level = depth - 1;
            match F::decode(self.read(path[level], F::index(virt, level)), level) {
                Descriptor::Table(next) => path[depth] = next,
                Descriptor::Invalid | Descriptor::Leaf(..) => break,
            }
            depth += 1;
        }
        (path, depth)
    }

    /// Unmaps the page at `virt` and returns its frame.
    ///
    /// The page waits for the next [`flush`](Self::flush), which must come
    /// before the frame is reused. Tables that become empty are unlinked,
    /// flushed at once (the walk caches may hold them) and handed to
    /// `freed_tables`.
    pub fn unmap(
        &mut self,
        virt: VirtAddr,
        freed_tables: &mut impl FrameSink,
    ) -> Result<PhysAddr, UnmapError> {
        let frame = self.unmap_keeping_tables(virt)?;
        self.release_idle_tables(virt, freed_tables);
        Ok(frame)
    }

    /// Unmaps the page at `virt` and returns its frame, leaving every table in
    /// place (empty ones included). The page waits for the next flush. The
    /// walk is [`unmap_run`](Self::unmap_run)'s.
    pub fn unmap_keeping_tables(&mut self, virt: VirtAddr) -> Result<PhysAddr, UnmapError> {
        let virt = virt.align_down(PAGE_SIZE as u64);
        let table = self
            .find_leaf(&mut Cursor::at(virt))
            .map_err(|stop| match stop.entry {
                Descriptor::Leaf(..) => UnmapError::BlockMapping(virt),
                Descriptor::Invalid | Descriptor::Table(_) => UnmapError::NotMapped(virt),
            })?;
        self.clear_page(table, virt)
            .ok_or(UnmapError::NotMapped(virt))
    }

    /// Unmaps every mapped page among the `pages` pages from the cursor's page
    /// on, hands each one's frame to `unmapped` in address order, and leaves
    /// the cursor after the last page. Pages where nothing is mapped are
    /// skipped, a region without a last-level table at once (so is a block
    /// mapping, which this mapper never makes).
    ///
    /// The walk happens once per last-level table. Every table stays, empty
    /// ones included (release them with
    /// [`release_idle_tables`](Self::release_idle_tables)). The pages wait for
    /// the next [`flush`](Self::flush), one round for the batch, which must
    /// come before their frames are reused. Returns how many were unmapped.
    pub fn unmap_run(
        &mut self,
        cursor: &mut Cursor,
        pages: usize,
        mut unmapped: impl FnMut(PhysAddr),
    ) -> usize {
        let (mut left, mut count) = (pages, 0);
        while left > 0 {
            let in_table = cursor.pages_left_in_table().min(left);
            if let Ok(table) = self.find_leaf(cursor) {
                for _ in 0..in_table {
                    if let Some(frame) = self.clear_page(table, cursor.next) {
                        unmapped(frame);
                        count += 1;
                    }
                    cursor.skip(1);
                }
            } else {
                cursor.skip(in_table);
            }
            left -= in_table;
        }
        count
    }

    /// Tables (never the root) on the walk to `virt` that serve no mapping: the
    /// last one holds nothing, each one above holds only the link to the next.
    /// These are the tables [`release_idle_tables`](Self::release_idle_tables)
    /// would release.
    pub fn idle_tables(&mut self, virt: VirtAddr) -> usize {
        let (path, depth) = self.path(virt);
        let mut idle = 0;
        for level in (1..depth).rev() {
            // The link to the idle table below is the one entry allowed.
            let link = (idle > 0).then(|| F::index(virt, level));
            let busy = (0..ENTRIES_PER_TABLE)
                .any(|index| Some(index) != link && self.read(path[level], index) != 0);
            if busy {
                break;
            }
            idle += 1;
        }
        idle
    }

    /// Unlinks the [`idle_tables`](Self::idle_tables) on the walk to `virt`,
    /// flushes the pending pages together with them (the walk caches may hold
    /// them) and hands them to `freed_tables`. Returns how many were released.
    pub fn release_idle_tables(
        &mut self,
        virt: VirtAddr,
        freed_tables: &mut impl FrameSink,
    ) -> usize {
        let idle = self.idle_tables(virt);
        if idle == 0 {
            return 0;
        }
        let (path, depth) = self.path(virt);
        // Cursors that remember one of these tables must walk again.
        self.generation += 1;
        let mut released = FrameList::<8>::new();
        for level in (depth - idle..depth).rev() {
            self.write(path[level - 1], F::index(virt, level - 1), 0);
            released.push(path[level]);
        }
        self.pending.add(virt.align_down(PAGE_SIZE as u64));
        self.flush();
        for table in released.as_slice() {
            freed_tables.put(*table);
        }
        idle
    }

    /// True when `frame` is one of the tables (other than the root) on the walk
    /// to `virt`.
    pub fn is_table_on_path(&mut self, virt: VirtAddr, frame: PhysAddr) -> bool {
        let mut table = self.root;
        for level in 0..F::LEVELS - 1 {
            match F::decode(self.read(table, F::index(virt, level)), level) {
                Descriptor::Table(next) if next == frame => return true,
                Descriptor::Table(next) => table = next,
                Descriptor::Invalid | Descriptor::Leaf(..) => return false,
            }
        }
        false
    }

    /// The frame and attributes mapped at `virt`, if any.
    pub fn translate(&mut self, virt: VirtAddr) -> Option<(PhysAddr, Attributes)> {
        let mut table = self.root;
        for level in 0..F::LEVELS {
            match F::decode(self.read(table, F::index(virt, level)), level) {
                Descriptor::Table(next) => table = next,
                Descriptor::Leaf(frame, attributes) => {
                    let level_size = 1u64 << (12 + 9 * (F::LEVELS - 1 - level));
                    let offset = virt.0 & (level_size - 1);
                    return Some((PhysAddr(frame.0 + offset), attributes));
                }
                Descriptor::Invalid => return None,
            }
        }
        None
    }

    /// Calls `visit(virt, frame, attributes, size)` for every leaf in the tree, in
    /// address order. `upper_half` says whether addresses are sign-extended into
    /// the top half (TTBR1 / kernel half).
    pub fn for_each_leaf(
        &mut self,
        upper_half: bool,
        visit: &mut impl FnMut(VirtAddr, PhysAddr, Attributes, u64),
    ) {
        self.visit_table(self.root, 0, 0, upper_half, visit);
    }

    /// Calls `visit` with every table of the tree, the root first, then each
    /// table before the tables below it.
    pub fn for_each_table(&mut self, visit: &mut impl FnMut(PhysAddr)) {
        self.visit_tables(self.root, 0, visit);
    }

    fn visit_tables(&mut self, table: PhysAddr, level: usize, visit: &mut impl FnMut(PhysAddr)) {
        visit(table);
        if level + 1 == F::LEVELS {
            return;
        }
        for index in 0..ENTRIES_PER_TABLE {
            if let Descriptor::Table(next) = F::decode(self.read(table, index), level) {
                self.visit_tables(next, level + 1, visit);
            }
        }
    }

    fn visit_table(
        &mut self,
        table: PhysAddr,
        level: usize,
        base: u64,
        upper_half: bool,
        visit: &mut impl FnMut(VirtAddr, PhysAddr, Attributes, u64),
    ) {
        let shift = 12 + 9 * (F::LEVELS - 1 - level) as u32;
        for index in 0..ENTRIES_PER_TABLE {
            let mut virt = base | ((index as u64) << shift);
            if level == 0 && upper_half {
                virt |= !((1u64 << (shift + 9)) - 1);
            }
            match F::decode(self.read(table, index), level) {
                Descriptor::Invalid => {}
                Descriptor::Table(next) => {
                    self.visit_table(next, level + 1, virt, upper_half, visit)
                }
                Descriptor::Leaf(frame, attributes) => {
                    visit(VirtAddr(virt), frame, attributes, 1u64 << shift);
                }
            }
        }
    }
}
