//! TLB maintenance for the kernel's translations: broadcast to every CPU in
//! the inner-shareable domain, so it stays right when secondary cores run.

use crate::addr::VirtAddr;
use crate::memory::paging::Tlb;

/// The TLBs of every CPU, reached by inner-shareable broadcast (`tlbi …is`).
#[derive(Default)]
pub struct BroadcastTlb;

impl BroadcastTlb {
    /// The kernel's TLB object (one is enough: broadcasts need no state).
    pub const fn new() -> Self {
        Self
    }
}

impl Tlb for BroadcastTlb {
    fn flush_pages(&mut self, pages: &[VirtAddr]) {
        // SAFETY: TLB invalidation only drops cached translations; the tables
        // are already updated, so later walks see the new state.
        unsafe {
            core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
            for page in pages {
                // VAAE1IS: by VA, all ASIDs, all levels (walk caches too), inner shareable.
                core::arch::asm!("tlbi vaae1is, {}", in(reg) (page.0 >> 12) & 0xfff_ffff_ffff,
                    options(nostack, preserves_flags));
            }
            core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags));
        }
    }

    fn flush_all(&mut self) {
        // SAFETY: as in `flush_pages`.
        unsafe {
            core::arch::asm!(
                "dsb ishst",
                "tlbi vmalle1is",
                "dsb ish",
                "isb",
                options(nostack, preserves_flags)
            );
        }
    }
}
