//! Text without the heap: a fixed-size line buffer for messages that must be
//! formatted before the heap exists (or when it cannot be trusted).

use core::fmt;

/// A fixed buffer of [`LineBuffer::CAPACITY`] bytes that `core::fmt` can write
/// into. Text beyond the capacity is dropped, from the first character that
/// does not fit on: the buffer keeps a prefix of what was written, cut between
/// characters, so it always holds valid UTF-8.
pub struct LineBuffer {
    bytes: [u8; Self::CAPACITY],
    length: usize,
    /// Set at the first character that did not fit: nothing after it is kept,
    /// so the text has no gap.
    truncated: bool,
}

impl LineBuffer {
    /// Bytes the buffer holds at most.
    pub const CAPACITY: usize = 256;

    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; Self::CAPACITY],
            length: 0,
            truncated: false,
        }
    }

    /// The text written so far (all of it, or the prefix that fitted).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.length])
            .expect("LineBuffer only ever appends whole characters")
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for LineBuffer {
    /// Appends `text`, or the part of it that fits, cut at a character
    /// boundary. Never fails, so that a message is printed even when cut.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = Self::CAPACITY - self.length;
        let kept = if text.len() <= room {
            text
        } else {
            self.truncated = true;
            &text[..text.floor_char_boundary(room)]
        };
        self.bytes[self.length..self.length + kept.len()].copy_from_slice(kept.as_bytes());
        self.length += kept.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::fmt::Write;

    use proptest::prelude::*;

    use super::LineBuffer;

    #[test]
    fn short_text_is_kept_whole() {
        let mut line = LineBuffer::new();
        write!(line, "boot failed: {}", 42).unwrap();
        assert_eq!(line.as_str(), "boot failed: 42");
    }

    #[test]
    fn a_character_across_the_end_is_dropped_whole() {
        for width in ["é", "€", "🦀"] {
            let mut line = LineBuffer::new();
            let before = "a".repeat(LineBuffer::CAPACITY - 1);
            line.write_str(&before).unwrap();
            line.write_str(width).unwrap();
            assert_eq!(line.as_str(), before, "{width:?} was split");
        }
    }

    #[test]
    fn nothing_follows_a_cut() {
        let mut line = LineBuffer::new();
        line.write_str(&"a".repeat(LineBuffer::CAPACITY - 1))
            .unwrap();
        line.write_str("ü").unwrap();
        line.write_str("z").unwrap();
        assert_eq!(line.as_str().len(), LineBuffer::CAPACITY - 1);
        assert!(!line.as_str().ends_with('z'));
    }

    proptest! {
        /// Whatever is written, the buffer holds the longest prefix of the
        /// whole text that fits and ends between characters.
        #[test]
        fn keeps_the_longest_whole_character_prefix(pieces in prop::collection::vec(".{0,40}", 0..20)) {
            let mut line = LineBuffer::new();
            for piece in &pieces {
                line.write_str(piece).unwrap();
            }
            let whole: String = pieces.concat();
            let expected = &whole[..whole.floor_char_boundary(LineBuffer::CAPACITY)];
            prop_assert_eq!(line.as_str(), expected);
        }
    }
}
