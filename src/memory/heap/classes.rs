//! The size classes of the small-block front end: which block size serves a
//! request, found with one table load.
//!
//! Classes are every multiple of 8 up to 128 bytes, then sixteen per doubling
//! up to one page (each class at most 1/16 larger than the one below), so a
//! block wastes under 6.25% of itself to rounding, about 2% on average. The
//! step is what the efficiency targets need: coarser classes lose more to
//! rounding than the free lists can win back.

use core::alloc::Layout;

use crate::addr::PAGE_SIZE;

/// The largest request the front end serves; larger ones go to the back end.
pub const LARGEST: usize = PAGE_SIZE;

/// The alignment every small block has: blocks are carved at multiples of 8
/// from page-aligned pages. Layouts asking for more go to the back end.
pub const ALIGN: usize = 8;

/// The class after `size`: 8 bytes apart up to 128, then `size / 16` rounded
/// down to a multiple of 8, never past [`LARGEST`].
const fn next_size(size: usize) -> usize {
    let step = if size < 128 {
        ALIGN
    } else {
        size / 16 / ALIGN * ALIGN
    };
    let next = size + step;
    if next > LARGEST { LARGEST } else { next }
}

const fn count_classes() -> usize {
    let mut size = ALIGN;
    let mut count = 1;
    while size < LARGEST {
        size = next_size(size);
        count += 1;
    }
    count
}

/// How many classes there are.
pub const COUNT: usize = count_classes();

/// Block size of each class, ascending.
const SIZES: [u16; COUNT] = {
    let mut sizes = [0u16; COUNT];
    let mut size = ALIGN;
    let mut class = 0;
    while class < COUNT {
        sizes[class] = size as u16;
        size = next_size(size);
        class += 1;
    }
    sizes
};

/// The class of every request size rounded up to 8, indexed by `size / 8`.
const BY_EIGHTHS: [u8; LARGEST / ALIGN + 1] = {
    let mut table = [0u8; LARGEST / ALIGN + 1];
    let mut class = 0;
    let mut index = 0;
    while index < table.len() {
        while (SIZES[class] as usize) < index * ALIGN {
            class += 1;
        }
        table[index] = class as u8;
        index += 1;
    }
    table
};

/// The class serving `layout`, or `None` when it is larger than [`LARGEST`] or
/// needs more than [`ALIGN`] alignment.
#[inline]
pub fn for_layout(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST || layout.align() > ALIGN {
        return None;
    }
    Some(usize::from(BY_EIGHTHS[layout.size().div_ceil(ALIGN)]))
}

/// The block size of `class` (`class < COUNT`).
#[inline]
pub fn size(class: usize) -> usize {
    usize::from(SIZES[class])
}

/// The largest class whose blocks fit in `bytes` (a multiple of 8, at least
/// 8), to cut leftover space into blocks.
pub fn largest_within(bytes: usize) -> usize {
    let class = usize::from(BY_EIGHTHS[(bytes / ALIGN).min(LARGEST / ALIGN)]);
    if size(class) > bytes {
        class - 1
    } else {
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_ascending_multiples_of_eight_within_a_sixteenth() {
        assert_eq!(size(0), ALIGN);
        assert_eq!(size(COUNT - 1), LARGEST);
        for class in 1..COUNT {
            let (below, here) = (size(class - 1), size(class));
            assert!(below < here && here.is_multiple_of(ALIGN), "{below} {here}");
            assert!(here - below <= (below / 16).max(ALIGN), "{below} {here}");
        }
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_holds_it() {
        for bytes in 0..=LARGEST {
            let class = for_layout(Layout::from_size_align(bytes, 8).unwrap()).unwrap();
            assert!(size(class) >= bytes);
            assert!(class == 0 || size(class - 1) < bytes, "{bytes}");
        }
        assert_eq!(
            for_layout(Layout::from_size_align(LARGEST + 1, 8).unwrap()),
            None
        );
        assert_eq!(for_layout(Layout::from_size_align(64, 16).unwrap()), None);
    }

    #[test]
    fn leftovers_are_cut_by_the_largest_class_within() {
        for bytes in (ALIGN..LARGEST).step_by(ALIGN) {
            let class = largest_within(bytes);
            assert!(size(class) <= bytes);
            assert!(class + 1 == COUNT || size(class + 1) > bytes, "{bytes}");
        }
    }
}
