//! The kernel (upper) half of the x86_64 address space.
//!
//! 4-level paging, 48-bit virtual addresses, 4 KiB pages. An address is
//! canonical when bits 63..48 copy bit 47, so the kernel half is
//! `0xffff_8000_0000_0000..=0xffff_ffff_ffff_ffff` (128 TiB): PML4 entries
//! 256..512. The windows are those of AArch64 at the same offsets from the
//! start of the kernel half, each in its own aligned range so that a stray
//! address names the window it hit.
//!
//! x86 has no TTBR1: one CR3 holds both halves, and its PML4 entries 0..256
//! ([`LOWER_HALF_ENTRIES`]) are the lower half, empty once the boot identity
//! map is gone; page 0 is never mapped. In the fixed layout the kernel
//! windows use PML4 entries 256 (heap), 257 (vmap, stacks, free map), 258
//! (frame stack) and 511 (image, fixmap). With a seed the heap, vmap and
//! frame-stack windows move at boot, each to a PML4 entry of its own among
//! 256..384 ([`KASLR_AREA`], less 257; see [`crate::memory::placement`]),
//! so the kernel uses five entries. A second address space would copy the
//! entries in use.
//!
//! The frame-stack window has a PML4 entry (512 GiB) to itself: its page
//! tables serve it alone, so the frame stack can count them as its own and
//! hand them out when its pages go, with no other window depending on them.
//!
//! | window      | start                   | size    | contents                              |
//! |-------------|-------------------------|---------|---------------------------------------|
//! | heap        | `0xffff_8000_0000_0000` | 256 GiB | kernel heap, grows upward on demand   |
//! | vmap        | `0xffff_8080_0000_0000` | 256 GiB | virtual ranges: MMIO, vmap            |
//! | stacks      | `0xffff_80c0_0000_0000` | 1 GiB   | kernel stacks, guard page below each  |
//! | free map    | `0xffff_80c0_4000_0000` | 1 GiB   | free-frame bits (4 TiB of RAM)        |
//! | frame stack | `0xffff_8100_0000_0000` | 16 GiB  | free-frame stack pages (8 TiB of RAM) |
//! | image       | `0xffff_ffff_8000_0000` | 10 MiB  | kernel text, rodata, data, bss        |
//! | fixmap      | `0xffff_ffff_bfe0_0000` | 2 MiB   | table access slot (see `fixmap`)      |
//!
//! The image window is the top 2 GiB's first 10 MiB: `linker.ld` loads the
//! image at 2 MiB and links it at that plus `0xffff_ffff_8000_0000`, at most
//! 8 MiB of it. The fixmap is the last 2 MiB of the image's page directory,
//! so `entry.s` links its page table there beside the image's.

use core::ops::Range;

use crate::addr::{VirtAddr, VirtRange};
use crate::arch::x86_64::paging::X86_64;
use crate::memory::placement::{Placement, Rules};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The kernel heap window: reserved far beyond any RAM; grows on demand.
pub const HEAP: VirtRange = VirtRange::new(VirtAddr(0xffff_8000_0000_0000), 256 * GIB);
/// The frame stack's window: 8 bytes per free frame, so 16 GiB covers 8 TiB.
/// Alone in its PML4 entry (see the module documentation).
pub const FRAME_STACK: VirtRange = VirtRange::new(VirtAddr(0xffff_8100_0000_0000), 16 * GIB);
/// The window served by the virtual range allocator (device mappings, vmap).
pub const VMAP: VirtRange = VirtRange::new(VirtAddr(0xffff_8080_0000_0000), 256 * GIB);
/// Kernel stacks, each with an unmapped guard page below it.
pub const STACKS: VirtRange = VirtRange::new(VirtAddr(0xffff_80c0_0000_0000), GIB);
/// The frame stack's free-frame map: one bit per frame. The map covers 4 TiB
/// of physical addresses above the lowest RAM (`free_map::REACH_BYTES`), in
/// 128 MiB of this window; RAM beyond is refused and reported at boot.
pub const FREE_MAP: VirtRange = VirtRange::new(VirtAddr(0xffff_80c0_4000_0000), GIB);
/// The kernel image, as linked (`boards/x86_64/linker.ld`): loaded at 2 MiB,
/// at most 8 MiB.
pub const IMAGE: VirtRange = VirtRange::new(VirtAddr(0xffff_ffff_8000_0000), 10 * MIB);
/// The fixmap: one page table of fixed-purpose slots (see `fixmap`).
pub const FIXMAP: VirtRange = VirtRange::new(VirtAddr(0xffff_ffff_bfe0_0000), 2 * MIB);

