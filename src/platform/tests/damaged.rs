//! Bad trees: each must be refused with its own error variant.

use super::builder::BlobBuilder;
use super::*;
use std::string::ToString;
use std::vec::Vec;

fn refuse(blob: &[u8]) -> Error {
    match PlatformDescription::from_dtb(blob, None) {
        Ok(_) => panic!("a bad tree was accepted"),
        Err(error) => error,
    }
}

fn path(text: &str) -> NodePath {
    text.split('/')
        .filter(|name| !name.is_empty())
        .fold(NodePath::root(), |path, name| path.child(name))
}

/// A copy of `blob` with the header word `index` replaced.
fn with_header_word(blob: &[u8], index: usize, value: u32) -> Vec<u8> {
    let mut copy = blob.to_vec();
    copy[index * 4..index * 4 + 4].copy_from_slice(&value.to_be_bytes());
    copy
}

#[test]
fn no_memory_node() {
    assert_eq!(refuse(fixture!("bad-no-memory")), Error::NoMemoryNode);
}

#[test]
fn overlapping_ram() {
    assert_eq!(
        refuse(fixture!("bad-overlapping-ram")),
        Error::OverlappingRam {
            a: range(0x4000_0000, 0x800_0000),
            b: range(0x4700_0000, 0x200_0000)
        }
    );
}

#[test]
fn zero_size_region() {
    assert_eq!(
        refuse(fixture!("bad-zero-size")),
        Error::ZeroSizeRegion {
            path: path("/memory@40000000")
        }
    );
}

#[test]
fn address_cells_out_of_range() {
    assert_eq!(
        refuse(fixture!("bad-address-cells")),
        Error::CellCount {
            path: NodePath::root(),
            address_cells: 3,
            size_cells: 2
        }
    );
}

#[test]
fn console_outside_the_bus_window() {
    let error = refuse(fixture!("bad-console-outside-ranges"));
    assert_eq!(
        error,
        Error::UntranslatableAddress {
            path: path("/soc"),
            address: 0x7f20_1000,
            size: 0x200
        }
    );
    assert_eq!(
        error.to_string(),
        "/soc: no window of `ranges` covers bus address 0x7f201000 (size 0x200)"
    );
}

#[test]
fn bus_without_ranges() {
    assert_eq!(
        refuse(fixture!("bad-no-ranges")),
        Error::NoRanges { path: path("/soc") }
    );
}

#[test]
fn header_damage() {
    let good = fixture!("rpi4");
    let total = good.len();
    assert_eq!(
        refuse(&good[..20]),
        Error::Truncated {
            needed: 40,
            available: 20
        }
    );
    assert_eq!(
        refuse(&good[..total - 1]),
        Error::Truncated {
            needed: total as u64,
            available: total - 1
        }
    );
    assert_eq!(
        refuse(&with_header_word(good, 0, 0xfeed_d00d)),
        Error::BadMagic { found: 0xfeed_d00d }
    );
    assert_eq!(
        refuse(&with_header_word(good, 5, 16)),
        Error::UnsupportedVersion {
            version: 16,
            last_compatible: 16
        }
    );
    assert_eq!(
        refuse(&with_header_word(good, 1, 8)),
        Error::BadTotalSize { total_size: 8 }
    );
    assert_eq!(
        refuse(&with_header_word(good, 2, 0xffff_fff0)),
        Error::BlockOutOfBounds {
            block: Block::Structure,
            offset: 0xffff_fff0,
            size: good_word(good, 9)
        }
    );
    assert_eq!(
        refuse(&with_header_word(good, 2, good_word(good, 2) + 2)),
        Error::MisalignedBlock {
            block: Block::Structure,
            value: good_word(good, 2) + 2
        }
    );
    assert_eq!(
        refuse(&with_header_word(good, 8, 0x10_0000)),
        Error::BlockOutOfBounds {
            block: Block::Strings,
            offset: good_word(good, 3),
            size: 0x10_0000
        }
    );
    assert_eq!(
        refuse(&with_header_word(good, 4, 4)),
        Error::MisalignedBlock {
            block: Block::MemoryReservationMap,
            value: 4
        }
    );
    // A map that starts in the strings block at the very end never meets (0, 0).
    let end_of_blob = (total as u32 - 8) & !7;
    assert!(matches!(
        refuse(&with_header_word(good, 4, end_of_blob)),
        Error::BlockOutOfBounds {
            block: Block::MemoryReservationMap,
            ..
        }
    ));
}

