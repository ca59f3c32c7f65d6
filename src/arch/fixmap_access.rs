//! Page-table access without a linear map, for both CPUs: each table is
//! reached through the table slot of the CPU's fixmap (`current::fixmap`),
//! remapped only when the mapper moves to another table.

use crate::addr::PhysAddr;
use crate::arch::current::fixmap::{TABLE_SLOT, map, slot_address};
use crate::memory::paging::{Attributes, Table, TableAccess};

/// Reaches page tables through the fixmap's table slot.
pub struct FixmapAccess {
    current: Option<PhysAddr>,
}

impl FixmapAccess {
    /// The table access of the kernel's one address space.
    ///
    /// # Safety
    ///
    /// At most one `FixmapAccess` may exist: it owns the table slot.
    pub unsafe fn new() -> Self {
        Self { current: None }
    }
}

// SAFETY: `table` maps `phys` at the table slot before returning its address, and
// the slot stays unchanged until the next call (this value owns it).
unsafe impl TableAccess for FixmapAccess {
    fn table(&mut self, phys: PhysAddr) -> *mut Table {
        if self.current != Some(phys) {
            // SAFETY: this value owns the table slot; the previous table pointer
            // is dead by the `TableAccess` contract.
            unsafe { map(TABLE_SLOT, phys, Attributes::KERNEL_DATA) };
            self.current = Some(phys);
        }
        slot_address(TABLE_SLOT).as_mut_ptr()
    }
}
