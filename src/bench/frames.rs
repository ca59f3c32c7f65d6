//! Frame allocators side by side: the kernel's frame stack (as the kernel
//! builds it: the same `AddressSpace` and `FrameStack` code, whose pushes and
//! pops reach the top window page through the pointer the stack keeps), the
//! two-level bitmap baseline and `buddy_system_allocator`'s `FrameAllocator`.
//!
//! Every competitor manages the same simulated RAM (frame 0 is the stack's root
//! table; the rest is usable) and replays the same seeded traces.

use std::hint::black_box;
use std::time::Instant;

use kernel::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtRange};
use kernel::arch::aarch64::paging::Aarch64;
use kernel::memory::frames::FrameStack;
use kernel::memory::paging::{CountingTlb, Mapper};
use kernel::memory::space::AddressSpace;
use kernel::memory::window::PageView;

use crate::bitmap::BitmapFrames;
use crate::counting;
use crate::harness::{Rng, Settings, median, median_of, time_per_op};
use crate::report::{Report, Unit};
use kernel::memory::sim::{SimAccess, SimMemory};

/// The kernel's frame-stack window.
pub const FRAME_STACK_WINDOW: VirtRange = kernel::arch::aarch64::layout::FRAME_STACK;

const SEED: u64 = 0x5eed_f4a3e5;

/// A frame was refused on free: the benchmark would be measuring a broken run.
#[derive(Debug)]
pub struct Refused(pub PhysAddr);

/// What every competitor offers.
pub trait FrameAllocator {
    /// One free frame, or `None` when none is left.
    fn allocate(&mut self) -> Option<PhysAddr>;
    /// Gives back a frame that `allocate` handed out.
    fn free(&mut self, frame: PhysAddr) -> Result<(), Refused>;
    /// Bytes of bookkeeping outside the free frames themselves.
    fn metadata_bytes(&self) -> usize;
    /// Bytes of free frames that hold bookkeeping (the stack's own pages).
    fn bytes_in_free_frames(&self) -> usize {
        0
    }
}

/// RAM the allocators may hand out: all of it but frame 0 (the root table).
fn usable(ram: &SimMemory) -> PhysRange {
    let range = ram.range();
    PhysRange::new(
        PhysAddr(range.start.0 + PAGE_SIZE as u64),
        range.size - PAGE_SIZE as u64,
    )
}

/// A fresh mapper whose root is frame 0 of `ram`.
fn fresh_mapper(ram: &SimMemory) -> Mapper<Aarch64, SimAccess, CountingTlb> {
    let root = ram.range().start;
    ram.zero(root);
    // SAFETY: frame 0 is zeroed, used only as this root (every earlier mapper on
    // this RAM is gone), and `ram` outlives the mapper (the caller drops the
    // allocator before the RAM).
    unsafe { Mapper::new(root, ram.access(), CountingTlb::default()) }
}

/// The frame stack exactly as the kernel builds it: inside an [`AddressSpace`],
/// its window pages found through [`PageView::ThroughTableAccess`] when they
/// are mapped (the kernel computes their address instead; either way the
/// stack then keeps the top page's pointer).
pub struct KernelStack {
    space: AddressSpace<Aarch64, SimAccess, CountingTlb>,
}

impl KernelStack {
    /// The stack over the usable frames of `ram`.
    pub fn build(ram: &SimMemory) -> Self {
        let usable = usable(ram);
        let mut frames = FrameStack::new([ram.range()], [usable]);
        frames.install_free_map(ram.free_map());
        let mut space = AddressSpace::new(
            fresh_mapper(ram),
            frames,
            FRAME_STACK_WINDOW,
            PageView::ThroughTableAccess,
        );
        space
            .add_free_range(usable)
            .expect("setup: the usable RAM is accepted");
        Self { space }
    }

    /// The address space holding the stack, to back a heap.
    pub fn into_space(self) -> AddressSpace<Aarch64, SimAccess, CountingTlb> {
        self.space
    }
}

impl FrameAllocator for KernelStack {
    fn allocate(&mut self) -> Option<PhysAddr> {
        self.space.allocate_frame()
    }

    fn free(&mut self, frame: PhysAddr) -> Result<(), Refused> {
        self.space.free_frame(frame).map_err(|_| Refused(frame))
    }

    fn metadata_bytes(&self) -> usize {
        core::mem::size_of::<FrameStack>() + self.space.frames().free_map_bytes()
    }

    fn bytes_in_free_frames(&self) -> usize {
        let frames = self.space.frames();
        (frames.window_page_count() + frames.table_frame_count()) * PAGE_SIZE
    }
}

