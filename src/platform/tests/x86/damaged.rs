//! Fixtures edited into what firmware must not hand a kernel, each refused with
//! its own error; and edits a real machine could make (an XSDT, x2APICs), read.

use super::*;
use crate::platform::FirmwareStructure;
use crate::platform::acpi::{LOCAL_APIC_CAPACITY, LocalApic, Signature};
use crate::platform::pvh::{MEMORY_MAP_CAPACITY, MemoryMapEntry, MemoryType};
use crate::platform::{COMMAND_LINE_LIMIT, ReservationReason};
use std::vec;

/// The MADT of `pc-128m`, at this address in every test.
const MADT: u64 = 0x7fe_2223;
/// The RSDT of `pc-128m`.
const RSDT: u64 = 0x7fe_22fb;
/// Where an edited MADT is placed, away from every fixture region.
const EDITED_MADT: u64 = 0x8_0000;

fn refuse(memory: &Memory) -> Error {
    match memory.describe() {
        Ok(platform) => panic!("accepted: {platform:?}"),
        Err(error) => error,
    }
}

fn pc() -> Memory {
    Memory::load("pc-128m")
}

/// `pc-128m` with its start info word at `offset` set to `value`.
fn with_start_info_u32(offset: usize, value: u32) -> Memory {
    let mut memory = pc();
    memory
        .region("start-info")
        .write(offset, &value.to_le_bytes());
    memory
}

/// `pc-128m` with memory-map entry `index` replaced.
fn with_memory_map_entry(index: usize, base: u64, size: u64, kind: u32) -> Memory {
    let mut memory = pc();
    let map = memory.region("memory-map");
    map.write(index * 24, &base.to_le_bytes());
    map.write(index * 24 + 8, &size.to_le_bytes());
    map.write(index * 24 + 16, &kind.to_le_bytes());
    memory
}

fn entry(start: u64, size: u64, kind: MemoryType) -> MemoryMapEntry {
    MemoryMapEntry {
        range: range(start, size),
        kind,
    }
}

#[test]
fn wrong_magic() {
    assert_eq!(
        refuse(&with_start_info_u32(0, 0x1bad_b002)),
        Error::BadStartInfoMagic {
            address: PhysAddr(0x21e0),
            found: 0x1bad_b002,
        }
    );
    let memory = pc();
    assert_eq!(
        describe_pvh(&&memory, PhysAddr(0x1000)).unwrap_err(),
        Error::Unreadable {
            structure: FirmwareStructure::StartInfo,
            address: PhysAddr(0x1000),
            size: 8,
        }
    );
}

#[test]
fn version_0_has_no_memory_map() {
    assert_eq!(
        refuse(&with_start_info_u32(4, 0)),
        Error::UnsupportedStartInfoVersion {
            address: PhysAddr(0x21e0),
            version: 0,
        }
    );
}

#[test]
fn truncated_memory_map() {
    let mut memory = pc();
    memory.region("memory-map").bytes.truncate(6 * 24 + 10);
    let truncated = Error::Unreadable {
        structure: FirmwareStructure::MemoryMap,
        address: PhysAddr(0x5a8),
        size: 7 * 24,
    };
    assert_eq!(refuse(&memory), truncated);
    // The same when the start info claims an entry more than there is.
    assert_eq!(
        refuse(&with_start_info_u32(48, 8)),
        Error::Unreadable {
            structure: FirmwareStructure::MemoryMap,
            address: PhysAddr(0x5a8),
            size: 8 * 24,
        }
    );
}

#[test]
fn memory_map_counts() {
    assert_eq!(refuse(&with_start_info_u32(48, 0)), Error::NoMemoryMap);
    assert_eq!(
        refuse(&with_start_info_u32(48, 1000)),
        Error::TooManyMemoryMapEntries {
            entries: 1000,
            capacity: MEMORY_MAP_CAPACITY,
        }
    );
}

