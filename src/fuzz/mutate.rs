//! A mutator that knows the shape of a flattened device tree.
//!
//! libFuzzer's byte-level mutations rarely get past the header checks of a
//! real blob, and almost never produce a well-formed tree with one wrong
//! value. This mutator finds the tokens of the structure block (leniently:
//! it reads damaged blobs too) and edits one thing at a time: a token, a
//! property's length or name, a cell of its value, a node name, a header
//! field, a `/memreserve/` entry; or it inserts, deletes or copies whole
//! tokens, properties and subtrees, moving the header's offsets and sizes
//! along so the blob stays readable. Inputs without a device-tree header are
//! left to libFuzzer's own mutations.

const MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// Header words, by index (each a big-endian `u32`).
const TOTAL_SIZE: usize = 1;
const OFF_DT_STRUCT: usize = 2;
const OFF_DT_STRINGS: usize = 3;
const OFF_MEM_RSVMAP: usize = 4;
const SIZE_DT_STRINGS: usize = 8;
const SIZE_DT_STRUCT: usize = 9;

/// Cell values that sit on the boundaries the parser checks.
const INTERESTING_CELLS: [u32; 14] = [
    0,
    1,
    2,
    3,
    4,
    8,
    16,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_f000,
    0xffff_fffe,
    0xffff_ffff,
    0x4000_0000,
    0x0900_0000,
];

/// Bytes that change the meaning of a node name or path.
const NAME_BYTES: [u8; 8] = [0, b'@', b'/', b':', b',', b'-', b'a', 0xff];

/// A small deterministic generator, seeded by libFuzzer so runs replay.
pub struct Random(u64);

impl Random {
    /// A generator for libFuzzer's `seed`.
    pub fn new(seed: u32) -> Self {
        Self(u64::from(seed) << 1 | 1)
    }

    /// The next 64 random bits (xorshift64*).
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.bits() % bound as u64) as usize
    }

    /// One element of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// One element of `items`, or `None` if there is none.
    pub fn choose<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| self.pick(items))
    }
}

/// One token of the structure block.
#[derive(Clone, Copy, Debug)]
struct Token {
    /// Byte offset in the blob.
    offset: usize,
    /// Bytes the token takes, padding included.
    length: usize,
    /// BEGIN_NODE, END_NODE, PROP, NOP, END or anything else.
    kind: u32,
}

/// Where the header says the blocks are, clamped to the bytes present.
struct Layout {
    memory_reservations: usize,
    structure: core::ops::Range<usize>,
    strings: core::ops::Range<usize>,
}

