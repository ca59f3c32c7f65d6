//! The mapper: a 2 MiB run of pages mapped one page at a time through the
//! single-page path (`AddressSpace::map`), against the same run through the
//! range API (`AddressSpace::map_run`); and the run unmapped page by page
//! (`AddressSpace::unmap`) against `AddressSpace::unmap_range`.
//!
//! The address space is the kernel's code over simulated memory, with page
//! tables reached through [`SlotAccess`], the policy the kernel's fixmap uses:
//! only how a table is reached differs. So besides the time, the part counts
//! what the kernel would pay in TLB invalidations per page: each switch of the
//! table slot, plus each invalidation instruction of the TLB maintenance.
//! The frames mapped are taken from the frame stack before the clock starts
//! (in the host its pages are reached through the tables, in the kernel
//! directly), so both paths time the mapper alone.

use kernel::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr, VirtRange};
use kernel::arch::aarch64::paging::Aarch64;
use kernel::memory::frames::FrameStack;
use kernel::memory::paging::{Attributes, CountingTlb, Mapper, SlotAccess};
use kernel::memory::sim::{SimAccess, SimMemory};
use kernel::memory::space::AddressSpace;
use kernel::memory::window::PageView;

use crate::frames::FRAME_STACK_WINDOW;
use crate::harness::{Settings, median};
use crate::report::{Report, Unit};

/// The run: one last-level table's worth of pages, at the start of the
/// kernel's heap window (2 MiB-aligned, so it is exactly one table).
const RUN_PAGES: usize = 512;
const RUN_START: VirtAddr = kernel::arch::aarch64::layout::HEAP.start;

type Space = AddressSpace<Aarch64, SlotAccess<SimAccess>, CountingTlb>;

/// TLB invalidations the kernel would have made so far: table-slot switches
/// plus invalidation instructions.
fn invalidations(space: &mut Space) -> u64 {
    let mapper = space.mapper();
    mapper.access().switches() + mapper.tlb().invalidations as u64
}

/// One way to map or unmap the run.
#[derive(Clone, Copy)]
enum Path {
    MapSingle,
    MapRun,
    UnmapSingle,
    UnmapRun,
}

impl Path {
    /// Does it: maps the run to `frames`, or unmaps it.
    fn apply(self, space: &mut Space, frames: &[PhysAddr]) {
        let page = PAGE_SIZE as u64;
        let at = |index: usize| VirtAddr(RUN_START.0 + index as u64 * page);
        match self {
            Self::MapSingle => {
                for (index, frame) in frames.iter().enumerate() {
                    space
                        .map(at(index), *frame, Attributes::KERNEL_DATA)
                        .expect("the run's pages are free");
                }
            }
            Self::MapRun => space
                .map_run(RUN_START, frames, Attributes::KERNEL_DATA)
                .expect("the run's pages are free"),
            Self::UnmapSingle => {
                for index in 0..RUN_PAGES {
                    space.unmap(at(index)).expect("the page is mapped");
                }
                space.mapper().flush();
            }
            Self::UnmapRun => {
                let run = VirtRange::new(RUN_START, RUN_PAGES as u64 * page);
                assert_eq!(space.unmap_range(run), RUN_PAGES, "the run was mapped");
            }
        }
    }

    /// What makes the run ready for this path, and what undoes it after.
    fn around(self) -> (Option<Self>, Option<Self>) {
        match self {
            Self::MapSingle | Self::MapRun => (None, Some(Self::UnmapRun)),
            Self::UnmapSingle | Self::UnmapRun => (Some(Self::MapRun), None),
        }
    }
}

/// Runs `rounds` rounds of mapping and unmapping the run, timing and counting
/// `path` only; returns (ns per page, TLB invalidations per page).
fn sample(space: &mut Space, frames: &[PhysAddr], path: Path, rounds: usize) -> (f64, f64) {
    let (before, after) = path.around();
    let (mut nanoseconds, mut counted) = (0u128, 0u64);
    for _ in 0..rounds {
        if let Some(before) = before {
            before.apply(space, frames);
        }
        let counted_before = invalidations(space);
        let start = std::time::Instant::now();
        path.apply(space, frames);
        nanoseconds += start.elapsed().as_nanos();
        counted += invalidations(space) - counted_before;
        if let Some(after) = after {
            after.apply(space, frames);
        }
    }
    let pages = (rounds * RUN_PAGES) as f64;
    (nanoseconds as f64 / pages, counted as f64 / pages)
}

/// Times and counts each path and adds the figures and table rows to `report`.
pub fn run(settings: &Settings, report: &mut Report) {
    let ram = SimMemory::new(crate::harness::RAM_BASE, 4 * RUN_PAGES);
    let range = ram.range();
    let usable = PhysRange::new(
        PhysAddr(range.start.0 + PAGE_SIZE as u64),
        range.size - PAGE_SIZE as u64,
    );
    let mut stack = FrameStack::new([range], [usable]);
    stack.install_free_map(ram.free_map());
    ram.zero(range.start);
    // SAFETY: frame 0 is zeroed and only this mapper's root; `ram` outlives
    // the mapper (the space is dropped at the end of this function).
    let mapper = unsafe { Mapper::new(range.start, ram.slot_access(), CountingTlb::default()) };
    let mut space = AddressSpace::new(
        mapper,
        stack,
        FRAME_STACK_WINDOW,
        PageView::ThroughTableAccess,
    );
    space
        .add_free_range(usable)
        .expect("setup: the usable RAM is accepted");
    let mut frames = vec![PhysAddr(0); RUN_PAGES];
    space
        .allocate_frames(&mut frames)
        .expect("setup: RAM holds the run's frames");

    let rounds = settings.pick(200, 20);
    let paths = [
        ("single", Path::MapSingle),
        ("run", Path::MapRun),
        ("unmap_single", Path::UnmapSingle),
        ("unmap_run", Path::UnmapRun),
    ];
    // The paths take turns, sample by sample, so that a stretch of noise on
    // the shared machine slows all of them alike instead of one figure.
    for (_, path) in paths {
        sample(&mut space, &frames, path, rounds);
    }
    let mut figures = paths.map(|_| (Vec::new(), Vec::new()));
    for _ in 0..settings.samples.max(1) {
        for ((_, path), (times, counts)) in paths.iter().zip(&mut figures) {
            let (time, count) = sample(&mut space, &frames, *path, rounds);
            times.push(time);
            counts.push(count);
        }
    }
    for ((name, _), (mut times, mut counts)) in paths.into_iter().zip(figures) {
        report.set(format!("mapper.{name}.ns"), median(&mut times));
        report.set(format!("mapper.{name}.tlb_per_page"), median(&mut counts));
    }
    assert_eq!(
        space.refused_free_count(),
        0,
        "every table the runs released went back"
    );

    report.section(&format!(
        "mapper: a {} KiB run at a last-level table's start; AddressSpace with the fixmap's slot policy over simulated memory; per page",
        RUN_PAGES * PAGE_SIZE / 1024
    ));
    let rows = [
        ("map (per page)", "", "ns", Unit::NsPerOp),
        ("map, TLB invalidations", "", "tlb_per_page", Unit::PerPage),
        ("unmap (per page)", "unmap_", "ns", Unit::NsPerOp),
        (
            "unmap, TLB invalidations",
            "unmap_",
            "tlb_per_page",
            Unit::PerPage,
        ),
    ];
    for (label, prefix, suffix, unit) in rows {
        let cells = ["run", "single"]
            .iter()
            .map(|name| (name.to_string(), format!("mapper.{prefix}{name}.{suffix}")))
            .collect();
        report.row(label, unit, cells);
    }
}
