//! A seeded stress run of the whole memory system.
//!
//! One driver, two homes: the kernel runs it over the real memory system
//! (`stress` and `selftest` on the command line), the host tests over
//! simulated RAM as a property test that shrinks a failing sequence. Each
//! operation is decoded from one 64-bit word, so a run is its list of words:
//! the kernel draws them from a seeded generator, proptest generates and
//! shrinks them.
//!
//! The mix: frames allocated and freed one at a time and in batches, heap
//! blocks of mixed sizes and alignments allocated, reallocated and freed,
//! virtual ranges allocated and freed, and mappings of fresh pages whose pages
//! carry a pattern. Every few thousand operations, and whenever a word asks for
//! it, the run drains the free frames on purpose and then makes the heap grow,
//! a mapping be built and a batch be taken with too few frames left: each must
//! fail cleanly and leave the free count as it was.
//!
//! Checked as it goes: no frame is out twice (a bitmap over RAM records every
//! frame the run holds, directly or behind its mappings), every mapped page and
//! heap block still holds its pattern, and every free the run makes is
//! accepted. Checked at the end, after everything is returned and the heap
//! trimmed: the frames (free ones, the heap's pages and the page tables
//! together), the heap's bytes in use and the free virtual range are those of
//! the start. The run stops at the first broken check and says which.
//!
//! The run's own bookkeeping is allocated before the start counts are taken and
//! never grows, so an exhausted heap cannot fail it.

use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr, VirtRange};
use crate::memory::frames::{FreeError, OutOfFrames};

/// What the stress run needs from a memory system.
pub trait MemorySystem {
    /// Fresh pages mapped read-write in a virtual range, owned by the run.
    type Mapping;
    /// A virtual range with nothing mapped, owned by the run.
    type Range;

    /// Frames that can be allocated now.
    fn free_frame_count(&mut self) -> usize;
    /// One frame, or `None` when none is free.
    fn allocate_frame(&mut self) -> Option<PhysAddr>;
    /// Fills `frames`, all or nothing.
    fn allocate_frames(&mut self, frames: &mut [PhysAddr]) -> Result<(), OutOfFrames>;
    /// Returns a frame the run holds.
    fn free_frame(&mut self, frame: PhysAddr) -> Result<(), FreeError>;
    /// Frees the memory system made on its own behalf that were refused
    /// (frames of unmapped pages, released tables): each a lost frame.
    fn refused_free_count(&mut self) -> usize;

    /// A heap block, or `None` when the heap cannot grow.
    fn heap_allocate(&mut self, layout: Layout) -> Option<NonNull<u8>>;
    /// Moves `block` to a block of `new_size` bytes (same alignment), keeping
    /// its contents up to the smaller size; `None` leaves `block` as it was.
    ///
    /// # Safety
    ///
    /// `block` came from this heap with `layout` and is not used after a
    /// successful call.
    unsafe fn heap_reallocate(
        &mut self,
        block: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>>;
    /// Frees a heap block.
    ///
    /// # Safety
    ///
    /// `block` came from this heap with `layout` and is not used afterwards.
    unsafe fn heap_free(&mut self, block: NonNull<u8>, layout: Layout);
    /// Gives every heap page the heap can spare back to the frames now.
    fn heap_trim(&mut self);
    /// Heap bytes in use.
    fn heap_used_bytes(&mut self) -> usize;
    /// Heap bytes mapped.
    fn heap_mapped_bytes(&mut self) -> u64;

    /// A virtual range of `pages` pages with nothing mapped, or `None`.
    fn allocate_range(&mut self, pages: usize) -> Option<Self::Range>;
    /// Returns a range from [`Self::allocate_range`].
    fn free_range(&mut self, range: Self::Range);
    /// Free bytes of the virtual window ranges and mappings come from.
    fn range_free_bytes(&mut self) -> u64;
    /// The most pages one [`Self::allocate_range`] can get now.
    fn largest_range_pages(&mut self) -> usize;

    /// Allocates `pages` frames and a range and maps them read-write; all or
    /// nothing. `None` when memory (frames or virtual space) is exhausted.
    fn map_pages(&mut self, pages: usize) -> Option<Self::Mapping>;
    /// The pages of a mapping.
    fn mapping_range(mapping: &Self::Mapping) -> VirtRange;
    /// Unmaps a mapping and frees its frames and range.
    fn unmap(&mut self, mapping: Self::Mapping);
    /// The frame mapped at `virt`.
    fn translate(&mut self, virt: VirtAddr) -> Option<PhysAddr>;
    /// Writes a word to mapped memory.
    fn write_word(&mut self, virt: VirtAddr, value: u64);
    /// Reads a word of mapped memory.
    fn read_word(&mut self, virt: VirtAddr) -> u64;
    /// How many frames the page tables hold that are not free (the frame
    /// stack's window tables count among the free frames).
    fn table_frames(&mut self) -> usize;
    /// Calls `each` with every frame of RAM the memory system's page tables
    /// hold: the tables themselves, and the frames behind every mapping of
    /// normal memory (the heap, kernel stacks, the image…) except the table
    /// access window and the pages for which `skip` is true (the run's own).
    fn frames_in_use(&mut self, skip: &dyn Fn(VirtAddr) -> bool, each: &mut dyn FnMut(PhysAddr));
}

/// How big a run is and how much it may hold at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most frames held one by one.
    pub frames: usize,
    /// Most heap bytes live at once.
    pub heap_bytes: usize,
    /// Most heap blocks live at once.
    pub heap_blocks: usize,
    /// Most ranges and mappings live at once (each).
    pub ranges: usize,
    /// Operations between two forced exhaustions (0: only when a word asks).
    pub exhaust_every: u64,
}

