//! The AArch64 VMSAv8-64 stage-1 descriptor format, 4 KiB granule, 48-bit VA.
//!
//! Memory types index MAIR_EL1, which the boot code programs as
//! [`MAIR_VALUE`]: attribute 0 is normal write-back RAM, attribute 1 device nGnRE.

use crate::addr::PhysAddr;
use crate::memory::paging::{Attributes, Descriptor, MemoryKind, PageTableFormat};

/// The AArch64 page-table format (a type used only for its trait implementation).
pub struct Aarch64;

/// MAIR_EL1: Attr0 = Normal, inner/outer write-back non-transient RW-allocate
/// (0xff); Attr1 = Device-nGnRE (0x04).
pub const MAIR_VALUE: u64 = 0x04_ff;

const VALID: u64 = 1 << 0;
/// Bit 1 set: table descriptor at levels 0-2, page descriptor at level 3.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_SHIFT: u32 = 2;
const ATTR_INDEX_MASK: u64 = 0b111 << ATTR_INDEX_SHIFT;
const ATTR_NORMAL: u64 = 0;
const ATTR_DEVICE: u64 = 1;
/// AP[1]: EL0 may access.
const AP_USER: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_READ_ONLY: u64 = 1 << 7;
/// SH = inner shareable.
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// Access flag: set so the first access does not fault.
const ACCESS_FLAG: u64 = 1 << 10;
/// Privileged execute-never.
const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

impl PageTableFormat for Aarch64 {
    const LEVELS: usize = 4;

    fn encode_table(table: PhysAddr) -> u64 {
        (table.0 & ADDRESS_MASK) | TABLE_OR_PAGE | VALID
    }

    fn encode_page(frame: PhysAddr, attributes: Attributes) -> u64 {
        let mut entry = (frame.0 & ADDRESS_MASK) | TABLE_OR_PAGE | VALID | ACCESS_FLAG;
        entry |= match attributes.kind {
            MemoryKind::Normal => (ATTR_NORMAL << ATTR_INDEX_SHIFT) | INNER_SHAREABLE,
            MemoryKind::Device => ATTR_DEVICE << ATTR_INDEX_SHIFT,
        };
        if !attributes.writable {
            entry |= AP_READ_ONLY;
        }
        if attributes.user {
            // The kernel never executes user memory.
            entry |= AP_USER | PXN;
            if !attributes.executable {
                entry |= UXN;
            }
        } else {
            entry |= UXN;
            if !attributes.executable {
                entry |= PXN;
            }
        }
        entry
    }

    fn decode(entry: u64, level: usize) -> Descriptor {
        if entry & VALID == 0 {
            return Descriptor::Invalid;
        }
        let address = PhysAddr(entry & ADDRESS_MASK);
        let is_last_level = level == Self::LEVELS - 1;
        match (entry & TABLE_OR_PAGE != 0, is_last_level) {
            (true, false) => Descriptor::Table(address),
            // A level-3 entry with bit 1 clear is reserved: treat as invalid.
            (false, true) => Descriptor::Invalid,
            _ => {
                // EL0 may fetch from a page that only EL1 may read or write
                // unless UXN is set: such a page is user-accessible too.
                let user = entry & AP_USER != 0 || entry & UXN == 0;
                let kind = if (entry & ATTR_INDEX_MASK) >> ATTR_INDEX_SHIFT == ATTR_DEVICE {
                    MemoryKind::Device
                } else {
                    MemoryKind::Normal
                };
                let execute_never = if user { UXN } else { PXN };
                Descriptor::Leaf(
                    address,
                    Attributes {
                        kind,
                        writable: entry & AP_READ_ONLY == 0,
                        executable: entry & execute_never == 0,
                        user,
                    },
                )
            }
        }
    }

    fn publish_tables() {
        #[cfg(all(target_arch = "aarch64", target_os = "none"))]
        // SAFETY: barriers have no memory-safety effect.
        unsafe {
            core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_mappings_are_never_user_executable() {
        let entry = Aarch64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_CODE);
        assert_ne!(entry & UXN, 0);
        assert_eq!(entry & PXN, 0);
        assert_ne!(
            Aarch64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_DATA) & PXN,
            0
        );
    }

    #[test]
    fn a_kernel_page_without_uxn_decodes_as_user_accessible() {
        let code = Aarch64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_CODE);
        let Descriptor::Leaf(_, attributes) = Aarch64::decode(code & !UXN, 3) else {
            panic!("not a page");
        };
        assert!(attributes.user && attributes.executable);
    }

    #[test]
    fn device_memory_uses_mair_index_1() {
        let entry = Aarch64::encode_page(PhysAddr(0x900_0000), Attributes::DEVICE);
        assert_eq!((entry & ATTR_INDEX_MASK) >> ATTR_INDEX_SHIFT, 1);
        assert_eq!((MAIR_VALUE >> 8) & 0xff, 0x04);
    }

    #[test]
    fn tables_and_reserved_entries() {
        let table = Aarch64::encode_table(PhysAddr(0x8_0000));
        assert_eq!(
            Aarch64::decode(table, 0),
            Descriptor::Table(PhysAddr(0x8_0000))
        );
        assert_eq!(
            Aarch64::decode(table & !TABLE_OR_PAGE, 3),
            Descriptor::Invalid
        );
    }
}
