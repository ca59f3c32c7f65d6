//! Self-tests only x86_64 has: the exception table's probes, whose faults
//! come as page faults or, for a non-canonical address, as general
//! protection faults, and the fixmap's `invlpg` on map and unmap. The
//! kernel's runner adds them to its shared suite.

use alloc::string::String;

use super::fault::{GENERAL_PROTECTION, PAGE_FAULT};
use super::{exceptions, fixmap, layout};
use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::memory::paging::Attributes;

/// One check: `Err` says what went wrong.
pub type Check = fn() -> Result<(), String>;

/// The checks, each with the line the runner prints.
pub const TESTS: &[(&str, Check)] = &[
    (
        "probes: expected #PF and #GP resume through the exception table",
        probes_resume_through_the_exception_table,
    ),
    (
        "fixmap: a slot maps a frame, then faults once unmapped",
        fixmap_slot_maps_and_unmaps,
    ),
];

macro_rules! check {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($message)*));
        }
    };
}

/// A word in rodata, which is mapped read-only.
static READ_ONLY_WORD: u64 = 0x5eed_0000_0000_0001;

fn probes_resume_through_the_exception_table() -> Result<(), String> {
    let word = READ_ONLY_WORD;
    let mapped = VirtAddr::from_ptr(&raw const READ_ONLY_WORD);
    let read = exceptions::read(mapped);
    check!(read == Ok(word), "read of a mapped word: {read:?}");

    // The boot stack's guard page: not present, for a read and for a write.
    let guard = VirtAddr(exceptions::boot_stack_guard().0 + 0x808);
    let read = exceptions::read(guard).err();
    let fault = read.and_then(|fault| Some((fault.address?, fault.page_fault()?)));
    check!(
        matches!(fault, Some((address, error)) if address == guard && !error.present && !error.write),
        "read of the guard page: {read:?}"
    );
    // SAFETY: the guard page is unmapped, so the write faults and stores
    // nothing; had it been mapped, the test fails and the word was nobody's.
    let written = unsafe { exceptions::write(guard, 0) }.err();
    check!(
        written
            .and_then(|fault| fault.page_fault())
            .is_some_and(|error| error.write),
        "write to the guard page: {written:?}"
    );

    // Rodata: present but read-only; the word written back is the one there,
    // so a write that wrongly succeeded changes nothing.
    // SAFETY: as above; a successful write would store the same value.
    let written = unsafe { exceptions::write(mapped, word) }.err();
    check!(
        written.is_some_and(|fault| fault.vector == PAGE_FAULT
            && fault
                .page_fault()
                .is_some_and(|error| error.present && error.write)),
        "write to rodata: {written:?}"
    );

    // A non-canonical address raises #GP, without an address.
    let read = exceptions::read(VirtAddr(1 << 63)).err();
    check!(
        read.is_some_and(|fault| fault.vector == GENERAL_PROTECTION && fault.address.is_none()),
        "read of a non-canonical address: {read:?}"
    );
    Ok(())
}

fn fixmap_slot_maps_and_unmaps() -> Result<(), String> {
    let word = VirtAddr::from_ptr(&raw const READ_ONLY_WORD);
    // linker.ld: the image is linked at its physical address plus the start
    // of the image window.
    let physical = PhysAddr(word.0 - layout::IMAGE.start.0);
    let page = PAGE_SIZE as u64;
    let offset = physical.0 % page;
    let slot = fixmap::slot_address(fixmap::TEST_SLOT);
    let through_slot = VirtAddr(slot.0 + offset);
    // SAFETY: the test slot is this test's; the frame is the image's rodata,
    // mapped read-only, so the second mapping changes nothing.
    unsafe {
        fixmap::map(
            fixmap::TEST_SLOT,
            physical.align_down(page),
            Attributes::KERNEL_RODATA,
        )
    };
    let read = exceptions::read(through_slot);
    // SAFETY: as above; nothing holds the slot's mapping.
    unsafe { fixmap::unmap(fixmap::TEST_SLOT) };
    check!(
        read == Ok(READ_ONLY_WORD),
        "read through the slot: {read:?}"
    );
    let after = exceptions::read(through_slot);
    check!(after.is_err(), "the unmapped slot still reads {after:?}");
    Ok(())
}