fn good_word(blob: &[u8], index: usize) -> u32 {
    u32::from_be_bytes([
        blob[index * 4],
        blob[index * 4 + 1],
        blob[index * 4 + 2],
        blob[index * 4 + 3],
    ])
}

fn structure_problem(blob: &[u8]) -> StructureProblem {
    match refuse(blob) {
        Error::MalformedStructure { problem, .. } => problem,
        other => panic!("expected a structure problem, got {other:?}"),
    }
}

#[test]
fn structure_damage() {
    let root_only = |build: &dyn Fn(&mut BlobBuilder)| {
        let mut builder = BlobBuilder::new();
        builder.minimal_root();
        build(&mut builder);
        builder.finish()
    };
    use StructureProblem::*;
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.token(7);
        })),
        UnknownToken(7)
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.end_node();
        })),
        UnexpectedEnd
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.end();
        })),
        UnclosedNode
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.end_node().end_node().end();
        })),
        UnbalancedEndNode
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.string("late", "x").end_node().end();
        })),
        PropertyAfterChild
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.begin_node(b"\xff").end_node().end_node().end();
        })),
        NameNotUtf8
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.end_node().begin_node(b"").end_node().end();
        })),
        NodeAfterRoot
    );
    assert_eq!(
        structure_problem(&root_only(&|b| {
            b.nop().begin_node(b"a").end_node().end_node().end();
        })),
        MisplacedNop
    );
    let mut named_root = BlobBuilder::new();
    named_root.begin_node(b"root").end_node().end();
    assert_eq!(structure_problem(&named_root.finish()), BadRoot);
    let mut no_root = BlobBuilder::new();
    no_root.string("stray", "x").end();
    assert_eq!(structure_problem(&no_root.finish()), PropertyOutsideNode);
}

#[test]
fn property_length_and_name_offset_damage() {
    let mut builder = BlobBuilder::new();
    builder.minimal_root().end_node().end();
    let blob = builder.finish();
    // The first property's length word sits 4 bytes after the root's BEGIN_NODE
    // and its 4-byte (empty, padded) name; the structure block starts at 56.
    let length_at = 56 + 8 + 4;
    let mut long = blob.clone();
    long[length_at..length_at + 4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert_eq!(
        structure_problem(&long),
        StructureProblem::PropertyValueOutOfBounds {
            length: 0xffff_fff0
        }
    );
    let mut far_name = blob.clone();
    far_name[length_at + 4..length_at + 8].copy_from_slice(&0x1000u32.to_be_bytes());
    assert_eq!(
        structure_problem(&far_name),
        StructureProblem::PropertyNameOutOfBounds {
            name_offset: 0x1000
        }
    );
}

#[test]
fn nops_before_end_node_are_accepted() {
    let mut builder = BlobBuilder::new();
    builder.minimal_root().nop().nop().end_node().end();
    let blob = builder.finish();
    let Ok(description) = PlatformDescription::from_dtb(&blob, None) else {
        panic!("refused")
    };
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x800_0000)]);
}

#[test]
fn nesting_is_bounded() {
    let nest = |levels: usize| {
        let mut builder = BlobBuilder::new();
        builder.minimal_root();
        for _ in 1..levels {
            builder.begin_node(b"n");
        }
        for _ in 0..levels {
            builder.end_node();
        }
        builder.end();
        builder.finish()
    };
    assert!(PlatformDescription::from_dtb(&nest(MAX_DEPTH), None).is_ok());
    assert!(matches!(
        refuse(&nest(MAX_DEPTH + 1)),
        Error::TooDeep { .. }
    ));
}

