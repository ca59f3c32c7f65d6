//! The kernel's one address space and what is built on it: the heap behind
//! `alloc`, the vmap window's range allocator, device mappings and kernel
//! stacks.
//!
//! Lock order: `VMAP` → `HEAP` → `SPACE`. Code holding `SPACE` never allocates:
//! a heap growth that finds `SPACE` held panics instead of deadlocking. No
//! interrupt handler takes these locks, so they need not mask IRQs.

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::{self, NonNull};

use spin::{Mutex, Once};

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr, VirtRange};
use crate::arch::current::exceptions;
use crate::arch::current::layout::{self, KERNEL_STACK_SIZE};
use crate::arch::current::{KernelTableAccess, KernelTlb, PageFormat};
use crate::memory::frames::{FreeError, OutOfFrames};
use crate::memory::heap::{GrowingHeap, HeapBacking};
use crate::memory::paging::{Attributes, MapError, MemoryKind};
use crate::memory::placement::Placement;
use crate::memory::ranges::{AllocatedRange, RangeAllocator, RangeError};
use crate::memory::space::{AddressSpace, MapPagesError};

/// The kernel half of the address space with its frame stack.
pub type KernelSpace = AddressSpace<PageFormat, KernelTableAccess, KernelTlb>;

static SPACE: Mutex<Option<KernelSpace>> = Mutex::new(None);
static HEAP: Mutex<GrowingHeap> = Mutex::new(GrowingHeap::new(layout::FIXED_LAYOUT.heap));
static PLACEMENT: Once<Placement> = Once::new();
static VMAP: Mutex<Option<RangeAllocator>> = Mutex::new(None);
static NEXT_STACK_SLOT: Mutex<u64> = Mutex::new(0);

/// Places the heap, vmap and frame-stack windows for this boot, before
/// [`install`] (while the heap is still empty); only the first call counts.
pub fn place_windows(placement: Placement) {
    PLACEMENT.call_once(|| {
        let mut heap = HEAP.lock();
        assert_eq!(heap.mapped_bytes(), 0, "the heap moves only while empty");
        *heap = GrowingHeap::new(placement.heap);
        placement
    });
}

/// This boot's heap, vmap and frame-stack windows: the fixed layout until
/// [`place_windows`]. Never blocks (fault reports use it).
pub fn placement() -> Placement {
    PLACEMENT.get().copied().unwrap_or(layout::FIXED_LAYOUT)
}

