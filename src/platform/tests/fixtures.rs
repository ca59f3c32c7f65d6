//! The good fixtures: QEMU `virt` dumps and the hand-made Raspberry Pi 4 tree.

use super::builder::BlobBuilder;
use super::*;
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

fn assert_qemu_gicv2(description: &PlatformDescription<'_>) {
    let Some(gic) = description.interrupt_controller else {
        panic!("no GIC")
    };
    assert_eq!(gic.version(), GicVersion::V2);
    assert_eq!(gic.device().compatible, "arm,cortex-a15-gic");
    assert_eq!(gic.distributor(), range(0x800_0000, 0x1_0000));
    assert_eq!(gic.cpu_interface(), Some(range(0x801_0000, 0x1_0000)));
    assert!(gic.redistributors().is_empty());
}

fn assert_qemu_gicv3(description: &PlatformDescription<'_>) {
    let Some(gic) = description.interrupt_controller else {
        panic!("no GIC")
    };
    assert_eq!(gic.version(), GicVersion::V3);
    assert_eq!(gic.distributor(), range(0x800_0000, 0x1_0000));
    assert_eq!(gic.redistributors(), &[range(0x80a_0000, 0xf6_0000)]);
    assert_eq!(gic.cpu_interface(), None);
}

fn assert_qemu_console_and_timer(description: &PlatformDescription<'_>) {
    let Some(console) = description.console().uart().map(|uart| uart.device) else {
        panic!("no console")
    };
    assert_eq!(console.path.as_str(), "/pl011@9000000");
    assert_eq!(console.compatible, "arm,pl011");
    assert_eq!(&*console.regions, &[range(0x900_0000, 0x1000)]);
    let Some(timer) = description.timer else {
        panic!("no timer")
    };
    assert_eq!(timer.path.as_str(), "/timer");
    assert_eq!(
        (
            timer.secure_physical_intid,
            timer.physical_intid,
            timer.virtual_intid,
            timer.hypervisor_intid
        ),
        (29, 30, 27, 26)
    );
}

#[test]
fn the_seeds_are_read_once_then_zeroed_in_place() {
    let original = fixture!("virt-128m");
    let mut blob = original.to_vec();
    let read = take_seeds(&mut blob, |kaslr, rng| {
        (kaslr.map(<[u8]>::to_vec), rng.map(<[u8]>::to_vec))
    })
    .expect("a good tree");
    let before = parse(original);
    assert_eq!(read.0.as_deref(), before.kaslr_seed);
    assert_eq!(read.1.as_deref(), before.rng_seed);
    let after = parse(&blob);
    assert_eq!(after.kaslr_seed, Some(&[0; 8][..]));
    assert_eq!(after.rng_seed, Some(&[0; 32][..]));
    // Only the two values changed. (Compared a block at a time: the blob is
    // 1 MiB, and a byte at a time takes minutes under Miri.)
    let changed: usize = original
        .chunks(256)
        .zip(blob.chunks(256))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| a.iter().zip(b.iter()).filter(|(a, b)| a != b).count())
        .sum();
    let nonzero = |value: Option<&[u8]>| value.unwrap().iter().filter(|&&b| b != 0).count();
    assert_eq!(
        changed,
        nonzero(before.kaslr_seed) + nonzero(before.rng_seed)
    );
    assert_eq!(blob.len(), original.len());
    // A tree that fails to parse is left as it was.
    let mut bad = original.to_vec();
    bad[0] ^= 0xff;
    assert!(take_seeds(&mut bad, |_, _| ()).is_err());
    assert_eq!(bad[1..], original[1..]);
}

#[test]
fn the_seeds_are_taken_from_any_well_formed_tree_even_one_the_description_refuses() {
    let mut builder = BlobBuilder::new();
    builder
        .begin_node(b"")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin_node(b"chosen")
        .cells("kaslr-seed", &[0x0123_4567, 0x89ab_cdef])
        .end_node()
        .end_node()
        .end();
    let mut blob = builder.finish();
    assert!(
        PlatformDescription::from_dtb(&blob, None).is_err(),
        "no RAM"
    );
    let take = |blob: &mut [u8]| {
        take_seeds(blob, |kaslr, rng| {
            (kaslr.map(<[u8]>::to_vec), rng.map(<[u8]>::to_vec))
        })
    };
    let (kaslr, rng) = take(&mut blob).expect("a well-formed tree");
    assert_eq!(
        kaslr,
        Some(0x0123_4567_89ab_cdef_u64.to_be_bytes().to_vec())
    );
    assert_eq!(rng, None);
    assert_eq!(take(&mut blob).unwrap().0, Some(vec![0; 8]), "wiped");
}