#[test]
fn a_console_path_too_long_for_a_node_path() {
    let long_name = "x".repeat(NodePath::CAPACITY);
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"chosen")
        .string("stdout-path", &std::format!("/{long_name}"))
        .end_node()
        .begin_node(long_name.as_bytes())
        .string("compatible", "arm,pl011")
        .cells("reg", &[0, 0x900_0000, 0, 0x1000])
        .end_node()
        .end_node()
        .end();
    let Error::PathTooLong { path } = refuse(&builder.finish()) else {
        panic!("wrong error")
    };
    assert!(path.is_truncated());
    assert_eq!(path.to_string(), "/...");
}

#[test]
fn initrd_that_ends_before_it_starts() {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"chosen")
        .cells("linux,initrd-start", &[0x4800_0000])
        .cells("linux,initrd-end", &[0, 0x4700_0000])
        .end_node()
        .end_node()
        .end();
    assert_eq!(
        refuse(&builder.finish()),
        Error::BadInitrd {
            start: 0x4800_0000,
            end: 0x4700_0000
        }
    );
}

#[test]
fn timer_interrupts_must_be_ppis() {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"intc@8000000")
        .string("compatible", "arm,gic-400")
        .cells("#interrupt-cells", &[3])
        .cells("reg", &[0, 0x800_0000, 0, 0x1000, 0, 0x801_0000, 0, 0x1000])
        .end_node()
        .begin_node(b"timer")
        .string("compatible", "arm,armv8-timer")
        .cells("interrupts", &[1, 13, 4, 1, 14, 4, 0, 11, 4, 1, 10, 4])
        .end_node()
        .end_node()
        .end();
    assert_eq!(
        refuse(&builder.finish()),
        Error::UnsupportedTimerInterrupt {
            path: path("/timer"),
            kind: 0,
            number: 11
        }
    );
}

#[test]
fn a_gic_with_one_region_is_refused() {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"intc@8000000")
        .string("compatible", "arm,gic-v3")
        .cells("reg", &[0, 0x800_0000, 0, 0x1_0000])
        .end_node()
        .end_node()
        .end();
    assert_eq!(
        refuse(&builder.finish()),
        Error::MissingGicRegions {
            path: path("/intc@8000000"),
            needed: 2,
            found: 1
        }
    );
}

/// A GICv3 whose `redistributor-stride` is `stride`, with one redistributor
/// region.
fn gic_v3_with_stride(stride: u64) -> Vec<u8> {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"intc@8000000")
        .string("compatible", "arm,gic-v3")
        .property("redistributor-stride", &stride.to_be_bytes())
        .cells(
            "reg",
            &[0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0x4_0000],
        )
        .end_node()
        .end_node()
        .end();
    builder.finish()
}

#[test]
fn a_redistributor_stride_that_splits_a_frame_is_refused() {
    // One 64 KiB frame, half of one, a frame and a half, and the largest
    // value, whose step would also overflow an offset.
    for stride in [0x1_0000, 0x8000, 0x1_8000, 0x2_8000, u64::MAX] {
        assert_eq!(
            refuse(&gic_v3_with_stride(stride)),
            Error::BadRedistributorStride {
                path: path("/intc@8000000"),
                stride
            },
            "stride {stride:#x}"
        );
    }
    // Two and three whole frames are strides; 0 means none, as in Linux.
    for (stride, expected) in [
        (0x2_0000, Some(0x2_0000)),
        (0x3_0000, Some(0x3_0000)),
        (0, None),
    ] {
        let blob = gic_v3_with_stride(stride);
        let description = PlatformDescription::from_dtb(&blob, None).expect("a good stride");
        let gic = description.interrupt_controller.expect("the GIC");
        assert_eq!(gic.redistributor_stride(), expected, "stride {stride:#x}");
    }
}

