//! `FORMAT=svg`: the physical memory map as a picture a learner can read.
//!
//! Addresses run down the page, in three lanes: RAM, reservations (coloured
//! by reason, with a legend) and the device registers the kernel knows of.
//! Physical memory spans 2^48 bytes or more while a UART spans 64, so the
//! axis is broken: every start and end of something is a labelled row, the
//! height of a stretch grows with the logarithm of its size, and a stretch
//! that holds nothing is drawn as a short gap marked with its size. Each
//! thing is named once, on the right, joined to its first row by a line.
//! The kernel image is not drawn: the loader places it at boot, and the tree
//! does not say where.

use std::fmt::Write as _;

use kernel::addr::{ByteSize, PhysAddr, PhysRange};
use kernel::platform::{GicVersion, PlatformDescription, ReservationReason};

/// Lane geometry: the address labels end at `ADDRESS_RIGHT`; each lane is
/// `LANE_WIDTH` wide, starting at the x of its [`Lane`].
const ADDRESS_RIGHT: i64 = 150;
const LANE_WIDTH: i64 = 84;
const LABELS_LEFT: i64 = 460;
const WIDTH: i64 = 1100;
/// Heights of a stretch: the least (one text row), the most, and a gap.
const ROW_MIN: i64 = 18;
const ROW_MAX: i64 = 72;
const GAP: i64 = 26;
/// Space between two labels on the right.
const LABEL_STEP: i64 = 15;
const TOP: i64 = 104;

/// Where a thing is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Ram,
    Reserved,
    Device,
}

impl Lane {
    fn x(self) -> i64 {
        ADDRESS_RIGHT + 12 + LANE_WIDTH * (self as i64) + 12 * (self as i64)
    }

    fn title(self, no_ram: bool) -> &'static str {
        match self {
            Self::Ram if no_ram => "RAM: none",
            Self::Ram => "RAM",
            Self::Reserved => "reserved",
            Self::Device => "devices",
        }
    }
}

/// One range to draw: its lane, its colour and what it is.
struct Item {
    range: PhysRange,
    lane: Lane,
    colour: &'static str,
    label: String,
}

/// The colour and legend entry for RAM, devices and each reason.
const RAM_COLOUR: &str = "#9fd89f";
const DEVICE_COLOUR: &str = "#8fb8e8";

fn reason_colour(reason: &ReservationReason<'_>) -> (&'static str, &'static str) {
    match reason {
        ReservationReason::MemReserve => ("#f2a65a", "/memreserve/ (firmware)"),
        ReservationReason::ReservedMemory { .. } => ("#e07070", "/reserved-memory"),
        ReservationReason::Initrd => ("#c39bd3", "initrd"),
        ReservationReason::DeviceTree => ("#f7dc6f", "device tree blob"),
        ReservationReason::KernelImage => ("#5dade2", "kernel image"),
        _ => ("#b0b0b0", "other reservation"),
    }
}

/// `text` with the five XML specials escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The end of `range`, clipped to the last byte of the address space.
fn end(range: &PhysRange) -> u64 {
    range.start.0.saturating_add(range.size)
}

