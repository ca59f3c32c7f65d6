//! Architecture layers, and the one contract the kernel sees.
//!
//! Each CPU's layer lives in its own module; the kernel names only
//! `arch::current`, the layer of the CPU it is built for. The pure parts of a
//! layer (descriptor format, address-space layout, fault decoding) build on
//! every target, so the host tests check them; the parts that touch the CPU
//! build only for their own bare-metal target.
//!
//! What `arch::current` provides (the AArch64 layer is the reference):
//! - `entry`: the boot protocol, turned into a `kernel::BootRecord`
//!   handed to `kernel::start`, with the seed that places the heap, vmap
//!   and frame-stack windows (AArch64: the device tree's `/chosen` seeds;
//!   x86_64: RDRAND, in `random`);
//! - `run_on_stack` to move to a kernel stack (one wrapper for both CPUs,
//!   `stack`, over each CPU's assembly);
//! - `PageFormat` ([`crate::memory::paging::PageTableFormat`]), `KernelTlb`
//!   ([`crate::memory::paging::Tlb`], with a `const fn new`) and
//!   `KernelTableAccess` ([`crate::memory::paging::TableAccess`], an `unsafe
//!   fn new`, made once) for the kernel's one address space;
//! - `layout`: the kernel windows `STACKS`, `FREE_MAP`, `IMAGE`, `FIXMAP`
//!   (the list `FIXED_WINDOWS`), the fixed places of `HEAP`, `VMAP` and
//!   `FRAME_STACK` (`FIXED_LAYOUT`) and the `PLACEMENT_RULES` that move them
//!   at boot (see [`crate::memory::placement`]), `KERNEL_STACK_SIZE`, and
//!   `LOWER_HALF_ENTRIES`: which entries of the
//!   lower-half root map the lower half (all of TTBR0's on AArch64; PML4
//!   entries 0..256 of the one CR3 on x86_64);
//! - `fixmap`: `TABLE_SLOT`, `map`, `unmap`, `slot_address`, the fixed slots
//!   that `fixmap_access::FixmapAccess` and early mappings use;
//! - `cpu`: `halt`, `wait_for_interrupt`, `enable_interrupts`, `mask_irqs` /
//!   `restore_irqs` / `irqs_masked`, `id` (of the running CPU, as the
//!   platform description names CPUs), `lower_half_root` and `is_readable`
//!   (for the self-tests' checks of the live tables), and `holding_pen`:
//!   where a core that entered the kernel but is not the boot CPU waits
//!   ([`HoldingPen`]; AArch64's boot.s has one, x86_64 starts no other CPU
//!   in the kernel);
//! - `IrqSafeMutex`: a lock that masks IRQs while held (`irq_lock`, one
//!   for both CPUs);
//! - `exceptions`: `set_fatal_handler`, `stop`, the guard pages of the boot
//!   and emergency stacks, the `Fault` and `Cause` the fatal handler gets
//!   (the guard against re-entry is [`fatal`]'s, shared), and `read`/`write`:
//!   one access whose fault is expected and returned, found through an
//!   exception table (faulting instruction → where to continue, [`probe`]),
//!   so it works whatever the instruction length;
//! - `timer`: `counter`, `frequency`, `arm(hz)`, `interrupt_pending` (the
//!   tick has fired and waits for the CPU to unmask IRQs);
//! - `devices`: `describe_console` (the report's line), `start_console` and
//!   `release_early_console`,
//!   `start_interrupts` (maps through a kernel callback, reads a register
//!   through another where it must find which block to map, enables the
//!   timer's interrupt, routes every interrupt to the kernel's handler);
//! - `host`: `EXIT_WORD` (the command-line word that says the host takes an
//!   exit), `allow_exit`, `exit_allowed`, `exit(status)` (0 success, 1 a
//!   test failed, 2 panic, 3 fatal exception, 4 boot failed; each CPU
//!   documents what the host then sees) and `write(text)`, the way back to
//!   the emulator or debugger, with `SEPARATE_CONSOLE` saying whether it
//!   reaches the host somewhere the console does not;
//! - `self_tests`: the checks only this CPU has (its drivers' contracts).
//!
//! Both layers provide all of it. The one call that goes the other way is
//! each entry's hand-over to the shared boot flow (`kernel::start`,
//! and `kernel::fatal_fault` as the fatal handler): an entry exists
//! to call the kernel.

