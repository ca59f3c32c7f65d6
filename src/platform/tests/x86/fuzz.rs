//! Robustness: no bytes, however damaged, may panic the PVH or ACPI readers.

use super::*;
use proptest::prelude::*;

const MACHINES: [&str; 6] = [
    "pc-128m",
    "pc-4g",
    "q35-128m",
    "q35-4g",
    "q35-128m-smp2",
    "pc-128m-initrd",
];

/// Runs everything a caller can reach on whatever `describe_pvh` returns.
fn exercise(memory: &Memory) {
    match memory.describe() {
        Ok(platform) => {
            assert!(
                platform
                    .usable()
                    .all(|range| range.start.is_page_aligned() && range.size.is_multiple_of(4096))
            );
            assert!(platform.apic.local_apics.kept().len() <= platform.apic.local_apics.count());
            let _ = std::format!("{platform:?}");
        }
        Err(error) => {
            let _ = std::format!("{error} {error:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES still wins, for a longer run by hand.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(1024),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut memory = Memory { regions: Vec::new() };
        memory.add(0x1000, "start-info", bytes);
        exercise(&memory);
    }

    #[test]
    fn random_bytes_behind_a_valid_start_info_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        entries in 0u32..48,
        rsdp_offset in 0u64..1024,
        modules in 0u32..3,
    ) {
        // Every pointer leads into the random bytes that follow the header.
        let mut info = Vec::new();
        info.extend(0x336e_c578u32.to_le_bytes());
        info.extend(1u32.to_le_bytes());
        info.extend(0u32.to_le_bytes());
        info.extend(modules.to_le_bytes());
        info.extend(0x1040u64.to_le_bytes());
        info.extend(0x1100u64.to_le_bytes());
        info.extend((0x1038 + rsdp_offset).to_le_bytes());
        info.extend(0x1038u64.to_le_bytes());
        info.extend(entries.to_le_bytes());
        info.extend(0u32.to_le_bytes());
        info.extend(body);
        let mut memory = Memory { regions: Vec::new() };
        memory.add(0x1000, "start-info", info);
        exercise(&memory);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..MACHINES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of((any::<usize>(), any::<usize>())),
    ) {
        let mut memory = Memory::load(MACHINES[which]);
        let count = memory.regions.len();
        for (region, offset, value) in edits {
            let bytes = &mut memory.regions[region % count].bytes;
            if !bytes.is_empty() {
                let len = bytes.len();
                bytes[offset % len] = value;
            }
        }
        if let Some((region, len)) = cut {
            let bytes = &mut memory.regions[region % count].bytes;
            let keep = len % (bytes.len() + 1);
            bytes.truncate(keep);
        }
        exercise(&memory);
    }

    #[test]
    fn random_madt_entries_never_panic(
        entries in proptest::collection::vec(any::<u8>(), 0..400),
        kinds in proptest::collection::vec((prop_oneof![0u8..10, any::<u8>()], 0u8..20), 0..20),
    ) {
        // A MADT header from the fixture, then entries that are partly well
        // formed (a known type and a plausible length) and partly random.
        let mut memory = Memory::load("pc-128m");
        let mut madt = memory.region("apic").bytes[..44].to_vec();
        for (kind, length) in kinds {
            madt.extend([kind, length]);
            madt.extend(std::iter::repeat_n(0x5a, usize::from(length.saturating_sub(2))));
        }
        madt.extend(entries);
        let length = madt.len() as u32;
        madt[4..8].copy_from_slice(&length.to_le_bytes());
        balance(&mut madt, 9);
        memory.add(0x8_0000, "apic-random", madt);
        let rsdt = memory.region("rsdt");
        rsdt.write(40, &0x8_0000u32.to_le_bytes());
        rsdt.fix_checksum(9);
        exercise(&memory);
    }
}
