//! Host benchmarks of the kernel's memory code (`make bench`): the real frame
//! stack, address space, heap and range allocator, over simulated physical
//! memory, each workload run against every competitor on the same seeded trace.
//!
//! Prints a summary table and writes `target/bench/summary.json` and SVG plots
//! beside it. `QUICK=1`
//! runs a reduced version; `PARTS=ranges` (comma-separated) runs only the
//! parts named, and its summary holds only their figures. See [`harness`] for why the harness is hand-rolled.
//!
//! - [`frames`]: frame stack vs two-level bitmap ([`bitmap`]) vs buddy;
//! - [`heap`]: kernel heap vs linked_list_allocator, talc, rlsf;
//! - [`mapper`]: a 2 MiB run mapped page by page vs through the range API;
//! - [`ranges`]: the virtual range allocator;
//! - [`report`]: table and JSON; [`plots`]: SVG plots beside the JSON;
//!   [`counting`]: heap bytes of the competitors.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod bitmap;
mod counting;
mod frames;
mod harness;
mod heap;
mod mapper;
mod plots;
mod ranges;
mod report;

use std::path::Path;
use std::time::Instant;

/// One part of the run: adds its figures and table rows to the report.
type Part = fn(&harness::Settings, &mut report::Report);

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn main() {
    let settings = harness::Settings::from_environment();
    let started = Instant::now();
    let mut report = report::Report::default();
    let mode = if settings.quick { "quick" } else { "full" };
    eprintln!(
        "memory benchmarks ({mode} run, {} samples per figure)",
        settings.samples
    );

    let timer = harness::median_of(settings.samples, || {
        let count = 100_000;
        harness::time_per_op(count, || {
            for _ in 0..count {
                std::hint::black_box(Instant::now());
            }
        })
    });
    report.set("meta.timer_ns", timer);

    let parts: [(&str, Part); 4] = [
        ("frames", frames::run),
        ("heap", heap::run),
        ("ranges", ranges::run),
        ("mapper", mapper::run),
    ];
    if let Some(unknown) = settings
        .parts
        .iter()
        .flatten()
        .find(|wanted| parts.iter().all(|(name, _)| name != wanted))
    {
        let known: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "PARTS names {unknown:?}; the parts are {}",
            known.join(", ")
        );
        std::process::exit(2);
    }
    for (name, part) in parts {
        if !settings.runs(name) {
            continue;
        }
        let start = Instant::now();
        part(&settings, &mut report);
        let seconds = start.elapsed().as_secs_f64();
        eprintln!("  {name}: {seconds:.1} s");
        report.set(format!("meta.{name}_seconds"), seconds);
    }
    report.set("meta.quick", f64::from(u8::from(settings.quick)));
    report.set("meta.seconds", started.elapsed().as_secs_f64());

    print!("{}", report.table());
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let path = folder.join("summary.json");
    if let Err(error) = report.write_json(&path) {
        eprintln!("cannot write {}: {error}", path.display());
        std::process::exit(1);
    }
    println!("\nwrote {}", path.display());
    match plots::write_all(report.figures(), &folder) {
        Ok(written) if written.is_empty() => {
            println!("no plots: this run measured none of their figures")
        }
        Ok(written) => written
            .iter()
            .for_each(|plot| println!("wrote {}", plot.display())),
        Err(error) => {
            eprintln!("cannot draw the plots: {error}");
            std::process::exit(1);
        }
    }
}
