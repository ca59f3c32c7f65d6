//! Checks a blob's header and structure block before `fdt` sees it.
//!
//! `fdt` 0.1.5 trusts its input: it slices with header offsets unchecked,
//! `unwrap`s and `expect`s on names, property lengths and tokens, and asserts
//! on node nesting. Every condition it relies on is checked here first, so the
//! blob handed to it is always one it parses without panicking.

use super::error::{Block, Error, StructureProblem};

/// Deepest node nesting accepted; the root is level 1.
pub const MAX_DEPTH: usize = 16;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;
const FORMAT_VERSION: u32 = 17;

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// The big-endian word at `offset`, if all four bytes are there.
pub(super) fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let word: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Checks `blob` and returns it cut to the header's `totalsize`.
pub(super) fn validate(blob: &[u8]) -> Result<&[u8], Error> {
    validate_with(blob, Nops::OnlyBeforeEndNode)
}

/// Where FDT_NOP tokens may stand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nops {
    /// Only directly before END_NODE: the only place `fdt` 0.1.5 copes with.
    OnlyBeforeEndNode,
    /// Anywhere a token may stand, as the format allows (for [`strip_nops`]).
    Anywhere,
}

/// Removes every FDT_NOP token from the structure block of `blob`, in place,
/// and shrinks the header's `size_dt_struct` to match. Returns the number of
/// tokens removed. Firmware and QEMU overwrite deleted nodes and properties
/// with NOPs; `fdt` 0.1.5 panics on most of them. The blob is checked first
/// and left unchanged on error.
pub fn strip_nops(blob: &mut [u8]) -> Result<usize, Error> {
    validate_with(blob, Nops::Anywhere)?;
    let word = |blob: &[u8], index: usize| be_u32(blob, index * 4).unwrap_or(0) as usize;
    let (start, size) = (word(blob, 2), word(blob, 9));
    let (mut read, mut write, mut removed) = (start, start, 0);
    // The walk cannot leave the block: validation proved every token fits.
    while read < start + size {
        let token = be_u32(blob, read).unwrap_or(END);
        let length = match token {
            BEGIN_NODE => {
                let name = blob.get(read + 4..).unwrap_or(&[]);
                4 + padded(name.iter().position(|&byte| byte == 0).unwrap_or(0) + 1)
            }
            PROP => 12 + padded(be_u32(blob, read + 4).unwrap_or(0) as usize),
            _ => 4,
        };
        if token == NOP {
            removed += 1;
        } else {
            blob.copy_within(read..read + length, write);
            write += length;
        }
        read += length;
        if token == END {
            break;
        }
    }
    let new_size = u32::try_from(write - start).unwrap_or(u32::MAX);
    blob[36..40].copy_from_slice(&new_size.to_be_bytes());
    Ok(removed)
}

fn validate_with(blob: &[u8], nops: Nops) -> Result<&[u8], Error> {
    let word = |index: usize| be_u32(blob, index * 4).unwrap_or(0);
    if blob.len() < HEADER_SIZE {
        return Err(Error::Truncated {
            needed: HEADER_SIZE as u64,
            available: blob.len(),
        });
    }
    if word(0) != MAGIC {
        return Err(Error::BadMagic { found: word(0) });
    }
    let (version, last_compatible) = (word(5), word(6));
    if version < FORMAT_VERSION || last_compatible > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            version,
            last_compatible,
        });
    }
    let total_size = word(1);
    let total = total_size as usize;
    if total < HEADER_SIZE {
        return Err(Error::BadTotalSize { total_size });
    }
    let blob = blob.get(..total).ok_or(Error::Truncated {
        needed: u64::from(total_size),
        available: blob.len(),
    })?;

    let structure = block(blob, Block::Structure, word(2), word(9))?;
    if !word(2).is_multiple_of(4) || !word(9).is_multiple_of(4) {
        let value = if !word(2).is_multiple_of(4) {
            word(2)
        } else {
            word(9)
        };
        return Err(Error::MisalignedBlock {
            block: Block::Structure,
            value,
        });
    }
    let strings = block(blob, Block::Strings, word(3), word(8))?;
    let map_end = check_reservation_map(blob, word(4))?;
    // Disjoint blocks: `strip_nops` moves the structure block's bytes in place.
    let extents = [
        (Block::MemoryReservationMap, word(4) as usize, map_end),
        (
            Block::Structure,
            word(2) as usize,
            word(2) as usize + word(9) as usize,
        ),
        (
            Block::Strings,
            word(3) as usize,
            word(3) as usize + word(8) as usize,
        ),
    ];
    for (index, &(a, a_start, a_end)) in extents.iter().enumerate() {
        for &(b, b_start, b_end) in &extents[index + 1..] {
            if a_start < b_end && b_start < a_end {
                return Err(Error::OverlappingBlocks { a, b });
            }
        }
    }
    check_structure(structure, strings, nops).map_err(|(offset, problem)| match problem {
        Problem::TooDeep => Error::TooDeep { offset },
        Problem::Structure(problem) => Error::MalformedStructure { offset, problem },
    })?;
    Ok(blob)
}