impl Limits {
    /// Limits for a machine with `free_frames` free frames: small enough that
    /// the run's holdings never crowd out an exhaustion, large enough to churn.
    pub fn for_free_frames(free_frames: usize) -> Self {
        Self {
            frames: (free_frames / 8).clamp(16, 4096),
            heap_bytes: (free_frames * PAGE_SIZE / 64).clamp(64 << 10, 4 << 20),
            heap_blocks: 2048,
            ranges: 32,
            exhaust_every: 20_000,
        }
    }
}

/// The check that failed first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure {
    /// A frame was handed out while the run already held it.
    FrameTwice(PhysAddr),
    /// A frame was handed out that is not RAM.
    FrameOutsideRam(PhysAddr),
    /// A free the run made was refused.
    FreeRefused(FreeError),
    /// A mapped page lost its pattern.
    PageCorrupted {
        /// The word that changed.
        at: VirtAddr,
        /// What the run wrote there.
        expected: u64,
        /// What it read back.
        found: u64,
    },
    /// A mapped page translates to no frame.
    PageUnmapped(VirtAddr),
    /// A heap block lost its pattern (two blocks overlap, or a page under it
    /// changed).
    HeapCorrupted(usize),
    /// A heap block breaks its layout's alignment.
    HeapMisaligned(usize),
    /// A batch allocation failed although the count said it would fit.
    BatchRefused(OutOfFrames),
    /// An allocation at exhaustion succeeded although nothing should be left.
    ExhaustionNotReached(&'static str),
    /// A failed allocation at exhaustion changed the free-frame count.
    ExhaustionLeaked {
        /// The allocation that failed.
        what: &'static str,
        /// Free frames before it.
        before: usize,
        /// Free frames after it.
        after: usize,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTwice(frame) => write!(f, "frame {frame} handed out twice"),
            Self::FrameOutsideRam(frame) => write!(f, "frame {frame} handed out is not RAM"),
            Self::FreeRefused(error) => write!(f, "free refused: {error}"),
            Self::PageCorrupted {
                at,
                expected,
                found,
            } => write!(
                f,
                "mapped page changed at {at}: wrote {expected:#x}, read {found:#x}"
            ),
            Self::PageUnmapped(at) => write!(f, "mapped page at {at} translates to nothing"),
            Self::HeapCorrupted(address) => write!(f, "heap block at {address:#x} changed"),
            Self::HeapMisaligned(address) => write!(f, "heap block at {address:#x} misaligned"),
            Self::BatchRefused(error) => write!(f, "batch refused although it fits: {error}"),
            Self::ExhaustionNotReached(what) => {
                write!(f, "{what} succeeded with the frames exhausted")
            }
            Self::ExhaustionLeaked {
                what,
                before,
                after,
            } => write!(
                f,
                "failed {what} changed the free frames from {before} to {after}"
            ),
        }
    }
}

/// The counts a run compares at its start and end.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    /// Free frames.
    pub free_frames: usize,
    /// Heap bytes in use.
    pub heap_used: usize,
    /// Heap bytes mapped.
    pub heap_mapped: u64,
    /// Frames the page tables hold that are not free.
    pub tables: usize,
    /// Free bytes of the range window.
    pub range_free: u64,
    /// Frees the memory system made on its own behalf and had refused.
    pub refused_frees: usize,
}

/// What a run did and found.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// Operations executed.
    pub operations: u64,
    /// Times the free frames were drained on purpose.
    pub exhaustions: u64,
    /// Times the range window was drained on purpose (inside a frame drain).
    pub range_exhaustions: u64,
    /// Counts before the first operation.
    pub start: Counts,
    /// Counts after everything was returned.
    pub end: Counts,
    /// The first broken check, if any.
    pub failure: Option<Failure>,
}

impl Report {
    /// What did not come back, added up over its four measures (frames,
    /// heap bytes, range bytes, refused frees; each shown apart in the
    /// report): zero exactly when the run lost nothing. Frames count free
    /// ones, the heap's pages and page tables together: where the heap's
    /// live blocks sit at the end, and so which pages and tables it keeps,
    /// depends on the order of the run's frees.
    pub fn lost(&self) -> u64 {
        let held = |counts: &Counts| {
            counts.free_frames + counts.heap_mapped as usize / PAGE_SIZE + counts.tables
        };
        let frames = held(&self.start).abs_diff(held(&self.end)) as u64;
        let heap = self.start.heap_used.abs_diff(self.end.heap_used) as u64;
        let ranges = self.start.range_free.abs_diff(self.end.range_free);
        let refused = self.start.refused_frees.abs_diff(self.end.refused_frees) as u64;
        frames + heap + ranges + refused
    }