fn word(blob: &[u8], offset: usize) -> Option<u32> {
    let bytes = blob.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn set_word(blob: &mut [u8], offset: usize, value: u32) {
    if let Some(bytes) = blob.get_mut(offset..offset + 4) {
        bytes.copy_from_slice(&value.to_be_bytes());
    }
}

fn header(blob: &[u8], index: usize) -> usize {
    word(blob, index * 4).unwrap_or(0) as usize
}

fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

fn layout(blob: &[u8]) -> Option<Layout> {
    if blob.len() < HEADER_SIZE || word(blob, 0) != Some(MAGIC) {
        return None;
    }
    let clamp = |start: usize, size: usize| {
        let start = start.min(blob.len());
        start..start.saturating_add(size).min(blob.len())
    };
    Some(Layout {
        memory_reservations: header(blob, OFF_MEM_RSVMAP),
        structure: clamp(header(blob, OFF_DT_STRUCT), header(blob, SIZE_DT_STRUCT)),
        strings: clamp(header(blob, OFF_DT_STRINGS), header(blob, SIZE_DT_STRINGS)),
    })
}

/// The tokens of the structure block, as far as they can be read.
fn tokens(blob: &[u8], structure: &core::ops::Range<usize>) -> Vec<Token> {
    let mut found = Vec::new();
    let mut offset = structure.start;
    while offset + 4 <= structure.end && found.len() < 100_000 {
        let kind = word(blob, offset).unwrap_or(END);
        let length = match kind {
            BEGIN_NODE => {
                let name = &blob[offset + 4..structure.end];
                match name.iter().position(|&byte| byte == 0) {
                    Some(end) => 4 + padded(end + 1),
                    None => break,
                }
            }
            PROP => match word(blob, offset + 4) {
                Some(size) => 12usize.saturating_add(padded(size as usize)),
                None => break,
            },
            _ => 4,
        };
        if offset + length > structure.end {
            break;
        }
        found.push(Token {
            offset,
            length,
            kind,
        });
        offset += length;
        if kind == END {
            break;
        }
    }
    found
}

/// The bytes of token `index` and, for a BEGIN_NODE, its whole subtree.
fn span(tokens: &[Token], index: usize) -> core::ops::Range<usize> {
    let first = tokens[index];
    if first.kind == BEGIN_NODE {
        let mut depth = 0usize;
        for token in &tokens[index..] {
            match token.kind {
                BEGIN_NODE => depth += 1,
                END_NODE => {
                    depth -= 1;
                    if depth == 0 {
                        return first.offset..token.offset + token.length;
                    }
                }
                _ => {}
            }
        }
    }
    first.offset..first.offset + first.length
}

/// Moves the header's offsets and sizes after bytes were inserted (`delta` >
/// 0) or removed (`delta` < 0) at `at`, which lies inside the structure block.
fn shift_header(blob: &mut [u8], at: usize, delta: isize) {
    let moved = |value: usize| value.checked_add_signed(delta).unwrap_or(0) as u32;
    for index in [OFF_DT_STRUCT, OFF_DT_STRINGS, OFF_MEM_RSVMAP] {
        let value = header(blob, index);
        if value > at {
            set_word(blob, index * 4, moved(value));
        }
    }
    for index in [TOTAL_SIZE, SIZE_DT_STRUCT] {
        let value = header(blob, index);
        set_word(blob, index * 4, moved(value));
    }
}

/// Puts `bytes` at `at`; `None` if the result would exceed `max_size`.
fn insert(data: &mut [u8], size: usize, max_size: usize, at: usize, bytes: &[u8]) -> Option<usize> {
    let new_size = size
        .checked_add(bytes.len())
        .filter(|&new| new <= max_size.min(data.len()))?;
    data.copy_within(at..size, at + bytes.len());
    data[at..at + bytes.len()].copy_from_slice(bytes);
    shift_header(&mut data[..new_size], at, bytes.len() as isize);
    Some(new_size)
}

/// Removes `range`.
fn remove(data: &mut [u8], size: usize, range: core::ops::Range<usize>) -> usize {
    let length = range.len();
    data.copy_within(range.end..size, range.start);
    shift_header(&mut data[..size - length], range.start, -(length as isize));
    size - length
}

/// Mutates the device tree in `data[..size]` in place (the buffer may grow up
/// to `max_size`) and returns the new size, or `None` when the input is not
/// a device tree this mutator can read, or the chosen edit did not apply.
pub fn mutate_structure(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    random: &mut Random,
) -> Option<usize> {
    let blob = &data[..size];
    let layout = layout(blob)?;
    let tokens = tokens(blob, &layout.structure);
    if tokens.is_empty() {
        return None;
    }
    let properties: Vec<Token> = tokens
        .iter()
        .copied()
        .filter(|token| token.kind == PROP)
        .collect();
    let nodes: Vec<Token> = tokens
        .iter()
        .copied()
        .filter(|token| token.kind == BEGIN_NODE)
        .collect();
    let data_mut = &mut data[..];
    match random.below(11) {
        // Replace a token with another token (or garbage).
        0 => {
            let token = random.pick(&tokens);
            let garbage = random.bits() as u32;
            let kind = random.pick(&[BEGIN_NODE, END_NODE, PROP, NOP, END, garbage]);
            set_word(data_mut, token.offset, kind);
        }
        // A property's length.
        1 => {
            let property = random.choose(&properties)?;
            let current = word(data_mut, property.offset + 4)?;
            let length = match random.below(3) {
                0 => random.pick(&INTERESTING_CELLS),
                1 => current.wrapping_add(random.pick(&[1, 4, 8, u32::MAX, u32::MAX - 3])),
                _ => (random.bits() % 64) as u32,
            };
            set_word(data_mut, property.offset + 4, length);
        }
        // A property's name: another name in the strings block, or an edge.
        2 => {
            let property = random.choose(&properties)?;
            let strings = &data_mut[layout.strings.clone()];
            let starts: Vec<usize> = core::iter::once(0)
                .chain(
                    strings
                        .iter()
                        .enumerate()
                        .filter(|(_, byte)| **byte == 0)
                        .map(|(at, _)| at + 1),
                )
                .filter(|&at| at < strings.len())
                .collect();
            let name = if random.below(8) != 0 && !starts.is_empty() {
                random.pick(&starts) as u32
            } else {
                (strings.len() as u32).wrapping_add(random.pick(&[0, 1, u32::MAX, 0x1000_0000]))
            };
            set_word(data_mut, property.offset + 8, name);
        }
        // One cell of a property's value.
        3 => {
            let property = random.choose(&properties)?;
            let cells = (property.length - 12) / 4;
            if cells == 0 {
                return None;
            }
            let at = property.offset + 12 + 4 * random.below(cells);
            let current = word(data_mut, at)?;
            let value = match random.below(3) {
                0 => random.pick(&INTERESTING_CELLS),
                1 => current.wrapping_add(random.pick(&[
                    1,
                    0x1000,
                    u32::MAX,
                    0u32.wrapping_sub(0x1000),
                ])),
                _ => random.bits() as u32,
            };
            set_word(data_mut, at, value);
        }
        // One byte of a node name.
        4 => {
            let node = random.choose(&nodes)?;
            let at = node.offset + 4 + random.below(node.length - 4);
            data_mut[at] = random.pick(&NAME_BYTES);
        }
        // A header field.
        5 => {
            let index = 1 + random.below(9);
            let value = match random.below(3) {
                0 => random.pick(&INTERESTING_CELLS),
                1 => (size as u32).wrapping_add(random.pick(&[
                    0,
                    1,
                    4,
                    u32::MAX,
                    0u32.wrapping_sub(4),
                ])),
                _ => header(data_mut, index).wrapping_add(random.pick(&[1, 4, 8])) as u32,
            };
            set_word(data_mut, index * 4, value);
        }
        // A `/memreserve/` entry (address or size, 64 bits).
        6 => {
            let at = layout.memory_reservations + 8 * random.below(6);
            let value: u64 = match random.below(3) {
                0 => 0,
                1 => u64::MAX - random.below(0x2000) as u64,
                _ => random.bits() & 0xffff_ffff_f000,
            };
            if let Some(bytes) = data_mut
                .get_mut(at..at + 8)
                .filter(|_| at >= HEADER_SIZE && at + 8 <= size)
            {
                bytes.copy_from_slice(&value.to_be_bytes());
            }
        }
        // Insert a NOP, END_NODE or BEGIN_NODE before some token.
        7 => {
            let at = random.pick(&tokens).offset;
            let bytes: &[u8] = match random.below(3) {
                0 => &NOP.to_be_bytes(),
                1 => &END_NODE.to_be_bytes(),
                _ => &[0, 0, 0, 1, b'n', b'@', b'1', 0],
            };
            return insert(data, size, max_size, at, bytes);
        }
        // Delete a token, a property or a whole subtree.
        8 => {
            let index = random.below(tokens.len());
            let range = if random.below(2) == 0 {
                span(&tokens, index)
            } else {
                tokens[index].offset..tokens[index].offset + tokens[index].length
            };
            return Some(remove(data, size, range));
        }
        // Copy a property or subtree before some token (duplicate memory
        // nodes, deeper nesting, repeated properties).
        9 => {
            let copied = span(&tokens, random.below(tokens.len()));
            let bytes = data[copied].to_vec();
            let at = random.pick(&tokens).offset;
            return insert(data, size, max_size, at, &bytes);
        }
        // Move the end of the structure block (cut the tree short or run it
        // into the strings).
        _ => {
            let token = random.pick(&tokens);
            let end = token.offset
                + if random.below(2) == 0 {
                    0
                } else {
                    token.length
                };
            let structure = (end - layout.structure.start) as u32;
            set_word(data_mut, SIZE_DT_STRUCT * 4, structure);
        }
    }
    Some(size)
}
