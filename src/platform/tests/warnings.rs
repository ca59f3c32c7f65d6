//! Trees that Linux boots with a warning: each boots here too, and its
//! warning names the node.

use super::builder::BlobBuilder;
use super::*;
use std::string::{String, ToString};
use std::vec::Vec;

/// The description's kept warnings, as printed.
fn warnings(description: &PlatformDescription<'_>) -> Vec<String> {
    description
        .warnings()
        .kept()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A minimal tree with `/reserved-memory` children, each a name and `reg` cells.
fn reserved_memory(children: &[(&str, &[u32])]) -> Vec<u8> {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"reserved-memory")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .property("ranges", &[]);
    for (name, reg) in children {
        builder
            .begin_node(name.as_bytes())
            .cells("reg", reg)
            .end_node();
    }
    builder.end_node().end_node().end();
    builder.finish()
}

/// A minimal tree with a `/reserved-memory` child per name and 2/2-cell `reg`.
fn many_children(children: impl Iterator<Item = (String, [u32; 4])>) -> Vec<u8> {
    let children: Vec<(String, [u32; 4])> = children.collect();
    let borrowed: Vec<(&str, &[u32])> = children
        .iter()
        .map(|(name, reg)| (name.as_str(), reg.as_slice()))
        .collect();
    reserved_memory(&borrowed)
}

/// A minimal tree with one `/reserved-memory` child `name` of `reg` cells.
fn reserved_memory_child(name: &str, reg: &[u32]) -> Vec<u8> {
    reserved_memory(&[(name, reg)])
}

/// A tree whose only node is the memory node `name` of `reg` cells.
fn memory_node(name: &str, reg: &[u32]) -> Vec<u8> {
    let mut builder = BlobBuilder::new();
    builder
        .begin_node(b"")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin_node(name.as_bytes())
        .string("device_type", "memory")
        .cells("reg", reg)
        .end_node()
        .end_node()
        .end();
    builder.finish()
}

#[test]
fn a_zero_size_reserved_memory_entry_is_skipped() {
    let blob = reserved_memory_child("foo@0", &[0, 0x4400_0000, 0, 0]);
    let description = parse(&blob);
    assert!(description.reserved().is_empty());
    assert_eq!(
        warnings(&description),
        ["/reserved-memory/foo@0: zero-size reg entry, skipped"]
    );
    assert_eq!(usable(&description), [range(0x4000_0000, 0x800_0000)]);
}

#[test]
fn a_reg_tail_is_ignored_in_reserved_memory_and_memory() {
    let blob = reserved_memory_child("tail@44000000", &[0, 0x4400_0000, 0, 0x1000, 0]);
    let description = parse(&blob);
    assert_eq!(description.reserved()[0].range, range(0x4400_0000, 0x1000));
    assert_eq!(
        warnings(&description),
        [
            "/reserved-memory/tail@44000000: reg of 20 bytes is not a multiple of 16-byte entries, last 4 bytes ignored"
        ]
    );

    let blob = memory_node(
        "memory@40000000",
        &[0, 0x4000_0000, 0, 0x800_0000, 0, 0x5000_0000],
    );
    let description = parse(&blob);
    assert_eq!(description.ram(), [range(0x4000_0000, 0x800_0000)]);
    assert_eq!(description.warnings().count(), 1);
    assert_eq!(
        description.warnings().kept()[0].subject,
        Subject::Node(NodePath::root().child("memory@40000000"))
    );
}

#[test]
fn a_region_past_the_address_space_is_clipped() {
    let blob = reserved_memory_child("end@fffffffffffff000", &[!0, 0xffff_f000, 0, 0x2000]);
    let description = parse(&blob);
    assert_eq!(
        description.reserved()[0].range,
        range(0xffff_ffff_ffff_f000, 0xfff)
    );
    assert_eq!(
        warnings(&description),
        [
            "/reserved-memory/end@fffffffffffff000: reg entry at 0xfffffffffffff000 of size 0x2000 runs past the end of the address space, clipped there",
            "/reserved-memory/end@fffffffffffff000: reservation [0xffff_ffff_ffff_f000, 0xffff_ffff_ffff_ffff) 3.9 KiB is outside RAM, reserves nothing",
        ]
    );

    let blob = memory_node("memory@ffffffff00000000", &[!0, 0, 1, 0]);
    let description = parse(&blob);
    assert_eq!(
        description.ram(),
        [range(0xffff_ffff_0000_0000, 0xffff_ffff)]
    );
    let top = usable(&description);
    assert_eq!(top, [range(0xffff_ffff_0000_0000, 0xffff_f000)]);
}

#[test]
fn devices_stay_strict() {
    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"chosen")
        .string("stdout-path", "/uart@9000000")
        .end_node()
        .begin_node(b"uart@9000000")
        .string("compatible", "arm,pl011")
        .cells("reg", &[0, 0x900_0000, 0, 0x1000, 0])
        .end_node()
        .end_node()
        .end();
    let blob = builder.finish();
    assert_eq!(
        PlatformDescription::from_dtb(&blob, None).unwrap_err(),
        Error::MalformedProperty {
            path: NodePath::root().child("uart@9000000"),
            property: "reg"
        }
    );
}

