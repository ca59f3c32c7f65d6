//! Robustness: no byte pattern may panic the parser (or `fdt` beneath it).

use super::*;
use proptest::prelude::*;
use std::vec::Vec;

const FIXTURES: [&[u8]; 6] = [
    fixture!("virt-128m"),
    fixture!("virt-gicv3"),
    fixture!("rpi4"),
    fixture!("virt-initrd"),
    fixture!("split-ram"),
    fixture!("bad-console-outside-ranges"),
];

/// Runs everything a caller can reach on whatever `from_dtb` returns.
fn exercise(blob: &[u8]) {
    if let Ok(mut description) = PlatformDescription::from_dtb(blob, Some(PhysAddr(0x4400_0000))) {
        let _ = description.reserve(
            PhysRange::new(PhysAddr(0x4008_0000), 0x20_0000),
            ReservationReason::KernelImage,
        );
        let total: u64 = description.usable().map(|range| range.size).sum();
        assert!(
            description
                .usable()
                .all(|range| range.start.is_page_aligned() && range.size.is_multiple_of(4096))
        );
        let _ = total;
        let _ = std::format!("{:?}", description);
    }
}

/// The fixture's bytes up to the end of its strings block (QEMU pads to 1 MiB).
fn interesting_len(blob: &[u8]) -> usize {
    let word = |index: usize| {
        u32::from_be_bytes([
            blob[index * 4],
            blob[index * 4 + 1],
            blob[index * 4 + 2],
            blob[index * 4 + 3],
        ])
    };
    (word(3) + word(8)) as usize
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES still wins, for a longer run by hand.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(1024),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        strings in 0u32..512,
    ) {
        let total = 40 + body.len() as u32;
        let structure_size = (total - 40).saturating_sub(strings) & !3;
        let header = [0xd00d_feed, total, 40, 40 + structure_size, 40, 17, 16, 0, total - 40 - structure_size, structure_size];
        let mut blob: Vec<u8> = header.iter().flat_map(|word| u32::to_be_bytes(*word)).collect();
        blob.extend_from_slice(&body);
        exercise(&blob);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut blob = FIXTURES[which].to_vec();
        let len = interesting_len(&blob);
        for (index, value) in edits {
            blob[index % len] = value;
        }
        exercise(&blob);
    }

    #[test]
    fn mutated_structure_words_never_panic(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<usize>(), prop_oneof![0u32..8, any::<u32>()]), 1..4),
        cut in any::<usize>(),
    ) {
        let mut blob = FIXTURES[which].to_vec();
        let len = interesting_len(&blob) / 4;
        for (index, value) in edits {
            let at = (index % len) * 4;
            blob[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        exercise(&blob);
        exercise(&blob[..cut % blob.len()]);
    }
}
