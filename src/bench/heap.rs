//! Heaps side by side: the kernel heap as the kernel builds it (a
//! [`GrowingHeap`] that grows by mapping frames popped from an
//! [`AddressSpace`]'s frame stack) against bare `linked_list_allocator`, `talc`
//! and `rlsf` over a fixed arena.
//!
//! The kernel heap's window is the arena's host addresses: growth maps frames
//! of the simulated RAM there in the simulated page tables (what the kernel
//! pays, minus the TLB), while the bytes themselves live in the arena, which
//! stands for the window's mapped pages.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::alloc::{alloc_zeroed, dealloc};
use std::hint::black_box;
use std::time::Instant;

use kernel::addr::{PAGE_SIZE, VirtAddr, VirtRange};
use kernel::arch::aarch64::paging::Aarch64;
use kernel::memory::heap::GrowingHeap;
use kernel::memory::paging::CountingTlb;
use kernel::memory::space::AddressSpace;

use crate::frames::KernelStack;
use crate::harness::{Rng, Settings, median_of, percentile, time_per_op};
use crate::report::{Report, Unit};
use kernel::memory::sim::{SimAccess, SimMemory};

const SEED: u64 = 0x4ea9_7ace;

/// The allocators compared, with their key names.
const ALLOCATORS: [&str; 4] = ["kernel", "linked_list", "talc", "rlsf"];

/// Page-aligned host memory that every heap manages in turn, faulted in once.
pub struct Arena {
    start: *mut u8,
    size: usize,
}

impl Arena {
    /// `size` bytes (a multiple of the page size).
    pub fn new(size: usize) -> Self {
        let layout = Self::layout(size);
        // SAFETY: the layout's size is not zero.
        let start = unsafe { alloc_zeroed(layout) };
        assert!(!start.is_null(), "cannot allocate a {size}-byte arena");
        for offset in (0..size).step_by(PAGE_SIZE) {
            // SAFETY: `offset < size`, inside the allocation.
            unsafe { start.add(offset).write_volatile(0) };
        }
        Self { start, size }
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size.max(PAGE_SIZE), PAGE_SIZE).expect("arena size fits a layout")
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `start` came from `alloc_zeroed` with this layout.
        unsafe { dealloc(self.start, Self::layout(self.size)) };
    }
}

/// What every heap offers.
pub trait Heap {
    /// A block for `layout`, or `None` when the heap cannot provide one.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `block` came from `allocate` on this heap with `layout` and is not used again.
    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout);
}

/// The kernel heap with its backing address space.
pub struct KernelHeap {
    heap: GrowingHeap,
    space: AddressSpace<Aarch64, SimAccess, CountingTlb>,
}

impl Heap for KernelHeap {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.allocate(layout, &mut self.space).ok()
    }

    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.heap.deallocate(block, layout, &mut self.space) }
    }
}

/// Bare `linked_list_allocator` over the whole arena.
pub struct LinkedList(linked_list_allocator::Heap);

impl Heap for LinkedList {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate_first_fit(layout).ok()
    }

    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(block, layout) }
    }
}

/// `talc` with a manually claimed arena and its default binning.
pub struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);

impl Heap for Talc {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the traces never ask for zero bytes.
        unsafe { self.0.allocate(layout) }
    }

    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(block.as_ptr(), layout) }
    }
}

/// `rlsf`'s TLSF: 28 first-level classes (blocks up to 8 GiB), 32 second-level.
pub struct Rlsf(rlsf::Tlsf<'static, u32, u32, 28, 32>);

impl Heap for Rlsf {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout)
    }

    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(block, layout.align()) }
    }
}

/// Builds each competitor over the first `bytes` of the arena.
struct Builder<'a> {
    arena: &'a Arena,
    ram: &'a SimMemory,
}

