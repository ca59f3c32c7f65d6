//! The x86_64 4-level page-table format (4 KiB pages, 48-bit virtual
//! addresses), as the Intel SDM vol. 3A §4.5 describes it.
//!
//! Memory types use the PAT as the firmware leaves it after reset (entries
//! 0-3: write-back, write-through, uncached-minus, uncached), so normal memory
//! is PAT index 0 (all three selector bits clear) and device registers index 3
//! (PCD and PWT set): strong uncached. Tables are linked writable and
//! user-accessible so that the leaf alone decides the rights (the CPU ANDs them
//! along the walk); kernel leaves never set US.

use crate::addr::PhysAddr;
use crate::memory::paging::{Attributes, Descriptor, MemoryKind, PageTableFormat};

/// The x86_64 page-table format (a type used only for its trait implementation).
pub struct X86_64;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
/// Page-level write-through: PAT selector bit 0.
const WRITE_THROUGH: u64 = 1 << 3;
/// Page-level cache disable: PAT selector bit 1.
const CACHE_DISABLE: u64 = 1 << 4;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// In a level-1 or level-2 entry: maps a 1 GiB or 2 MiB page.
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
/// Physical address bits 51:12.
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

impl PageTableFormat for X86_64 {
    const LEVELS: usize = 4;

    fn encode_table(table: PhysAddr) -> u64 {
        (table.0 & ADDRESS_MASK) | PRESENT | WRITABLE | USER
    }

    fn encode_page(frame: PhysAddr, attributes: Attributes) -> u64 {
        // Accessed and dirty preset: the CPU need not write them back.
        let mut entry = (frame.0 & ADDRESS_MASK) | PRESENT | ACCESSED;
        if attributes.writable {
            entry |= WRITABLE | DIRTY;
        }
        if attributes.user {
            entry |= USER;
        }
        if !attributes.executable {
            entry |= NO_EXECUTE;
        }
        if attributes.kind == MemoryKind::Device {
            entry |= CACHE_DISABLE | WRITE_THROUGH;
        }
        entry
    }

    fn decode(entry: u64, level: usize) -> Descriptor {
        if entry & PRESENT == 0 {
            return Descriptor::Invalid;
        }
        let address = PhysAddr(entry & ADDRESS_MASK);
        let is_leaf = level == Self::LEVELS - 1 || (level > 0 && entry & HUGE != 0);
        if !is_leaf {
            // Bit 7 is reserved in a level-0 entry; the walker would fault.
            return if entry & HUGE != 0 {
                Descriptor::Invalid
            } else {
                Descriptor::Table(address)
            };
        }
        let uncached = entry & (CACHE_DISABLE | WRITE_THROUGH) == CACHE_DISABLE | WRITE_THROUGH;
        Descriptor::Leaf(
            address,
            Attributes {
                kind: if uncached {
                    MemoryKind::Device
                } else {
                    MemoryKind::Normal
                },
                writable: entry & WRITABLE != 0,
                executable: entry & NO_EXECUTE == 0,
                user: entry & USER != 0,
            },
        )
    }

    fn publish_tables() {
        // The walker sees stores in program order (x86 keeps stores ordered
        // and page walks coherent with them); only the compiler must not move
        // the table store after the store that links it.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_pages_are_supervisor_only_and_data_never_executes() {
        let data = X86_64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_DATA);
        assert_eq!(data & USER, 0);
        assert_ne!(data & NO_EXECUTE, 0);
        let code = X86_64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_CODE);
        assert_eq!(code & (NO_EXECUTE | WRITABLE), 0);
    }

    #[test]
    fn device_memory_is_uncached() {
        let entry = X86_64::encode_page(PhysAddr(0xfee0_0000), Attributes::DEVICE);
        assert_eq!(
            entry & (CACHE_DISABLE | WRITE_THROUGH),
            CACHE_DISABLE | WRITE_THROUGH
        );
        let normal = X86_64::encode_page(PhysAddr(0x1000), Attributes::KERNEL_DATA);
        assert_eq!(normal & (CACHE_DISABLE | WRITE_THROUGH), 0);
    }

    #[test]
    fn tables_and_huge_pages() {
        let table = X86_64::encode_table(PhysAddr(0x8_0000));
        assert_eq!(
            X86_64::decode(table, 0),
            Descriptor::Table(PhysAddr(0x8_0000))
        );
        assert_eq!(X86_64::decode(table & !PRESENT, 2), Descriptor::Invalid);
        // A 2 MiB page at level 2 is a leaf; bit 7 at level 0 is reserved.
        let huge = 0x20_0000 | PRESENT | WRITABLE | HUGE;
        assert!(matches!(
            X86_64::decode(huge, 2),
            Descriptor::Leaf(PhysAddr(0x20_0000), _)
        ));
        assert_eq!(X86_64::decode(huge, 0), Descriptor::Invalid);
    }
}
