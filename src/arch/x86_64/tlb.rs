//! TLB maintenance for the kernel's translations, on this CPU only: `invlpg`
//! and CR3 reloads do not reach other CPUs (that takes IPIs, a shootdown),
//! which is right while the kernel runs on one CPU; the others never leave
//! the firmware.

use x86_64::instructions::tlb;

use crate::addr::VirtAddr;
use crate::memory::paging::Tlb;

/// The TLB of the CPU that runs the kernel. The kernel sets no global pages
/// (CR4.PGE stays clear), so reloading CR3 drops every translation.
#[derive(Default)]
pub struct LocalTlb;

impl LocalTlb {
    /// The kernel's TLB object (one is enough: it holds no state).
    pub const fn new() -> Self {
        Self
    }
}

impl Tlb for LocalTlb {
    fn flush_pages(&mut self, pages: &[VirtAddr]) {
        for page in pages {
            // `invlpg` also drops the paging-structure caches for the page,
            // so a freed table is no longer walked through.
            tlb::flush(x86_64::VirtAddr::new_truncate(page.0));
        }
    }

    fn flush_all(&mut self) {
        tlb::flush_all();
    }
}