impl Builder<'_> {
    fn kernel(&self, bytes: usize) -> KernelHeap {
        let window = VirtRange::new(VirtAddr::from_ptr(self.arena.start), bytes as u64);
        KernelHeap {
            heap: GrowingHeap::new(window),
            space: KernelStack::build(self.ram).into_space(),
        }
    }

    fn linked_list(&self, bytes: usize) -> LinkedList {
        let mut heap = linked_list_allocator::Heap::empty();
        // SAFETY: the arena's first `bytes` are ours and outlive this heap (each
        // heap is dropped before the next one claims the arena).
        unsafe { heap.init(self.arena.start, bytes) };
        LinkedList(heap)
    }

    fn talc(&self, bytes: usize) -> Talc {
        let mut heap = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: as in `linked_list`.
        let claimed = unsafe { heap.claim(self.arena.start, bytes) };
        assert!(claimed.is_some(), "setup: talc claims the arena");
        Talc(heap)
    }

    fn rlsf(&self, bytes: usize) -> Rlsf {
        let mut heap = rlsf::Tlsf::new();
        let block = NonNull::slice_from_raw_parts(
            NonNull::new(self.arena.start).expect("arena is not null"),
            bytes,
        );
        // SAFETY: as in `linked_list`.
        let inserted = unsafe { heap.insert_free_block_ptr(block) };
        assert!(inserted.is_some(), "setup: rlsf takes the arena");
        Rlsf(heap)
    }
}

/// Request sizes.
#[derive(Clone, Copy)]
enum Sizes {
    /// 8 to 4096 bytes, log-uniform.
    Mixed,
    /// Kernel objects: 16 to 512 bytes, log-uniform.
    KernelObjects,
}

impl Sizes {
    fn layout(self, rng: &mut Rng) -> Layout {
        let size = match self {
            Self::Mixed => rng.log_uniform(8, 4096),
            Self::KernelObjects => rng.log_uniform(16, 512),
        };
        Layout::from_size_align(size as usize, 8).expect("trace sizes are valid layouts")
    }
}

/// A pre-generated steady-state trace: fill to `fill.len()` live blocks, then
/// `churn` untimed and `steps.len() - churn` timed steps, each freeing a random
/// live block and allocating a new one. A step holds the index of the block it
/// frees among the `fill.len()` live ones (drawn when the trace is made, so the
/// timed loop does no division; the count of live blocks never changes).
struct Trace {
    name: &'static str,
    fill: Vec<Layout>,
    churn: usize,
    steps: Vec<(usize, Layout)>,
}

impl Trace {
    fn new(name: &'static str, sizes: Sizes, live: usize, timed: usize) -> Self {
        let mut rng = Rng::new(SEED ^ live as u64 ^ name.len() as u64);
        let churn = (2 * live).min(timed);
        let fill = (0..live).map(|_| sizes.layout(&mut rng)).collect();
        let steps = (0..churn + timed)
            .map(|_| (rng.next_u64() as usize % live, sizes.layout(&mut rng)))
            .collect();
        Self {
            name,
            fill,
            churn,
            steps,
        }
    }
}

/// Frees live block number `pick` and allocates `layout` in its place.
fn replace(
    heap: &mut impl Heap,
    live: &mut Vec<(NonNull<u8>, Layout)>,
    pick: usize,
    layout: Layout,
) -> bool {
    let (block, old) = live.swap_remove(pick);
    // SAFETY: `block` came from this heap with `old` and leaves `live`.
    unsafe { heap.deallocate(block, old) };
    match heap.allocate(layout) {
        Some(block) => {
            live.push((block, layout));
            true
        }
        None => false,
    }
}

/// Fills a fresh heap as `trace` says and churns it to a steady state.
fn settle(heap: &mut impl Heap, trace: &Trace) -> Vec<(NonNull<u8>, Layout)> {
    let mut live = Vec::with_capacity(trace.fill.len());
    for layout in &trace.fill {
        live.push((
            heap.allocate(*layout)
                .expect("setup: the arena holds the fill"),
            *layout,
        ));
    }
    for &(pick, layout) in &trace.steps[..trace.churn] {
        assert!(
            replace(heap, &mut live, pick, layout),
            "setup: the arena holds the churn"
        );
    }
    live
}