/// The block at `offset` of `size` bytes, if it lies after the header and
/// inside the blob.
fn block(blob: &[u8], block: Block, offset: u32, size: u32) -> Result<&[u8], Error> {
    let start = offset as usize;
    start
        .checked_add(size as usize)
        .filter(|_| start >= HEADER_SIZE)
        .and_then(|end| blob.get(start..end))
        .ok_or(Error::BlockOutOfBounds {
            block,
            offset,
            size,
        })
}

/// The map is a list of (address, size) pairs of 64-bit words, 8-byte aligned,
/// ending with (0, 0) inside the blob. Returns the offset just past that end.
fn check_reservation_map(blob: &[u8], offset: u32) -> Result<usize, Error> {
    let block = Block::MemoryReservationMap;
    if !offset.is_multiple_of(8) {
        return Err(Error::MisalignedBlock {
            block,
            value: offset,
        });
    }
    let start = offset as usize;
    if start < HEADER_SIZE {
        return Err(Error::BlockOutOfBounds {
            block,
            offset,
            size: 0,
        });
    }
    let mut entry = start;
    while let Some(bytes) = entry.checked_add(16).and_then(|end| blob.get(entry..end)) {
        if bytes.iter().all(|&byte| byte == 0) {
            return Ok(entry + 16);
        }
        entry += 16;
    }
    let scanned = u32::try_from(entry - start).unwrap_or(u32::MAX);
    Err(Error::BlockOutOfBounds {
        block,
        offset,
        size: scanned,
    })
}

enum Problem {
    TooDeep,
    Structure(StructureProblem),
}

impl From<StructureProblem> for Problem {
    fn from(problem: StructureProblem) -> Self {
        Self::Structure(problem)
    }
}

/// Walks the token stream once, checking every rule `fdt` depends on:
/// known tokens, names and values inside the block, names NUL-terminated and
/// UTF-8, properties before children, balanced nesting at most [`MAX_DEPTH`]
/// deep, one unnamed root, and NOPs only directly before END_NODE.
fn check_structure(structure: &[u8], strings: &[u8], nops: Nops) -> Result<(), (usize, Problem)> {
    use StructureProblem::*;
    let mut offset = 0;
    let mut depth = 0;
    let mut root_done = false;
    let mut has_children = [false; MAX_DEPTH + 1];
    let mut nop_pending = false;
    loop {
        let at = offset;
        let fail = |problem: StructureProblem| (at, Problem::from(problem));
        let token = be_u32(structure, offset).ok_or(fail(UnexpectedEnd))?;
        if nops == Nops::OnlyBeforeEndNode && nop_pending && token != NOP && token != END_NODE {
            return Err(fail(MisplacedNop));
        }
        nop_pending = token == NOP;
        offset += 4;
        match token {
            BEGIN_NODE => {
                let name_bytes = structure.get(offset..).unwrap_or(&[]);
                let name_len = name_bytes
                    .iter()
                    .position(|&byte| byte == 0)
                    .ok_or(fail(UnterminatedName))?;
                let name = name_bytes.get(..name_len).unwrap_or(&[]);
                core::str::from_utf8(name).map_err(|_| fail(NameNotUtf8))?;
                if root_done {
                    return Err(fail(NodeAfterRoot));
                }
                if depth == 0 && !name.is_empty() {
                    return Err(fail(BadRoot));
                }
                if let Some(parent) = has_children.get_mut(depth) {
                    *parent = true;
                }
                depth += 1;
                let slot = has_children.get_mut(depth).ok_or((at, Problem::TooDeep))?;
                *slot = false;
                offset = padded(offset + name_len + 1);
            }
            PROP => {
                if depth == 0 {
                    return Err(fail(PropertyOutsideNode));
                }
                if has_children.get(depth).copied().unwrap_or(true) {
                    return Err(fail(PropertyAfterChild));
                }
                let length = be_u32(structure, offset).ok_or(fail(UnexpectedEnd))?;
                let name_offset = be_u32(structure, offset + 4).ok_or(fail(UnexpectedEnd))?;
                let value_end = (offset + 8)
                    .checked_add(length as usize)
                    .filter(|&end| end <= structure.len())
                    .ok_or(fail(PropertyValueOutOfBounds { length }))?;
                let name = strings
                    .get(name_offset as usize..)
                    .and_then(|rest| rest.get(..rest.iter().position(|&byte| byte == 0)?))
                    .ok_or(fail(PropertyNameOutOfBounds { name_offset }))?;
                core::str::from_utf8(name).map_err(|_| fail(PropertyNameNotUtf8))?;
                offset = padded(value_end);
            }
            END_NODE => {
                depth = depth.checked_sub(1).ok_or(fail(UnbalancedEndNode))?;
                root_done = depth == 0;
            }
            NOP => {}
            END => {
                return if root_done {
                    Ok(())
                } else {
                    Err(fail(UnclosedNode))
                };
            }
            other => return Err(fail(UnknownToken(other))),
        }
        if offset > structure.len() {
            return Err((at, UnexpectedEnd.into()));
        }
    }
}

/// `offset` rounded up to the next multiple of 4. Offsets here are below the
/// block length, itself at most `u32::MAX`, so this cannot overflow a `usize`
/// on the 64-bit targets the kernel runs on; it saturates elsewhere.
fn padded(offset: usize) -> usize {
    offset.saturating_add(3) & !3
}
