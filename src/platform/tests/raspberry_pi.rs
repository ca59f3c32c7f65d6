//! The platform description of the real Raspberry Pi 4 trees: the Debian
//! kernel packages' `bcm2711-rpi-4-b.dtb` (Linux 6.1 and 6.12),
//! `bcm2711-rpi-400.dtb` and `bcm2711-rpi-cm4-io.dtb`, read from
//! `build/dtbs/<version>/broadcom/` (GPL, fetched by `make host-test`, never
//! committed), and an 8 GB tree made from `bcm2711-rpi-4-b.dtb` the way the
//! firmware makes it ([`firmware_tree`]).

use std::borrow::ToOwned;
use std::format;
use std::process::{Command, Stdio};
use std::string::String;
use std::vec::Vec;
use std::{fs, vec};

use super::builder::BlobBuilder;
use super::*;

/// The Linux versions of the Debian kernel packages the DTBs come from.
const VERSIONS: [&str; 2] = ["6.1", "6.12"];

/// `build/dtbs/<version>/broadcom/<board>.dtb`, or a failure that says how
/// to get it.
fn fetched(version: &str, board: &str) -> Vec<u8> {
    let path = format!(
        "{}/build/dtbs/{version}/broadcom/{board}.dtb",
        env!("CARGO_MANIFEST_DIR")
    );
    fs::read(&path).unwrap_or_else(|error| {
        panic!("{path}: {error}; run `make host-test`, which fetches the Debian DTBs first")
    })
}

/// Runs `dtc` with `arguments`, `input` on its stdin; its stdout.
fn dtc(arguments: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("dtc")
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("dtc: {error}; run `make host-test`, which installs device-tree-compiler")
        });
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, input).expect("dtc's stdin");
    }
    let output = child.wait_with_output().expect("dtc did not finish");
    assert!(output.status.success(), "dtc {arguments:?} failed");
    output.stdout
}

/// What the Raspberry Pi firmware adds to the kernel's tree on an 8 GB
/// Pi 4, as `dts` source that `dtc` merges into the root: all of RAM in
/// `/memory@0` (`#size-cells = 1` cannot say 4 GiB, so the top 4 GiB are
/// two 2 GiB entries), `/chosen` `bootargs`, the `kaslr-seed` and
/// `rng-seed` the firmware puts there, and the bounds of an initramfs it
/// loaded (32-bit cells, as it writes them).
const FIRMWARE_ADDITIONS: &str = r#"
/ {
	memory@0 {
		reg = <0x0 0x0 0x3b400000  0x0 0x40000000 0xbc000000
		       0x1 0x0 0x80000000  0x1 0x80000000 0x80000000>;
	};
	chosen {
		bootargs = "coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_headphones=0 console=ttyS0,115200 console=tty1";
		kaslr-seed = <0x9c3a61f0 0x5e2d7b14>;
		rng-seed = [5a 1f 0c 93 e4 77 28 b6 01 4d 9e c2 33 f8 60 af
		            17 82 d5 4b 6e 09 fa 3c 91 e0 58 27 c4 bd 0a 66];
		linux,initrd-start = <0x2e000000>;
		linux,initrd-end = <0x2e7a1200>;
	};
};
"#;

/// A `/memreserve/` entry the fixture adds beside the one the kernel's tree
/// already has for the firmware's armstub (`0 0x1000`): a loader's own
/// reservation (64 KiB below the initramfs).
const FIRMWARE_MEMRESERVE: &str = "/memreserve/ 0x2dff0000 0x10000;";

/// The 8 GB firmware-like tree, made from the fetched `bcm2711-rpi-4-b.dtb`
/// of Linux `version`: decompiled with `dtc`, the extra `/memreserve/`
/// inserted after `/dts-v1/;`, [`FIRMWARE_ADDITIONS`] appended (`dtc` merges
/// a second definition of a node into the first, later properties winning),
/// and compiled back.
fn firmware_tree(version: &str) -> Vec<u8> {
    let source = dtc(
        &["-q", "-I", "dtb", "-O", "dts", "-o", "-", "-"],
        &fetched(version, "bcm2711-rpi-4-b"),
    );
    let source = String::from_utf8(source).expect("dtc writes UTF-8");
    let header = "/dts-v1/;";
    assert!(
        source.starts_with(header),
        "dtc output starts with {header}"
    );
    let source = format!(
        "{header}\n{FIRMWARE_MEMRESERVE}\n{}\n{FIRMWARE_ADDITIONS}",
        &source[header.len()..]
    );
    dtc(
        &["-q", "-I", "dts", "-O", "dtb", "-o", "-", "-"],
        source.as_bytes(),
    )
}