fn items(
    platform: &PlatformDescription<'_>,
    legend: &mut Vec<(&'static str, &'static str)>,
) -> Vec<Item> {
    let mut items = Vec::new();
    let mut note = |colour, name| {
        if !legend.contains(&(colour, name)) {
            legend.push((colour, name));
        }
    };
    for range in platform.ram() {
        note(RAM_COLOUR, "RAM");
        items.push(Item {
            range: *range,
            lane: Lane::Ram,
            colour: RAM_COLOUR,
            label: format!("RAM {range}"),
        });
    }
    for reservation in platform.reserved() {
        let (colour, name) = reason_colour(&reservation.reason);
        note(colour, name);
        items.push(Item {
            range: reservation.range,
            lane: Lane::Reserved,
            colour,
            label: format!("{} {}", reservation.reason, reservation.range),
        });
    }
    let mut device = |range: PhysRange, label: String| {
        note(DEVICE_COLOUR, "device registers");
        items.push(Item {
            range,
            lane: Lane::Device,
            colour: DEVICE_COLOUR,
            label: format!("{label} {range}"),
        });
    };
    // The console the kernel would use, and the other UART the tree names
    // for it (stdout-path's when the kernel falls back, else serial0's).
    let console = platform.console().uart().map(|uart| uart.device);
    if let Some(console) = console {
        for region in console.regions.iter() {
            device(
                *region,
                format!("console {} ({})", console.path, console.compatible),
            );
        }
    }
    let other = [platform.stdout, platform.serial0]
        .into_iter()
        .flatten()
        .filter_map(|uart| uart.device.ok())
        .find(|uart| Some(uart.path) != console.map(|console| console.path));
    if let Some(uart) = other {
        for region in uart.regions.iter() {
            device(*region, format!("UART {} ({})", uart.path, uart.compatible));
        }
    }
    if let Some(gic) = &platform.interrupt_controller {
        let (version, redistributors) = match gic.version() {
            GicVersion::V2 => ("GICv2", 0),
            GicVersion::V3 => ("GICv3", gic.redistributors().len()),
        };
        for (index, region) in gic.device().regions.iter().enumerate() {
            // The order the GIC bindings give the regions in.
            let role = match index.checked_sub(redistributors) {
                _ if index == 0 => "distributor (GICD)",
                Some(0) | None => "redistributors (GICR)",
                Some(1) => "CPU interface (GICC)",
                Some(2) => "virtual interface control (GICH)",
                _ => "virtual CPU interface (GICV)",
            };
            device(*region, format!("{version} {role}"));
        }
    }
    items.sort_by_key(|item| (item.range.start, item.lane as u8));
    items
}