    /// True when every check held and nothing was lost.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.lost() == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stress: {} operations, {} exhaustions, {} lost (range window drained {} times; free frames {} -> {}, heap pages {} -> {}, page tables {} -> {}, heap bytes in use {} -> {}, free range bytes {:#x} -> {:#x}, refused frees {} -> {})",
            self.operations,
            self.exhaustions,
            self.lost(),
            self.range_exhaustions,
            self.start.free_frames,
            self.end.free_frames,
            self.start.heap_mapped as usize / PAGE_SIZE,
            self.end.heap_mapped as usize / PAGE_SIZE,
            self.start.tables,
            self.end.tables,
            self.start.heap_used,
            self.end.heap_used,
            self.start.range_free,
            self.end.range_free,
            self.start.refused_frees,
            self.end.refused_frees,
        )?;
        if let Some(failure) = self.failure {
            write!(f, "; FAILED: {failure}")?;
        }
        Ok(())
    }
}

/// The frames a run holds, one bit per frame of RAM.
struct FrameRecord {
    ram: Vec<(PhysRange, usize)>,
    bits: Vec<u64>,
}

impl FrameRecord {
    fn new(ram: &[PhysRange]) -> Self {
        let mut ranges = Vec::with_capacity(ram.len());
        let mut total = 0;
        for range in ram {
            ranges.push((*range, total));
            total += (range.size / PAGE_SIZE as u64) as usize;
        }
        let bits = alloc::vec![0; total.div_ceil(64)];
        Self { ram: ranges, bits }
    }

    fn bit(&self, frame: PhysAddr) -> Option<usize> {
        self.ram.iter().find_map(|(range, first)| {
            range
                .contains(frame)
                .then(|| first + ((frame.0 - range.start.0) / PAGE_SIZE as u64) as usize)
        })
    }

    /// Records `frame` as held; fails if it already was, or is not RAM.
    fn take(&mut self, frame: PhysAddr) -> Result<(), Failure> {
        let bit = self.bit(frame).ok_or(Failure::FrameOutsideRam(frame))?;
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.bits[word] & mask != 0 {
            return Err(Failure::FrameTwice(frame));
        }
        self.bits[word] |= mask;
        Ok(())
    }

    /// Records `frame` as returned.
    fn give_back(&mut self, frame: PhysAddr) {
        if let Some(bit) = self.bit(frame) {
            self.bits[bit / 64] &= !(1u64 << (bit % 64));
        }
    }
}

/// Ranges an exhaustion of the range window may take beyond the run's own:
/// one per free piece of the window.
const EXHAUSTION_RANGES: usize = 64;

/// Most blocks that fill the heap at an exhaustion (each a power-of-two
/// fraction of the heap, so a few dozen reach down to 8 bytes).
const FILLERS: usize = 256;

/// A heap block the run holds, filled with one byte value.
struct Block {
    address: NonNull<u8>,
    layout: Layout,
    fill: u8,
}

/// A small xorshift generator: the kernel's source of operation words.
#[derive(Clone, Copy, Debug)]
pub struct Words(u64);

impl Words {
    /// A generator seeded with `seed` (any value; 0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
}

impl Iterator for Words {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Some(x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
}

/// A run in progress over `system`.
pub struct Stress<'s, S: MemorySystem> {
    system: &'s mut S,
    limits: Limits,
    record: FrameRecord,
    frames: Vec<PhysAddr>,
    drained: Vec<PhysAddr>,
    blocks: Vec<Block>,
    /// Blocks that fill the heap while the frames are exhausted.
    fillers: Vec<Block>,
    heap_live: usize,
    ranges: Vec<S::Range>,
    mappings: Vec<(S::Mapping, u64)>,
    operations: u64,
    exhaustions: u64,
    range_exhaustions: u64,
    next_tag: u64,
}

/// Runs `words` (one operation each) over `system`, then returns everything
/// and compares the counts. `ram` is the RAM the system's frames come from.
pub fn run<S: MemorySystem>(
    system: &mut S,
    ram: &[PhysRange],
    limits: Limits,
    words: impl IntoIterator<Item = u64>,
) -> Report {
    let mut stress = Stress::new(system, ram, limits);
    let start = stress.counts();
    let mut failure = None;
    for word in words {
        if let Err(broken) = stress.step(word) {
            failure = Some(broken);
            break;
        }
    }
    if let Err(broken) = stress.release_all() {
        failure = failure.or(Some(broken));
    }
    let end = stress.counts();
    Report {
        operations: stress.operations,
        exhaustions: stress.exhaustions,
        range_exhaustions: stress.range_exhaustions,
        start,
        end,
        failure,
    }
}

impl<'s, S: MemorySystem> Stress<'s, S> {
    /// Allocates the run's bookkeeping, then grows the heap to room for the
    /// run's blocks so that the heap does not grow (and keep frames) later.
    fn new(system: &'s mut S, ram: &[PhysRange], limits: Limits) -> Self {
        let free = system.free_frame_count();
        let stress = Self {
            limits,
            record: FrameRecord::new(ram),
            frames: Vec::with_capacity(limits.frames),
            drained: Vec::with_capacity(free + 64),
            blocks: Vec::with_capacity(limits.heap_blocks),
            fillers: Vec::with_capacity(FILLERS),
            heap_live: 0,
            ranges: Vec::with_capacity(limits.ranges + EXHAUSTION_RANGES),
            mappings: Vec::with_capacity(limits.ranges),
            operations: 0,
            exhaustions: 0,
            range_exhaustions: 0,
            next_tag: 1,
            system,
        };
        // Room for the blocks three times over: first fit fragments.
        if let Ok(room) = Layout::from_size_align(3 * limits.heap_bytes, 8)
            && let Some(block) = stress.system.heap_allocate(room)
        {
            // SAFETY: just allocated with `room`, not used again.
            unsafe { stress.system.heap_free(block, room) };
        }
        stress
    }

