//! Page-table access without a linear map, for both CPUs: each table is
//! reached through the table slot of the CPU's fixmap (`current::fixmap`),
//! remapped only when the mapper moves to another table (the policy is
//! [`SlotAccess`]'s, shared with the host tests that count the switches).

use crate::addr::PhysAddr;
use crate::arch::current::fixmap::{TABLE_SLOT, map, slot_address};
use crate::memory::paging::{Attributes, SlotAccess, Table, TableSlot};

/// The fixmap's table slot.
pub struct FixmapSlot {
    _owner: (),
}

// SAFETY: `show` maps `phys` at the table slot (dropping the old translation),
// and `reach` returns the slot's address, where that frame stays until the
// next `show`: this value owns the slot.
unsafe impl TableSlot for FixmapSlot {
    fn show(&mut self, phys: PhysAddr) {
        // SAFETY: this value owns the table slot; the previous table pointer is
        // dead by the `TableAccess` contract (valid until the next call for
        // another table).
        unsafe { map(TABLE_SLOT, phys, Attributes::KERNEL_DATA) };
    }

    fn reach(&mut self, _phys: PhysAddr) -> *mut Table {
        slot_address(TABLE_SLOT).as_mut_ptr()
    }
}

/// Reaches page tables through the fixmap's table slot.
pub type FixmapAccess = SlotAccess<FixmapSlot>;

impl SlotAccess<FixmapSlot> {
    /// The table access of the kernel's one address space.
    ///
    /// # Safety
    ///
    /// At most one `FixmapAccess` may exist: it owns the table slot.
    pub unsafe fn new() -> Self {
        Self::over(FixmapSlot { _owner: () })
    }
}