/// Every kernel window with its name, as this boot placed them.
pub fn windows() -> [(&'static str, VirtRange); 7] {
    crate::arch::name_windows(&placement(), layout::FIXED_WINDOWS)
}

/// Installs the kernel address space; the heap can grow from now on.
pub fn install(space: KernelSpace) {
    *SPACE.lock() = Some(space);
}

/// Unmapped pages after each vmap range, so that a run past the end of one
/// mapping (device registers, say) faults instead of reaching the next.
pub const VMAP_GUARD_PAGES: usize = 1;

/// Creates the vmap range allocator (its metadata lives on the heap). Without
/// heap for its first record, vmap stays unavailable (`NotReady`).
pub fn init_vmap() {
    *VMAP.lock() = RangeAllocator::new(placement().vmap, VMAP_GUARD_PAGES).ok();
}

/// Runs `operation` on the kernel address space, or returns `None` before
/// [`install`]. `operation` must not allocate from the heap.
pub fn with_space<R>(operation: impl FnOnce(&mut KernelSpace) -> R) -> Option<R> {
    SPACE.lock().as_mut().map(operation)
}

/// How many frames can still be allocated.
pub fn free_frame_count() -> usize {
    with_space(|space| space.free_frame_count()).unwrap_or(0)
}

/// How many frees the kernel address space made on its own behalf were refused
/// (see [`AddressSpace::refused_free_count`]): lost frames, 0 when healthy.
pub fn refused_free_count() -> usize {
    with_space(|space| space.refused_free_count()).unwrap_or(0)
}

/// How many times the kernel's table access moved the fixmap's table slot to
/// another page table so far; each move was a TLB invalidation (see
/// [`crate::memory::paging::SlotAccess`]).
pub fn table_switches() -> u64 {
    with_space(|space| space.mapper().access().switches()).unwrap_or(0)
}

/// Bytes mapped for the heap now.
pub fn heap_mapped_bytes() -> u64 {
    HEAP.lock().mapped_bytes()
}

/// The never-mapped part of the heap window between its two allocators.
pub fn heap_unmapped_middle() -> VirtRange {
    HEAP.lock().unmapped_middle()
}

/// Bytes of heap handed out and not freed.
pub fn heap_used_bytes() -> usize {
    HEAP.lock().used_bytes()
}

/// Gives every heap page the heap can spare back to the frame stack now (see
/// [`GrowingHeap::trim`]).
pub fn trim_heap() {
    HEAP.lock().trim(&mut SpaceBacking);
}

/// Free and used bytes of the vmap window.
pub fn vmap_free_bytes() -> u64 {
    VMAP.lock().as_ref().map_or(0, RangeAllocator::free_bytes)
}

/// The most pages one vmap allocation can get now.
pub fn vmap_largest_allocation_pages() -> usize {
    VMAP.lock()
        .as_ref()
        .map_or(0, RangeAllocator::largest_allocation_pages)
}

/// Grows the heap with frames from the kernel space, locking it only then.
struct SpaceBacking;

impl HeapBacking for SpaceBacking {
    type Error = VmapError;

    /// # Panics
    ///
    /// When `SPACE` is held: the heap grows inside a [`with_space`] closure (or
    /// under another holder of the address space), which with a blocking lock
    /// would spin forever on a lock this core holds.
    fn map_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), VmapError> {
        let Some(mut space) = SPACE.try_lock() else {
            panic!(
                "heap growth while the address space lock is held: code holding SPACE \
                 allocated (a with_space closure must not allocate)"
            );
        };
        let space = space.as_mut().ok_or(VmapError::NotReady)?;
        Ok(space.map_pages(at, pages)?)
    }

    /// Refuses with [`VmapError::SpaceBusy`] when `SPACE` is held (a free
    /// inside a [`with_space`] closure): the heap keeps the pages for a later
    /// trim instead.
    fn unmap_pages(&mut self, at: VirtAddr, pages: usize) -> Result<(), VmapError> {
        let mut space = SPACE.try_lock().ok_or(VmapError::SpaceBusy)?;
        let space = space.as_mut().ok_or(VmapError::NotReady)?;
        Ok(space.unmap_pages(at, pages)?)
    }
}

/// The `#[global_allocator]`: the growing heap. Returns null when the heap
/// window or physical memory is exhausted.
pub struct KernelAllocator;

// SAFETY: blocks come from `GrowingHeap`, which hands out each byte once and
// honours the layout's size and alignment; `dealloc` returns them to it.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.lock()
            .allocate(layout, &mut SpaceBacking)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(block) {
            // SAFETY: `GlobalAlloc` callers pass blocks from `alloc` with their layout.
            unsafe { HEAP.lock().deallocate(block, layout, &mut SpaceBacking) }
        }
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;

/// Why a vmap operation failed. Nothing stays allocated or mapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VmapError {
    /// The memory system is not up yet.
    NotReady,
    /// The address space is locked by the code that wanted it changed.
    SpaceBusy,
    /// No virtual range.
    Range(RangeError),
    /// No frames.
    Frames(OutOfFrames),
    /// The mapper refused.
    Map(MapError),
    /// The physical range is empty or wraps.
    BadPhysicalRange(PhysRange),
    /// A device range overlaps RAM: mapping it as device memory would alias
    /// frames the frame stack hands out as normal memory.
    DeviceOverlapsRam {
        /// The device range asked for.
        device: PhysRange,
        /// The RAM region it overlaps.
        ram: PhysRange,
    },
}

impl fmt::Display for VmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReady => write!(f, "the memory system is not initialised"),
            Self::SpaceBusy => write!(f, "the address space lock is held"),
            Self::Range(error) => write!(f, "{error}"),
            Self::Frames(error) => write!(f, "{error}"),
            Self::Map(error) => write!(f, "{error}"),
            Self::BadPhysicalRange(range) => write!(f, "cannot map {range}"),
            Self::DeviceOverlapsRam { device, ram } => {
                write!(f, "device range {device} overlaps RAM {ram}")
            }
        }
    }
}