#[test]
fn qemu_virt_128m() {
    let description = parse(fixture!("virt-128m"));
    assert_eq!(description.model, Some("linux,dummy-virt"));
    assert_eq!(description.bootargs, None);
    // QEMU fills both seeds with fresh random bytes on each run.
    assert_eq!(
        description.kaslr_seed,
        Some(&[0x2a, 0xb7, 0xf0, 0xdd, 0x8c, 0xd9, 0x87, 0x69][..])
    );
    assert_eq!(description.rng_seed.map(<[u8]>::len), Some(32));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x800_0000)]);
    assert!(description.reserved().is_empty());
    assert_eq!(usable(&description), vec![range(0x4000_0000, 0x800_0000)]);
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv2(&description);
}

/// The tree `make test` boots to check that a boot with no usable memory
/// fails cleanly: RAM is all there, and all of it reserved.
#[test]
fn qemu_virt_with_all_ram_reserved_leaves_nothing_usable() {
    let description = parse(fixture!("virt-all-reserved"));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x800_0000)]);
    assert_eq!(description.reserved().len(), 1);
    assert_eq!(
        description.reserved()[0].range,
        range(0x4000_0000, 0x800_0000)
    );
    assert_eq!(usable(&description), vec![]);
}

#[test]
fn qemu_blob_reserves_its_whole_totalsize() {
    // QEMU leaves its blob at 1 MiB total size; x0 points at 0x44000000 with 128M.
    let blob = fixture!("virt-128m");
    let Ok(description) = PlatformDescription::from_dtb(blob, Some(PhysAddr(0x4400_0000))) else {
        panic!("fixture refused")
    };
    let blob_range = range(0x4400_0000, 0x10_0000);
    assert_eq!(
        description.reserved(),
        &[Reservation {
            range: blob_range,
            reason: ReservationReason::DeviceTree
        }]
    );
    assert_eq!(
        usable(&description),
        vec![
            range(0x4000_0000, 0x400_0000),
            range(0x4410_0000, 0x3f0_0000)
        ]
    );
}

#[test]
fn qemu_virt_4g() {
    let description = parse(fixture!("virt-4g"));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x1_0000_0000)]);
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv2(&description);
}

#[test]
fn qemu_virt_gicv3() {
    let description = parse(fixture!("virt-gicv3"));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x800_0000)]);
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv3(&description);
}

#[test]
fn qemu_virt_el2_has_the_virtualization_regions() {
    let description = parse(fixture!("virt-el2"));
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv2(&description);
    let Some(gic) = description.interrupt_controller else {
        panic!("no GIC")
    };
    assert_eq!(
        &*gic.device().regions,
        &[
            range(0x800_0000, 0x1_0000),
            range(0x801_0000, 0x1_0000),
            range(0x803_0000, 0x1_0000),
            range(0x804_0000, 0x1_0000)
        ]
    );
}

#[test]
fn qemu_virt_smp4() {
    let description = parse(fixture!("virt-smp4"));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x800_0000)]);
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv2(&description);
    assert_eq!(description.cpus.count(), 4);
    let cpus: Vec<_> = description
        .cpus
        .listed()
        .iter()
        .map(|cpu| (cpu.path.to_string(), cpu.id, cpu.enable_method))
        .collect();
    assert_eq!(
        cpus,
        (0..4)
            .map(|id| (format!("/cpus/cpu@{id}"), Some(id), Some("psci")))
            .collect::<Vec<_>>()
    );
    // QEMU without virtualization starts its cores through the hypervisor call.
    let cpu = description.cpus.listed()[1];
    assert_eq!(
        description.cpus.start_method(&cpu),
        StartMethod::Psci {
            conduit: Some("hvc")
        }
    );
}