    /// The counts, after the heap gave back what it can spare: the pages it
    /// keeps for reuse depend on the order of the frees before.
    fn counts(&mut self) -> Counts {
        self.system.heap_trim();
        Counts {
            free_frames: self.system.free_frame_count(),
            heap_used: self.system.heap_used_bytes(),
            heap_mapped: self.system.heap_mapped_bytes(),
            tables: self.system.table_frames(),
            range_free: self.system.range_free_bytes(),
            refused_frees: self.system.refused_free_count(),
        }
    }

    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    /// Executes the operation `word` encodes.
    fn step(&mut self, word: u64) -> Result<(), Failure> {
        self.operations += 1;
        let argument = word >> 8;
        if self.limits.exhaust_every > 0
            && self.operations.is_multiple_of(self.limits.exhaust_every)
        {
            return self.exhaust(argument);
        }
        match word % 32 {
            0..=4 => self.take_frame(),
            5..=8 => self.return_frame(argument),
            9 => self.take_frames(1 + (argument % 64) as usize),
            10 => self.return_frames(1 + (argument % 64) as usize),
            11..=15 => self.allocate_block(argument),
            16..=17 => self.reallocate_block(argument),
            18..=21 => self.free_block(argument),
            22..=23 => self.take_range(1 + (argument % 64) as usize),
            24 => self.return_range(argument),
            25..=26 => self.map(1 + (argument % 16) as usize),
            27..=29 => self.unmap(argument),
            30 => self.check_mappings(),
            // Rare: a drain costs one pop per free frame, at any RAM size.
            _ if argument.is_multiple_of(1024) => self.exhaust(argument >> 10),
            _ => self.take_frame(),
        }
    }

    fn take_frame(&mut self) -> Result<(), Failure> {
        if self.frames.len() == self.frames.capacity() {
            return Ok(());
        }
        if let Some(frame) = self.system.allocate_frame() {
            self.record.take(frame)?;
            self.frames.push(frame);
        }
        Ok(())
    }

    fn return_frame(&mut self, pick: u64) -> Result<(), Failure> {
        if self.frames.is_empty() {
            return Ok(());
        }
        let frame = self.frames.swap_remove(pick as usize % self.frames.len());
        self.record.give_back(frame);
        self.system.free_frame(frame).map_err(Failure::FreeRefused)
    }

    fn take_frames(&mut self, count: usize) -> Result<(), Failure> {
        let room = self.frames.capacity() - self.frames.len();
        let count = count.min(room).min(self.drained.capacity());
        let free = self.system.free_frame_count();
        let batch = &mut self.drained;
        batch.resize(count, PhysAddr(0));
        match self.system.allocate_frames(batch) {
            Ok(()) => {
                for &frame in batch.iter() {
                    self.record.take(frame)?;
                }
                self.frames.extend_from_slice(batch);
            }
            Err(error) if count <= free => return Err(Failure::BatchRefused(error)),
            Err(_) => {}
        }
        batch.clear();
        Ok(())
    }

    fn return_frames(&mut self, count: usize) -> Result<(), Failure> {
        for _ in 0..count.min(self.frames.len()) {
            if let Some(frame) = self.frames.pop() {
                self.record.give_back(frame);
                self.system
                    .free_frame(frame)
                    .map_err(Failure::FreeRefused)?;
            }
        }
        Ok(())
    }

    fn allocate_block(&mut self, argument: u64) -> Result<(), Failure> {
        // Sizes of 8 B to 16 KiB, log-uniform by power of two; alignments of 8 B to 4 KiB, the
        // large ones rarely.
        let size = 8usize << (argument % 11);
        let size = size + (argument >> 4) as usize % size;
        let align = if (argument >> 20).is_multiple_of(16) {
            8usize << ((argument >> 24) % 10)
        } else {
            8
        };
        let Ok(layout) = Layout::from_size_align(size, align) else {
            return Ok(());
        };
        if self.blocks.len() == self.blocks.capacity()
            || self.heap_live + size > self.limits.heap_bytes
        {
            return self.free_block(argument);
        }
        let Some(address) = self.system.heap_allocate(layout) else {
            return Ok(());
        };
        if !(address.as_ptr() as usize).is_multiple_of(align) {
            return Err(Failure::HeapMisaligned(address.as_ptr() as usize));
        }
        let fill = self.tag() as u8;
        // SAFETY: the block is `size` bytes, freshly allocated, ours.
        unsafe { address.as_ptr().write_bytes(fill, size) };
        self.heap_live += size;
        self.blocks.push(Block {
            address,
            layout,
            fill,
        });
        Ok(())
    }