/// The entries of the root table (`cpu::lower_half_root`, CR3's PML4) that
/// map the lower half.
pub const LOWER_HALF_ENTRIES: Range<usize> = 0..256;

/// Size of one kernel stack, without its guard page.
pub const KERNEL_STACK_SIZE: u64 = 64 << 10;

/// The windows that never move, in the order [`crate::arch::name_windows`]
/// takes them: stacks, free-frame map, image, fixmap.
pub const FIXED_WINDOWS: [VirtRange; 4] = [STACKS, FREE_MAP, IMAGE, FIXMAP];

/// The fixed layout of the heap, vmap and frame-stack windows: where they lie
/// under `nokaslr` or without a seed, and the sizes they keep when placed.
pub const FIXED_LAYOUT: Placement = Placement {
    heap: HEAP,
    vmap: VMAP,
    frame_stack: FRAME_STACK,
};

/// Where kernel address-space randomisation may put the heap, vmap and
/// frame-stack windows: the first 64 TiB of the kernel half (128 top-level
/// entries), less the entry of the stacks and the free-frame map. The same
/// offsets on both CPUs, so both get the same entropy.
pub const KASLR_AREA: VirtRange = VirtRange::new(VirtAddr(0xffff_8000_0000_0000), 64 << 40);

/// The rules [`Rules::place`] follows on this CPU; checked when built.
pub const PLACEMENT_RULES: Rules<'static> =
    Rules::new::<X86_64>(KASLR_AREA, &FIXED_WINDOWS, FIXED_LAYOUT);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::arch::{find_window, name_windows};
    use proptest::prelude::*;

    /// The PML4 index of `address`.
    fn level_4(address: u64) -> usize {
        ((address >> 39) & 0x1ff) as usize
    }

    proptest! {
        #[test]
        fn windows_are_canonical_and_outside_the_lower_half(seed: u64) {
            let canonical = |address: u64| ((address as i64) << 16 >> 16) as u64 == address;
            for placement in [FIXED_LAYOUT, PLACEMENT_RULES.place(seed)] {
                for (name, range) in name_windows(&placement, FIXED_WINDOWS) {
                    let last = range.last().unwrap().0;
                    prop_assert!(canonical(range.start.0) && canonical(last), "{}", name);
                    let entry = level_4(range.start.0);
                    prop_assert!(!LOWER_HALF_ENTRIES.contains(&entry), "{}", name);
                }
            }
            prop_assert_eq!(LOWER_HALF_ENTRIES, 0..512 / 2);
        }
    }

    #[test]
    fn addresses_name_their_window() {
        let windows = name_windows(&FIXED_LAYOUT, FIXED_WINDOWS);
        assert_eq!(
            find_window(&windows, VirtAddr(0xffff_8080_0000_1000)),
            Some("vmap")
        );
        assert_eq!(find_window(&windows, VirtAddr(0x1000)), None);
    }

    #[test]
    fn the_fixmap_is_the_last_entry_of_the_image_page_directory() {
        // entry.s links the fixmap's page table at PD index 511 of PDPT 510
        // of PML4 511, the page directory of the image.
        assert_eq!(FIXMAP.start.0 >> 30, IMAGE.start.0 >> 30);
        assert_eq!((FIXMAP.start.0 >> 21) & 0x1ff, 511);
        assert_eq!(FIXMAP.size, 2 * MIB);
        assert_eq!(level_4(IMAGE.start.0), 511);
        assert_eq!((IMAGE.start.0 >> 30) & 0x1ff, 510);
    }
}
