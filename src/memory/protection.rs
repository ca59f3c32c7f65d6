//! The kernel's protection rules, checked over a page-table tree as it is:
//! no page is writable and executable (W^X), no kernel mapping is
//! user-accessible, no device memory is executable, and the lower half (user
//! space to be) maps nothing.
//!
//! Pure code over the mapper's walk: the kernel's self-test runs it over the
//! live tables of each CPU, and the host tests run it over simulated tables
//! built to break each rule, so that a check that could never fail is caught.

use core::fmt;

use crate::addr::VirtAddr;
use crate::memory::paging::{Attributes, Mapper, MemoryKind, PageTableFormat, TableAccess, Tlb};

/// A rule a mapping breaks, with the page (or root entry) that breaks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Violation {
    /// The page can be written and executed (W^X is broken).
    WritableAndExecutable(VirtAddr),
    /// A kernel-half page is reachable from user mode.
    UserAccessible(VirtAddr),
    /// Device registers are mapped executable.
    ExecutableDevice(VirtAddr),
    /// An entry of the lower half's root table is in use.
    LowerHalfMapped {
        /// Its index in the root table.
        index: usize,
        /// The entry.
        entry: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WritableAndExecutable(page) => {
                write!(f, "the page at {page} is writable and executable")
            }
            Self::UserAccessible(page) => {
                write!(f, "the kernel page at {page} is user-accessible")
            }
            Self::ExecutableDevice(page) => {
                write!(f, "the device page at {page} is executable")
            }
            Self::LowerHalfMapped { index, entry } => write!(
                f,
                "lower-half root entry {index} is in use ({entry:#x}): the lower half must be empty"
            ),
        }
    }
}

/// The rule `attributes`, mapped at `page` of the kernel half, breaks first.
pub fn check_kernel_page(page: VirtAddr, attributes: Attributes) -> Result<(), Violation> {
    if attributes.writable && attributes.executable {
        return Err(Violation::WritableAndExecutable(page));
    }
    if attributes.user {
        return Err(Violation::UserAccessible(page));
    }
    if attributes.kind == MemoryKind::Device && attributes.executable {
        return Err(Violation::ExecutableDevice(page));
    }
    Ok(())
}

/// What [`audit_kernel_tree`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Audit {
    /// Leaves walked (pages, or blocks counted once).
    pub leaves: u64,
    /// Leaves that are executable.
    pub executable: u64,
    /// Leaves that break a rule.
    pub violations: u64,
    /// The first of them, in address order.
    pub first: Option<Violation>,
}

/// Walks every leaf of the kernel-half tree `mapper` edits (`upper_half`:
/// its addresses are sign-extended, as TTBR1's and x86's kernel half are)
/// and checks each against [`check_kernel_page`].
pub fn audit_kernel_tree<F: PageTableFormat, A: TableAccess, T: Tlb>(
    mapper: &mut Mapper<F, A, T>,
    upper_half: bool,
) -> Audit {
    let mut audit = Audit::default();
    mapper.for_each_leaf(upper_half, &mut |page, _, attributes, _| {
        audit.leaves += 1;
        audit.executable += u64::from(attributes.executable);
        if let Err(violation) = check_kernel_page(page, attributes) {
            audit.violations += 1;
            audit.first = audit.first.or(Some(violation));
        }
    });
    audit
}

/// Checks that the lower half's root-table `entries` (indexed from
/// `first_index`, its first entry) are all empty.
pub fn check_lower_half(entries: &[u64], first_index: usize) -> Result<(), Violation> {
    match entries.iter().position(|&entry| entry != 0) {
        Some(offset) => Err(Violation::LowerHalfMapped {
            index: first_index + offset,
            entry: entries[offset],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::paging::Aarch64;
    use crate::arch::x86_64::paging::X86_64;
    use crate::memory::sim::SimMachineOf;
    use std::string::ToString;

    /// A kernel-half page in a top-level entry of its own (the simulated
    /// frame stack's window keeps entries 256 and 257 to itself).
    const HEAP_PAGE: VirtAddr = VirtAddr(0xffff_9000_0001_0000);

    fn with_page<F: PageTableFormat>(attributes: Attributes) -> Audit {
        let mut machine = SimMachineOf::<F>::new(64, 0);
        let space = &mut machine.space;
        let frame = space.allocate_frame().expect("a frame");
        space.map(HEAP_PAGE, frame, attributes).expect("mapped");
        audit_kernel_tree(space.mapper(), true)
    }

    /// Each rule holds on a tree that keeps it and fails, naming the page, on
    /// one built to break it.
    fn each_rule_can_fail<F: PageTableFormat>() {
        let clean = with_page::<F>(Attributes::KERNEL_DATA);
        assert_eq!(clean.first, None);
        assert!(clean.leaves >= 1, "{clean:?}");
        let code = with_page::<F>(Attributes::KERNEL_CODE);
        assert_eq!((code.first, code.executable), (None, 1));
        let broken = [
            (
                Attributes {
                    executable: true,
                    ..Attributes::KERNEL_DATA
                },
                Violation::WritableAndExecutable(HEAP_PAGE),
            ),
            (
                Attributes {
                    user: true,
                    ..Attributes::KERNEL_RODATA
                },
                Violation::UserAccessible(HEAP_PAGE),
            ),
            (
                Attributes {
                    executable: true,
                    writable: false,
                    ..Attributes::DEVICE
                },
                Violation::ExecutableDevice(HEAP_PAGE),
            ),
        ];
        for (attributes, violation) in broken {
            let audit = with_page::<F>(attributes);
            assert_eq!(audit.first, Some(violation), "{attributes:?}");
            assert_eq!(audit.violations, 1);
        }
    }

    on_both_formats!(each_rule_can_fail);

    /// The lower half of a simulated root (entries 0..256, as on x86_64)
    /// passes while empty and names the entry a lower-half page brought in.
    #[test]
    fn a_lower_half_entry_in_use_is_named() {
        let mut machine = SimMachineOf::<X86_64>::new(64, 0);
        let space = &mut machine.space;
        let root = space.mapper().root();
        let lower_half = |space: &mut crate::memory::space::AddressSpace<_, _, _>| {
            let table = space.mapper().access_table(root);
            check_lower_half(&table[..256], 0)
        };
        assert_eq!(lower_half(space), Ok(()));
        let frame = space.allocate_frame().expect("a frame");
        let user_space = VirtAddr(0x80_0000_0000 * 3 + 0x1000);
        space
            .map(user_space, frame, Attributes::KERNEL_DATA)
            .expect("mapped");
        let Err(violation) = lower_half(space) else {
            panic!("a lower-half mapping went unnoticed");
        };
        assert!(
            matches!(violation, Violation::LowerHalfMapped { index: 3, .. }),
            "{violation:?}"
        );
        assert!(
            violation
                .to_string()
                .starts_with("lower-half root entry 3 is in use (0x"),
            "{violation}"
        );
    }
}