    fn check_block(block: &Block, length: usize) -> Result<(), Failure> {
        // SAFETY: the block holds at least `length` initialised bytes, ours.
        let bytes = unsafe { core::slice::from_raw_parts(block.address.as_ptr(), length) };
        if bytes.iter().all(|&byte| byte == block.fill) {
            Ok(())
        } else {
            Err(Failure::HeapCorrupted(block.address.as_ptr() as usize))
        }
    }

    fn reallocate_block(&mut self, argument: u64) -> Result<(), Failure> {
        if self.blocks.is_empty() {
            return self.allocate_block(argument);
        }
        let index = argument as usize % self.blocks.len();
        let old = self.blocks[index].layout;
        let new_size = (old.size() / 2).max(1) << ((argument >> 16) % 3);
        if self.heap_live - old.size() + new_size > self.limits.heap_bytes {
            return Ok(());
        }
        Self::check_block(&self.blocks[index], old.size())?;
        // SAFETY: the block came from this heap with `old` and is replaced below.
        let moved = unsafe {
            self.system
                .heap_reallocate(self.blocks[index].address, old, new_size)
        };
        let Some(address) = moved else {
            return Ok(());
        };
        let Ok(layout) = Layout::from_size_align(new_size, old.align()) else {
            return Ok(());
        };
        let block = &mut self.blocks[index];
        block.address = address;
        block.layout = layout;
        Self::check_block(block, old.size().min(new_size))?;
        // SAFETY: the block now holds `new_size` bytes, ours.
        unsafe { address.as_ptr().write_bytes(block.fill, new_size) };
        self.heap_live = self.heap_live - old.size() + new_size;
        Ok(())
    }