#[test]
fn fdt_alone_panics_where_validation_refuses() {
    // Why `validate` exists: on this blob `fdt` 0.1.5 slices past its buffer.
    let mut builder = BlobBuilder::new();
    builder.minimal_root().end_node().end();
    let mut blob = builder.finish();
    let length_at = 56 + 8 + 4;
    blob[length_at..length_at + 4].copy_from_slice(&0x1000u32.to_be_bytes());
    let fdt_alone = std::panic::catch_unwind(|| {
        let Ok(fdt) = fdt::Fdt::new(&blob) else {
            return 0;
        };
        fdt.find_node("/")
            .map_or(0, |root| root.properties().count())
    });
    assert!(fdt_alone.is_err());
    assert_eq!(
        structure_problem(&blob),
        StructureProblem::PropertyValueOutOfBounds { length: 0x1000 }
    );
}

#[test]
fn nops_anywhere_are_stripped_in_place() {
    // NOPs where a deleted property and a deleted node stood, as QEMU and
    // firmware leave them.
    let mut builder = BlobBuilder::new();
    builder
        .begin_node(b"")
        .nop()
        .cells("#address-cells", &[2])
        .nop()
        .nop()
        .cells("#size-cells", &[2])
        .begin_node(b"memory@40000000")
        .nop()
        .string("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x800_0000])
        .end_node()
        .nop()
        .end_node()
        .end();
    let mut blob = builder.finish();
    assert!(matches!(
        PlatformDescription::from_dtb(&blob, None),
        Err(Error::MalformedStructure {
            problem: StructureProblem::MisplacedNop,
            ..
        })
    ));
    assert_eq!(crate::platform::strip_nops(&mut blob), Ok(5));
    let platform = PlatformDescription::from_dtb(&blob, None).expect("parses once stripped");
    assert_eq!(
        platform.ram(),
        &[PhysRange::new(PhysAddr(0x4000_0000), 0x800_0000)]
    );
    assert_eq!(crate::platform::strip_nops(&mut blob), Ok(0), "idempotent");
}

#[test]
fn strip_nops_leaves_a_bad_blob_unchanged() {
    let mut builder = BlobBuilder::new();
    builder.minimal_root().nop().begin_node(b"a").end();
    let mut blob = builder.finish();
    let before = blob.clone();
    assert!(crate::platform::strip_nops(&mut blob).is_err());
    assert_eq!(blob, before);
}

#[test]
fn as_written_leaves_what_a_bootloader_fills_in_empty() {
    let no_memory = PlatformDescription::from_dtb_as_written(fixture!("bad-no-memory")).unwrap();
    assert!(no_memory.ram().is_empty());
    assert_eq!(no_memory.usable().count(), 0);
    let placeholder = PlatformDescription::from_dtb_as_written(fixture!("bad-zero-size")).unwrap();
    assert!(placeholder.ram().iter().all(|range| range.size > 0));
    let overlapping =
        PlatformDescription::from_dtb_as_written(fixture!("bad-overlapping-ram")).unwrap();
    assert_eq!(
        overlapping.ram(),
        &[PhysRange::new(PhysAddr(0x4000_0000), 0x900_0000)]
    );
    // Real damage is still refused.
    assert!(matches!(
        PlatformDescription::from_dtb_as_written(fixture!("bad-console-outside-ranges")),
        Err(Error::UntranslatableAddress { .. })
    ));
}

/// Found by `make fuzz`: the strings block inside the structure block, so
/// stripping NOPs in place rewrote property names.
#[test]
fn fuzz_overlapping_blocks_are_refused() {
    let blob = fixture!("fuzz-overlapping-blocks");
    assert!(matches!(
        PlatformDescription::from_dtb(blob, None),
        Err(Error::OverlappingBlocks {
            a: Block::Structure,
            b: Block::Strings
        })
    ));
    let mut copy = blob.to_vec();
    assert!(matches!(
        crate::platform::strip_nops(&mut copy),
        Err(Error::OverlappingBlocks { .. })
    ));
    assert_eq!(copy, blob, "a refused blob is left unchanged");
}