/// The picture of `platform`'s physical memory, as a standalone SVG document.
pub fn memory_map(platform: &PlatformDescription<'_>) -> String {
    let mut legend = Vec::new();
    let items = items(platform, &mut legend);
    let mut boundaries: Vec<u64> = items
        .iter()
        .flat_map(|item| [item.range.start.0, end(&item.range)])
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    // The y of each boundary: a stretch with something in it grows with the
    // logarithm of its size, an empty one is a gap.
    let mut ys = Vec::with_capacity(boundaries.len());
    let mut gaps = Vec::new();
    let mut y = TOP + 24;
    for (index, &boundary) in boundaries.iter().enumerate() {
        ys.push(y);
        let Some(&next) = boundaries.get(index + 1) else {
            break;
        };
        let occupied = items
            .iter()
            .any(|item| item.range.start.0 <= boundary && end(&item.range) >= next);
        let height = if occupied {
            let log = (64 - (next - boundary).leading_zeros()) as i64;
            (ROW_MIN + (log - 12).max(0) * 3).min(ROW_MAX)
        } else {
            gaps.push((y, next - boundary));
            GAP
        };
        y += height;
    }
    let bottom = y;
    let y_of = |address: u64| {
        boundaries
            .binary_search(&address)
            .ok()
            .and_then(|index| ys.get(index).copied())
            .unwrap_or(bottom)
    };
    let labels_bottom = items.len() as i64 * LABEL_STEP + TOP + 24;
    let legend_top = bottom.max(labels_bottom) + 30;
    let height = legend_top + 30 + legend.len() as i64 * 20;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="20" y="30" font-size="18" font-weight="bold">Physical memory map: {}</text>"#,
        escape(platform.model.unwrap_or("(no model)"))
    );
    let ram_note = if platform.ram().is_empty() {
        "No RAM in this tree: the bootloader writes /memory at boot."
    } else {
        "RAM as the tree describes it."
    };
    let notes = [
        ram_note,
        "Addresses grow downwards on a broken axis: a row's height grows with the logarithm of its size; empty stretches are short gaps.",
        "The kernel image, the blob itself and the boot page tables are placed at boot, so they are not drawn.",
    ];
    for (index, note) in notes.iter().enumerate() {
        let _ = writeln!(
            out,
            r##"<text x="20" y="{}" fill="#444">{note}</text>"##,
            50 + index as i64 * 16
        );
    }
    for lane in [Lane::Ram, Lane::Reserved, Lane::Device] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-weight="bold" text-anchor="middle">{}</text>"#,
            lane.x() + LANE_WIDTH / 2,
            TOP + 12,
            lane.title(platform.ram().is_empty())
        );
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{}" width="{LANE_WIDTH}" height="{}" fill="#f4f4f4" stroke="#ccc"/>"##,
            lane.x(),
            TOP + 24,
            bottom - TOP - 24
        );
    }
    for &(y, size) in &gaps {
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{y}" width="{}" height="{GAP}" fill="url(#gap)"/>"##,
            Lane::Ram.x(),
            Lane::Device.x() + LANE_WIDTH - Lane::Ram.x()
        );
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" fill="#666" text-anchor="middle" font-style="italic">gap of {}</text>"##,
            Lane::Reserved.x() + LANE_WIDTH / 2,
            y + GAP / 2 + 4,
            ByteSize(size)
        );
    }
    for item in &items {
        let top = y_of(item.range.start.0);
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{top}" width="{LANE_WIDTH}" height="{}" fill="{}" stroke="#333" stroke-width="0.6"><title>{}</title></rect>"##,
            item.lane.x(),
            (y_of(end(&item.range)) - top).max(2),
            item.colour,
            escape(&item.label)
        );
    }
    for (&boundary, &y) in boundaries.iter().zip(&ys) {
        let _ = writeln!(
            out,
            r##"<text x="{ADDRESS_RIGHT}" y="{}" text-anchor="end" font-family="DejaVu Sans Mono, monospace" font-size="11">{}</text>"##,
            y + 4,
            PhysAddr(boundary)
        );
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#999" stroke-width="0.5"/>"##,
            ADDRESS_RIGHT + 4,
            Lane::Device.x() + LANE_WIDTH
        );
    }
    let mut label_y = TOP + 24;
    for item in &items {
        let top = y_of(item.range.start.0);
        label_y = (label_y + LABEL_STEP).max(top + 4);
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1.2"/>"##,
            item.lane.x() + LANE_WIDTH,
            top + 2,
            LABELS_LEFT - 4,
            label_y - 4,
            item.colour
        );
        let _ = writeln!(
            out,
            r#"<text x="{LABELS_LEFT}" y="{label_y}">{}</text>"#,
            escape(&item.label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="20" y="{legend_top}" font-weight="bold">Legend</text>"#
    );
    for (index, (colour, name)) in legend.iter().enumerate() {
        let y = legend_top + 12 + index as i64 * 20;
        let _ = writeln!(
            out,
            r##"<rect x="20" y="{y}" width="16" height="14" fill="{colour}" stroke="#333" stroke-width="0.6"/><text x="44" y="{}">{name}</text>"##,
            y + 11
        );
    }
    out.push_str(
        r##"<defs><pattern id="gap" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="white"/><line x1="0" y1="0" x2="0" y2="8" stroke="#ddd" stroke-width="3"/></pattern></defs>
</svg>
"##,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_drawn_and_named_and_the_document_is_closed() {
        let blob = std::fs::read(format!(
            "{}/src/platform/testdata/virt-initrd.dtb",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let platform = PlatformDescription::from_dtb(&blob, None).expect("good fixture");
        let svg = memory_map(&platform);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        for label in [
            "RAM [0x4000_0000, 0x5000_0000) 256 MiB",
            "initrd [0x4800_0000, 0x4820_1800) 2 MiB",
            "reserved-memory:firmware@4f000000 [0x4f00_0000, 0x4f10_0000) 1 MiB",
            "console /pl011@9000000 (arm,pl011) [0x900_0000, 0x900_1000) 4 KiB",
            "GICv2 distributor",
            "gap of",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        // One rectangle (with its tooltip) per RAM range, reservation and device region.
        assert_eq!(svg.matches("<title>").count(), 1 + 2 + 3);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b&\"c'"), "a&lt;b&amp;&quot;c&apos;");
    }
}