/// The two-level bitmap baseline.
pub struct Bitmap(BitmapFrames);

impl Bitmap {
    /// A bitmap over the usable frames of `ram`.
    pub fn build(ram: &SimMemory) -> Self {
        Self(BitmapFrames::new(usable(ram)))
    }
}

impl FrameAllocator for Bitmap {
    fn allocate(&mut self) -> Option<PhysAddr> {
        self.0.allocate()
    }

    fn free(&mut self, frame: PhysAddr) -> Result<(), Refused> {
        self.0.free(frame).map_err(|_| Refused(frame))
    }

    fn metadata_bytes(&self) -> usize {
        self.0.metadata_bytes()
    }
}

/// `buddy_system_allocator::FrameAllocator`, in frame numbers. Its free lists are
/// `BTreeSet`s on the host heap, weighed by the counting allocator.
pub struct Buddy {
    frames: buddy_system_allocator::FrameAllocator<32>,
    heap_bytes: usize,
}

impl Buddy {
    /// A buddy allocator over the usable frames of `ram`.
    pub fn build(ram: &SimMemory) -> Self {
        let before = counting::live_bytes();
        let usable = usable(ram);
        let mut frames = buddy_system_allocator::FrameAllocator::<32>::new();
        let first = (usable.start.0 / PAGE_SIZE as u64) as usize;
        frames.add_frame(first, first + (usable.size / PAGE_SIZE as u64) as usize);
        Self {
            frames,
            heap_bytes: counting::live_bytes().saturating_sub(before),
        }
    }
}

impl FrameAllocator for Buddy {
    fn allocate(&mut self) -> Option<PhysAddr> {
        self.frames
            .alloc(1)
            .map(|number| PhysAddr(number as u64 * PAGE_SIZE as u64))
    }

    fn free(&mut self, frame: PhysAddr) -> Result<(), Refused> {
        self.frames
            .dealloc((frame.0 / PAGE_SIZE as u64) as usize, 1);
        Ok(())
    }

    fn metadata_bytes(&self) -> usize {
        self.heap_bytes + core::mem::size_of::<Self>()
    }
}

/// Sizes of one run.
struct Plan {
    /// Timed pop+push pairs per sample.
    hot_pairs: usize,
    /// Operations of the random trace.
    random_ops: usize,
    /// The random trace: even = allocate, odd = free; `>> 1` picks the victim.
    trace: Vec<u32>,
}

/// Runs every frame workload against every competitor and adds the figures
/// and the table rows to `report`.
pub fn run(settings: &Settings, report: &mut Report) {
    let ram_bytes: usize = settings.pick(1 << 30, 128 << 20);
    let ram = SimMemory::new(crate::harness::RAM_BASE, ram_bytes / PAGE_SIZE);
    let random_ops = settings.pick(1_000_000, 100_000);
    let mut rng = Rng::new(SEED);
    let plan = Plan {
        hot_pairs: settings.pick(2_000_000, 200_000),
        random_ops,
        trace: (0..random_ops).map(|_| rng.next_u64() as u32).collect(),
    };
    let competitors = [
        ("frames", "frames"),
        ("bitmap", "bitmap"),
        ("buddy", "buddy"),
    ];
    measure(settings, &ram, &plan, "frames", KernelStack::build, report);
    measure(settings, &ram, &plan, "bitmap", Bitmap::build, report);
    measure(settings, &ram, &plan, "buddy", Buddy::build, report);

    report.section(&format!(
        "frames: {} MiB of simulated RAM; frames = the kernel's AddressSpace and FrameStack (fresh ranges, free-frame map, top page kept)",
        ram_bytes >> 20
    ));
    let rows = [
        ("hot pop+push pair", "hot.ns", Unit::NsPerOp),
        ("drain all (per frame)", "drain.ns", Unit::NsPerOp),
        ("shuffled refill (per frame)", "refill.ns", Unit::NsPerOp),
        ("random alloc/free", "random.ns", Unit::NsPerOp),
        (
            "random alloc/free, touching",
            "random_touch.ns",
            Unit::NsPerOp,
        ),
        ("setup per GiB", "setup_ns_per_gib", Unit::NsPerGib),
        (
            "metadata per GiB (all handed out once)",
            "metadata_bytes_per_gib",
            Unit::BytesPerGib,
        ),
        (
            "held in free frames per GiB (all freed)",
            "free_frame_bytes_per_gib",
            Unit::BytesPerGib,
        ),
    ];
    for (label, suffix, unit) in rows {
        let cells = competitors
            .iter()
            .map(|(name, prefix)| (name.to_string(), format!("{prefix}.{suffix}")))
            .collect();
        report.row(label, unit, cells);
    }
}