/// The boards whose trees are checked, with their `model`.
const BOARDS: [(&str, &str); 3] = [
    ("bcm2711-rpi-4-b", "Raspberry Pi 4 Model B"),
    ("bcm2711-rpi-400", "Raspberry Pi 400"),
    (
        "bcm2711-rpi-cm4-io",
        "Raspberry Pi Compute Module 4 IO Board",
    ),
];

/// The reservations every Pi 4 tree gives: the armstub's `/memreserve/`, and
/// the spin table's page, which the description reserves itself.
fn spin_table_and_memreserve() -> Vec<Reservation<'static>> {
    vec![
        Reservation {
            range: range(0, 0x1000),
            reason: ReservationReason::MemReserve,
        },
        Reservation {
            range: range(0, 0x1000),
            reason: ReservationReason::SpinTable,
        },
    ]
}

/// Checks what every BCM2711 tree says the same way: the UARTs and the GIC
/// behind `/soc` `ranges`, the four spin-table cores, and `linux,cma`.
fn assert_bcm2711(description: &PlatformDescription<'_>, board: &str) {
    // `stdout-path = "serial1:115200n8"`: the mini UART, which the kernel drives.
    let Some(stdout) = description.stdout else {
        panic!("{board}: no stdout UART")
    };
    assert_eq!(stdout.path.as_str(), "/soc/serial@7e215040", "{board}");
    assert_eq!(stdout.compatible, "brcm,bcm2835-aux-uart", "{board}");
    assert_eq!(
        &*stdout.device.expect("readable").regions,
        &[range(0xfe21_5040, 0x40)],
        "{board}"
    );
    assert!(
        matches!(description.console(), ConsoleChoice::Named(_)),
        "{board}: the console is not stdout-path's UART"
    );
    let Some(serial0) = description.serial0 else {
        panic!("{board}: no serial0")
    };
    assert_eq!(serial0.path.as_str(), "/soc/serial@7e201000", "{board}");
    assert_eq!(serial0.compatible, "arm,pl011", "{board}");
    assert_eq!(
        &*serial0.device.expect("readable").regions,
        &[range(0xfe20_1000, 0x200)],
        "{board}"
    );

    let Some(gic) = description.interrupt_controller else {
        panic!("{board}: no GIC")
    };
    assert_eq!(gic.version(), GicVersion::V2, "{board}");
    assert_eq!(gic.device().compatible, "arm,gic-400", "{board}");
    assert_eq!(gic.distributor(), range(0xff84_1000, 0x1000), "{board}");
    assert_eq!(
        gic.cpu_interface(),
        Some(range(0xff84_2000, 0x2000)),
        "{board}"
    );

    let cpus = &description.cpus;
    assert_eq!(cpus.count(), 4, "{board}");
    assert_eq!(cpus.psci_conduit(), None, "{board}");
    for (index, cpu) in cpus.listed().iter().enumerate() {
        let release = PhysAddr(0xd8 + 8 * index as u64);
        assert_eq!(cpu.id, Some(index as u64), "{board}");
        assert_eq!(cpu.enable_method, Some("spin-table"), "{board}");
        assert_eq!(cpu.release_address, Some(release), "{board}");
        assert_eq!(
            cpus.start_method(cpu),
            StartMethod::SpinTable { release },
            "{board}"
        );
    }

    // Reusable, not no-map, and placed by the OS: nothing reserved, listed.
    assert_eq!(
        description.reusable().kept(),
        &[ReusableMemory {
            name: "linux,cma",
            range: None,
            size: Some(0x400_0000),
        }],
        "{board}"
    );
}

#[test]
fn raspberry_pi_4_trees_as_debian_ships_them() {
    for version in VERSIONS {
        for (board, model) in BOARDS {
            let blob = fetched(version, board);
            let board = format!("{version}/{board}");
            // The firmware fills in `/memory@0` (`reg = <0 0 0>` here): the
            // kernel refuses to boot on the tree as shipped...
            assert_eq!(
                PlatformDescription::from_dtb(&blob, None).map(|_| ()),
                Err(Error::ZeroSizeRegion {
                    path: NodePath::root().child("memory@0")
                }),
                "{board}"
            );
            // ...and reads it, as written, with no RAM.
            let description = match PlatformDescription::from_dtb_as_written(&blob) {
                Ok(description) => description,
                Err(error) => panic!("{board}: {error}"),
            };
            assert_eq!(description.model, Some(model), "{board}");
            assert_eq!(description.ram(), &[], "{board}");
            assert_eq!(description.bootargs, None, "{board}");
            // The `nvram@0` child is disabled, `linux,cma` reusable: neither
            // is reserved.
            assert_eq!(
                description.reserved(),
                &spin_table_and_memreserve()[..],
                "{board}"
            );
            assert_bcm2711(&description, &board);
        }
    }
}

