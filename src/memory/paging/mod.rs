//! Page tables: the architecture seam, mapping attributes and the mapper.
//!
//! The mapper walks and edits radix page tables without knowing where it runs:
//! - [`PageTableFormat`] says how an architecture lays out its tables and encodes
//!   descriptors;
//! - [`Tlb`] is the TLB maintenance the kernel owns: broadcast to every CPU on
//!   AArch64, local to one CPU on x86_64 (`invlpg`), counted in the host tests;
//! - [`TableAccess`] turns the physical address of a table into a pointer (a
//!   fixmap slot in the kernel, a simulated page in the host tests);
//!   [`SlotAccess`] is the one policy both use when tables are shown through
//!   one slot: switch the slot only when the mapper moves to another table,
//!   and count the switches (each is a TLB invalidation in the kernel);
//! - [`FrameSource`] and [`FrameSink`] say where new tables come from and where
//!   empty ones go (frames taken from the kernel's frame stack for one call, or
//!   the stack's own spare frames).

mod mapper;

pub use mapper::{Cursor, FLUSH_BATCH_CAPACITY, MapError, Mapper, UnmapError};

use crate::addr::{PhysAddr, VirtAddr};

/// Number of descriptors in one 4 KiB table on both supported architectures.
pub const ENTRIES_PER_TABLE: usize = 512;

/// One page-table page.
pub type Table = [u64; ENTRIES_PER_TABLE];

/// What kind of memory a mapping points at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MemoryKind {
    /// Normal write-back cacheable RAM.
    Normal,
    /// Device registers: no gathering, no reordering, early write acknowledgement
    /// allowed (AArch64 Device-nGnRE).
    Device,
}

/// Access rights and memory type of one mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Attributes {
    /// Memory type.
    pub kind: MemoryKind,
    /// Stores are allowed.
    pub writable: bool,
    /// Instruction fetches are allowed (at the mapping's privilege).
    pub executable: bool,
    /// User space (EL0 / ring 3) may access it; kernel-only otherwise.
    pub user: bool,
}

impl Attributes {
    /// Kernel read-write data, never executable.
    pub const KERNEL_DATA: Self = Self {
        kind: MemoryKind::Normal,
        writable: true,
        executable: false,
        user: false,
    };
    /// Kernel read-only data.
    pub const KERNEL_RODATA: Self = Self {
        kind: MemoryKind::Normal,
        writable: false,
        executable: false,
        user: false,
    };
    /// Kernel code: read and execute, never writable.
    pub const KERNEL_CODE: Self = Self {
        kind: MemoryKind::Normal,
        writable: false,
        executable: true,
        user: false,
    };
    /// Device registers for the kernel: read-write, never executable.
    pub const DEVICE: Self = Self {
        kind: MemoryKind::Device,
        writable: true,
        executable: false,
        user: false,
    };
}

/// A decoded descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Descriptor {
    /// Nothing is mapped through this entry.
    Invalid,
    /// Points at the next-level table.
    Table(PhysAddr),
    /// Maps a page (last level) or a block (an earlier level) at `PhysAddr`.
    Leaf(PhysAddr, Attributes),
}

/// How one architecture lays out its page tables.
///
/// Implementations are plain bit manipulation plus one barrier, so the mapper
/// runs unchanged in the host tests.
pub trait PageTableFormat {
    /// Number of table levels walked for a 4 KiB page (4 on both targets).
    const LEVELS: usize;

    /// Index into the table of `level` (0 = root) for `virt`.
    fn index(virt: VirtAddr, level: usize) -> usize {
        let shift = 12 + 9 * (Self::LEVELS - 1 - level);
        ((virt.0 >> shift) as usize) & (ENTRIES_PER_TABLE - 1)
    }

    /// Encodes a pointer to a next-level table.
    fn encode_table(table: PhysAddr) -> u64;

    /// Encodes a last-level page mapping.
    fn encode_page(frame: PhysAddr, attributes: Attributes) -> u64;

    /// Decodes `entry` found at `level`.
    fn decode(entry: u64, level: usize) -> Descriptor;

    /// Makes table writes visible to the table walker before the mapping is used.
    /// Needed after invalid → valid changes, which the TLB never caches.
    fn publish_tables();
}

/// TLB maintenance for the translations of one tree, as the kernel owns it.
///
/// The reach is the implementation's contract: AArch64's broadcast
/// invalidation reaches every CPU, x86_64's `invlpg` only the CPU that runs
/// it (a kernel that runs on several CPUs must then shoot down the others).
pub trait Tlb {
    /// Invalidates the cached translations of `pages`, leaf and walk caches
    /// alike, and waits until that is complete.
    fn flush_pages(&mut self, pages: &[VirtAddr]);

    /// Invalidates every cached kernel translation and waits until that is
    /// complete.
    fn flush_all(&mut self);
}

/// A TLB for trees that no CPU walks (the host tests and benchmarks): it only
/// counts what it was asked to do, so tests can check the batching.
#[cfg(any(test, feature = "sim"))]
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingTlb {
    /// Flushes (rounds of maintenance, each ending in one wait) done so far.
    pub flushes: usize,
    /// Pages in the last flush (`usize::MAX` for a full flush).
    pub last_batch: usize,
    /// Invalidation instructions issued so far: one per page of a page
    /// flush, one per full flush.
    pub invalidations: usize,
}