/// Every workload for one competitor; figures go under `prefix`.
fn measure<A: FrameAllocator>(
    settings: &Settings,
    ram: &SimMemory,
    plan: &Plan,
    prefix: &str,
    build: fn(&SimMemory) -> A,
    report: &mut Report,
) {
    let gib = ram.range().size as f64 / (1u64 << 30) as f64;
    let expected = ram.frames() - 1;

    // Setup, drain and shuffled refill: one cycle per sample on a fresh allocator.
    let (mut setups, mut drains, mut refills) = (Vec::new(), Vec::new(), Vec::new());
    let mut taken = Vec::with_capacity(expected);
    let mut footprint = (0, 0);
    for sample in 0..=settings.samples {
        let start = Instant::now();
        let mut allocator = build(ram);
        let setup = start.elapsed().as_nanos() as f64;
        taken.clear();
        let drain = time_per_op(expected, || {
            while let Some(frame) = allocator.allocate() {
                taken.push(frame);
            }
        });
        // Every frame was handed out once: the free map is all present.
        footprint.0 = allocator.metadata_bytes();
        assert_eq!(
            taken.len(),
            expected,
            "{prefix}: the drain hands out every usable frame"
        );
        // The same refill order for every competitor.
        taken.sort_unstable();
        Rng::new(SEED ^ sample as u64).shuffle(&mut taken);
        let mut refused = None;
        let refill = time_per_op(expected, || {
            for frame in &taken {
                if let Err(error) = allocator.free(*frame) {
                    refused = Some(error);
                }
            }
        });
        if let Some(Refused(frame)) = refused {
            panic!("{prefix}: refill refused {frame}");
        }
        // Every frame is free and in the stack proper.
        footprint.1 = allocator.bytes_in_free_frames();
        if sample > 0 {
            setups.push(setup / gib);
            drains.push(drain);
            refills.push(refill);
        }
    }
    report.set(format!("{prefix}.setup_ns_per_gib"), median(&mut setups));
    report.set(format!("{prefix}.drain.ns"), median(&mut drains));
    report.set(format!("{prefix}.refill.ns"), median(&mut refills));
    report.set(
        format!("{prefix}.metadata_bytes_per_gib"),
        footprint.0 as f64 / gib,
    );
    report.set(
        format!("{prefix}.free_frame_bytes_per_gib"),
        footprint.1 as f64 / gib,
    );

    // Hot pop+push on a full allocator.
    let mut allocator = build(ram);
    let hot = median_of(settings.samples, || {
        time_per_op(plan.hot_pairs, || {
            for _ in 0..plan.hot_pairs {
                if let Some(frame) = allocator.allocate() {
                    let _refused = allocator.free(black_box(frame));
                }
            }
        })
    });
    report.set(format!("{prefix}.hot.ns"), hot);
    drop(allocator);

    for (touch, key) in [(false, "random.ns"), (true, "random_touch.ns")] {
        let figure = median_of(settings.samples, || {
            random(ram, plan, build, touch, expected / 2)
        });
        report.set(format!("{prefix}.{key}"), figure);
    }
}

/// One sample of the random trace on a fresh allocator with `live` frames
/// allocated; ns per operation. With `touch`, each allocated frame gets a store
/// and each freed one a load, as a caller would use them.
fn random<A: FrameAllocator>(
    ram: &SimMemory,
    plan: &Plan,
    build: fn(&SimMemory) -> A,
    touch: bool,
    live: usize,
) -> f64 {
    let mut allocator = build(ram);
    let mut held: Vec<PhysAddr> = (0..live).map_while(|_| allocator.allocate()).collect();
    held.reserve(plan.random_ops);
    let mut failures = 0usize;
    let figure = time_per_op(plan.random_ops, || {
        for &op in &plan.trace {
            if op & 1 == 0 || held.is_empty() {
                match allocator.allocate() {
                    Some(frame) => {
                        if touch {
                            // SAFETY: `frame` is simulated RAM that we now own.
                            unsafe { ram.word(frame).write_volatile(frame.0) };
                        }
                        held.push(frame);
                    }
                    None => failures += 1,
                }
            } else {
                let victim = (op >> 1) as usize % held.len();
                let frame = held.swap_remove(victim);
                if touch {
                    // SAFETY: `frame` is simulated RAM that we still own.
                    black_box(unsafe { ram.word(frame).read_volatile() });
                }
                if allocator.free(frame).is_err() {
                    failures += 1;
                }
            }
        }
    });
    assert_eq!(
        failures, 0,
        "the random trace never runs out of frames nor has a free refused"
    );
    figure
}
