//! The corpus test (`make corpus`): on every `.dtb` under `build/dtbs/`
//! (Debian's arm64 kernel packages, fetched by `boards/fetch-debian`),
//! inspect's JSON must agree with an independent reading of the tree on RAM,
//! reservations, console (and its fallback) and interrupt controller, in at least
//! [`REQUIRED_PERCENT`] of the files; and on every file its text must carry
//! the same facts as its JSON (the fixtures' test, on real boards).
//!
//! The independent reader shares no code with `src/platform`: it uses the
//! `fdt` crate's own API (`all_nodes`-style descent, `reg`,
//! `memory_reservations`, `children`, `property`) where the platform
//! description validates the blob itself and walks it with its own frames,
//! cell reading and `ranges` translation. Both still rest on `fdt`'s
//! tokenizer, so a bug there could hide from this test; `dtc`/`fdtget` would
//! avoid that, but cost a process per property (minutes for 1,599 files)
//! and a parser of their text, and the tokenizer is the part of `fdt` that
//! the fuzz targets already hammer. What "agree" means, fact by fact:
//!
//! - **RAM**: the `reg` entries of size > 0 of every node with
//!   `device_type = "memory"` (under the root), sorted and with touching or
//!   overlapping ranges merged, equal inspect's `ram` list; when there are
//!   none, inspect says `ram_left_to_bootloader`.
//! - **Reservations**: the ranges the tree itself reserves, each with its
//!   kind: `/memreserve/` entries of size > 0, `reg` entries of size > 0 of
//!   enabled `/reserved-memory` children (by name), and the initrd that
//!   `/chosen` bounds. As multisets they equal inspect's reservations of
//!   those kinds (`memreserve`, `reserved-memory:<name>`, `initrd`), except
//!   that a child marked `reusable` and not `no-map` must be in inspect's
//!   `reusable` list instead (the kernel leaves it usable); reservations the
//!   kernel adds by its own reasoning are not compared.
//! - **Console**: the reader makes the console decision itself. The node
//!   `/chosen/stdout-path` names (through `/aliases` when it does not start
//!   with `/`, options after `:` dropped, a path component without unit
//!   address matching a node by its name before `@`) is the console when it
//!   is enabled and one of its `compatible` strings is a UART the kernel
//!   drives ([`DRIVEN_UARTS`], listed here on their own). Otherwise the
//!   console is the `serial0` alias's node under the same test, or none,
//!   and the fallback's reason is `no stdout-path`, `names nothing`, `no
//!   driver` or `disabled`, in that order. Inspect's `console` and
//!   `console_fallback` (reason, `named` and `serial0`) must each equal
//!   that prediction: same path, first `compatible`, and CPU address of the
//!   first `reg` entry translated through every `ranges` (null when there
//!   is none).
//! - **Interrupt controller**: the root of the interrupt tree, followed from
//!   the root node's `interrupt-parent` through each controller's own
//!   (inherited from its ancestors when it has none) until one has none or is
//!   its own. Inspect names the same node, as its `interrupt_controller` when
//!   the node's `compatible` looks like a GIC (a string `arm,pl390`, starting
//!   `arm,gic-` or ending `-gic` or `qgic2`), else in `not_driven` as an
//!   interrupt controller. In a tree whose root node has no
//!   `interrupt-parent` the root is the one enabled node with
//!   `interrupt-controller` whose interrupt parent is none or itself; when
//!   there is no such node or several, inspect's answer is not compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fdt::Fdt;
use fdt::node::FdtNode;
use serde_json::Value;

use super::tests::text_from_json;
use super::{Inspected, json, text};

/// The share of files that must agree, in percent.
const REQUIRED_PERCENT: f64 = 99.5;

/// One node of the independent reading: its full path, the `fdt` node, and
/// its parent's index.
struct Node<'a> {
    path: String,
    node: FdtNode<'a, 'a>,
    parent: Option<usize>,
}

/// Every node of a tree in depth-first order, by index.
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    by_phandle: HashMap<u32, usize>,
}