/// Replays `trace` on `heap`; returns ns per timed step (one free and one
/// allocation).
fn throughput(heap: &mut impl Heap, trace: &Trace) -> f64 {
    let mut live = settle(heap, trace);
    let timed = &trace.steps[trace.churn..];
    let mut failures = 0usize;
    let figure = time_per_op(timed.len(), || {
        for &(pick, layout) in timed {
            failures += usize::from(!replace(heap, &mut live, pick, layout));
        }
    });
    assert_eq!(
        failures, 0,
        "{}: the arena holds the steady state",
        trace.name
    );
    figure
}

/// Replays `trace` on `heap`, timing every allocation alone; returns the ns of
/// each (timer overhead included).
fn latencies(heap: &mut impl Heap, trace: &Trace) -> Vec<u64> {
    let mut live = settle(heap, trace);
    let timed = &trace.steps[trace.churn..];
    let mut latencies = Vec::with_capacity(timed.len());
    for &(pick, layout) in timed {
        let (block, old) = live.swap_remove(pick);
        // SAFETY: `block` came from this heap with `old` and leaves `live`.
        unsafe { heap.deallocate(block, old) };
        let start = Instant::now();
        let block = heap.allocate(layout);
        latencies.push(start.elapsed().as_nanos() as u64);
        live.push((block.expect("the arena holds the steady state"), layout));
    }
    latencies.sort_unstable();
    latencies
}

/// `pairs` allocations of 64 bytes, each freed at once, on an empty heap.
fn hot_pair(heap: &mut impl Heap, pairs: usize) -> f64 {
    let layout = Layout::from_size_align(64, 8).expect("64 bytes is a valid layout");
    time_per_op(pairs, || {
        for _ in 0..pairs {
            if let Some(block) = heap.allocate(layout) {
                // SAFETY: just allocated with `layout`.
                unsafe { heap.deallocate(black_box(block), layout) };
            }
        }
    })
}

/// Allocates (two steps in three) and frees (one in three) from a seeded
/// sequence until the first allocation fails; returns the share of `arena`
/// bytes that are live (as requested) at that moment.
fn efficiency(heap: &mut impl Heap, sizes: Sizes, arena: usize) -> f64 {
    let mut rng = Rng::new(SEED ^ 0xeff);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let mut live_bytes = 0usize;
    // Bounded: an arena of `arena` bytes holds at most `arena / 8` live blocks.
    for _ in 0..arena {
        if live.is_empty() || rng.below(3) != 0 {
            let layout = sizes.layout(&mut rng);
            let Some(block) = heap.allocate(layout) else {
                break;
            };
            live.push((block, layout));
            live_bytes += layout.size();
        } else {
            let (block, layout) = live.swap_remove(rng.below(live.len() as u64) as usize);
            // SAFETY: `block` came from this heap with `layout` and leaves `live`.
            unsafe { heap.deallocate(block, layout) };
            live_bytes -= layout.size();
        }
    }
    live_bytes as f64 / arena as f64
}

/// Evaluates `$body` once per competitor, in the order of [`ALLOCATORS`], with
/// `$fresh` bound to a closure that builds a fresh instance of it over `$bytes`
/// of the arena; gives the four results as an array. A macro because `$body`
/// is generic over the heap type.
macro_rules! on_every_heap {
    ($builder:expr, $bytes:expr, |$fresh:ident| $body:expr) => {
        [
            {
                let $fresh = || $builder.kernel($bytes);
                $body
            },
            {
                let $fresh = || $builder.linked_list($bytes);
                $body
            },
            {
                let $fresh = || $builder.talc($bytes);
                $body
            },
            {
                let $fresh = || $builder.rlsf($bytes);
                $body
            },
        ]
    };
}

