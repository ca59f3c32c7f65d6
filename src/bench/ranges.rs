//! The virtual range allocator of the vmap window, at steady states of 100, 1k
//! and 10k live ranges of 1 to 64 pages. Its free-range trees live on the host
//! heap here (on the kernel heap in the kernel).

use kernel::addr::{VirtAddr, VirtRange};
use kernel::memory::ranges::{AllocatedRange, RangeAllocator};

use crate::harness::{Rng, Settings, median_of, time_per_op};
use crate::report::{Report, Unit};

/// The kernel's vmap window (`arch::aarch64::layout::VMAP`), with the kernel's
/// one guard page after each range.
const VMAP_WINDOW: VirtRange = VirtRange::new(VirtAddr(0xffff_0080_0000_0000), 256 << 30);
const GUARD_PAGES: usize = 1;

const SEED: u64 = 0x007a_46e5;

/// One sample: fill to `live` ranges, churn as many steps untimed, then time
/// `steps` steps of freeing a random live range and allocating a new one.
fn sample(live: usize, trace: &[(u32, usize)]) -> f64 {
    let mut ranges =
        RangeAllocator::new(VMAP_WINDOW, GUARD_PAGES).expect("setup: the first record");
    let (fill, rest) = trace.split_at(live);
    let (churn, timed) = rest.split_at(live.min(rest.len() / 2));
    let mut held: Vec<AllocatedRange> = fill
        .iter()
        .map(|&(_, pages)| {
            ranges
                .allocate(pages)
                .expect("setup: the window holds the fill")
        })
        .collect();
    let mut failures = 0usize;
    let mut step =
        |ranges: &mut RangeAllocator, held: &mut Vec<AllocatedRange>, pick: u32, pages: usize| {
            let victim = held.swap_remove(pick as usize % held.len());
            let freed = ranges.free(victim).is_ok();
            match ranges.allocate(pages) {
                Ok(range) if freed => held.push(range),
                _ => failures += 1,
            }
        };
    for &(pick, pages) in churn {
        step(&mut ranges, &mut held, pick, pages);
    }
    let figure = time_per_op(timed.len(), || {
        for &(pick, pages) in timed {
            step(&mut ranges, &mut held, pick, pages);
        }
    });
    assert_eq!(failures, 0, "every range is freed and reallocated");
    figure
}

/// Runs the range workloads and adds figures and table rows to `report`.
pub fn run(settings: &Settings, report: &mut Report) {
    let steps = settings.pick(200_000, 20_000);
    let mut rows = Vec::new();
    for (live, name) in [(100, "100"), (1_000, "1k"), (10_000, "10k")] {
        let mut rng = Rng::new(SEED ^ live as u64);
        let trace: Vec<(u32, usize)> = (0..2 * live + steps)
            .map(|_| (rng.next_u64() as u32, rng.uniform(1, 64) as usize))
            .collect();
        let key = format!("ranges.{name}.ns");
        report.set(
            key.clone(),
            median_of(settings.samples, || sample(live, &trace)),
        );
        rows.push((format!("{name} live (free+alloc step)"), key));
    }
    report.section(&format!(
        "virtual ranges: RangeAllocator over the {} GiB vmap window, 1-64 pages",
        VMAP_WINDOW.size >> 30
    ));
    for (label, key) in rows {
        report.row(&label, Unit::NsPerOp, vec![("ranges".to_string(), key)]);
    }
}