impl From<MapPagesError> for VmapError {
    fn from(error: MapPagesError) -> Self {
        match error {
            MapPagesError::OutOfFrames(error) => Self::Frames(error),
            MapPagesError::Map(error) => Self::Map(error),
        }
    }
}

/// A mapped range of the vmap window. Dropping it unmaps the pages, flushes once,
/// frees the frames it owns and returns the range; none of that needs memory.
pub struct Mapping {
    /// `None` only while the drop returns it.
    allocated: Option<AllocatedRange>,
    range: VirtRange,
    /// Offset of the first byte the caller asked for within the first page.
    offset: u64,
    owns_frames: bool,
}

impl Mapping {
    /// The virtual address of the first byte asked for.
    pub fn address(&self) -> VirtAddr {
        VirtAddr(self.range.start.0 + self.offset)
    }

    /// The whole mapped (page-aligned) range.
    pub fn range(&self) -> VirtRange {
        self.range
    }

    /// Keeps the mapping for the rest of the kernel's life (device registers).
    pub fn leak(self) -> VirtAddr {
        let address = self.address();
        core::mem::forget(self);
        address
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        with_space(|space| {
            if self.owns_frames {
                space.unmap_and_free(self.range)
            } else {
                space.unmap_range(self.range)
            }
        });
        if let Some(allocated) = self.allocated.take() {
            free_range(allocated);
        }
    }
}

/// A range of `pages` pages in the vmap window, with nothing mapped in it, and
/// an unmapped guard page after it. Fails when the window is exhausted or the
/// heap cannot hold the range's bookkeeping.
pub fn allocate_range(pages: usize) -> Result<AllocatedRange, VmapError> {
    VMAP.lock()
        .as_mut()
        .ok_or(VmapError::NotReady)?
        .allocate(pages)
        .map_err(VmapError::Range)
}

/// Returns a range from [`allocate_range`] (its pages must be unmapped). Never
/// needs memory.
pub fn free_range(allocated: AllocatedRange) {
    let mut vmap = VMAP.lock();
    let vmap = vmap
        .as_mut()
        .expect("a vmap range is freed only after vmap handed it out");
    vmap.free(allocated)
        .expect("the vmap allocator takes back every range it handed out");
}

/// Maps the device registers at `phys` (any alignment) as device memory in the
/// vmap window. Refuses a range that overlaps RAM
/// ([`VmapError::DeviceOverlapsRam`]).
pub fn map_device(phys: PhysRange) -> Result<Mapping, VmapError> {
    let page = PAGE_SIZE as u64;
    let first = phys.start.align_down(page);
    let end = phys
        .end()
        .and_then(|end| end.align_up(page))
        .filter(|_| phys.size > 0);
    let end = end.ok_or(VmapError::BadPhysicalRange(phys))?;
    let ram =
        with_space(|space| space.frames().ram_overlapping(phys)).ok_or(VmapError::NotReady)?;
    if let Some(ram) = ram {
        return Err(VmapError::DeviceOverlapsRam { device: phys, ram });
    }
    let pages = ((end.0 - first.0) / page) as usize;
    let allocated = allocate_range(pages)?;
    let range = allocated.range();
    let mapped = with_space(|space| {
        space
            .map_frames(range.start, first, pages, Attributes::DEVICE)
            .map_err(VmapError::Map)
    });
    match mapped.unwrap_or(Err(VmapError::NotReady)) {
        Ok(()) => Ok(Mapping {
            allocated: Some(allocated),
            range,
            offset: phys.start.0 - first.0,
            owns_frames: false,
        }),
        Err(error) => {
            free_range(allocated);
            Err(error)
        }
    }
}