    fn free_block(&mut self, pick: u64) -> Result<(), Failure> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let block = self.blocks.swap_remove(pick as usize % self.blocks.len());
        Self::check_block(&block, block.layout.size())?;
        self.heap_live -= block.layout.size();
        // SAFETY: the block came from this heap with its layout; dropped here.
        unsafe { self.system.heap_free(block.address, block.layout) };
        Ok(())
    }

    fn take_range(&mut self, pages: usize) -> Result<(), Failure> {
        if self.ranges.len() < self.limits.ranges
            && let Some(range) = self.system.allocate_range(pages)
        {
            self.ranges.push(range);
        }
        Ok(())
    }

    fn return_range(&mut self, pick: u64) -> Result<(), Failure> {
        if !self.ranges.is_empty() {
            let range = self.ranges.swap_remove(pick as usize % self.ranges.len());
            self.system.free_range(range);
        }
        Ok(())
    }

    /// The word written at the start and at the end of page `index` of the
    /// mapping tagged `tag`.
    fn pattern(tag: u64, index: u64) -> u64 {
        (tag << 20) ^ index ^ 0x5eed_0000_0000_0000
    }

    fn page_words(range: VirtRange) -> impl Iterator<Item = (u64, VirtAddr)> {
        let page = PAGE_SIZE as u64;
        (0..range.size / page).flat_map(move |index| {
            let start = range.start.0 + index * page;
            [
                (index, VirtAddr(start)),
                (index, VirtAddr(start + page - 8)),
            ]
        })
    }

    fn map(&mut self, pages: usize) -> Result<(), Failure> {
        if self.mappings.len() == self.mappings.capacity() {
            return self.unmap(pages as u64);
        }
        let Some(mapping) = self.system.map_pages(pages) else {
            return Ok(());
        };
        let range = S::mapping_range(&mapping);
        let tag = self.tag();
        for (index, at) in Self::page_words(range) {
            let frame = self.system.translate(at).ok_or(Failure::PageUnmapped(at))?;
            if at.is_page_aligned() {
                self.record.take(frame)?;
            }
            self.system.write_word(at, Self::pattern(tag, index));
        }
        self.mappings.push((mapping, tag));
        Ok(())
    }

    fn check_mapping(&mut self, range: VirtRange, tag: u64) -> Result<(), Failure> {
        for (index, at) in Self::page_words(range) {
            let expected = Self::pattern(tag, index);
            let found = self.system.read_word(at);
            if found != expected {
                return Err(Failure::PageCorrupted {
                    at,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }

    fn check_mappings(&mut self) -> Result<(), Failure> {
        for index in 0..self.mappings.len() {
            let (range, tag) = (
                S::mapping_range(&self.mappings[index].0),
                self.mappings[index].1,
            );
            self.check_mapping(range, tag)?;
        }
        Ok(())
    }

    fn unmap(&mut self, pick: u64) -> Result<(), Failure> {
        if self.mappings.is_empty() {
            return Ok(());
        }
        let (mapping, tag) = self
            .mappings
            .swap_remove(pick as usize % self.mappings.len());
        let range = S::mapping_range(&mapping);
        self.check_mapping(range, tag)?;
        for (_, at) in Self::page_words(range).filter(|(_, at)| at.is_page_aligned()) {
            if let Some(frame) = self.system.translate(at) {
                self.record.give_back(frame);
            }
        }
        self.system.unmap(mapping);
        Ok(())
    }

    /// Drains the free frames down to a few, then tries what must fail there:
    /// a heap growth, a mapping and a batch larger than what is left, and
    /// single allocations past the last frame. Every failure must leave the
    /// free count as it was; then every drained frame goes back.
    fn exhaust(&mut self, argument: u64) -> Result<(), Failure> {
        self.exhaustions += 1;
        if argument.is_multiple_of(8) {
            self.exhaust_ranges()?;
        }
        let free = self.system.free_frame_count();
        let keep = (argument % 4) as usize;
        let count = free.saturating_sub(keep).min(self.drained.capacity());
        self.drained.resize(count, PhysAddr(0));
        if let Err(error) = self.system.allocate_frames(&mut self.drained) {
            self.drained.clear();
            return Err(Failure::BatchRefused(error));
        }
        let mut result = Ok(());
        for index in 0..self.drained.len() {
            let frame = self.drained[index];
            result = result.and(self.record.take(frame));
        }
        if result.is_ok() {
            result = self.fail_at_exhaustion(argument);
        }
        for index in 0..self.drained.len() {
            let frame = self.drained[index];
            self.record.give_back(frame);
            let freed = self.system.free_frame(frame).map_err(Failure::FreeRefused);
            result = result.and(freed);
        }
        self.drained.clear();
        result
    }

    fn fail_at_exhaustion(&mut self, argument: u64) -> Result<(), Failure> {
        let left = self.system.free_frame_count();
        let unchanged = |system: &mut S, what| {
            let after = system.free_frame_count();
            if after == left {
                Ok(())
            } else {
                Err(Failure::ExhaustionLeaked {
                    what,
                    before: left,
                    after,
                })
            }
        };
        // Larger than the whole heap, so no free block can serve it: the heap
        // must grow, by more pages than are left.
        let growth = self.system.heap_mapped_bytes() as usize
            + (left + 8 + (argument >> 3) as usize % 64) * PAGE_SIZE;
        if let Ok(layout) = Layout::from_size_align(growth, 8)
            && let Some(block) = self.system.heap_allocate(layout)
        {
            // SAFETY: just allocated with `layout`.
            unsafe { self.system.heap_free(block, layout) };
            return Err(Failure::ExhaustionNotReached("heap growth"));
        }
        unchanged(self.system, "heap growth")?;
        // A mapping that runs out of frames part of the way.
        if let Some(mapping) = self
            .system
            .map_pages(left + 1 + (argument >> 9) as usize % 8)
        {
            self.system.unmap(mapping);
            return Err(Failure::ExhaustionNotReached("mapping"));
        }
        unchanged(self.system, "mapping")?;
        let mut batch = [PhysAddr(0); 8];
        let batch = &mut batch[..(left + 1).min(8)];
        if left < 8 && self.system.allocate_frames(batch).is_ok() {
            return Err(Failure::ExhaustionNotReached("batch"));
        }
        unchanged(self.system, "batch")?;
        // Take the last frames one by one; the next must be refused.
        let first = self.drained.len();
        while let Some(frame) = self.system.allocate_frame() {
            self.record.take(frame)?;
            if self.drained.len() == self.drained.capacity() {
                self.record.give_back(frame);
                self.system
                    .free_frame(frame)
                    .map_err(Failure::FreeRefused)?;
                return Err(Failure::ExhaustionNotReached("frame"));
            }
            self.drained.push(frame);
        }
        if self.drained.len() - first != left {
            return Err(Failure::ExhaustionLeaked {
                what: "frame",
                before: left,
                after: self.drained.len() - first,
            });
        }
        self.check_every_frame_once()?;
        self.free_with_nothing_left()
    }

    /// With no frame left, fills the heap too, then returns a mapping and a
    /// range: a free must never need memory. Then the heap is emptied again.
    fn free_with_nothing_left(&mut self) -> Result<(), Failure> {
        let mut size = self.system.heap_mapped_bytes() as usize;
        while size >= 8 && self.fillers.len() < self.fillers.capacity() {
            let Ok(layout) = Layout::from_size_align(size, 8) else {
                break;
            };
            match self.system.heap_allocate(layout) {
                Some(address) => self.fillers.push(Block {
                    address,
                    layout,
                    fill: 0,
                }),
                None => size /= 2,
            }
        }
        let mut result = Ok(());
        if !self.mappings.is_empty() {
            result = self.unmap(0);
        }
        if !self.ranges.is_empty() {
            result = result.and(self.return_range(0));
        }
        while let Some(block) = self.fillers.pop() {
            // SAFETY: allocated above with this layout, not used since.
            unsafe { self.system.heap_free(block.address, block.layout) };
        }
        result
    }

    /// At total exhaustion every frame is out: with the run's own, the frames
    /// the page tables hold (tables, heap, stacks, image) must all differ.
    fn check_every_frame_once(&mut self) -> Result<(), Failure> {
        let own = &self.mappings;
        let skip = |virt: VirtAddr| {
            own.iter()
                .any(|(mapping, _)| S::mapping_range(mapping).contains(virt))
        };
        let record = &mut self.record;
        let mut result = Ok(());
        let mut taken = 0usize;
        self.system.frames_in_use(&skip, &mut |frame| {
            if result.is_ok() {
                result = record.take(frame);
                taken += usize::from(result.is_ok());
            }
        });
        let mut left_to_return = taken;
        self.system.frames_in_use(&skip, &mut |frame| {
            if left_to_return > 0 {
                record.give_back(frame);
                left_to_return -= 1;
            }
        });
        result
    }

    /// Takes the largest free range until the range window has no page left;
    /// then, with frames to spare, a range of one page and a mapping must both
    /// fail, and the failed mapping must keep no frame; then every range goes
    /// back.
    fn exhaust_ranges(&mut self) -> Result<(), Failure> {
        let start = self.ranges.len();
        let mut pages = self.system.largest_range_pages();
        while pages > 0 && self.ranges.len() < self.ranges.capacity() {
            match self.system.allocate_range(pages) {
                Some(range) => self.ranges.push(range),
                // No heap for the range's record: not this check's business.
                None => break,
            }
            pages = self.system.largest_range_pages();
        }
        let mut result = if pages == 0 {
            self.range_exhaustions += 1;
            let left = self.system.free_frame_count();
            let range = match self.system.allocate_range(1) {
                Some(range) => {
                    self.system.free_range(range);
                    Err(Failure::ExhaustionNotReached("range"))
                }
                None => Ok(()),
            };
            range.and_then(|()| match self.system.map_pages(1) {
                Some(mapping) => {
                    self.system.unmap(mapping);
                    Err(Failure::ExhaustionNotReached(
                        "mapping without virtual space",
                    ))
                }
                None if self.system.free_frame_count() != left => Err(Failure::ExhaustionLeaked {
                    what: "mapping without virtual space",
                    before: left,
                    after: self.system.free_frame_count(),
                }),
                None => Ok(()),
            })
        } else {
            Ok(())
        };
        while self.ranges.len() > start {
            result = result.and(self.return_range(start as u64));
        }
        result
    }

    /// Returns everything the run holds.
    fn release_all(&mut self) -> Result<(), Failure> {
        let mut result = Ok(());
        while let Some(frame) = self.frames.pop() {
            self.record.give_back(frame);
            let freed = self.system.free_frame(frame).map_err(Failure::FreeRefused);
            result = result.and(freed);
        }
        while !self.blocks.is_empty() {
            result = result.and(self.free_block(0));
        }
        while !self.ranges.is_empty() {
            result = result.and(self.return_range(0));
        }
        while !self.mappings.is_empty() {
            result = result.and(self.unmap(0));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::paging::Aarch64;
    use crate::arch::x86_64::paging::X86_64;
    use crate::memory::heap::GrowingHeap;
    use crate::memory::paging::Attributes;
    use crate::memory::paging::PageTableFormat;
    use crate::memory::ranges::{AllocatedRange, RangeAllocator};
    use crate::memory::sim::SimMachineOf;
    use proptest::prelude::*;
    use std::vec;

    const P: u64 = PAGE_SIZE as u64;
    /// In a top-level entry of its own, clear of host addresses (see
    /// `sim::STACK_WINDOW`).
    const VMAP: VirtRange = VirtRange::new(VirtAddr(0xffff_8200_0000_0000), 4096 * P);

    /// The memory system over simulated RAM: the kernel's frame stack, mapper
    /// and range allocator as they are; the heap's bytes are host memory,
    /// backed (mapped) with simulated frames as the kernel's heap is.
    struct SimSystem<F: PageTableFormat> {
        machine: SimMachineOf<F>,
        heap: GrowingHeap,
        vmap: RangeAllocator,
        _arena: Vec<u8>,
    }

    impl<F: PageTableFormat> SimSystem<F> {
        fn new(frames: usize) -> Self {
            let machine = SimMachineOf::new(frames, 2);
            let heap_bytes = 16 << 20;
            let mut arena = vec![0u8; heap_bytes + PAGE_SIZE];
            let start = VirtAddr::from_ptr(arena.as_mut_ptr()).align_up(P).unwrap();
            Self {
                machine,
                heap: GrowingHeap::new(VirtRange::new(start, heap_bytes as u64)),
                vmap: RangeAllocator::new(VMAP, 1).unwrap(),
                _arena: arena,
            }
        }

        fn word(&mut self, virt: VirtAddr) -> *mut u64 {
            let frame = self
                .translate(virt)
                .expect("the driver touches only mapped pages");
            let offset = (virt.0 % P) as usize / 8;
            // SAFETY: `offset` is a word inside the simulated frame.
            unsafe { self.machine.memory.word(frame).add(offset) }
        }
    }

    impl<F: PageTableFormat> MemorySystem for SimSystem<F> {
        type Mapping = AllocatedRange;
        type Range = AllocatedRange;

        fn free_frame_count(&mut self) -> usize {
            self.machine.space.free_frame_count()
        }
        fn allocate_frame(&mut self) -> Option<PhysAddr> {
            self.machine.space.allocate_frame()
        }
        fn allocate_frames(&mut self, frames: &mut [PhysAddr]) -> Result<(), OutOfFrames> {
            self.machine.space.allocate_frames(frames)
        }
        /// Every accepted free is tried twice: the host tests' debug build
        /// checks each free against every free frame, so the second must be
        /// refused as a double free.
        fn free_frame(&mut self, frame: PhysAddr) -> Result<(), FreeError> {
            self.machine.space.free_frame(frame)?;
            assert_eq!(
                self.machine.space.free_frame(frame),
                Err(FreeError::DoubleFree(frame))
            );
            Ok(())
        }
        fn refused_free_count(&mut self) -> usize {
            self.machine.space.refused_free_count()
        }
        fn heap_allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
            self.heap.allocate(layout, &mut self.machine.space).ok()
        }
        unsafe fn heap_reallocate(
            &mut self,
            block: NonNull<u8>,
            layout: Layout,
            new_size: usize,
        ) -> Option<NonNull<u8>> {
            let new_layout = Layout::from_size_align(new_size, layout.align()).ok()?;
            let new = self.heap_allocate(new_layout)?;
            // SAFETY: both blocks are live and distinct; the copy stays inside both.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    block.as_ptr(),
                    new.as_ptr(),
                    layout.size().min(new_size),
                );
                self.heap.deallocate(block, layout, &mut self.machine.space);
            }
            Some(new)
        }
        unsafe fn heap_free(&mut self, block: NonNull<u8>, layout: Layout) {
            // SAFETY: forwarded from the caller.
            unsafe { self.heap.deallocate(block, layout, &mut self.machine.space) }
        }
        fn heap_trim(&mut self) {
            self.heap.trim(&mut self.machine.space);
        }
        fn heap_used_bytes(&mut self) -> usize {
            self.heap.used_bytes()
        }
        fn heap_mapped_bytes(&mut self) -> u64 {
            self.heap.mapped_bytes()
        }
        fn allocate_range(&mut self, pages: usize) -> Option<AllocatedRange> {
            self.vmap.allocate(pages).ok()
        }
        fn free_range(&mut self, range: AllocatedRange) {
            self.vmap
                .free(range)
                .expect("the range came from this allocator");
        }
        fn range_free_bytes(&mut self) -> u64 {
            self.vmap.free_bytes()
        }
        fn largest_range_pages(&mut self) -> usize {
            self.vmap.largest_allocation_pages()
        }
        fn map_pages(&mut self, pages: usize) -> Option<AllocatedRange> {
            let allocated = self.vmap.allocate(pages).ok()?;
            let start = allocated.range().start;
            match self
                .machine
                .space
                .map_new_pages(start, pages, Attributes::KERNEL_DATA)
            {
                Ok(()) => Some(allocated),
                Err(_) => {
                    self.free_range(allocated);
                    None
                }
            }
        }
        fn mapping_range(mapping: &AllocatedRange) -> VirtRange {
            mapping.range()
        }
        fn unmap(&mut self, mapping: AllocatedRange) {
            self.machine.space.unmap_and_free(mapping.range());
            self.free_range(mapping);
        }
        fn translate(&mut self, virt: VirtAddr) -> Option<PhysAddr> {
            self.machine
                .space
                .mapper()
                .translate(virt)
                .map(|(frame, _)| frame)
        }
        fn write_word(&mut self, virt: VirtAddr, value: u64) {
            // SAFETY: `word` points into simulated RAM.
            unsafe { self.word(virt).write_volatile(value) }
        }
        fn read_word(&mut self, virt: VirtAddr) -> u64 {
            // SAFETY: `word` points into simulated RAM.
            unsafe { self.word(virt).read_volatile() }
        }
        fn table_frames(&mut self) -> usize {
            self.machine.space.table_frames_in_use()
        }
        fn frames_in_use(
            &mut self,
            skip: &dyn Fn(VirtAddr) -> bool,
            each: &mut dyn FnMut(PhysAddr),
        ) {
            let mapper = self.machine.space.mapper();
            mapper.for_each_table(&mut |table| each(table));
            mapper.for_each_leaf(true, &mut |virt, frame, _, _| {
                if !skip(virt) {
                    each(frame);
                }
            });
        }
    }

    fn run_sim<F: PageTableFormat>(
        frames: usize,
        exhaust_every: u64,
        words: impl IntoIterator<Item = u64>,
    ) -> Report {
        let mut system = SimSystem::<F>::new(frames);
        let ram = [system.machine.memory.range()];
        let limits = Limits {
            exhaust_every,
            ..Limits::for_free_frames(system.free_frame_count())
        };
        run(&mut system, &ram, limits, words)
    }

    /// The kernel's seeded mix, shortened, on a machine small enough that the
    /// frames and the heap run out again and again, over both table formats.
    fn seeded_mix_loses_nothing<F: PageTableFormat>() {
        // Miri runs a slice of it, exhausting sooner: every step is checked
        // there, and slowly (a heap operation costs most, as Miri tracks each
        // block's borrows in the 16 MiB arena).
        let (operations, every) = if cfg!(miri) {
            (400, 100)
        } else {
            (20_000, 400)
        };
        let report = run_sim::<F>(1500, every, Words::new(0x5eed_57e5).take(operations));
        assert!(report.passed(), "{report}");
        assert!(
            report.exhaustions as usize >= operations / every as usize,
            "{report}"
        );
        assert!(cfg!(miri) || report.range_exhaustions > 0, "{report}");
        std::println!("{report}");
    }

    on_both_formats!(seeded_mix_loses_nothing);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 1 } else { 32 }))]

        /// Any sequence of operations loses nothing; a failing one shrinks to
        /// a short list of words.
        #[test]
        fn any_mix_loses_nothing(words in proptest::collection::vec(any::<u64>(), 1..if cfg!(miri) { 300 } else { 1500 })) {
            let report = run_sim::<Aarch64>(700, 150, words.iter().copied());
            prop_assert!(report.passed(), "{}", report);
            let report = run_sim::<X86_64>(700, 150, words);
            prop_assert!(report.passed(), "{}", report);
        }
    }
}