#[test]
fn overlapping_memory_map_entries() {
    // RAM from 1 MiB running into the reserved top of low memory.
    assert_eq!(
        refuse(&with_memory_map_entry(3, 0x10_0000, 0x7ef_0000, 1)),
        Error::OverlappingMemoryMapEntries {
            a: entry(0x10_0000, 0x7ef_0000, MemoryType::Ram),
            b: entry(0x7fe_0000, 0x2_0000, MemoryType::Reserved),
        }
    );
    // Two RAM entries sharing a byte, listed out of order.
    assert_eq!(
        refuse(&with_memory_map_entry(6, 0x9_0000, 0x1000, 1)),
        Error::OverlappingMemoryMapEntries {
            a: entry(0, 0x9_fc00, MemoryType::Ram),
            b: entry(0x9_0000, 0x1000, MemoryType::Ram),
        }
    );
}

#[test]
fn memory_map_without_ram_or_past_the_end() {
    let mut memory = pc();
    for index in [0, 3] {
        memory
            .region("memory-map")
            .write(index * 24 + 16, &2u32.to_le_bytes());
    }
    assert_eq!(refuse(&memory), Error::NoRam);
    assert_eq!(
        refuse(&with_memory_map_entry(6, u64::MAX - 0xfff, 0x2000, 2)),
        Error::MemoryMapEntryOverflow {
            entry: entry(u64::MAX - 0xfff, 0x2000, MemoryType::Reserved),
        }
    );
}

#[test]
fn unknown_memory_types_are_reserved_by_number() {
    let platform_memory = with_memory_map_entry(4, 0x7fe_0000, 0x2_0000, 0xf000_0001);
    let platform = describe(&platform_memory);
    assert!(platform.reserved().iter().any(|reservation| {
        reservation.range == range(0x7fe_0000, 0x2_0000)
            && reservation.reason == ReservationReason::Firmware(MemoryType::Other(0xf000_0001))
    }));
}

#[test]
fn bad_command_lines() {
    let mut memory = pc();
    memory.region("command-line").write(4, &[0xff]);
    assert_eq!(
        refuse(&memory),
        Error::CommandLineNotUtf8 {
            address: PhysAddr(0x11c0),
            valid_up_to: 4,
        }
    );
    // No NUL before the end of what is readable.
    let mut memory = pc();
    memory.region("command-line").write(17, b"!");
    assert_eq!(
        refuse(&memory),
        Error::Unreadable {
            structure: FirmwareStructure::CommandLine,
            address: PhysAddr(0x11d2),
            size: 1,
        }
    );
    let mut memory = pc();
    let long = memory.region("command-line");
    long.bytes = vec![b'a'; COMMAND_LINE_LIMIT + 1];
    // Still short of the start info, 0x1020 bytes after the command line.
    long.bytes.push(0);
    assert_eq!(
        refuse(&memory),
        Error::CommandLineTooLong {
            address: PhysAddr(0x11c0),
            limit: COMMAND_LINE_LIMIT,
        }
    );
}

#[test]
fn no_rsdp() {
    let mut memory = pc();
    memory.region("start-info").write(32, &0u64.to_le_bytes());
    assert_eq!(refuse(&memory), Error::NoRsdp);
}

#[test]
fn bad_acpi_checksums() {
    let mut memory = pc();
    memory.region("apic").bytes[60] ^= 0x10;
    assert_eq!(
        refuse(&memory),
        Error::AcpiChecksum {
            structure: FirmwareStructure::AcpiTable(Signature::MADT),
            address: PhysAddr(MADT),
            sum: 0x10,
        }
    );
    // Every table the RSDT lists is checked, not only the MADT.
    let mut memory = pc();
    memory.region("hpet").bytes[40] = memory.region("hpet").bytes[40].wrapping_add(1);
    assert_eq!(
        refuse(&memory),
        Error::AcpiChecksum {
            structure: FirmwareStructure::AcpiTable(Signature(*b"HPET")),
            address: PhysAddr(0x7fe_229b),
            sum: 1,
        }
    );
    let mut memory = pc();
    memory.region("rsdp").bytes[9] ^= 0x01;
    assert_eq!(
        refuse(&memory),
        Error::AcpiChecksum {
            structure: FirmwareStructure::Rsdp,
            address: PhysAddr(0xf_5250),
            sum: 1,
        }
    );
}

