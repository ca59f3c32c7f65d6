//! The fixmap: one level-3 table in the image's bss whose slots map frames at
//! fixed virtual addresses.
//!
//! The kernel has no linear map of RAM, so page tables are reached through
//! slot 0 (see `crate::arch::fixmap_access`). This costs one local TLB invalidation each time
//! the mapper moves to another table, and nothing else: a recursive slot would
//! avoid that, but it spends a whole 512 GiB top-level entry, aliases every
//! table as data, and would need its own TLB maintenance whenever a table is
//! freed. Slot 1 holds the early console and slots 2.. the device tree blob
//! while the memory system is not up yet.

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::arch::aarch64::layout::FIXMAP;
use crate::arch::aarch64::paging::Aarch64;
use crate::memory::paging::{Attributes, PageTableFormat, Table};

/// Slot used to reach page tables.
pub const TABLE_SLOT: usize = 0;
/// Slot of the early console's registers.
pub const CONSOLE_SLOT: usize = 1;
/// First slot of the device tree blob.
pub const DTB_FIRST_SLOT: usize = 2;
/// Slots available to the device tree blob.
pub const DTB_SLOTS: usize = 512 - DTB_FIRST_SLOT;

unsafe extern "C" {
    /// The fixmap's level-3 table, defined in `boot.s` and linked into the
    /// kernel's TTBR1 tables at [`FIXMAP`].
    static mut boot_l3_fixmap: Table;
}

/// The virtual address of `slot`.
pub fn slot_address(slot: usize) -> VirtAddr {
    VirtAddr(FIXMAP.start.0 + (slot * PAGE_SIZE) as u64)
}

/// Maps `frame` at `slot` (replacing what was there) and flushes the old
/// translation on this core.
///
/// # Safety
///
/// The caller owns `slot`: nothing may still use the previous mapping.
pub unsafe fn map(slot: usize, frame: PhysAddr, attributes: Attributes) {
    // SAFETY: forwarded from the caller.
    unsafe { set(slot, Aarch64::encode_page(frame, attributes)) }
}

/// Unmaps `slot`.
///
/// # Safety
///
/// The caller owns `slot`: nothing may still use its mapping.
pub unsafe fn unmap(slot: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { set(slot, 0) }
}

/// Writes the level-3 entry of `slot` and drops its old translation.
///
/// # Safety
///
/// As for [`map`].
unsafe fn set(slot: usize, entry: u64) {
    let page = (slot_address(slot).0 >> 12) & 0xfff_ffff_ffff;
    // Break before make: a valid entry that changes its output address must be
    // invalidated and flushed before the new one is written.
    // Local, leaf-only invalidation: only the boot core runs kernel code (the
    // others stay parked), and broadcasting every table switch to all cores
    // costs milliseconds each under multi-threaded emulation. Secondary cores
    // will need their own slots before they may use the fixmap.
    // SAFETY: the table is mapped in the image (bss) and `slot < 512`; the
    // caller owns the slot, so nothing uses the old translation any more.
    unsafe {
        let slot_entry = &raw mut boot_l3_fixmap[slot];
        slot_entry.write_volatile(0);
        core::arch::asm!("dsb nshst", "tlbi vale1, {page}", "dsb nsh", page = in(reg) page,
            options(nostack, preserves_flags));
        if entry != 0 {
            slot_entry.write_volatile(entry);
            core::arch::asm!("dsb nshst", "isb", options(nostack, preserves_flags));
        }
    }
}