use core::fmt;

use crate::addr::{PhysAddr, VirtAddr, VirtRange};
use crate::memory::placement::Placement;

/// Where cores wait that entered the kernel image but are not its boot CPU
/// (a loader that starts every core at the image's entry), and how to release
/// one, as from a firmware spin table: write the entry address (physical) to
/// `entry_word`, then the core's [`HoldingPen::release_value`] to
/// `release_word`, both to memory (through a Device or Non-cacheable mapping,
/// or each cleaned to the point of coherency), then `dsb sy` and `sev`. The
/// core jumps to the entry in the state it entered the kernel in: at its entry
/// exception level, MMU and caches off, interrupts masked, x0 = 0, no stack.
/// It reads the entry word once, right after it sees its release value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldingPen {
    /// The physical address of the release word the waiting cores poll.
    pub release_word: PhysAddr,
    /// The physical address of the word a released core takes its entry from.
    pub entry_word: PhysAddr,
    /// The id (as `cpu::id` gives it) of the last core that went in, if any.
    pub last_entrant: Option<u64>,
}

impl HoldingPen {
    /// The value that releases the core `id` (as `cpu::id` gives it): the id
    /// with bit 63 set, so that the word's initial 0 releases no core.
    pub const fn release_value(id: u64) -> u64 {
        id | 1 << 63
    }
}

impl fmt::Display for HoldingPen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entry, release) = (self.entry_word, self.release_word);
        match self.last_entrant {
            Some(id) => {
                write!(
                    f,
                    "core {id:#x} waits (the last of the cores that entered the kernel and lost the boot); to release it, write its entry (physical) to {entry}, then "
                )?;
                crate::addr::write_grouped_hex(f, Self::release_value(id))?;
                write!(f, " to {release}, each cleaned to PoC, sev")?;
            }
            None => write!(
                f,
                "no core waits; one that enters the kernel and loses the boot waits here: to release core ID, write its entry (physical) to {entry}, then ID | 1 << 63 to {release}, each cleaned to PoC, sev"
            )?,
        }
        f.write_str("; it jumps there with x0 = 0, MMU off, at the level it entered at")
    }
}

#[cfg(test)]
mod holding_pen_tests {
    use super::*;

    #[test]
    fn the_report_says_what_to_write() {
        let pen = HoldingPen {
            release_word: PhysAddr(0x4024_9010),
            entry_word: PhysAddr(0x4024_9018),
            last_entrant: Some(3),
        };
        let text = pen.to_string();
        assert!(text.contains("core 0x3 waits"), "{text}");
        assert!(
            text.contains("to 0x4024_9018, then 0x8000_0000_0000_0003 to 0x4024_9010"),
            "{text}"
        );
        let empty = HoldingPen {
            last_entrant: None,
            ..pen
        }
        .to_string();
        assert!(
            empty.contains("then ID | 1 << 63 to 0x4024_9010"),
            "{empty}"
        );
    }
}

pub mod aarch64;
pub mod devices;
pub mod fatal;
pub mod probe;
pub mod x86_64;

#[cfg(target_os = "none")]
pub mod fixmap_access;
#[cfg(target_os = "none")]
pub use stack::run_on_stack;
#[cfg(target_os = "none")]
pub mod irq_lock;
#[cfg(target_os = "none")]
mod stack;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use aarch64 as current;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub use x86_64 as current;

#[cfg(all(
    target_os = "none",
    not(any(target_arch = "aarch64", target_arch = "x86_64"))
))]
compile_error!("the kernel supports AArch64 and x86_64 only");