#[test]
fn bad_rsdp_and_root() {
    let mut memory = pc();
    memory.region("rsdp").write(0, b"RSD PTX ");
    assert_eq!(
        refuse(&memory),
        Error::BadRsdpSignature {
            address: PhysAddr(0xf_5250),
            found: *b"RSD PTX ",
        }
    );
    // The RSDP pointing at the FADT instead of the RSDT.
    let mut memory = pc();
    let rsdp = memory.region("rsdp");
    rsdp.write(16, &0x7fe_21afu32.to_le_bytes());
    rsdp.fix_checksum(8);
    assert_eq!(
        refuse(&memory),
        Error::UnexpectedAcpiTable {
            address: PhysAddr(0x7fe_21af),
            expected: Signature::RSDT,
            found: Signature(*b"FACP"),
        }
    );
    // An RSDT whose pointers do not fill it.
    let mut memory = pc();
    let rsdt = memory.region("rsdt");
    rsdt.write(4, &0x33u32.to_le_bytes());
    rsdt.bytes.truncate(0x33);
    rsdt.fix_checksum(9);
    assert_eq!(
        refuse(&memory),
        Error::AcpiLength {
            structure: FirmwareStructure::AcpiTable(Signature::RSDT),
            address: PhysAddr(RSDT),
            length: 0x33,
        }
    );
}

#[test]
fn truncated_tables() {
    let mut memory = pc();
    memory.region("apic").bytes.truncate(100);
    assert_eq!(
        refuse(&memory),
        Error::Unreadable {
            structure: FirmwareStructure::AcpiTable(Signature::MADT),
            address: PhysAddr(MADT),
            size: 120,
        }
    );
    // A length shorter than the header.
    let mut memory = pc();
    let madt = memory.region("apic");
    madt.write(4, &20u32.to_le_bytes());
    assert_eq!(
        refuse(&memory),
        Error::AcpiLength {
            structure: FirmwareStructure::AcpiTable(Signature::MADT),
            address: PhysAddr(MADT),
            length: 20,
        }
    );
}

/// `pc-128m` with its MADT edited by `edit`, its length and checksum made
/// right again and moved to [`EDITED_MADT`] (so it may grow).
fn with_madt(edit: impl FnOnce(&mut Vec<u8>)) -> Memory {
    let mut memory = pc();
    let mut madt = memory.region("apic").bytes.clone();
    edit(&mut madt);
    let length = madt.len() as u32;
    memory.add(EDITED_MADT, "apic-edited", madt);
    let edited = memory.region("apic-edited");
    edited.write(4, &length.to_le_bytes());
    edited.fix_checksum(9);
    let rsdt = memory.region("rsdt");
    // The RSDT lists FACP, APIC, HPET, WAET.
    rsdt.write(36 + 4, &(EDITED_MADT as u32).to_le_bytes());
    rsdt.fix_checksum(9);
    memory
}

#[test]
fn bad_madt_entries() {
    let bad = |offset, kind, length| Error::BadMadtEntry {
        table: PhysAddr(EDITED_MADT),
        offset,
        kind,
        length,
    };
    // The first entry (a type 0 local APIC at offset 44) of length 0 or 1.
    for length in [0, 1] {
        assert_eq!(
            refuse(&with_madt(|madt| madt[45] = length)),
            bad(44, 0, Some(length))
        );
    }
    // Too short for a local APIC.
    assert_eq!(refuse(&with_madt(|madt| madt[45] = 6)), bad(44, 0, Some(6)));
    // The last entry (type 4 at offset 114) runs past the table.
    assert_eq!(
        refuse(&with_madt(|madt| madt[115] = 7)),
        bad(114, 4, Some(7))
    );
    // The table ends before an entry's length byte.
    assert_eq!(refuse(&with_madt(|madt| madt.push(0))), bad(120, 0, None));
}