#[test]
fn cpus_are_listed_up_to_the_capacity_and_counted_beyond() {
    let single = parse(fixture!("virt-128m"));
    assert_eq!(single.cpus.count(), 1);
    assert_eq!(single.cpus.listed()[0].id, Some(0));
    let mut tree = BlobBuilder::new();
    tree.minimal_root()
        .begin_node(b"cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    for id in 0..CPU_CAPACITY as u32 + 2 {
        tree.begin_node(format!("cpu@{id}").as_bytes())
            .string("device_type", "cpu")
            .cells("reg", &[id])
            .string("enable-method", "spin-table")
            .end_node();
    }
    // A CPU whose `reg` cannot be read is counted, without an MPIDR.
    tree.begin_node(b"cpu@bad")
        .string("device_type", "cpu")
        .end_node();
    tree.end_node().end_node().end();
    let blob = tree.finish();
    let description = parse(&blob);
    assert_eq!(description.cpus.count(), CPU_CAPACITY + 3);
    assert_eq!(description.cpus.listed().len(), CPU_CAPACITY);
    assert_eq!(description.cpus.listed()[7].id, Some(7));
    assert_eq!(
        description.cpus.listed()[7].enable_method,
        Some("spin-table")
    );
}

#[test]
fn qemu_virt_el2_gicv3_1g() {
    let description = parse(fixture!("virt-el2-gicv3-1g"));
    assert_eq!(description.ram(), &[range(0x4000_0000, 0x4000_0000)]);
    assert_qemu_console_and_timer(&description);
    assert_qemu_gicv3(&description);
}

#[test]
fn raspberry_pi_4_devices_are_translated_through_soc_ranges() {
    let description = parse(fixture!("rpi4"));
    assert_eq!(description.model, Some("Raspberry Pi 4 Model B"));
    assert_eq!(
        description.bootargs,
        Some("coherent_pool=1M 8250.nr_uarts=1")
    );
    let Some(console) = description.console().uart().map(|uart| uart.device) else {
        panic!("no console")
    };
    assert_eq!(console.path.as_str(), "/soc/serial@7e201000");
    assert_eq!(console.compatible, "arm,pl011");
    assert_eq!(&*console.regions, &[range(0xfe20_1000, 0x200)]);
    let Some(gic) = description.interrupt_controller else {
        panic!("no GIC")
    };
    assert_eq!(gic.version(), GicVersion::V2);
    assert_eq!(
        gic.device().path.as_str(),
        "/soc/interrupt-controller@40041000"
    );
    assert_eq!(gic.distributor(), range(0xff84_1000, 0x1000));
    assert_eq!(gic.cpu_interface(), Some(range(0xff84_2000, 0x2000)));
    let Some(timer) = description.timer else {
        panic!("no timer")
    };
    assert_eq!((timer.virtual_intid, timer.physical_intid), (27, 30));
}

#[test]
fn raspberry_pi_4_memory_and_reservations() {
    let description = parse(fixture!("rpi4"));
    // Linux's tree leaves the seeds to the firmware.
    assert_eq!((description.kaslr_seed, description.rng_seed), (None, None));
    assert_eq!(description.ram(), &[range(0, 0x3c00_0000)]);
    assert_eq!(
        description.reserved(),
        &[
            Reservation {
                range: range(0, 0x1000),
                reason: ReservationReason::MemReserve
            },
            Reservation {
                range: range(0x3b40_0000, 0x2000),
                reason: ReservationReason::ReservedMemory {
                    name: "nvram@3b400000"
                },
            },
        ]
    );
    assert_eq!(
        usable(&description),
        vec![range(0x1000, 0x3b3f_f000), range(0x3b40_2000, 0xbfe000)]
    );
}

#[test]
fn initrd_and_reserved_memory_are_reserved_and_cut_out() {
    let description = parse(fixture!("virt-initrd"));
    assert_eq!(description.bootargs, Some("console=ttyAMA0 root=/dev/ram0"));
    assert_eq!(
        description.reserved(),
        &[
            Reservation {
                range: range(0x4f00_0000, 0x10_0000),
                reason: ReservationReason::ReservedMemory {
                    name: "firmware@4f000000"
                },
            },
            Reservation {
                range: range(0x4800_0000, 0x20_1800),
                reason: ReservationReason::Initrd
            },
        ]
    );
    // The initrd ends inside a page: the whole page stays reserved.
    assert_eq!(
        usable(&description),
        vec![
            range(0x4000_0000, 0x800_0000),
            range(0x4820_2000, 0x6dfe000),
            range(0x4f10_0000, 0xf0_0000)
        ]
    );
    let Some(console) = description.console().uart().map(|uart| uart.device) else {
        panic!("no console")
    };
    assert_eq!(console.path.as_str(), "/pl011@9000000");
    let Some(timer) = description.timer else {
        panic!("no armv7 timer")
    };
    assert_eq!(timer.virtual_intid, 27);
}