/// A layout's kernel windows with the names the boot report and fault
/// reports use: the heap, vmap and frame stack where `placement` put them,
/// and the layout's `fixed` windows (stacks, free-frame map, image, fixmap).
/// Both CPUs have the same windows, at their own addresses.
pub const fn name_windows(
    placement: &Placement,
    fixed: [VirtRange; 4],
) -> [(&'static str, VirtRange); 7] {
    let [stacks, free_map, image, fixmap] = fixed;
    [
        ("heap", placement.heap),
        ("vmap", placement.vmap),
        ("kernel stacks", stacks),
        ("free-frame map", free_map),
        ("frame stack", placement.frame_stack),
        ("kernel image", image),
        ("fixmap", fixmap),
    ]
}

/// The name of the window of `windows` that contains `address`, if any.
pub fn find_window(
    windows: &[(&'static str, VirtRange)],
    address: VirtAddr,
) -> Option<&'static str> {
    windows
        .iter()
        .find(|(_, range)| range.contains(address))
        .map(|(name, _)| *name)
}

/// Checks what every layout promises: its windows are disjoint, 2 MiB-aligned
/// and at or above `kernel_half`, and each window named in `alone` has a
/// top-level entry (bits 47..39, on both CPUs) to itself: the frame stack
/// always, every placed window once randomised.
#[cfg(test)]
fn check_windows(windows: &[(&'static str, VirtRange)], kernel_half: u64, alone: &[&str]) {
    let top_level = |address: u64| (address >> 39) & 0x1ff;
    for (i, (name, a)) in windows.iter().enumerate() {
        assert!(a.start.0 >= kernel_half, "{name}");
        assert!(a.start.is_aligned(2 << 20), "{name}");
        for (other, b) in &windows[i + 1..] {
            assert!(!a.overlaps(b), "{name} overlaps {other}");
        }
    }
    for lonely in alone {
        let (_, window) = windows
            .iter()
            .find(|(name, _)| name == lonely)
            .expect("a window of that name");
        let entry = top_level(window.start.0);
        assert_eq!(entry, top_level(window.last().unwrap().0), "one entry");
        for (name, range) in windows.iter().filter(|(name, _)| name != lonely) {
            let entries = top_level(range.start.0)..=top_level(range.last().unwrap().0);
            assert!(!entries.contains(&entry), "{name} shares {lonely}'s entry");
        }
    }
}

/// [`check_windows`] over a layout's fixed layout and over its placement for
/// `seed`, which must also stay inside `rules`' area; and seeds 1 and 2 must
/// move every placed window.
#[cfg(test)]
fn check_layout(
    rules: &crate::memory::placement::Rules<'_>,
    fixed_layout: &Placement,
    fixed: [VirtRange; 4],
    kernel_half: u64,
    seed: u64,
) {
    check_windows(
        &name_windows(fixed_layout, fixed),
        kernel_half,
        &["frame stack"],
    );
    let placement = rules.place(seed);
    let windows = name_windows(&placement, fixed);
    check_windows(&windows, kernel_half, &["heap", "vmap", "frame stack"]);
    for window in placement.windows() {
        assert!(rules.area().contains(window.start), "seed {seed}");
        assert!(rules.area().contains(window.last().unwrap()), "seed {seed}");
    }
    let (first, second) = (rules.place(1), rules.place(2));
    for (a, b) in first.windows().iter().zip(second.windows()) {
        assert_ne!(a.start, b.start, "seeds 1 and 2 move every window");
    }
}

#[cfg(test)]
mod tests {
    use super::{aarch64, check_layout, x86_64};
    use proptest::prelude::*;

    proptest! {
        /// Both CPUs' layouts, fixed and placed by any seed: disjoint,
        /// aligned windows, the placed ones each in a top-level entry of
        /// their own inside the area.
        #[test]
        fn both_layouts_keep_their_promises_for_every_seed(seed: u64) {
            use aarch64::layout as a;
            use x86_64::layout as x;
            let half = 0xffff_0000_0000_0000;
            check_layout(&a::PLACEMENT_RULES, &a::FIXED_LAYOUT, a::FIXED_WINDOWS, half, seed);
            let half = 0xffff_8000_0000_0000;
            check_layout(&x::PLACEMENT_RULES, &x::FIXED_LAYOUT, x::FIXED_WINDOWS, half, seed);
        }
    }

    #[test]
    fn placed_windows_get_just_under_24_and_25_bits_on_both_cpus() {
        for rules in [
            aarch64::layout::PLACEMENT_RULES,
            x86_64::layout::PLACEMENT_RULES,
        ] {
            // The 128 entries of the area, less the one of the stacks and
            // the free-frame map.
            assert_eq!(rules.free_entry_count(), 127);
            // (512 GiB - 256 GiB) / 2 MiB + 1 for the heap and vmap,
            // (512 GiB - 16 GiB) / 2 MiB + 1 for the frame stack.
            assert_eq!(rules.slot_counts(), [131_073, 131_073, 253_953]);
            // log2(127 × 131073) = 23.99 and log2(127 × 253953) = 24.94,
            // rounded down.
            assert_eq!(rules.entropy_bits(), [23, 23, 24]);
        }
    }
}
