//! Kernel address-space randomisation: where the heap, the vmap window and
//! the frame-stack window lie for one boot, chosen from a seed.
//!
//! The three windows move; the kernel image, the fixmap, the kernel stacks
//! and the free-frame map stay where the layout puts them. Each placed window
//! gets a top-level table entry (512 GiB with 4 KiB pages and four levels, on
//! both CPUs) to itself, inside a bounded [`Rules::area`] of the kernel half
//! and clear of every entry a fixed window touches:
//! - the frame stack must be alone in its entry (it counts the tables on its
//!   way as its own, see `window::MappedWindow`), and one entry each for the
//!   heap and vmap keeps a stray address naming its window and costs one
//!   level-1 table per window;
//! - inside its entry a window starts at a multiple of [`ALIGN`] (2 MiB, a
//!   last-level table's reach), as in the fixed layout, so that a run mapped
//!   from a window's start begins a last-level table.
//!
//! Entropy: a window picks its entry among the area's free ones and then its
//! 2 MiB slot inside the entry, so it gets `log2(free entries) +
//! log2((512 GiB - size) / 2 MiB + 1)` bits: with the kernel's area of 128
//! entries (127 free), just under 24 bits (7 + 17) for the 256 GiB heap and
//! vmap windows and just under 25 (7 + 18) for the 16 GiB frame stack
//! ([`Rules::entropy_bits`] rounds down). The windows choose in turn, so the
//! later ones choose among one or two entries fewer.
//!
//! The seed is never used raw: a SplitMix64 step ([`split_mix`]) turns it
//! into each draw, so that seeds differing in one bit give unrelated
//! placements. Every seed gives a valid placement; the same seed gives the
//! same one. Where a seed comes from is a [`Seed`]'s [`SeedSource`]:
//! [`seed_from_tree`] reads a device tree's `/chosen` seeds, and the x86_64
//! layer asks RDRAND (`arch::x86_64::random`).

use core::fmt;

use crate::addr::{PAGE_SIZE, VirtAddr, VirtRange};
use crate::memory::paging::{ENTRIES_PER_TABLE, PageTableFormat};

/// Index bits per table level.
const ENTRY_BITS: u32 = ENTRIES_PER_TABLE.trailing_zeros();

/// The alignment of a placed window's start: 2 MiB.
pub const ALIGN: u64 = 2 << 20;

/// Where the three randomised windows lie.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Placement {
    /// The kernel heap's window.
    pub heap: VirtRange,
    /// The window the virtual range allocator serves.
    pub vmap: VirtRange,
    /// The frame stack's window.
    pub frame_stack: VirtRange,
}

impl Placement {
    /// The windows in a fixed order: heap, vmap, frame stack.
    pub const fn windows(&self) -> [VirtRange; 3] {
        [self.heap, self.vmap, self.frame_stack]
    }
}

/// What a layout lets placement do: the area to place in, the windows that
/// stay put, the sizes of the placed ones, and the reach of one top-level
/// entry of the page-table format.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    area: VirtRange,
    fixed: &'a [VirtRange],
    sizes: [u64; 3],
    entry_span: u64,
}

