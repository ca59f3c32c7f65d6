//! The results: every figure under its key, a summary table with ratios, and
//! `summary.json` (one key per figure, keys sorted, numbers as numbers).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// How a figure reads.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Nanoseconds per operation (lower is better).
    NsPerOp,
    /// Nanoseconds per GiB of RAM, shown as µs/GiB.
    NsPerGib,
    /// Bytes per GiB of RAM, shown as KiB/GiB.
    BytesPerGib,
    /// A share of an arena, shown as a percentage (higher is better).
    Share,
    /// A count per page (lower is better).
    PerPage,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Self::NsPerOp => "ns/op",
            Self::NsPerGib => "us/GiB",
            Self::BytesPerGib => "KiB/GiB",
            Self::Share => "% live",
            Self::PerPage => "/page",
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Self::NsPerOp => format!("{value:.1}"),
            Self::NsPerGib => format!("{:.1}", value / 1e3),
            Self::BytesPerGib => format!("{:.1}", value / 1024.0),
            Self::Share => format!("{:.1}", value * 100.0),
            Self::PerPage => format!("{value:.3}"),
        }
    }
}

/// One table row: the first cell is the subject (the kernel's code), the
/// others are competitors shown with the ratio subject ÷ competitor.
struct Row {
    label: String,
    unit: Unit,
    cells: Vec<(String, String)>,
}

/// All figures of a run.
#[derive(Default)]
pub struct Report {
    figures: BTreeMap<String, f64>,
    sections: Vec<(String, Vec<Row>)>,
}

impl Report {
    /// Records `value` under `key`.
    pub fn set(&mut self, key: impl Into<String>, value: f64) {
        self.figures.insert(key.into(), value);
    }

    /// Every figure recorded, by key.
    pub fn figures(&self) -> &BTreeMap<String, f64> {
        &self.figures
    }

    /// Starts a table section titled `title`.
    pub fn section(&mut self, title: &str) {
        self.sections.push((title.to_string(), Vec::new()));
    }

    /// Adds a row to the current section: `cells` are (competitor, key) pairs,
    /// the kernel's own code first.
    pub fn row(&mut self, label: &str, unit: Unit, cells: Vec<(String, String)>) {
        if self.sections.is_empty() {
            self.section("");
        }
        if let Some((_, rows)) = self.sections.last_mut() {
            rows.push(Row {
                label: label.to_string(),
                unit,
                cells,
            });
        }
    }

    /// The summary table, one block per section.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for (title, rows) in &self.sections {
            let _ = writeln!(out, "\n== {title} ==");
            let Some(first) = rows.first() else { continue };
            let mut header = format!("{:<34} {:>8}", "figure", "unit");
            let subject = &first.cells[0].0;
            for (index, (name, _)) in first.cells.iter().enumerate() {
                // Each competitor's heading says which way its ratio divides.
                let heading = if index == 0 {
                    name.clone()
                } else {
                    format!("{name} ({subject}/{name})")
                };
                let _ = write!(header, " {heading:>24}");
            }
            let _ = writeln!(out, "{header}");
            for row in rows {
                let _ = write!(out, "{:<34} {:>8}", row.label, row.unit.label());
                let subject = self
                    .figures
                    .get(&row.cells[0].1)
                    .copied()
                    .unwrap_or(f64::NAN);
                for (index, (_, key)) in row.cells.iter().enumerate() {
                    let value = self.figures.get(key).copied().unwrap_or(f64::NAN);
                    let ratio = subject / value;
                    let cell = if index == 0 {
                        row.unit.show(value)
                    } else if ratio.is_finite() {
                        format!("{} ({ratio:.2}x)", row.unit.show(value))
                    } else {
                        format!("{} (n/a)", row.unit.show(value))
                    };
                    let _ = write!(out, " {cell:>24}");
                }
                let _ = writeln!(out);
            }
        }
        out.push_str(
            "\nratio = the kernel code's figure / the competitor's: for times below 1 means the kernel is faster;\n\
             for bytes below 1 means it needs less; for efficiency above 1 means it packs more.\n",
        );
        out
    }

    /// The figures as a JSON object, keys sorted (non-finite values as null).
    pub fn json(&self) -> String {
        let mut out = String::from("{\n");
        for (index, (key, value)) in self.figures.iter().enumerate() {
            let separator = if index + 1 < self.figures.len() {
                ","
            } else {
                ""
            };
            let number = if value.is_finite() {
                format!("{value}")
            } else {
                "null".to_string()
            };
            let _ = writeln!(out, "  \"{}\": {number}{separator}", escape(key));
        }
        out.push_str("}\n");
        out
    }

    /// Writes [`json`](Self::json) to `path`, creating its folder.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(path, self.json())
    }
}

fn escape(key: &str) -> String {
    key.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}