#[cfg(any(test, feature = "sim"))]
impl Tlb for CountingTlb {
    fn flush_pages(&mut self, pages: &[VirtAddr]) {
        self.flushes += 1;
        self.last_batch = pages.len();
        self.invalidations += pages.len();
    }

    fn flush_all(&mut self) {
        self.flushes += 1;
        self.last_batch = usize::MAX;
        self.invalidations += 1;
    }
}

/// Turns the physical address of a page-table page into a pointer.
///
/// # Safety
///
/// Implementors promise that `table(phys)` returns a pointer through which the 4 KiB
/// at `phys` can be read and written, valid until the next call of `table` on the
/// same value (a fixmap reuses its slot). Callers promise to pass only frames
/// that hold page tables owned by the mapper.
pub unsafe trait TableAccess {
    /// A pointer to the table at `phys` (page-aligned).
    fn table(&mut self, phys: PhysAddr) -> *mut Table;
}

/// One virtual page through which page tables are shown one at a time: the
/// kernel's fixmap table slot, or simulated memory in the host tests.
///
/// # Safety
///
/// Implementors promise that after `show(phys)` (for a page-aligned frame
/// holding a page table), `reach(phys)` returns a pointer through which the
/// 4 KiB at `phys` can be read and written, valid until the next `show`.
pub unsafe trait TableSlot {
    /// Makes the slot show the table at `phys`; whatever it showed before is
    /// no longer reachable through it (in the kernel: one TLB invalidation).
    fn show(&mut self, phys: PhysAddr);

    /// The pointer to the table at `phys`, which the slot shows now.
    fn reach(&mut self, phys: PhysAddr) -> *mut Table;
}

/// A [`TableAccess`] through one [`TableSlot`] that moves the slot only when
/// asked for another table than the one it shows, so that a mapper working on
/// one table (a run of pages in one last-level table) costs no switch.
///
/// The kernel reaches its tables this way through the fixmap
/// (`arch::fixmap_access`); the host tests and benchmarks use the same policy
/// over simulated memory to count the switches the kernel would make.
pub struct SlotAccess<S: TableSlot> {
    slot: S,
    shown: Option<PhysAddr>,
    switches: u64,
}

impl<S: TableSlot> SlotAccess<S> {
    /// An access through `slot`, which shows nothing the mapper relies on yet.
    pub const fn over(slot: S) -> Self {
        Self {
            slot,
            shown: None,
            switches: 0,
        }
    }

    /// How many times the slot moved to another table so far (in the kernel,
    /// each was a TLB invalidation).
    pub fn switches(&self) -> u64 {
        self.switches
    }
}

// SAFETY: `table` shows `phys` in the slot unless the slot shows it already,
// then returns the slot's pointer to it, which `TableSlot` keeps valid until
// the next `show`: only the next `table` call for another frame makes one.
unsafe impl<S: TableSlot> TableAccess for SlotAccess<S> {
    fn table(&mut self, phys: PhysAddr) -> *mut Table {
        if self.shown != Some(phys) {
            self.slot.show(phys);
            self.shown = Some(phys);
            self.switches += 1;
        }
        self.slot.reach(phys)
    }
}

/// Where the mapper gets frames for new tables.
pub trait FrameSource {
    /// A free, page-aligned frame, or `None` when there is none.
    fn allocate_frame(&mut self) -> Option<PhysAddr>;
}

/// Where the mapper returns frames of tables that became empty.
pub trait FrameSink {
    /// Takes ownership of `frame`; the TLB no longer references it.
    fn put(&mut self, frame: PhysAddr);
}

/// A few frames held at hand, without a heap: a pool to take page tables from,
/// or a place to collect the tables an unmap released.
///
/// As a [`FrameSink`] it must have room: callers size it for what one mapper
/// call can release (at most `LEVELS - 1` tables) and empty it in between.
pub struct FrameList<const N: usize> {
    frames: [PhysAddr; N],
    count: usize,
}

impl<const N: usize> FrameList<N> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            frames: [PhysAddr(0); N],
            count: 0,
        }
    }

    /// The frames held, oldest first.
    pub fn as_slice(&self) -> &[PhysAddr] {
        &self.frames[..self.count]
    }

    /// True when no more frames fit.
    pub fn is_full(&self) -> bool {
        self.count == N
    }

    /// Adds `frame` to the list.
    ///
    /// # Panics
    ///
    /// When the list is full: callers size a list for what they put in it.
    pub fn push(&mut self, frame: PhysAddr) {
        assert!(self.count < N, "a FrameList of {N} frames overflowed");
        self.frames[self.count] = frame;
        self.count += 1;
    }

    /// Takes the newest frame.
    pub fn pop(&mut self) -> Option<PhysAddr> {
        self.count = self.count.checked_sub(1)?;
        Some(self.frames[self.count])
    }
}

impl<const N: usize> Default for FrameList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameSource for FrameList<N> {
    fn allocate_frame(&mut self) -> Option<PhysAddr> {
        self.pop()
    }
}

impl<const N: usize> FrameSink for FrameList<N> {
    fn put(&mut self, frame: PhysAddr) {
        self.push(frame);
    }
}