impl<'a> Rules<'a> {
    /// Rules for placing windows of the sizes of `fixed_layout`'s (heap,
    /// vmap, frame stack) in `area`, never in a top-level entry of format `F`
    /// that a window of `fixed` touches.
    ///
    /// # Panics
    ///
    /// Unless `area` is whole top-level entries, every size is a non-zero
    /// multiple of [`ALIGN`] no larger than one entry, and at least three
    /// entries of `area` are clear of `fixed`. Evaluated in a `const`, as the
    /// layouts do, that is a build error, so that no seed can meet bad rules.
    pub const fn new<F: PageTableFormat>(
        area: VirtRange,
        fixed: &'a [VirtRange],
        fixed_layout: Placement,
    ) -> Self {
        // A root entry reaches a page's worth of bytes times the entries of
        // every level below the root.
        let entry_span = (PAGE_SIZE as u64) << (ENTRY_BITS * (F::LEVELS as u32 - 1));
        let rules = Self {
            area,
            fixed,
            sizes: [
                fixed_layout.heap.size,
                fixed_layout.vmap.size,
                fixed_layout.frame_stack.size,
            ],
            entry_span,
        };
        assert!(
            area.start.0.is_multiple_of(entry_span)
                && area.size.is_multiple_of(entry_span)
                && area.size > 0,
            "the placement area is whole top-level entries"
        );
        let mut index = 0;
        while index < rules.sizes.len() {
            let size = rules.sizes[index];
            assert!(
                size > 0 && size.is_multiple_of(ALIGN) && size <= entry_span,
                "a placed window fits one top-level entry in 2 MiB steps"
            );
            index += 1;
        }
        assert!(
            rules.free_entries(&[]) >= 3,
            "three entries of the area are clear of the fixed windows"
        );
        rules
    }

    /// The area the windows are placed in.
    pub const fn area(&self) -> VirtRange {
        self.area
    }

    /// How many bits of entropy each window (heap, vmap, frame stack) gets
    /// when it chooses first, rounded down: see the module documentation.
    pub fn entropy_bits(&self) -> [u32; 3] {
        let entries = self.free_entry_count();
        self.slot_counts().map(|slots| (entries * slots).ilog2())
    }

    /// How many top-level entries of the area are clear of the fixed
    /// windows: the choices of the window that chooses first.
    pub const fn free_entry_count(&self) -> u64 {
        self.free_entries(&[])
    }

    /// How many 2 MiB-aligned starts each window (heap, vmap, frame stack)
    /// has inside its entry.
    pub fn slot_counts(&self) -> [u64; 3] {
        self.sizes.map(|size| self.slots(size))
    }

    /// The placement for `seed`: every seed gives a valid one, always the
    /// same for the same seed.
    pub fn place(&self, seed: u64) -> Placement {
        let mut state = seed;
        let mut taken = [usize::MAX; 3];
        let mut windows = [VirtRange::new(VirtAddr(0), 0); 3];
        for (index, size) in self.sizes.into_iter().enumerate() {
            let choice = below(split_mix(&mut state), self.free_entries(&taken));
            let entry = self.nth_free_entry(choice, &taken);
            taken[index] = entry;
            let slot = below(split_mix(&mut state), self.slots(size));
            let start = self.entry_start(entry) + slot * ALIGN;
            windows[index] = VirtRange::new(VirtAddr(start), size);
        }
        let [heap, vmap, frame_stack] = windows;
        Placement {
            heap,
            vmap,
            frame_stack,
        }
    }

    /// The 2 MiB-aligned starts a window of `size` bytes has in one entry.
    const fn slots(&self, size: u64) -> u64 {
        (self.entry_span - size) / ALIGN + 1
    }

    const fn entry_start(&self, entry: usize) -> u64 {
        self.area.start.0 + entry as u64 * self.entry_span
    }

    /// True when entry `entry` of the area is clear of every fixed window
    /// and not among `taken`.
    const fn is_free(&self, entry: usize, taken: &[usize]) -> bool {
        let start = self.entry_start(entry);
        let end = start + self.entry_span;
        let mut index = 0;
        while index < taken.len() {
            if taken[index] == entry {
                return false;
            }
            index += 1;
        }
        let mut index = 0;
        while index < self.fixed.len() {
            let window = self.fixed[index];
            let window_end = window.start.0.saturating_add(window.size);
            if window.start.0 < end && start < window_end {
                return false;
            }
            index += 1;
        }
        true
    }

    const fn free_entries(&self, taken: &[usize]) -> u64 {
        let mut count = 0;
        let mut entry = 0;
        while entry < self.entry_count() {
            if self.is_free(entry, taken) {
                count += 1;
            }
            entry += 1;
        }
        count
    }

    const fn entry_count(&self) -> usize {
        (self.area.size / self.entry_span) as usize
    }

