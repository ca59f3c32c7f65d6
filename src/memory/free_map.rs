//! One bit per frame of RAM, set while the frame is free: the frame stack's
//! double-free check in every build, in O(1).
//!
//! The stack itself can only say whether a frame is free by scanning all of its
//! entries (O(n)), which the host tests do on every free. A kernel needs the
//! answer on every free too, at any RAM size, so it keeps this map beside the
//! stack. It is the frame stack's one piece of bookkeeping: 1 bit per 4 KiB
//! frame, 32 KiB per GiB of RAM (0.003%), allocated once at boot, never grown,
//! never needed by a free. The stack numbers the frames (RAM range by RAM
//! range); the map only keeps the bits.

use crate::addr::{PAGE_SIZE, PhysRange};
use crate::memory::frames::MAX_RANGES;

/// Bits per word of the map.
const BITS: usize = u64::BITS as usize;

/// One bit for each of a number of frames.
pub struct FreeMap {
    words: &'static mut [u64],
}

/// The words handed to [`FreeMap::new`] cannot hold a bit for every frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapTooSmall {
    /// Words needed.
    pub needed: usize,
    /// Words given.
    pub given: usize,
}

impl FreeMap {
    /// How many words a map of the frames of `ram` needs (ranges beyond
    /// [`MAX_RANGES`] are left out, as the frame stack leaves them out).
    pub fn words_needed(ram: &[PhysRange]) -> usize {
        let frames: u64 = ram
            .iter()
            .take(MAX_RANGES)
            .map(|range| range.size / PAGE_SIZE as u64)
            .sum();
        (frames as usize).div_ceil(BITS)
    }

    /// A map of the frames of `ram` in `words`, every bit clear (taken).
    pub fn new(ram: &[PhysRange], words: &'static mut [u64]) -> Result<Self, MapTooSmall> {
        let needed = Self::words_needed(ram);
        if words.len() < needed {
            return Err(MapTooSmall {
                needed,
                given: words.len(),
            });
        }
        words.fill(0);
        Ok(Self { words })
    }

    /// Bytes the map occupies.
    pub fn size_bytes(&self) -> usize {
        core::mem::size_of_val(self.words)
    }

    /// True when bit `bit` is set (the frame is free).
    pub fn is_set(&self, bit: usize) -> bool {
        self.words
            .get(bit / BITS)
            .is_some_and(|word| word & (1 << (bit % BITS)) != 0)
    }

    /// Sets bit `bit` to `free`. A bit beyond the map is ignored: the frame
    /// stack numbers only frames of its RAM, which the map was sized for.
    pub fn set(&mut self, bit: usize, free: bool) {
        if let Some(word) = self.words.get_mut(bit / BITS) {
            let mask = 1 << (bit % BITS);
            if free {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use std::boxed::Box;
    use std::vec;

    #[test]
    fn bits_start_clear_and_follow_sets() {
        let low = PhysRange::new(PhysAddr(0), 70 * PAGE_SIZE as u64);
        let high = PhysRange::new(PhysAddr(0x1_0000_0000), 3 * PAGE_SIZE as u64);
        assert_eq!(FreeMap::words_needed(&[low, high]), 2);
        let words = Box::leak(vec![u64::MAX; 2].into_boxed_slice());
        let mut map = FreeMap::new(&[low, high], words).unwrap();
        for bit in [0, 63, 64, 72] {
            assert!(!map.is_set(bit), "bit {bit} starts clear");
            map.set(bit, true);
            assert!(map.is_set(bit));
        }
        assert!(!map.is_set(1));
        map.set(63, false);
        assert!(!map.is_set(63) && map.is_set(64));
        // Beyond the map: never set, and setting changes nothing.
        map.set(128, true);
        assert!(!map.is_set(128));
    }

    #[test]
    fn too_few_words_are_refused() {
        let ram = [PhysRange::new(PhysAddr(0), 65 * PAGE_SIZE as u64)];
        let words = Box::leak(vec![0u64; 1].into_boxed_slice());
        assert_eq!(
            FreeMap::new(&ram, words).err(),
            Some(MapTooSmall {
                needed: 2,
                given: 1
            })
        );
    }
}