#[test]
// Miri cannot spawn a process; the Debian trees above cover the same reader
// there.
#[cfg_attr(
    miri,
    ignore = "makes its tree with dtc, and Miri cannot spawn processes"
)]
fn an_8_gb_firmware_tree_gives_all_ram_and_every_reservation() {
    for version in VERSIONS {
        let blob = firmware_tree(version);
        let description = match PlatformDescription::from_dtb(&blob, Some(PhysAddr(0x2eff_2e00))) {
            Ok(description) => description,
            Err(error) => panic!("{version}: {error}"),
        };
        // Five `reg` entries (the top 4 GiB as two that touch, merged).
        assert_eq!(
            description.ram(),
            &[
                range(0, 0x3b40_0000),
                range(0x4000_0000, 0xbc00_0000),
                range(0x1_0000_0000, 0x1_0000_0000),
            ],
            "{version}"
        );
        assert_eq!(
            description.bootargs,
            Some(
                "coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_headphones=0 console=ttyS0,115200 console=tty1"
            ),
            "{version}"
        );
        let blob_size = blob.len() as u64;
        let mut expected = vec![
            Reservation {
                range: range(0x2dff_0000, 0x1_0000),
                reason: ReservationReason::MemReserve,
            },
            Reservation {
                range: range(0, 0x1000),
                reason: ReservationReason::MemReserve,
            },
        ];
        expected.extend(spin_table_and_memreserve().into_iter().skip(1));
        expected.extend([
            Reservation {
                range: range(0x2e00_0000, 0x7a_1200),
                reason: ReservationReason::Initrd,
            },
            Reservation {
                range: range(0x2eff_2e00, blob_size),
                reason: ReservationReason::DeviceTree,
            },
        ]);
        assert_eq!(description.reserved(), &expected[..], "{version}");
        let blob_end = (0x2eff_2e00 + blob_size).div_ceil(0x1000) * 0x1000;
        assert_eq!(
            usable(&description),
            vec![
                range(0x1000, 0x2dff_0000 - 0x1000),
                range(0x2e7a_2000, 0x2eff_2000 - 0x2e7a_2000),
                range(blob_end, 0x3b40_0000 - blob_end),
                range(0x4000_0000, 0xbc00_0000),
                range(0x1_0000_0000, 0x1_0000_0000),
            ],
            "{version}"
        );
        assert!(description.warnings().kept().is_empty(), "{version}");
        assert_bcm2711(&description, version);
    }
}

/// A minimal tree with one `/reserved-memory` child, a pool with a `reg`,
/// carrying the empty properties `flags`.
fn with_reserved_child(flags: &[&str]) -> Vec<u8> {
    let mut tree = BlobBuilder::new();
    tree.minimal_root()
        .begin_node(b"reserved-memory")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .property("ranges", &[])
        .begin_node(b"pool@44000000")
        .string("compatible", "shared-dma-pool")
        .cells("reg", &[0, 0x4400_0000, 0, 0x100_0000]);
    for flag in flags {
        tree.property(flag, &[]);
    }
    tree.end_node().end_node().end_node().end();
    tree.finish()
}

#[test]
fn reusable_memory_stays_usable_unless_no_map() {
    let blob = with_reserved_child(&["reusable"]);
    let description = parse(&blob);
    assert_eq!(description.reserved(), &[]);
    assert_eq!(
        description.reusable().kept(),
        &[ReusableMemory {
            name: "pool@44000000",
            range: Some(range(0x4400_0000, 0x100_0000)),
            size: None,
        }]
    );
    assert_eq!(usable(&description), vec![range(0x4000_0000, 0x800_0000)]);
    assert_eq!(
        description.reusable().kept()[0].to_string(),
        "/reserved-memory/pool@44000000 [0x4400_0000, 0x4500_0000) 16 MiB: reusable, left usable (no driver here claims it back)"
    );
    // `no-map` wins over `reusable` (the binding forbids both), and a plain
    // child is reserved as before.
    for flags in [&["reusable", "no-map"][..], &[]] {
        let blob = with_reserved_child(flags);
        let description = parse(&blob);
        assert_eq!(description.reusable().count(), 0, "{flags:?}");
        assert_eq!(
            description.reserved(),
            &[Reservation {
                range: range(0x4400_0000, 0x100_0000),
                reason: ReservationReason::ReservedMemory {
                    name: "pool@44000000"
                },
            }],
            "{flags:?}"
        );
    }
}