/// Runs every heap workload against every competitor and adds the figures and
/// table rows to `report`.
pub fn run(settings: &Settings, report: &mut Report) {
    let arena_bytes: usize = 64 << 20;
    let arena = Arena::new(arena_bytes);
    let ram = SimMemory::new(crate::harness::RAM_BASE, arena_bytes / PAGE_SIZE + 4096);
    let builder = Builder {
        arena: &arena,
        ram: &ram,
    };
    let scale = |full: usize| settings.pick(full, full / 10);
    let traces = [
        Trace::new("mixed_100", Sizes::Mixed, 100, scale(200_000)),
        Trace::new("mixed_1k", Sizes::Mixed, 1_000, scale(200_000)),
        Trace::new("mixed_10k", Sizes::Mixed, 10_000, scale(50_000)),
        Trace::new("mixed_25k", Sizes::Mixed, 25_000, scale(20_000)),
        Trace::new("kobj_10k", Sizes::KernelObjects, 10_000, scale(50_000)),
    ];
    let samples = settings.samples;

    for trace in &traces {
        for (allocator, figure) in
            ALLOCATORS
                .iter()
                .zip(on_every_heap!(builder, arena_bytes, |fresh| {
                    median_of(samples, || throughput(&mut fresh(), trace))
                }))
        {
            report.set(format!("heap.{}.{allocator}.ns", trace.name), figure);
        }
    }

    let pairs = scale(1_000_000);
    let figures = on_every_heap!(builder, arena_bytes, |fresh| median_of(samples, || {
        hot_pair(&mut fresh(), pairs)
    }));
    for (allocator, figure) in ALLOCATORS.iter().zip(figures) {
        report.set(format!("heap.hot_pair.{allocator}.ns"), figure);
    }

    for trace in &traces[1..3] {
        let runs = on_every_heap!(builder, arena_bytes, |fresh| latencies(&mut fresh(), trace));
        for (allocator, sorted) in ALLOCATORS.iter().zip(&runs) {
            for (fraction, suffix) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")] {
                report.set(
                    format!("heap.{}.{allocator}.alloc_{suffix}_ns", trace.name),
                    percentile(sorted, fraction),
                );
            }
        }
    }

    let efficiency_bytes: usize = settings.pick(8 << 20, 2 << 20);
    for (sizes, key) in [(Sizes::Mixed, "8_4096"), (Sizes::KernelObjects, "16_512")] {
        let shares = on_every_heap!(builder, efficiency_bytes, |fresh| efficiency(
            &mut fresh(),
            sizes,
            efficiency_bytes
        ));
        for (allocator, share) in ALLOCATORS.iter().zip(shares) {
            report.set(format!("heap.efficiency.{key}.{allocator}"), share);
        }
    }

    report.section("heap: kernel = GrowingHeap growing and shrinking through AddressSpace (size-class front end, linked_list_allocator behind); others bare over a 64 MiB arena");
    let cells = |pattern: &str| -> Vec<(String, String)> {
        ALLOCATORS
            .iter()
            .map(|allocator| (allocator.to_string(), pattern.replace("{}", allocator)))
            .collect()
    };
    for trace in &traces {
        let name = trace.name;
        report.row(
            &format!("{name} (free+alloc step)"),
            Unit::NsPerOp,
            cells(&format!("heap.{name}.{{}}.ns")),
        );
    }
    report.row(
        "hot_pair alloc(64)+free",
        Unit::NsPerOp,
        cells("heap.hot_pair.{}.ns"),
    );
    for name in ["mixed_1k", "mixed_10k"] {
        for suffix in ["p50", "p99", "p999"] {
            report.row(
                &format!("{name} alloc {suffix}"),
                Unit::NsPerOp,
                cells(&format!("heap.{name}.{{}}.alloc_{suffix}_ns")),
            );
        }
    }
    for (key, label) in [
        ("8_4096", "efficiency 8-4096"),
        ("16_512", "efficiency 16-512"),
    ] {
        report.row(
            &format!("{label} ({} MiB)", efficiency_bytes >> 20),
            Unit::Share,
            cells(&format!("heap.efficiency.{key}.{{}}")),
        );
    }
}
