//! The kernel (TTBR1) half of the AArch64 address space.
//!
//! 48-bit virtual addresses, 4 KiB pages: the kernel half is
//! `0xffff_0000_0000_0000..=0xffff_ffff_ffff_ffff` (256 TiB). Each window gets
//! its own aligned range so that a stray address names the window it hit.
//!
//! The frame-stack window has a level-0 entry (512 GiB) to itself: its page
//! tables serve it alone, so the frame stack can count them as its own and
//! hand them out when its pages go, with no other window depending on them.
//!
//! The table gives the fixed layout (`nokaslr`, or no seed). With a seed the
//! heap, vmap and frame-stack windows move at boot, each to a level-0 entry
//! of its own in [`KASLR_AREA`] (see [`crate::memory::placement`]); the
//! stacks, the free-frame map, the image and the fixmap never move.
//!
//! | window      | start                   | size    | contents                              |
//! |-------------|-------------------------|---------|---------------------------------------|
//! | heap        | `0xffff_0000_0000_0000` | 256 GiB | kernel heap, grows upward on demand   |
//! | vmap        | `0xffff_0080_0000_0000` | 256 GiB | virtual ranges: MMIO, vmap            |
//! | stacks      | `0xffff_00c0_0000_0000` | 1 GiB   | kernel stacks, guard page below each  |
//! | free map    | `0xffff_00c0_4000_0000` | 1 GiB   | free-frame bits (4 TiB of RAM)        |
//! | frame stack | `0xffff_0100_0000_0000` | 16 GiB  | free-frame stack pages (8 TiB of RAM) |
//! | image       | `0xffff_ffff_8000_0000` | 8 MiB   | kernel text, rodata, data, bss        |
//! | fixmap      | `0xffff_ffff_bfe0_0000` | 2 MiB   | table access slot, early console, DTB |

use crate::addr::{VirtAddr, VirtRange};
use crate::arch::aarch64::paging::Aarch64;
use crate::memory::placement::{Placement, Rules};

const GIB: u64 = 1 << 30;

/// The kernel heap window: reserved far beyond any RAM; grows on demand.
pub const HEAP: VirtRange = VirtRange::new(VirtAddr(0xffff_0000_0000_0000), 256 * GIB);
/// The frame stack's window: 8 bytes per free frame, so 16 GiB covers 8 TiB.
/// Alone in its level-0 entry (see the module documentation).
pub const FRAME_STACK: VirtRange = VirtRange::new(VirtAddr(0xffff_0100_0000_0000), 16 * GIB);
/// The window served by the virtual range allocator (device mappings, vmap).
pub const VMAP: VirtRange = VirtRange::new(VirtAddr(0xffff_0080_0000_0000), 256 * GIB);
/// Kernel stacks, each with an unmapped guard page below it.
pub const STACKS: VirtRange = VirtRange::new(VirtAddr(0xffff_00c0_0000_0000), GIB);
/// The frame stack's free-frame map: one bit per frame. The map covers 4 TiB
/// of physical addresses above the lowest RAM (`free_map::REACH_BYTES`), in
/// 128 MiB of this window; RAM beyond is refused and reported at boot.
pub const FREE_MAP: VirtRange = VirtRange::new(VirtAddr(0xffff_00c0_4000_0000), GIB);
/// The kernel image, as linked (`linker.ld`).
pub const IMAGE: VirtRange = VirtRange::new(VirtAddr(0xffff_ffff_8000_0000), 8 << 20);
/// The fixmap: one level-3 table of fixed-purpose slots (see `fixmap`).
pub const FIXMAP: VirtRange = VirtRange::new(VirtAddr(0xffff_ffff_bfe0_0000), 2 << 20);

/// The entries of the lower-half root table (`cpu::lower_half_root`) that
/// map the lower half: all of them, as TTBR0 serves the lower half alone.
pub const LOWER_HALF_ENTRIES: core::ops::Range<usize> = 0..512;

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
pub const KASLR_AREA: VirtRange = VirtRange::new(VirtAddr(0xffff_0000_0000_0000), 64 << 40);

/// The rules [`Rules::place`] follows on this CPU; checked when built.
pub const PLACEMENT_RULES: Rules<'static> =
    Rules::new::<Aarch64>(KASLR_AREA, &FIXED_WINDOWS, FIXED_LAYOUT);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::arch::{find_window, name_windows};

    #[test]
    fn addresses_name_their_window() {
        let windows = name_windows(&FIXED_LAYOUT, FIXED_WINDOWS);
        assert_eq!(
            find_window(&windows, VirtAddr(0xffff_0080_0000_1000)),
            Some("vmap")
        );
        assert_eq!(find_window(&windows, VirtAddr(0x1000)), None);
    }
}
