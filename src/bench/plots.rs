//! SVG plots of a run, written next to `summary.json` for people who would
//! rather look than read. They are drawn from the report's figures by key
//! pattern, so workloads, allocators and frame allocators are whatever the run
//! measured: a plot whose figures are all absent (a `PARTS` run) is skipped.
//!
//! - `heap_ns.svg`: ns per operation against live blocks, one line per heap
//!   allocator and workload family with two sizes or more
//!   (`heap.<family>_<count>.<allocator>.ns`), both axes logarithmic;
//! - `heap_latency.svg`: allocation latency percentiles, one panel per
//!   workload (`heap.<workload>.<allocator>.alloc_p<digits>_ns`), log time;
//! - `frames.svg`: the frame allocators side by side, one panel per workload
//!   the kernel's `frames.<workload>.ns` has, bars from zero.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;

/// Why a plot could not be drawn or written.
type Failure = Box<dyn Error>;

/// The colours of the series, the kernel's code first; they repeat past the
/// end (more series than any run has today).
const COLOURS: [RGBColor; 6] = [
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
];

/// The names of the kernel's own code among the series: drawn first, in the
/// first colour.
const KERNEL: [&str; 2] = ["kernel", "frames"];

const FONT: (&str, u32) = ("sans-serif", 15);
const TITLE: (&str, u32) = ("sans-serif", 20);

/// Draws every plot the figures allow into `folder` and returns the files
/// written. Fails when a file cannot be written.
pub fn write_all(figures: &BTreeMap<String, f64>, folder: &Path) -> Result<Vec<PathBuf>, Failure> {
    let plots: [(&str, Plot); 3] = [
        ("heap_ns.svg", heap_ns),
        ("heap_latency.svg", heap_latency),
        ("frames.svg", frames),
    ];
    let mut written = Vec::new();
    for (name, plot) in plots {
        let path = folder.join(name);
        if plot(figures, &path)? {
            written.push(path);
        }
    }
    Ok(written)
}

/// One plot: draws it at the path and answers true, or answers false when
/// the figures hold nothing for it.
type Plot = fn(&BTreeMap<String, f64>, &Path) -> Result<bool, Failure>;

/// The figures whose keys have `parts` dot-separated parts, with those parts.
fn keys_of(
    figures: &BTreeMap<String, f64>,
    parts: usize,
) -> impl Iterator<Item = (Vec<&str>, f64)> {
    figures.iter().filter_map(move |(key, &value)| {
        let split: Vec<&str> = key.split('.').collect();
        (split.len() == parts && value.is_finite()).then_some((split, value))
    })
}

/// `names` with the kernel's own first, the others in their order.
fn kernel_first(names: BTreeSet<&str>) -> Vec<&str> {
    let (mut ours, others): (Vec<&str>, Vec<&str>) =
        names.into_iter().partition(|name| KERNEL.contains(name));
    ours.extend(others);
    ours
}

fn colour(index: usize) -> RGBColor {
    COLOURS[index % COLOURS.len()]
}

/// A workload name's family and count: `mixed_10k` is ("mixed", 10000).
fn family_and_count(workload: &str) -> Option<(&str, f64)> {
    let (family, count) = workload.rsplit_once('_')?;
    let (digits, scale) = match count.strip_suffix('k') {
        Some(digits) => (digits, 1e3),
        None => match count.strip_suffix('m') {
            Some(digits) => (digits, 1e6),
            None => (count, 1.0),
        },
    };
    Some((family, digits.parse::<f64>().ok()? * scale))
}

/// An axis number, short: 250, 2.5k, 1.2M.
fn short(value: &f64) -> String {
    let (scaled, suffix) = match value.abs() {
        high if high >= 1e6 => (value / 1e6, "M"),
        high if high >= 1e3 => (value / 1e3, "k"),
        _ => (*value, ""),
    };
    let text = format!("{scaled:.1}");
    format!(
        "{}{suffix}",
        text.trim_end_matches('0').trim_end_matches('.')
    )
}

/// A logarithmic axis range around `low..=high` (positive), a little wider.
fn log_span(low: f64, high: f64) -> std::ops::Range<f64> {
    low / 1.5..high * 1.5
}

