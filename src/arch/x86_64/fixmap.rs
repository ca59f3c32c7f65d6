//! The fixmap: one page table in the boot tables (`entry.s`,
//! `boot_pt_fixmap`) whose slots map frames at fixed virtual addresses, in
//! the last 2 MiB of the image's page directory ([`FIXMAP`]).
//!
//! The kernel has no linear map of RAM, so page tables are reached through
//! [`TABLE_SLOT`] (`crate::arch::fixmap_access`), as on AArch64, for the same
//! reasons: a recursive PML4 slot would spend a 512 GiB entry, alias every
//! table as data and need its own TLB maintenance when a table is freed.
//! x86 needs no early-console slot (COM1 is port I/O). The start info and
//! ACPI tables are read through the boot identity map of the first 4 GiB
//! (`entry.s`), except physical pages 0 and 1, which the entry shows at slots
//! 1 and 2 while it reads the platform (page 0 is not identity-mapped, and
//! QEMU puts the memory map there); slots `1..TEST_SLOT` are free for such
//! early mappings.

use x86_64::instructions::tlb;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::arch::x86_64::layout::FIXMAP;
use crate::arch::x86_64::paging::X86_64;
use crate::memory::paging::{Attributes, PageTableFormat, Table};

/// Slot used to reach page tables.
pub const TABLE_SLOT: usize = 0;
/// Slots in the fixmap's page table.
pub const SLOTS: usize = 512;
/// The slot the self-tests map and unmap (`self_tests`), the last.
pub const TEST_SLOT: usize = SLOTS - 1;

unsafe extern "C" {
    /// The fixmap's page table, defined in `entry.s` and linked at [`FIXMAP`].
    static mut boot_pt_fixmap: Table;
}

/// The virtual address of `slot`.
pub fn slot_address(slot: usize) -> VirtAddr {
    VirtAddr(FIXMAP.start.0 + (slot * PAGE_SIZE) as u64)
}

/// Maps `frame` at `slot` (replacing what was there) and flushes the old
/// translation on this CPU.
///
/// # Panics
///
/// When `slot` is not below [`SLOTS`].
///
/// # Safety
///
/// The caller owns `slot`: nothing may still use the previous mapping.
pub unsafe fn map(slot: usize, frame: PhysAddr, attributes: Attributes) {
    // SAFETY: forwarded from the caller.
    unsafe { set(slot, X86_64::encode_page(frame, attributes)) }
}

/// Unmaps `slot`.
///
/// # Panics
///
/// When `slot` is not below [`SLOTS`].
///
/// # Safety
///
/// The caller owns `slot`: nothing may still use its mapping.
pub unsafe fn unmap(slot: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { set(slot, 0) }
}

/// Writes the entry of `slot` and drops its old translation.
///
/// # Safety
///
/// As for [`map`].
unsafe fn set(slot: usize, entry: u64) {
    assert!(slot < SLOTS, "fixmap slot {slot} out of {SLOTS}");
    // x86 needs no break-before-make: the new entry is written over the old,
    // then `invlpg` drops the old translation. Local only: one CPU runs the
    // kernel; a second one would need slots of its own.
    // SAFETY: the table is in the image's bss and `slot < 512`; the caller
    // owns the slot, so nothing uses the old translation any more.
    unsafe { (&raw mut boot_pt_fixmap[slot]).write_volatile(entry) };
    tlb::flush(x86_64::VirtAddr::new_truncate(slot_address(slot).0));
}
