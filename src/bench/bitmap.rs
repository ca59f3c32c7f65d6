//! The baseline frame allocator: a two-level bitmap.
//!
//! One bit per frame (set = free), plus a summary with one bit per 64-frame word
//! (set = the word has a free frame). Allocation finds the first summary bit
//! from a cursor and the first frame bit in that word with `trailing_zeros`, so
//! it touches two words in the common case; freeing sets two bits. The cursor
//! only moves down on free, so the search never rescans the exhausted bottom.

use kernel::addr::{PAGE_SIZE, PhysAddr, PhysRange};

/// Why a frame was refused. The bitmap is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BitmapError {
    /// Not a frame of the managed range.
    Outside(PhysAddr),
    /// Already free.
    DoubleFree(PhysAddr),
}

/// Words with the low `bits` bits set, the rest clear.
fn full_bits(bits: usize) -> Vec<u64> {
    let mut words = vec![u64::MAX; bits.div_ceil(64)];
    if let Some(last) = words.last_mut().filter(|_| !bits.is_multiple_of(64)) {
        *last = (1u64 << (bits % 64)) - 1;
    }
    words
}

/// A two-level bitmap over one physical range.
pub struct BitmapFrames {
    base: PhysAddr,
    frames: usize,
    /// Bit `i % 64` of word `i / 64`: frame `i` is free.
    words: Vec<u64>,
    /// Bit `w % 64` of summary word `w / 64`: `words[w]` is not zero.
    summary: Vec<u64>,
    /// No summary word below this one has a bit set.
    cursor: usize,
}

impl BitmapFrames {
    /// A bitmap of the frames of `range` (shrunk to whole frames), all free.
    pub fn new(range: PhysRange) -> Self {
        let page = PAGE_SIZE as u64;
        let base = range.start.align_up(page).unwrap_or(PhysAddr(u64::MAX));
        let end = range.end().unwrap_or(PhysAddr(u64::MAX)).align_down(page);
        let frames = if end > base {
            ((end.0 - base.0) / page) as usize
        } else {
            0
        };
        let words = full_bits(frames);
        let summary = full_bits(words.len());
        Self {
            base,
            frames,
            words,
            summary,
            cursor: 0,
        }
    }

    /// Bytes of bookkeeping: both bitmaps and the struct.
    pub fn metadata_bytes(&self) -> usize {
        (self.words.len() + self.summary.len()) * 8 + core::mem::size_of::<Self>()
    }

    /// The lowest free frame, or `None`.
    pub fn allocate(&mut self) -> Option<PhysAddr> {
        while self.cursor < self.summary.len() {
            let summary = self.summary[self.cursor];
            if summary == 0 {
                self.cursor += 1;
                continue;
            }
            let word_index = self.cursor * 64 + summary.trailing_zeros() as usize;
            let word = self.words[word_index];
            let bit = word.trailing_zeros() as usize;
            let word = word & (word - 1);
            self.words[word_index] = word;
            if word == 0 {
                self.summary[self.cursor] &= !(1 << (word_index % 64));
            }
            let frame = word_index * 64 + bit;
            return Some(PhysAddr(self.base.0 + (frame * PAGE_SIZE) as u64));
        }
        None
    }

    /// Marks `frame` free again.
    pub fn free(&mut self, frame: PhysAddr) -> Result<(), BitmapError> {
        let offset = frame.0.wrapping_sub(self.base.0);
        let index = (offset / PAGE_SIZE as u64) as usize;
        if frame < self.base || !frame.is_page_aligned() || index >= self.frames {
            return Err(BitmapError::Outside(frame));
        }
        let (word_index, bit) = (index / 64, index % 64);
        if self.words[word_index] & (1 << bit) != 0 {
            return Err(BitmapError::DoubleFree(frame));
        }
        self.words[word_index] |= 1 << bit;
        self.summary[word_index / 64] |= 1 << (word_index % 64);
        self.cursor = self.cursor.min(word_index / 64);
        Ok(())
    }
}