/// The seed's utility: allocates `pages` frames and a virtual range, maps them
/// read-write and returns the mapping (which frees all of it when dropped).
/// The pages hold what their frames held before: see
/// [`allocate_zeroed_pages`].
pub fn allocate_pages(pages: usize) -> Result<Mapping, VmapError> {
    let allocated = allocate_range(pages)?;
    let range = allocated.range();
    let mapped = with_space(|space| {
        space
            .map_new_pages(range.start, pages, Attributes::KERNEL_DATA)
            .map_err(VmapError::from)
    });
    match mapped.unwrap_or(Err(VmapError::NotReady)) {
        Ok(()) => Ok(Mapping {
            allocated: Some(allocated),
            range,
            offset: 0,
            owns_frames: true,
        }),
        Err(error) => {
            free_range(allocated);
            Err(error)
        }
    }
}

/// [`allocate_pages`] with every byte zeroed, for pages whose earlier
/// contents must not reach their new owner: a frame keeps whatever its last
/// owner wrote (a freed heap page, stack or mapping is not cleared), so a page
/// that leaves the kernel's hands (to user space, a device's DMA, the host)
/// must come from here.
pub fn allocate_zeroed_pages(pages: usize) -> Result<Mapping, VmapError> {
    let mapping = allocate_pages(pages)?;
    // SAFETY: the range was just mapped read-write for this mapping alone.
    unsafe { zero_new_pages(mapping.range()) };
    Ok(mapping)
}

/// Zeroes `range`.
///
/// # Safety
///
/// `range` must be mapped read-write and owned by the caller alone, with
/// nothing in it that anyone still reads.
unsafe fn zero_new_pages(range: VirtRange) {
    // SAFETY: forwarded from the caller.
    unsafe {
        range
            .start
            .as_mut_ptr::<u8>()
            .write_bytes(0, range.size as usize)
    };
}

/// A kernel stack with an unmapped guard page below it.
#[derive(Clone, Copy, Debug)]
pub struct KernelStack {
    /// The guard page.
    pub guard: VirtAddr,
    /// The usable stack; its end is the initial stack pointer.
    pub stack: VirtRange,
}

impl KernelStack {
    /// The initial stack pointer: the end of the stack, 16-byte aligned.
    pub fn top(&self) -> VirtAddr {
        VirtAddr(self.stack.start.0 + self.stack.size)
    }
}

/// Maps a new kernel stack in the stacks window, zeroed (a stack holds return
/// addresses and locals: its frames' old contents would look like both).
pub fn allocate_kernel_stack() -> Result<KernelStack, VmapError> {
    let page = PAGE_SIZE as u64;
    let slot_size = KERNEL_STACK_SIZE + page;
    let mut next = NEXT_STACK_SLOT.lock();
    let guard = VirtAddr(layout::STACKS.start.0 + *next * slot_size);
    if guard.0 + slot_size > layout::STACKS.start.0 + layout::STACKS.size {
        return Err(VmapError::Range(RangeError::Exhausted {
            pages: (slot_size / page) as usize,
        }));
    }
    let stack = VirtRange::new(VirtAddr(guard.0 + page), KERNEL_STACK_SIZE);
    let pages = (KERNEL_STACK_SIZE / page) as usize;
    with_space(|space| space.map_new_pages(stack.start, pages, Attributes::KERNEL_DATA))
        .ok_or(VmapError::NotReady)??;
    // SAFETY: the stack was just mapped read-write, and nothing runs on it yet.
    unsafe { zero_new_pages(stack) };
    *next += 1;
    Ok(KernelStack { guard, stack })
}

/// Frees `frame` to the frame stack (validated).
pub fn free_frame(frame: PhysAddr) -> Result<(), FreeError> {
    with_space(|space| space.free_frame(frame)).unwrap_or(Err(FreeError::NotRam(frame)))
}

/// The kernel stack whose guard page holds `address`: the stack that
/// overflowed when a fault hit there (`None` outside every stack's guard
/// page). A stack of the stacks window, or the boot stack in the image.
pub fn overflowed_stack(address: VirtAddr) -> Option<VirtRange> {
    let page = PAGE_SIZE as u64;
    if VirtRange::new(exceptions::boot_stack_guard(), page).contains(address) {
        let bottom = VirtAddr::from_ptr(&raw const __boot_stack_bottom);
        let top = VirtAddr::from_ptr(&raw const __boot_stack_top);
        return Some(VirtRange::new(bottom, top.0 - bottom.0));
    }
    let slot_size = KERNEL_STACK_SIZE + page;
    let offset = address.0.checked_sub(layout::STACKS.start.0)?;
    let guard = VirtAddr(address.0 - offset % slot_size);
    (layout::STACKS.contains(address) && offset % slot_size < page)
        .then(|| VirtRange::new(VirtAddr(guard.0 + page), KERNEL_STACK_SIZE))
}