#[test]
fn madt_lists_without_the_heap() {
    let memory = with_madt(|madt| {
        // A 64-bit local APIC address override, then x2APICs beyond the capacity.
        madt.extend([5, 12, 0, 0]);
        madt.extend(0x1_fee0_0000u64.to_le_bytes());
        for id in 1..=LOCAL_APIC_CAPACITY as u32 + 5 {
            madt.extend([9, 16, 0, 0]);
            madt.extend((id + 1000).to_le_bytes());
            madt.extend(if id == 2 { 2u32 } else { 1 }.to_le_bytes());
            madt.extend(id.to_le_bytes());
        }
    });
    let platform = describe(&memory);
    let apic = &platform.apic;
    assert_eq!(apic.local_apic_address, PhysAddr(0x1_fee0_0000));
    assert_eq!(apic.local_apics.count(), LOCAL_APIC_CAPACITY + 6);
    assert_eq!(apic.local_apics.kept().len(), LOCAL_APIC_CAPACITY);
    assert_eq!(apic.cpu_count(), LOCAL_APIC_CAPACITY + 6);
    assert_eq!(
        apic.local_apics.kept()[2],
        LocalApic {
            processor_uid: 2,
            apic_id: 1002,
            enabled: false,
            online_capable: true,
            x2apic: true,
        }
    );
}

#[test]
fn no_madt() {
    let memory = with_madt(|madt| madt[..4].copy_from_slice(b"APIX"));
    assert_eq!(refuse(&memory), Error::NoMadt);
}

/// `pc-128m` with an ACPI 2.0 RSDP at `0xe_0000` whose XSDT (at `0x9_0000`)
/// lists the same tables as the RSDT, with 64-bit pointers.
fn with_xsdt() -> Memory {
    let mut memory = pc();
    let rsdt = memory.region("rsdt").bytes.clone();
    let mut xsdt = rsdt[..36].to_vec();
    xsdt[..4].copy_from_slice(b"XSDT");
    for pointer in rsdt[36..].chunks_exact(4) {
        let address = u32::from_le_bytes(pointer.try_into().unwrap());
        xsdt.extend(u64::from(address).to_le_bytes());
    }
    let length = xsdt.len() as u32;
    memory.add(0x9_0000, "xsdt", xsdt);
    let table = memory.region("xsdt");
    table.write(4, &length.to_le_bytes());
    table.fix_checksum(9);
    let mut rsdp = memory.region("rsdp").bytes.clone();
    rsdp[15] = 2;
    rsdp.extend(36u32.to_le_bytes());
    rsdp.extend(0x9_0000u64.to_le_bytes());
    rsdp.extend([0; 4]);
    // The first checksum covers the ACPI 1.0 part, the extended one all 36 bytes.
    balance(&mut rsdp[..20], 8);
    balance(&mut rsdp, 32);
    memory.add(0xe_0000, "rsdp-2", rsdp);
    memory
        .region("start-info")
        .write(32, &0xe_0000u64.to_le_bytes());
    memory
}

#[test]
fn xsdt_with_64_bit_pointers() {
    let memory = with_xsdt();
    let platform = describe(&memory);
    assert_eq!(platform.rsdp, PhysAddr(0xe_0000));
    assert_eq!(platform.apic, describe(&pc()).apic);
    // The extended checksum covers all 36 bytes.
    let mut memory = with_xsdt();
    memory.region("rsdp-2").bytes[30] = 1;
    assert_eq!(
        refuse(&memory),
        Error::AcpiChecksum {
            structure: FirmwareStructure::ExtendedRsdp,
            address: PhysAddr(0xe_0000),
            sum: 1,
        }
    );
}

#[test]
fn errors_name_what_to_fix() {
    let memory = with_memory_map_entry(3, 0x10_0000, 0x7ef_0000, 1);
    assert_eq!(
        std::format!("{}", refuse(&memory)),
        "memory-map entries [0x10_0000, 0x7ff_0000) 126.9 MiB (RAM) and \
         [0x7fe_0000, 0x800_0000) 128 KiB (reserved) overlap"
    );
    let mut memory = pc();
    memory.region("apic").bytes[60] ^= 0x10;
    assert_eq!(
        std::format!("{}", refuse(&memory)),
        "ACPI table APIC at 0x7fe_2223: bytes sum to 0x10, not 0 (bad checksum)"
    );
}
