//! `reg` entries turned into CPU physical ranges through every ancestor's `ranges`.
//!
//! A `reg` address is an address on the parent bus. Each bus's `ranges` maps
//! windows of its child address space onto its own parent's space, as triplets
//! (child address, parent address, length) of the bus's `#address-cells`, its
//! parent's `#address-cells` and the bus's `#size-cells`. An empty `ranges` is
//! the identity; a missing one means the bus is not reachable from the CPU.

use super::walk::Frame;
use super::warning::{Problem, Warnings, warn};
use super::{Error, NodePath};
use crate::addr::{PhysAddr, PhysRange};

/// Reads `cells` (1 or 2) big-endian cells as one number.
pub(super) fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        1 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        2 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The `(#address-cells, #size-cells)` a bus gives its children, checked to be
/// 1 or 2 each.
fn bus_cells(bus: &Frame<'_, '_, '_>) -> Result<(u32, u32), Error> {
    let (address_cells, size_cells) = (bus.address_cells()?, bus.size_cells()?);
    if !(1..=2).contains(&address_cells) || !(1..=2).contains(&size_cells) {
        return Err(Error::CellCount {
            path: bus.path,
            address_cells,
            size_cells,
        });
    }
    Ok((address_cells, size_cells))
}

/// Calls `each` with every `reg` entry of `node` as a CPU physical range.
///
/// Fails on cell counts outside 1..=2 on the parent, a zero-size entry (as
/// `empty` says), or an entry that no `ranges` window on the way up covers.
/// A `reg` whose length is not a whole number of entries, or an entry that
/// runs past 2^64, fails too without `warnings`; with them, the whole entries
/// are used and an entry is clipped to end at 2^64 - 1, each with a warning
/// (and so is a zero-size entry that `empty` skips).
pub(super) fn for_each_region<'dtb>(
    node: &Frame<'_, '_, 'dtb>,
    empty: EmptyRegions,
    mut warnings: Option<&mut Warnings<'dtb>>,
    each: &mut dyn FnMut(PhysRange) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(reg) = node.property("reg") else {
        return Ok(());
    };
    // The root has no bus; its `reg` (if any) uses the default cells.
    let (address_cells, size_cells) = match node.parent {
        Some(bus) => bus_cells(bus)?,
        None => (2, 1),
    };
    let address_bytes = address_cells as usize * 4;
    let entry_bytes = address_bytes + size_cells as usize * 4;
    if !reg.len().is_multiple_of(entry_bytes) {
        let problem = Problem::RegTail {
            length: reg.len(),
            entry: entry_bytes,
        };
        match warnings.as_deref_mut() {
            Some(warnings) => warn(warnings, node.path, problem),
            None => return Err(node.malformed("reg")),
        }
    }
    for entry in reg.chunks_exact(entry_bytes) {
        let (address, size) = entry.split_at(address_bytes);
        let address = read_cells(address, address_cells).ok_or_else(|| node.malformed("reg"))?;
        let mut size = read_cells(size, size_cells).ok_or_else(|| node.malformed("reg"))?;
        if size == 0 {
            match empty {
                EmptyRegions::Refuse => return Err(Error::ZeroSizeRegion { path: node.path }),
                EmptyRegions::Skip => {
                    if let Some(warnings) = warnings.as_deref_mut() {
                        warn(warnings, node.path, Problem::ZeroSizeReg);
                    }
                    continue;
                }
            }
        }
        if let (None, Some(warnings)) = (address.checked_add(size), warnings.as_deref_mut()) {
            warn(
                warnings,
                node.path,
                Problem::PastAddressSpace {
                    start: address,
                    size,
                },
            );
            // Ends at the last byte: a range's end must fit in 64 bits.
            size = u64::MAX - address;
            if size == 0 {
                continue;
            }
        }
        check_end(node.path, address, size)?;
        let start = match node.parent {
            Some(bus) => to_cpu(bus, address, size)?,
            None => address,
        };
        each(PhysRange::new(PhysAddr(start), size))?;
    }
    Ok(())
}

/// What a `reg` entry of size zero means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum EmptyRegions {
    /// A malformed tree: [`Error::ZeroSizeRegion`].
    Refuse,
    /// A placeholder a bootloader fills in (`reg = <0 0x40000000 0 0>` in many
    /// board trees), or a `/reserved-memory` entry Linux skips: nothing (and
    /// a warning, when there are warnings).
    Skip,
}

fn check_end(path: NodePath, start: u64, size: u64) -> Result<(), Error> {
    match start.checked_add(size) {
        Some(_) => Ok(()),
        None => Err(Error::RegionOverflow { path, start, size }),
    }
}

/// Translates `[address, address + size)` on the child side of `bus` up to the root.
fn to_cpu(bus: &Frame<'_, '_, '_>, mut address: u64, size: u64) -> Result<u64, Error> {
    let mut bus = bus;
    while let Some(grandparent) = bus.parent {
        address = through_ranges(bus, grandparent, address, size)?;
        bus = grandparent;
    }
    Ok(address)
}

/// One step up: `address` on `bus`'s child side to `parent`'s child side.
fn through_ranges(
    bus: &Frame<'_, '_, '_>,
    parent: &Frame<'_, '_, '_>,
    address: u64,
    size: u64,
) -> Result<u64, Error> {
    let ranges = bus
        .property("ranges")
        .ok_or(Error::NoRanges { path: bus.path })?;
    if ranges.is_empty() {
        return Ok(address);
    }
    let (child_cells, size_cells) = bus_cells(bus)?;
    let parent_cells = parent.address_cells()?;
    if !(1..=2).contains(&parent_cells) {
        let size_cells = parent.size_cells()?;
        return Err(Error::CellCount {
            path: parent.path,
            address_cells: parent_cells,
            size_cells,
        });
    }
    let child_bytes = child_cells as usize * 4;
    let parent_bytes = parent_cells as usize * 4;
    let entry_bytes = child_bytes + parent_bytes + size_cells as usize * 4;
    if !ranges.len().is_multiple_of(entry_bytes) {
        return Err(bus.malformed("ranges"));
    }
    for window in ranges.chunks_exact(entry_bytes) {
        let (child_base, rest) = window.split_at(child_bytes);
        let (parent_base, length) = rest.split_at(parent_bytes);
        let child_base = read_cells(child_base, child_cells);
        let parent_base = read_cells(parent_base, parent_cells);
        let length = read_cells(length, size_cells);
        let (Some(child_base), Some(parent_base), Some(length)) = (child_base, parent_base, length)
        else {
            return Err(bus.malformed("ranges"));
        };
        let Some(offset) = address.checked_sub(child_base) else {
            continue;
        };
        let fits = offset < length && size <= length - offset;
        if fits {
            let translated = parent_base
                .checked_add(offset)
                .ok_or(Error::RegionOverflow {
                    path: bus.path,
                    start: parent_base,
                    size: offset,
                })?;
            check_end(bus.path, translated, size)?;
            return Ok(translated);
        }
    }
    Err(Error::UntranslatableAddress {
        path: bus.path,
        address,
        size,
    })
}