unsafe extern "C" {
    // Both CPUs' linker scripts end text and rodata on a page boundary, and
    // put the boot stack above its guard page, under these names.
    static __text_end: u8;
    static __rodata_end: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

/// Which part of the kernel image `address` (inside it) lies in.
fn image_part(address: VirtAddr) -> &'static str {
    if address < VirtAddr::from_ptr(&raw const __text_end) {
        "kernel image, text"
    } else if address < VirtAddr::from_ptr(&raw const __rodata_end) {
        "kernel image, read-only data"
    } else {
        "kernel image, data and bss"
    }
}

/// How a page is mapped, as a fault report says it: `not mapped`, or its
/// rights and memory type (`mapped read-only, not executable`).
pub struct MappingRights(Option<Attributes>);

impl fmt::Display for MappingRights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(attributes) = self.0 else {
            return f.write_str("not mapped");
        };
        f.write_str(match attributes.kind {
            MemoryKind::Normal => "mapped ",
            MemoryKind::Device => "mapped as device memory, ",
        })?;
        f.write_str(match attributes.writable {
            true => "read-write, ",
            false => "read-only, ",
        })?;
        f.write_str(match attributes.executable {
            true => "executable",
            false => "not executable",
        })?;
        if attributes.user {
            f.write_str(", user-accessible")?;
        }
        Ok(())
    }
}

/// How the kernel half maps the page of `address`, for fault reports; `None`
/// for a lower-half address (the kernel's tables do not map it) and when the
/// address space is busy (the fault may have interrupted its owner: never
/// block here).
pub fn mapping_rights(address: VirtAddr) -> Option<MappingRights> {
    if address.0 >> 48 != 0xffff {
        return None;
    }
    let mut space = SPACE.try_lock()?;
    let page = address.align_down(PAGE_SIZE as u64);
    let found = space.as_mut()?.mapper().translate(page);
    Some(MappingRights(found.map(|(_, attributes)| attributes)))
}

/// What lies at `address`, for fault reports: the window and, where it tells
/// something, why nothing is mapped there.
pub fn describe(address: VirtAddr) -> &'static str {
    let page = PAGE_SIZE as u64;
    if address.0 >> 48 == 0 {
        return if address.0 < page {
            "page 0 (never mapped)"
        } else {
            "lower half (no user space)"
        };
    }
    if layout::STACKS.contains(address) {
        return match overflowed_stack(address) {
            Some(_) => "kernel stacks, guard page",
            None => "kernel stacks",
        };
    }
    let guard = |page: VirtAddr| VirtRange::new(page, PAGE_SIZE as u64).contains(address);
    if guard(exceptions::boot_stack_guard()) {
        return "kernel image, boot stack guard page";
    }
    if guard(exceptions::emergency_stack_guard()) {
        return "kernel image, emergency stack guard page";
    }
    if placement().heap.contains(address) {
        // Never block here: the fault may have interrupted the heap's owner.
        return match HEAP.try_lock().map(|heap| heap.unmapped_middle()) {
            Some(middle) if middle.contains(address) => "heap, unmapped middle",
            _ => "heap",
        };
    }
    match crate::arch::find_window(&windows(), address) {
        Some("vmap") => "vmap window",
        Some("frame stack") => "frame-stack window",
        Some("kernel image") => image_part(address),
        Some("fixmap") => "fixmap",
        _ => "no kernel window (unmapped)",
    }
}

/// (free frames, heap bytes mapped, heap bytes in use), or `None` when a lock
/// is held (the caller may have interrupted its owner).
pub fn try_counts() -> Option<(usize, u64, usize)> {
    let frames = SPACE
        .try_lock()?
        .as_ref()
        .map_or(0, |space| space.free_frame_count());
    let heap = HEAP.try_lock()?;
    Some((frames, heap.mapped_bytes(), heap.used_bytes()))
}