/// A chart whose y axis is logarithmic nanoseconds.
type LogChart<'a, X> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, LogCoord<f64>>>;

/// Draws `points` as a line with markers in the colour at `index`, thicker
/// for the kernel's own `name`, labelled `label` in the legend.
fn line<X: Ranged<ValueType = f64>>(
    chart: &mut LogChart<X>,
    points: &[(f64, f64)],
    index: usize,
    name: &str,
    label: String,
) -> Result<(), Failure> {
    let style = colour(index).stroke_width(if KERNEL.contains(&name) { 3 } else { 2 });
    chart
        .draw_series(LineSeries::new(points.iter().copied(), style))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    chart.draw_series(PointSeries::of_element(
        points.iter().copied(),
        4,
        style.filled(),
        &|at, size, style| Circle::new(at, size, style),
    ))?;
    Ok(())
}

/// The legend of the labelled series, top left.
fn legend<'a, X: Ranged<ValueType = f64>>(chart: &mut LogChart<'a, X>) -> Result<(), Failure> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(FONT)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn heap_ns(figures: &BTreeMap<String, f64>, path: &Path) -> Result<bool, Failure> {
    // (family, allocator) -> (live blocks, ns) points.
    let mut lines: BTreeMap<(&str, &str), Vec<(f64, f64)>> = BTreeMap::new();
    for (parts, value) in keys_of(figures, 4) {
        if let ["heap", workload, allocator, "ns"] = parts[..]
            && let Some((family, count)) = family_and_count(workload)
            && value > 0.0
        {
            lines
                .entry((family, allocator))
                .or_default()
                .push((count, value));
        }
    }
    lines.retain(|_, points| points.len() >= 2);
    if lines.is_empty() {
        return Ok(false);
    }
    let families: BTreeSet<&str> = lines.keys().map(|&(family, _)| family).collect();
    let allocators = kernel_first(lines.keys().map(|&(_, allocator)| allocator).collect());
    let points = lines.values().flatten();
    let (x_low, x_high) = points
        .clone()
        .fold((f64::MAX, 0f64), |(low, high), &(x, _)| {
            (low.min(x), high.max(x))
        });
    let (y_low, y_high) = points.fold((f64::MAX, 0f64), |(low, high), &(_, y)| {
        (low.min(y), high.max(y))
    });

    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "heap: ns per operation against live blocks (log-log)",
            TITLE,
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            log_span(x_low, x_high).log_scale(),
            log_span(y_low, y_high).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("live blocks")
        .y_desc("ns per operation")
        .x_label_formatter(&short)
        .y_label_formatter(&short)
        .label_style(FONT)
        .draw()?;
    for ((family, allocator), points) in &mut lines {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let index = allocators
            .iter()
            .position(|name| name == allocator)
            .unwrap_or(0);
        let label = if families.len() > 1 {
            format!("{allocator} ({family})")
        } else {
            allocator.to_string()
        };
        line(&mut chart, points, index, allocator, label)?;
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(true)
}

/// Lines of (x, y) points by name.
type Lines<'a> = BTreeMap<&'a str, Vec<(f64, f64)>>;

/// A percentile key's fraction and label: `alloc_p999_ns` is (0.999, "p99.9").
fn percentile(key: &str) -> Option<(f64, String)> {
    let digits = key.strip_prefix("alloc_p")?.strip_suffix("_ns")?;
    let fraction: f64 = format!("0.{digits}").parse().ok()?;
    Some((fraction, format!("p{}", fraction * 100.0)))
}

fn heap_latency(figures: &BTreeMap<String, f64>, path: &Path) -> Result<bool, Failure> {
    // workload -> allocator -> (fraction, ns) points.
    let mut panels: BTreeMap<&str, Lines> = BTreeMap::new();
    let mut fractions: BTreeMap<u64, String> = BTreeMap::new();
    for (parts, value) in keys_of(figures, 4) {
        if let ["heap", workload, allocator, key] = parts[..]
            && let Some((fraction, label)) = percentile(key)
            && value > 0.0
        {
            fractions.insert(fraction.to_bits(), label);
            let points = panels
                .entry(workload)
                .or_default()
                .entry(allocator)
                .or_default();
            points.push((fraction, value));
        }
    }
    if panels.is_empty() {
        return Ok(false);
    }
    // Percentiles are evenly spaced on the axis, in order.
    let order: Vec<u64> = fractions.keys().copied().collect();
    let labels: Vec<String> = fractions.into_values().collect();
    let values = panels.values().flat_map(BTreeMap::values).flatten();
    let (y_low, y_high) = values.fold((f64::MAX, 0f64), |(low, high), &(_, y)| {
        (low.min(y), high.max(y))
    });
    let x_range = -0.3..(labels.len() as f64 - 0.7);

    let root = SVGBackend::new(path, (450 * panels.len() as u32 + 50, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("heap: allocation latency percentiles (log time)", TITLE)?;
    for (area, (workload, lines)) in root.split_evenly((1, panels.len())).iter().zip(&panels) {
        let allocators = kernel_first(lines.keys().copied().collect());
        let mut chart = ChartBuilder::on(area)
            .caption(workload, FONT)
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.clone(), log_span(y_low, y_high).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|x| {
                let index = x.round();
                if (x - index).abs() < 0.01 && index >= 0.0 {
                    labels.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("ns per allocation")
            .y_label_formatter(&short)
            .label_style(FONT)
            .draw()?;
        for (index, allocator) in allocators.iter().enumerate() {
            let mut points: Vec<(f64, f64)> = lines[allocator]
                .iter()
                .filter_map(|&(fraction, ns)| {
                    let at = order.iter().position(|&bits| bits == fraction.to_bits())?;
                    Some((at as f64, ns))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            line(&mut chart, &points, index, allocator, allocator.to_string())?;
        }
        legend(&mut chart)?;
    }
    root.present()?;
    Ok(true)
}

fn frames(figures: &BTreeMap<String, f64>, path: &Path) -> Result<bool, Failure> {
    let workloads: BTreeSet<&str> = keys_of(figures, 3)
        .filter_map(|(parts, _)| match parts[..] {
            ["frames", workload, "ns"] => Some(workload),
            _ => None,
        })
        .collect();
    // allocator -> workload -> ns, for every allocator measured on one of
    // the kernel's frame workloads.
    let mut bars: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for (parts, value) in keys_of(figures, 3) {
        if let [allocator, workload, "ns"] = parts[..]
            && workloads.contains(workload)
        {
            bars.entry(allocator).or_default().insert(workload, value);
        }
    }
    if workloads.is_empty() {
        return Ok(false);
    }
    let allocators = kernel_first(bars.keys().copied().collect());
    let drawing = |area: &DrawingArea<SVGBackend, Shift>, workload: &str| -> Result<(), Failure> {
        let high = allocators
            .iter()
            .filter_map(|allocator| bars[allocator].get(workload))
            .fold(0f64, |high, &ns| high.max(ns));
        let mut chart = ChartBuilder::on(area)
            .caption(workload, FONT)
            .margin(10)
            .x_label_area_size(10)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..allocators.len() as f64, 0f64..high * 1.1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("ns per frame operation")
            .y_label_formatter(&short)
            .label_style(FONT)
            .draw()?;
        let rectangles = allocators
            .iter()
            .enumerate()
            .filter_map(|(index, allocator)| {
                let ns = *bars[allocator].get(workload)?;
                let left = index as f64 + 0.12;
                Some(Rectangle::new(
                    [(left, 0.0), (left + 0.76, ns)],
                    colour(index).filled(),
                ))
            });
        chart.draw_series(rectangles)?;
        Ok(())
    };

    let root = SVGBackend::new(path, (240 * workloads.len() as u32 + 40, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "frames: ns per operation, each allocator on the same trace",
        TITLE,
    )?;
    // One legend for all panels, in a strip above them.
    let (legend, panels) = root.split_vertically(30);
    for (index, allocator) in allocators.iter().enumerate() {
        let x = 80 + 160 * index as i32;
        legend.draw(&Rectangle::new(
            [(x, 8), (x + 14, 22)],
            colour(index).filled(),
        ))?;
        legend.draw(&Text::new(*allocator, (x + 20, 7), FONT))?;
    }
    for (area, workload) in panels
        .split_evenly((1, workloads.len()))
        .iter()
        .zip(&workloads)
    {
        drawing(area, workload)?;
    }
    root.present()?;
    Ok(true)
}