#[test]
fn reservations_outside_ram_and_overlapping_are_kept_with_warnings() {
    let description = parse(fixture!("virt-bad-chosen"));
    assert_eq!(
        warnings(&description),
        [
            "/chosen: stdout-path \"/nothing@0\" names nothing, console from the serial0 alias",
            "/memreserve/: reservation [0x4630_0000, 0x4630_2000) 8 KiB overlaps [0x4630_0000, 0x4630_2000) 8 KiB, their union reserved",
            "/memreserve/: reservation [0x4630_1000, 0x4630_3000) 8 KiB overlaps [0x4630_0000, 0x4630_2000) 8 KiB, their union reserved",
        ]
    );
    assert_eq!(
        usable(&description),
        [
            range(0x4000_0000, 0x630_0000),
            range(0x4630_3000, 0x1cf_d000)
        ]
    );
    let outside = parse(fixture!("virt-bad-reserved"));
    assert!(warnings(&outside).contains(
        &"/reserved-memory/outside@10000000: reservation [0x1000_0000, 0x1000_1000) 4 KiB is outside RAM, reserves nothing".to_string()
    ));
    assert_eq!(
        usable(&outside),
        [
            range(0x4000_0000, 0x610_0000),
            range(0x4610_1000, 0x1ef_f000)
        ]
    );
}

#[test]
fn a_stdout_path_that_names_nothing_falls_back() {
    let description = parse(fixture!("virt-bad-chosen"));
    let console = description
        .console()
        .uart()
        .map(|uart| uart.device)
        .expect("serial0 gives the console");
    assert_eq!(console.path.as_str(), "/pl011@9000000");

    let mut builder = BlobBuilder::new();
    builder
        .minimal_root()
        .begin_node(b"chosen")
        .string("stdout-path", "serial9:115200n8")
        .end_node()
        .end_node()
        .end();
    let blob = builder.finish();
    let description = parse(&blob);
    assert!(description.console().uart().is_none());
    assert_eq!(
        warnings(&description),
        ["/chosen: stdout-path \"serial9:115200n8\" names nothing, no console"]
    );
}

#[test]
fn thousands_of_bad_entries_keep_sixteen_warnings_and_count_the_rest() {
    // Fewer under Miri, where each node lookup walks the tree slowly.
    let entries = if cfg!(miri) { 300 } else { 3000 };
    let blob = many_children(
        (0..entries).map(|index| (std::format!("empty@{index:x}"), [0, index, 0, 0])),
    );
    let description = parse(&blob);
    assert!(description.reserved().is_empty());
    assert_eq!(description.warnings().kept().len(), WARNING_CAPACITY);
    assert_eq!(description.warnings().count(), entries as usize);
    assert_eq!(
        warnings(&description)[15],
        "/reserved-memory/empty@f: zero-size reg entry, skipped"
    );
}

#[test]
fn good_trees_have_no_warnings() {
    for blob in [
        fixture!("virt-128m"),
        fixture!("rpi4"),
        fixture!("virt-initrd"),
        fixture!("split-ram"),
    ] {
        assert_eq!(warnings(&parse(blob)), Vec::<String>::new());
    }
}

#[test]
fn thousands_of_reservations_boot_and_every_one_stays_reserved() {
    // 3,000 pages (600 under Miri, still far more than the list keeps), one
    // every 32 KiB from 0x40100000, plus a page every 4 KiB for the first 64
    // of them: the tight ones fold for free.
    let pages = if cfg!(miri) { 600 } else { 3000 };
    let mut starts: Vec<u64> = (0..pages)
        .map(|index| 0x4010_0000 + index * 0x8000)
        .collect();
    starts.extend((1..64u64).map(|index| 0x4010_0000 + index * 0x1000));
    let blob = many_children(starts.iter().map(|start| {
        (
            std::format!("page@{start:x}"),
            [0, *start as u32, 0, 0x1000],
        )
    }));
    let mut description = parse(&blob);
    assert!(description.reserved().len() <= RESERVATION_CAPACITY);
    let merged = description.reserved.merged();
    assert_eq!(
        merged.reservations,
        starts.len() - description.reserved().len()
    );
    assert_eq!(
        warnings(&description),
        [std::format!(
            "reservations: more than 128: {} folded into a neighbour, at most {} between them reserved too",
            merged.reservations,
            crate::addr::ByteSize(merged.gap_bytes)
        )]
    );
    let check = |description: &PlatformDescription<'_>| {
        for piece in description.usable() {
            for start in &starts {
                assert!(
                    !piece.overlaps(&range(*start, 0x1000)),
                    "{piece} holds {start:#x}"
                );
            }
        }
        // What folding gave up is all that is missing from the RAM.
        let usable: u64 = description.usable().map(|piece| piece.size).sum();
        let asked = 0x1000 * pages;
        assert_eq!(
            usable,
            0x800_0000 - asked - description.reserved.merged().gap_bytes
        );
    };
    check(&description);
    // The kernel's own reservations still go in.
    for index in 0..4 {
        let page = range(0x4000_0000 + index * 0x2000, 0x1000);
        assert_eq!(
            description.reserve(page, ReservationReason::KernelImage),
            Ok(())
        );
    }
    for index in 0..4 {
        let page = range(0x4000_0000 + index * 0x2000, 0x1000);
        assert!(description.usable().all(|piece| !piece.overlaps(&page)));
    }
}

#[test]
fn a_fold_the_blobs_own_reservation_causes_is_warned_about() {
    // Exactly as many reservations as the list holds: the blob's own is one more.
    let starts: Vec<u64> = (0..RESERVATION_CAPACITY as u64)
        .map(|index| 0x4010_0000 + index * 0x8000)
        .collect();
    let blob = many_children(starts.iter().map(|start| {
        (
            std::format!("page@{start:x}"),
            [0, *start as u32, 0, 0x1000],
        )
    }));
    assert_eq!(warnings(&parse(&blob)), Vec::<String>::new());
    let description =
        PlatformDescription::from_dtb(&blob, Some(PhysAddr(0x4700_0000))).expect("the tree boots");
    assert_ne!(description.reserved.merged(), Merged::default());
    assert!(
        warnings(&description)
            .iter()
            .any(|warning| warning.starts_with("reservations: more than 128")),
        "{:?}",
        warnings(&description)
    );
}