    /// The index of the `n`th (from 0) free entry; `n` is below the count.
    fn nth_free_entry(&self, n: u64, taken: &[usize]) -> usize {
        (0..self.entry_count())
            .filter(|&entry| self.is_free(entry, taken))
            .nth(n as usize)
            .expect("the choice is below the count of free entries")
    }
}

/// Where a boot's placement seed came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeedSource {
    /// `/chosen` `kaslr-seed` of the device tree.
    KaslrSeed,
    /// `/chosen` `rng-seed` of the device tree.
    RngSeed,
    /// The CPU's RDRAND instruction.
    Rdrand,
}

impl fmt::Display for SeedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KaslrSeed => "/chosen/kaslr-seed",
            Self::RngSeed => "/chosen/rng-seed",
            Self::Rdrand => "RDRAND",
        })
    }
}

/// A boot's placement seed: the raw value, mixed before use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Seed {
    /// The seed as the source gave it (an `rng-seed` folded to 64 bits).
    pub value: u64,
    /// Where it came from.
    pub source: SeedSource,
}

/// Why a boot has no seed, so the windows keep the fixed layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoSeed {
    /// The device tree's `/chosen` has neither `kaslr-seed` nor an
    /// `rng-seed` with a byte that is not 0.
    NotInTree,
    /// `/chosen` `kaslr-seed` is not 8 bytes, and there is no `rng-seed`.
    BadKaslrSeed {
        /// Its length in bytes.
        bytes: usize,
    },
    /// `/chosen` `kaslr-seed` is 0 (a bootloader's "no seed", as Linux reads
    /// it), and there is no `rng-seed`.
    ZeroKaslrSeed,
    /// CPUID says the CPU has no RDRAND.
    NoRdrand,
    /// RDRAND gave no number in this many tries.
    RdrandFailed {
        /// The tries made.
        tries: usize,
    },
}

impl fmt::Display for NoSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInTree => write!(
                f,
                "no /chosen/kaslr-seed or rng-seed (other than zeros) in the device tree"
            ),
            Self::BadKaslrSeed { bytes } => write!(
                f,
                "/chosen/kaslr-seed is {bytes} bytes, not 8, and there is no rng-seed"
            ),
            Self::ZeroKaslrSeed => write!(f, "/chosen/kaslr-seed is 0 and there is no rng-seed"),
            Self::NoRdrand => write!(f, "the CPU has no RDRAND (CPUID.1:ECX bit 30)"),
            Self::RdrandFailed { tries } => write!(f, "RDRAND gave no number in {tries} tries"),
        }
    }
}

/// The seed a device tree's `/chosen` offers: `kaslr-seed` when it is a
/// non-zero 64-bit number (big-endian, as Linux reads it), else `rng-seed`
/// folded to 64 bits when it has a byte that is not 0. An empty or all-zero
/// `rng-seed` counts as none: it is what [`take_seeds`] leaves behind.
///
/// [`take_seeds`]: crate::platform::take_seeds
pub fn seed_from_tree(kaslr_seed: Option<&[u8]>, rng_seed: Option<&[u8]>) -> Result<Seed, NoSeed> {
    let kaslr = kaslr_seed.map(|bytes| match <[u8; 8]>::try_from(bytes) {
        Ok(bytes) if u64::from_be_bytes(bytes) != 0 => Ok(u64::from_be_bytes(bytes)),
        Ok(_) => Err(NoSeed::ZeroKaslrSeed),
        Err(_) => Err(NoSeed::BadKaslrSeed { bytes: bytes.len() }),
    });
    match (
        kaslr,
        rng_seed.filter(|bytes| bytes.iter().any(|&byte| byte != 0)),
    ) {
        (Some(Ok(value)), _) => Ok(Seed {
            value,
            source: SeedSource::KaslrSeed,
        }),
        (_, Some(bytes)) => Ok(Seed {
            value: fold(bytes),
            source: SeedSource::RngSeed,
        }),
        (Some(Err(refused)), None) => Err(refused),
        (None, None) => Err(NoSeed::NotInTree),
    }
}