#[test]
fn ram_is_sorted_and_touching_regions_merge() {
    let description = parse(fixture!("split-ram"));
    assert_eq!(
        description.ram(),
        &[
            range(0x4000_0000, 0x8000_0000),
            range(0x1_0000_0000, 0x2000_0000)
        ]
    );
    // No stdout-path: the serial0 alias names the console.
    let Some(console) = description.console().uart().map(|uart| uart.device) else {
        panic!("no console")
    };
    assert_eq!(console.path.as_str(), "/uart@9000000");
    assert_eq!(description.interrupt_controller, None);
    assert_eq!(description.timer, None);
}

#[test]
fn reserve_splits_usable_ram_at_page_boundaries() {
    let mut description = parse(fixture!("virt-128m"));
    let image = range(0x4008_0000, 0x12_3456);
    let tables = range(0x4100_0000, 0x3000);
    assert_eq!(
        description.reserve(image, ReservationReason::KernelImage),
        Ok(())
    );
    assert_eq!(
        description.reserve(tables, ReservationReason::BootTables),
        Ok(())
    );
    // Overlapping reservations are fine: this one covers part of the image.
    assert_eq!(
        description.reserve(range(0x4000_0000, 0x9_0000), ReservationReason::MemReserve),
        Ok(())
    );
    assert_eq!(
        usable(&description),
        vec![range(0x401a_4000, 0xe5_c000), range(0x4100_3000, 0x6ffd000)]
    );
    assert_eq!(
        description.reserve(
            range(0x4000_0000, 0x800_0000),
            ReservationReason::MemReserve
        ),
        Ok(())
    );
    assert_eq!(usable(&description), vec![]);
}

#[test]
fn reserve_refuses_empty_ranges_and_makes_room_when_full() {
    let mut description = parse(fixture!("virt-128m"));
    let empty = range(0x4000_0000, 0);
    assert_eq!(
        description.reserve(empty, ReservationReason::KernelImage),
        Err(Error::BadReservation { range: empty })
    );
    let past_the_end = range(u64::MAX, 2);
    assert_eq!(
        description.reserve(past_the_end, ReservationReason::KernelImage),
        Err(Error::BadReservation {
            range: past_the_end
        })
    );
    // Pages a page apart fill the list; a full list folds what touches for
    // free, or else the closest neighbours.
    let free_slots = RESERVATION_CAPACITY - description.reserved().len();
    for page in 0..free_slots as u64 {
        let one_page = range(0x4000_0000 + page * 0x2000, 0x1000);
        assert_eq!(
            description.reserve(one_page, ReservationReason::BootTables),
            Ok(())
        );
    }
    assert_eq!(description.reserved.merged(), Merged::default());
    let between = range(0x4000_1000, 0x1000);
    assert_eq!(
        description.reserve(between, ReservationReason::BootTables),
        Ok(())
    );
    let folded = |gap_bytes, reservations| Merged {
        reservations,
        gap_bytes,
    };
    assert_eq!(description.reserved.merged(), folded(0x1000, 1));
    assert_eq!(description.reserved().len(), RESERVATION_CAPACITY);
    assert!(
        description
            .reserved()
            .iter()
            .any(|reservation| reservation.range == range(0x4000_0000, 0x3000))
    );
    // `between` lies inside that fold: the next push folds it in, losing nothing.
    let next = range(0x4000_3000, 0x1000);
    assert_eq!(
        description.reserve(next, ReservationReason::BootTables),
        Ok(())
    );
    assert_eq!(description.reserved.merged(), folded(0x1000, 2));
    assert_eq!(description.reserved().len(), RESERVATION_CAPACITY);
}

#[test]
fn reasons_print_as_documented() {
    let names = [
        (ReservationReason::MemReserve, "memreserve"),
        (
            ReservationReason::ReservedMemory {
                name: "nvram@3b400000",
            },
            "reserved-memory:nvram@3b400000",
        ),
        (ReservationReason::Initrd, "initrd"),
        (ReservationReason::DeviceTree, "device tree blob"),
        (ReservationReason::KernelImage, "kernel image"),
        (ReservationReason::BootTables, "boot page tables"),
        (ReservationReason::SpinTable, "spin table"),
    ];
    for (reason, text) in names {
        assert_eq!(reason.to_string(), text);
    }
}