fn be_number(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

impl<'a> Tree<'a> {
    fn new(fdt: &'a Fdt<'a>) -> Option<Self> {
        let mut tree = Tree {
            nodes: Vec::new(),
            by_phandle: HashMap::new(),
        };
        let root = fdt.find_node("/")?;
        tree.add(root, String::from("/"), None);
        Some(tree)
    }

    fn add(&mut self, node: FdtNode<'a, 'a>, path: String, parent: Option<usize>) {
        let index = self.nodes.len();
        for name in ["phandle", "linux,phandle"] {
            if let Some(phandle) = self.number(node, name) {
                self.by_phandle.entry(phandle as u32).or_insert(index);
            }
        }
        self.nodes.push(Node { path, node, parent });
        let children: Vec<_> = node.children().collect();
        for child in children {
            let child_path = if index == 0 {
                format!("/{}", child.name)
            } else {
                format!("{}/{}", self.nodes[index].path, child.name)
            };
            self.add(child, child_path, Some(index));
        }
    }

    fn number(&self, node: FdtNode<'_, '_>, name: &str) -> Option<u64> {
        node.property(name)
            .and_then(|property| be_number(property.value))
    }

    fn string(&self, index: usize, name: &str) -> Option<&'a str> {
        let value = self.nodes[index].node.property(name)?.value;
        let end = value.iter().position(|&byte| byte == 0)?;
        std::str::from_utf8(&value[..end]).ok()
    }

    fn strings(&self, index: usize, name: &str) -> Vec<&'a str> {
        self.nodes[index]
            .node
            .property(name)
            .map(|property| {
                property
                    .value
                    .split(|&byte| byte == 0)
                    .filter(|piece| !piece.is_empty())
                    .filter_map(|piece| std::str::from_utf8(piece).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn enabled(&self, index: usize) -> bool {
        matches!(self.string(index, "status"), None | Some("okay" | "ok"))
    }

    /// The node a path names, each component equal to a node's name, or to
    /// its name before `@` when the component has no unit address.
    fn find(&self, path: &str) -> Option<usize> {
        let mut current = 0;
        for component in path.split('/').filter(|piece| !piece.is_empty()) {
            current = self.nodes.iter().position(|node| {
                node.parent == Some(current) && {
                    let name = node.path.rsplit('/').next().unwrap_or("");
                    name == component
                        || (!component.contains('@') && name.split('@').next() == Some(component))
                }
            })?;
        }
        Some(current)
    }

    /// `(#address-cells, #size-cells)` a node gives its children.
    fn cells(&self, index: usize) -> (u64, u64) {
        let node = self.nodes[index].node;
        (
            self.number(node, "#address-cells").unwrap_or(2),
            self.number(node, "#size-cells").unwrap_or(1),
        )
    }

    /// The `reg` entries of a node, as written (bus addresses).
    fn reg(&self, index: usize) -> Vec<(u64, u64)> {
        let Some(parent) = self.nodes[index].parent else {
            return Vec::new();
        };
        let (address_cells, size_cells) = self.cells(parent);
        let Some(reg) = self.nodes[index].node.property("reg") else {
            return Vec::new();
        };
        let entry = ((address_cells + size_cells) * 4) as usize;
        if entry == 0 {
            return Vec::new();
        }
        reg.value
            .chunks_exact(entry)
            .filter_map(|chunk| {
                let (address, size) = chunk.split_at(address_cells as usize * 4);
                Some((be_number(address)?, be_number(size)?))
            })
            .collect()
    }

    /// A bus address on `bus`'s children up to a CPU address, through every
    /// `ranges` on the way to the root.
    fn to_cpu(&self, mut bus: usize, mut address: u64) -> Option<u64> {
        while let Some(parent) = self.nodes[bus].parent {
            let ranges = self.nodes[bus].node.property("ranges")?.value;
            if !ranges.is_empty() {
                let (child_cells, size_cells) = self.cells(bus);
                let (parent_cells, _) = self.cells(parent);
                let widths =
                    [child_cells, parent_cells, size_cells].map(|cells| cells as usize * 4);
                let window = ranges
                    .chunks_exact(widths.iter().sum())
                    .filter_map(|chunk| {
                        let (child, rest) = chunk.split_at(widths[0]);
                        let (parent, length) = rest.split_at(widths[1]);
                        Some((be_number(child)?, be_number(parent)?, be_number(length)?))
                    })
                    .find(|&(child, _, length)| address >= child && address - child < length)?;
                address = (address - window.0).checked_add(window.1)?;
            }
            bus = parent;
        }
        Some(address)
    }

    /// The phandle of the interrupt parent in effect at a node.
    fn interrupt_parent(&self, mut index: usize) -> Option<u32> {
        loop {
            let node = self.nodes[index].node;
            if let Some(phandle) = self.number(node, "interrupt-parent") {
                return Some(phandle as u32);
            }
            index = self.nodes[index].parent?;
        }
    }
}

/// What the independent reader makes of one tree.
#[derive(Debug, PartialEq)]
struct Facts {
    ram: Vec<(u64, u64)>,
    reservations: Vec<(u64, u64, String)>,
    /// The UART the kernel should write to.
    console: Option<UartFacts>,
    /// Why it is not stdout-path's, when it is not: the reason's code, the
    /// node stdout-path named and the serial0 alias's node.
    console_fallback: Option<(&'static str, Option<UartFacts>, Option<UartFacts>)>,
    /// The interrupt tree's root: path, first compatible, and whether it looks like a GIC.
    controller: Option<(String, String, bool)>,
}

fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, size) in ranges {
        // Ends in 128 bits: a region may end at 2^64.
        let end_of = |start: u64, size: u64| u128::from(start) + u128::from(size);
        match out.last_mut() {
            Some((last_start, last_size))
                if u128::from(start) <= end_of(*last_start, *last_size) =>
            {
                let end = end_of(start, size).max(end_of(*last_start, *last_size));
                *last_size = u64::try_from(end - u128::from(*last_start)).unwrap_or(u64::MAX);
            }
            _ => out.push((start, size)),
        }
    }
    out
}

/// A UART node as inspect names it: path, first `compatible`, and the CPU
/// address of its first `reg` entry (`None` when it cannot be read).
type UartFacts = (String, String, Option<u64>);

/// The UARTs the kernel has a driver for, by `compatible`: its PL011 and
/// mini UART drivers (`src/drivers/`). Written out here, not taken from
/// `src/platform/console.rs`, so that this reader predicts the console
/// decision on its own; a new driver must be added in both places.
const DRIVEN_UARTS: [&str; 2] = ["arm,pl011", "brcm,bcm2835-aux-uart"];

#[test]
fn ram_ending_at_two_to_the_64_merges_without_overflow() {
    let top = u64::MAX - 0xfff;
    assert_eq!(
        merged(vec![(top + 0x800, 0x800), (top, 0x1000), (0, 0x1000)]),
        [(0, 0x1000), (top, 0x1000)]
    );
}

fn looks_like_gic(compatible: &[&str]) -> bool {
    compatible.iter().any(|name| {
        *name == "arm,pl390"
            || name.starts_with("arm,gic-")
            || name.ends_with("-gic")
            || name.ends_with("qgic2")
    })
}

fn independent(blob: &[u8]) -> Option<Facts> {
    let fdt = Fdt::new(blob).ok()?;
    let tree = Tree::new(&fdt)?;
    let top_level = |name: &str| {
        tree.nodes
            .iter()
            .position(|node| node.parent == Some(0) && node.path == format!("/{name}"))
    };
    let ram = merged(
        (0..tree.nodes.len())
            .filter(|&index| tree.nodes[index].parent == Some(0))
            .filter(|&index| tree.string(index, "device_type") == Some("memory"))
            .flat_map(|index| tree.reg(index))
            .filter(|&(_, size)| size > 0)
            .collect(),
    );
    let mut reservations: Vec<(u64, u64, String)> = fdt
        .memory_reservations()
        .map(|entry| (entry.address() as u64, entry.size() as u64))
        .filter(|&(_, size)| size > 0)
        .map(|(start, size)| (start, size, String::from("memreserve")))
        .collect();
    if let Some(reserved) = top_level("reserved-memory") {
        for index in
            (0..tree.nodes.len()).filter(|&index| tree.nodes[index].parent == Some(reserved))
        {
            if !tree.enabled(index) {
                continue;
            }
            let name = tree.nodes[index]
                .path
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            // The binding lets the OS use a `reusable` region that it may not
            // unmap (`no-map`); inspect lists those apart, as left usable.
            let node = tree.nodes[index].node;
            let kind = if node.property("reusable").is_some() && node.property("no-map").is_none() {
                "reusable"
            } else {
                "reserved-memory"
            };
            for (start, size) in tree.reg(index).into_iter().filter(|&(_, size)| size > 0) {
                let start = tree.to_cpu(reserved, start)?;
                reservations.push((start, size, format!("{kind}:{name}")));
            }
        }
    }
    let chosen = top_level("chosen");
    if let Some(chosen) = chosen {
        let node = tree.nodes[chosen].node;
        let start = tree.number(node, "linux,initrd-start");
        let end = tree.number(node, "linux,initrd-end");
        if let (Some(start), Some(end)) = (start, end)
            && end > start
        {
            reservations.push((start, end - start, String::from("initrd")));
        }
    }
    reservations.sort();
    let alias = |name: &str| top_level("aliases").and_then(|aliases| tree.string(aliases, name));
    let stdout_path = chosen.and_then(|chosen| tree.string(chosen, "stdout-path"));
    let named = stdout_path.and_then(|stdout| {
        let target = stdout.split(':').next().unwrap_or(stdout);
        let target = if target.starts_with('/') {
            Some(target)
        } else {
            alias(target)
        };
        target.and_then(|target| tree.find(target))
    });
    let serial0 = alias("serial0").and_then(|target| tree.find(target));
    let uart = |index: usize| -> UartFacts {
        let compatible = tree.strings(index, "compatible");
        let base = tree.nodes[index].parent.and_then(|parent| {
            let (bus_address, _) = *tree.reg(index).first()?;
            tree.to_cpu(parent, bus_address)
        });
        (
            tree.nodes[index].path.clone(),
            compatible.first().copied().unwrap_or("").to_owned(),
            base,
        )
    };
    let has_driver = |index: usize| {
        tree.strings(index, "compatible")
            .iter()
            .any(|name| DRIVEN_UARTS.contains(name))
    };
    let drives = |index: usize| has_driver(index) && tree.enabled(index);
    // The console decision: stdout-path's UART when the kernel drives it,
    // else serial0's, with the reason.
    let (console, console_fallback) = match named {
        Some(index) if drives(index) => (Some(uart(index)), None),
        _ => {
            let reason = match (stdout_path, named) {
                (None, _) => "no stdout-path",
                (Some(_), None) => "names nothing",
                (Some(_), Some(index)) if !has_driver(index) => "no driver",
                (Some(_), Some(_)) => "disabled",
            };
            (
                serial0.filter(|&index| drives(index)).map(uart),
                Some((reason, named.map(uart), serial0.map(uart))),
            )
        }
    };
    let describe = |index: usize| {
        let compatible = tree.strings(index, "compatible");
        (
            tree.nodes[index].path.clone(),
            compatible.first().copied().unwrap_or("").to_owned(),
            looks_like_gic(&compatible),
        )
    };
    let mut controller = None;
    let mut phandle = tree
        .number(tree.nodes[0].node, "interrupt-parent")
        .map(|p| p as u32);
    if phandle.is_none() {
        // No chain to follow: the one enabled controller that reports to
        // nobody else, if there is exactly one.
        let roots: Vec<usize> = (0..tree.nodes.len())
            .filter(|&index| {
                tree.nodes[index]
                    .node
                    .property("interrupt-controller")
                    .is_some()
            })
            .filter(|&index| tree.enabled(index))
            .filter(|&index| {
                let own = tree
                    .number(tree.nodes[index].node, "phandle")
                    .map(|p| p as u32);
                tree.interrupt_parent(index)
                    .is_none_or(|parent| Some(parent) == own)
            })
            .collect();
        if let [root] = roots[..] {
            controller = Some(describe(root));
        }
    }
    for _ in 0..16 {
        let Some(current) = phandle else { break };
        let Some(&index) = tree.by_phandle.get(&current) else {
            break;
        };
        match tree.interrupt_parent(index) {
            Some(parent) if parent != current => phandle = Some(parent),
            _ => {
                controller = Some(describe(index));
                break;
            }
        }
    }
    Some(Facts {
        ram,
        reservations,
        console,
        console_fallback,
        controller,
    })
}

fn hex(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.strip_prefix("0x")?, 16).ok()
}

fn range(value: &Value) -> Option<(u64, u64)> {
    Some((hex(&value["base"])?, hex(&value["size"])?))
}

/// Compares inspect's JSON with the independent facts (as the module's
/// comment defines agreement): the names of the facts that differ.
fn disagreements(inspect: &Value, facts: &Facts) -> Vec<&'static str> {
    let mut differ = Vec::new();
    let ram: Option<Vec<(u64, u64)>> = inspect["ram"]
        .as_array()
        .map(|list| list.iter().filter_map(range).collect());
    let ram_ok = ram.as_ref() == Some(&facts.ram)
        && (!facts.ram.is_empty() || inspect["ram_left_to_bootloader"] == Value::Bool(true));
    if !ram_ok {
        differ.push("ram");
    }
    let mut reservations: Vec<(u64, u64, String)> = inspect["reserved"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|entry| {
                    let (start, size) = range(entry)?;
                    let reason = entry["reason"].as_str()?;
                    let declared = reason == "memreserve"
                        || reason == "initrd"
                        || reason.starts_with("reserved-memory:");
                    declared.then(|| (start, size, reason.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(pools) = inspect["reusable"].as_array() {
        for pool in pools {
            if let (Some((start, size)), Some(name)) = (range(pool), pool["name"].as_str()) {
                reservations.push((start, size, format!("reusable:{name}")));
            }
        }
    }
    reservations.sort();
    if reservations != facts.reservations {
        differ.push("reservations");
    }
    let uart = |node: &Value| {
        (!node.is_null()).then(|| {
            (
                node["path"].as_str().unwrap_or("").to_owned(),
                node["compatible"].as_str().unwrap_or("").to_owned(),
                hex(&node["base"]),
            )
        })
    };
    if uart(&inspect["console"]) != facts.console {
        differ.push("console");
    }
    let fallback = &inspect["console_fallback"];
    let fallback = (!fallback.is_null()).then(|| {
        (
            fallback["reason"].as_str().unwrap_or(""),
            uart(&fallback["named"]),
            uart(&fallback["serial0"]),
        )
    });
    if fallback != facts.console_fallback {
        differ.push("console fallback");
    }
    if let Some((path, compatible, gic)) = &facts.controller {
        let same = |entry: &Value| {
            entry["path"].as_str() == Some(path.as_str())
                && entry["compatible"].as_str() == Some(compatible.as_str())
        };
        let agrees = if *gic {
            same(&inspect["interrupt_controller"])
        } else {
            inspect["interrupt_controller"].is_null()
                && inspect["not_driven"].as_array().is_some_and(|list| {
                    list.iter()
                        .any(|entry| entry["kind"] == "interrupt controller" && same(entry))
                })
        };
        if !agrees {
            differ.push("interrupt controller");
        }
    }
    differ
}

fn dtbs(directory: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            dtbs(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "dtb") {
            out.push(path);
        }
    }
}

#[test]
#[ignore = "needs the Debian DTBs in build/dtbs: run `make corpus`"]
fn inspect_agrees_with_an_independent_reading_of_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/dtbs");
    let mut files = Vec::new();
    dtbs(&root, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no .dtb under {}: run `make corpus`",
        root.display()
    );
    let mut misses = Vec::new();
    let mut text_differs = Vec::new();
    let mut without_interrupt_tree = 0;
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let mut blob = std::fs::read(file).expect("readable DTB");
        let pristine = blob.clone();
        let differ = match Inspected::read(&mut blob) {
            Err(error) => vec![format!("inspect fails: {error}")],
            Ok(inspected) => {
                let value: Value =
                    serde_json::from_str(&json(&inspected)).expect("inspect's JSON parses");
                let printed: Vec<String> = text(&inspected).lines().map(str::to_owned).collect();
                if printed != text_from_json(&value) {
                    text_differs.push(name.clone());
                }
                match independent(&pristine) {
                    None => vec![String::from("the independent reader cannot read it")],
                    Some(facts) => {
                        without_interrupt_tree += usize::from(facts.controller.is_none());
                        disagreements(&value, &facts)
                            .into_iter()
                            .map(String::from)
                            .collect()
                    }
                }
            }
        };
        if !differ.is_empty() {
            misses.push(format!("{name}: {}", differ.join(", ")));
        }
    }
    let agreeing = files.len() - misses.len();
    let percent = agreeing as f64 * 100.0 / files.len() as f64;
    println!(
        "corpus: {agreeing} of {} files agree on RAM, reservations, console, its fallback and interrupt controller ({percent:.2}%, at least {REQUIRED_PERCENT}% required; {without_interrupt_tree} without one root interrupt controller, not compared there)",
        files.len()
    );
    for miss in &misses {
        println!("  differs: {miss}");
    }
    println!(
        "corpus: text and JSON carry the same facts on {} of {} files",
        files.len() - text_differs.len(),
        files.len()
    );
    assert!(
        text_differs.is_empty(),
        "text and JSON carry different facts on {text_differs:?}"
    );
    assert!(percent >= REQUIRED_PERCENT, "{percent:.2}% agree");
}