/// Folds `bytes` to 64 bits: each 8-byte chunk (the last padded with zeros)
/// goes into the state through a SplitMix64 step, so every byte counts.
fn fold(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(0, |mut state, chunk| {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        state ^= u64::from_le_bytes(word);
        split_mix(&mut state)
    })
}

/// One SplitMix64 step (Steele, Lea and Flood, 2014): advances `state` and
/// returns 64 well-mixed bits of it. Any state is valid, zero included.
pub fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut mixed = *state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

/// A number below `count` (at least 1) from 64 random bits, by the high half
/// of their product: the bias is under `count / 2^64`.
fn below(random: u64, count: u64) -> u64 {
    ((u128::from(random) * u128::from(count)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::paging::Aarch64;
    use proptest::prelude::*;

    const GIB: u64 = 1 << 30;
    const ENTRY: u64 = 512 * GIB;

    const FIXED_LAYOUT: Placement = Placement {
        heap: VirtRange::new(VirtAddr(0xffff_0000_0000_0000), 256 * GIB),
        vmap: VirtRange::new(VirtAddr(0xffff_0080_0000_0000), 256 * GIB),
        frame_stack: VirtRange::new(VirtAddr(0xffff_0100_0000_0000), 16 * GIB),
    };

    /// Four entries, the second taken by a fixed window: exactly three free.
    const TIGHT: Rules<'static> = Rules::new::<Aarch64>(
        VirtRange::new(VirtAddr(0xffff_0000_0000_0000), 4 * ENTRY),
        &[VirtRange::new(VirtAddr(0xffff_00c0_0000_0000), GIB)],
        FIXED_LAYOUT,
    );

    #[test]
    fn the_tight_area_uses_its_three_free_entries_and_skips_the_fixed_one() {
        for seed in 0..64 {
            let placement = TIGHT.place(seed);
            let mut entries = placement
                .windows()
                .map(|window| (window.start.0 - 0xffff_0000_0000_0000) / ENTRY);
            entries.sort_unstable();
            assert_eq!(entries, [0, 2, 3], "seed {seed}");
        }
    }

    #[test]
    fn entropy_counts_entries_and_slots() {
        // 3 entries × 131073 slots of a 256 GiB window; × 253953 for 16 GiB.
        assert_eq!(TIGHT.entropy_bits(), [18, 18, 19]);
    }

    #[test]
    fn the_draw_reaches_both_ends_of_its_range() {
        assert_eq!(below(0, 10), 0);
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(u64::MAX, 1), 0);
    }

    #[test]
    fn split_mix_matches_the_reference_sequence() {
        // The first outputs from state 0 of the reference implementation.
        let mut state = 0;
        assert_eq!(split_mix(&mut state), 0xe220_a839_7b1d_cdaf);
        assert_eq!(split_mix(&mut state), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn the_tree_seed_prefers_a_usable_kaslr_seed_then_rng_seed() {
        let kaslr = [0, 0, 0, 0, 0, 0, 1, 2];
        let rng = [7; 32];
        let seed = |kaslr: Option<&[u8]>, rng: Option<&[u8]>| seed_from_tree(kaslr, rng);
        assert_eq!(
            seed(Some(&kaslr), Some(&rng)),
            Ok(Seed {
                value: 0x102,
                source: SeedSource::KaslrSeed
            })
        );
        let from_rng = seed(Some(&[0; 8]), Some(&rng)).unwrap();
        assert_eq!(from_rng.source, SeedSource::RngSeed);
        assert_eq!(seed(None, Some(&rng)), Ok(from_rng));
        assert_eq!(seed(Some(&[1; 4]), Some(&rng)), Ok(from_rng));
        assert_eq!(seed(None, None), Err(NoSeed::NotInTree));
        assert_eq!(seed(None, Some(&[])), Err(NoSeed::NotInTree));
        assert_eq!(seed(None, Some(&[0; 32])), Err(NoSeed::NotInTree));
        assert_eq!(
            seed(Some(&[0; 8]), Some(&[0; 32])),
            Err(NoSeed::ZeroKaslrSeed)
        );
        assert_eq!(seed(Some(&[0; 8]), None), Err(NoSeed::ZeroKaslrSeed));
        assert_eq!(
            seed(Some(&[1; 4]), None),
            Err(NoSeed::BadKaslrSeed { bytes: 4 })
        );
    }

    #[test]
    fn every_byte_of_an_rng_seed_counts() {
        let base = fold(&[7; 32]);
        for index in 0..32 {
            let mut bytes = [7; 32];
            bytes[index] ^= 1;
            assert_ne!(fold(&bytes), base, "byte {index}");
        }
        assert_ne!(fold(&[7; 31]), fold(&[7; 32]), "a short last chunk counts");
    }

    /// The memory system works at a placement of each CPU's rules, on that
    /// CPU's table format: the frame stack grows through its placed window
    /// and eats itself again, pages map and unmap in the placed heap and
    /// vmap windows, and no frame is lost.
    fn placed_windows_work<F: PageTableFormat>(rules: &Rules<'_>, seed: u64) {
        use crate::memory::paging::Attributes;
        use crate::memory::sim::SimMachineOf;
        let placement = rules.place(seed);
        let mut machine = SimMachineOf::<F>::with_stack_window(3000, 4, placement.frame_stack);
        let total = machine.space.free_frame_count();
        let taken: std::vec::Vec<_> =
            core::iter::from_fn(|| machine.space.allocate_frame()).collect();
        machine.space.free_frames_from(&taken).unwrap();
        assert!(
            machine.space.frames().window_page_count() >= 2,
            "seed {seed}"
        );
        assert_eq!(machine.space.free_frame_count(), total);
        for window in [placement.heap, placement.vmap] {
            for start in [
                window.start,
                VirtAddr(window.start.0 + window.size - 8 * 4096),
            ] {
                let range = VirtRange::new(start, 8 * 4096);
                machine
                    .space
                    .map_new_pages(start, 8, Attributes::KERNEL_DATA)
                    .unwrap();
                assert!(machine.space.mapper().translate(start).is_some());
                assert_eq!(machine.space.unmap_and_free(range), 8);
            }
        }
        assert_eq!(machine.space.free_frame_count(), total, "seed {seed}");
    }

    #[test]
    fn placed_windows_work_on_aarch64_tables() {
        for seed in [0, 1, u64::MAX] {
            placed_windows_work::<Aarch64>(&crate::arch::aarch64::layout::PLACEMENT_RULES, seed);
        }
    }

    #[test]
    fn placed_windows_work_on_x86_64_tables() {
        use crate::arch::x86_64::paging::X86_64;
        for seed in [0, 1, u64::MAX] {
            placed_windows_work::<X86_64>(&crate::arch::x86_64::layout::PLACEMENT_RULES, seed);
        }
    }

    proptest! {
        #[test]
        fn every_seed_gives_aligned_disjoint_windows_in_their_own_entries(seed: u64) {
            let placement = TIGHT.place(seed);
            prop_assert_eq!(placement, TIGHT.place(seed), "same seed, same placement");
            let windows = placement.windows();
            for (index, window) in windows.iter().enumerate() {
                prop_assert!(window.start.is_aligned(ALIGN));
                prop_assert_eq!(window.size, FIXED_LAYOUT.windows()[index].size);
                let entry = window.start.0 / ENTRY;
                prop_assert_eq!(entry, window.last().unwrap().0 / ENTRY);
                prop_assert!(TIGHT.area().contains(window.start));
                prop_assert!(TIGHT.area().contains(window.last().unwrap()));
                for other in &windows[index + 1..] {
                    prop_assert_ne!(entry, other.start.0 / ENTRY);
                }
            }
        }
    }

    #[test]
    fn nearby_seeds_place_every_window_elsewhere() {
        let first = TIGHT.place(1);
        let second = TIGHT.place(2);
        for (a, b) in first.windows().iter().zip(second.windows()) {
            assert_ne!(a.start, b.start);
        }
    }
}