/// A CPU node of a built tree: name, `reg` cells, `cpu-release-addr` cells.
type CpuNode = (&'static str, &'static [u32], Option<&'static [u32]>);

#[test]
fn spin_table_pages_are_reserved_once_each_and_psci_names_its_conduit() {
    let mut tree = BlobBuilder::new();
    tree.minimal_root()
        .begin_node(b"psci")
        .string("compatible", "arm,psci-1.0")
        .string("method", "smc")
        .end_node()
        .begin_node(b"cpus")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[0]);
    // Aff3 = 1 on the spin-table cores: MPIDR bits 39:32 are kept.
    let cores: [CpuNode; 5] = [
        ("cpu@100000000", &[1, 0], Some(&[0, 0x4000_0ff8])),
        ("cpu@100000001", &[1, 1], Some(&[0x4000_1000])),
        ("cpu@100000002", &[1, 2], Some(&[0, 0x4000_1008])),
        ("cpu@100000003", &[1, 3], None),
        ("cpu@2", &[0, 2], None),
    ];
    for (name, reg, release) in cores {
        tree.begin_node(name.as_bytes())
            .string("device_type", "cpu")
            .cells("reg", reg)
            .string(
                "enable-method",
                if name == "cpu@2" {
                    "psci"
                } else {
                    "spin-table"
                },
            );
        if let Some(release) = release {
            tree.cells("cpu-release-addr", release);
        }
        tree.end_node();
    }
    tree.end_node().end_node().end();
    let blob = tree.finish();
    let description = parse(&blob);
    assert_eq!(
        description.reserved(),
        &[
            Reservation {
                range: range(0x4000_0000, 0x1000),
                reason: ReservationReason::SpinTable
            },
            Reservation {
                range: range(0x4000_1000, 0x1000),
                reason: ReservationReason::SpinTable
            },
        ]
    );
    assert_eq!(
        usable(&description),
        vec![range(0x4000_2000, 0x800_0000 - 0x2000)]
    );
    let cpus = &description.cpus;
    let listed = cpus.listed();
    assert_eq!(listed[1].id, Some(0x1_0000_0001));
    assert_eq!(listed[1].release_address, Some(PhysAddr(0x4000_1000)));
    let methods: Vec<_> = listed
        .iter()
        .map(|cpu| cpus.start_method(cpu).to_string())
        .collect();
    assert_eq!(
        methods,
        [
            "spin table: write the entry point to 0x4000_0ff8, clean it to PoC, sev",
            "spin table: write the entry point to 0x4000_1000, clean it to PoC, sev",
            "spin table: write the entry point to 0x4000_1008, clean it to PoC, sev",
            "spin table without cpu-release-addr: cannot be started",
            "PSCI CPU_ON through smc",
        ]
        .map(ToOwned::to_owned)
    );
}

#[test]
fn a_disabled_spin_table_cpu_keeps_its_release_page_but_is_not_listed() {
    let mut tree = BlobBuilder::new();
    tree.minimal_root()
        .begin_node(b"cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    for (name, reg, release, status) in [
        ("cpu@0", 0, 0x4000_00d8, "okay"),
        ("cpu@1", 1, 0x4000_20e0, "disabled"),
    ] {
        tree.begin_node(name.as_bytes())
            .string("device_type", "cpu")
            .cells("reg", &[reg])
            .string("enable-method", "spin-table")
            .cells("cpu-release-addr", &[0, release])
            .string("status", status)
            .end_node();
    }
    tree.end_node().end_node().end();
    let blob = tree.finish();
    let description = parse(&blob);
    let pages: Vec<_> = description
        .reserved()
        .iter()
        .map(|reservation| (reservation.range, reservation.reason))
        .collect();
    assert_eq!(
        pages,
        [
            (range(0x4000_0000, 0x1000), ReservationReason::SpinTable),
            (range(0x4000_2000, 0x1000), ReservationReason::SpinTable),
        ]
    );
    assert_eq!(description.cpus.count(), 1);
    assert_eq!(description.cpus.listed()[0].path.as_str(), "/cpus/cpu@0");
}
