//! The good fixtures: exact RAM, reservations, command line and MADT contents.

use super::*;
use crate::addr::PhysRange;
use crate::platform::acpi::{InterruptOverride, IoApic, LocalApic, Polarity, TriggerMode};
use crate::platform::pvh::MemoryType;
use crate::platform::{Reservation, ReservationReason};
use std::vec;

const COMMAND_LINE: &str = "some command line";

fn reservation(start: u64, size: u64, reason: ReservationReason<'_>) -> Reservation<'_> {
    Reservation {
        range: range(start, size),
        reason,
    }
}

/// Reserved by the firmware: a type 2 memory-map entry from `start` to `end`.
fn firmware(start: u64, end: u64) -> Reservation<'static> {
    reservation(
        start,
        end - start,
        ReservationReason::Firmware(MemoryType::Reserved),
    )
}

/// What every fixture reserves before its memory map's own entries.
fn low_memory_and_start_info(memory_map_entries: u64) -> Vec<Reservation<'static>> {
    vec![
        reservation(0, 0x10_0000, ReservationReason::LowMemory),
        reservation(0x21e0, 56, ReservationReason::StartInfo),
        reservation(0x5a8, memory_map_entries * 24, ReservationReason::MemoryMap),
        firmware(0x9_fc00, 0xa_0000),
        firmware(0xf_0000, 0x10_0000),
    ]
}

fn command_line() -> Reservation<'static> {
    reservation(
        0x11c0,
        COMMAND_LINE.len() as u64 + 1,
        ReservationReason::CommandLine,
    )
}

/// The boot CPU of every machine, and the second one of `-smp 2`.
fn cpu(id: u32) -> LocalApic {
    LocalApic {
        processor_uid: id,
        apic_id: id,
        enabled: true,
        online_capable: false,
        x2apic: false,
    }
}

/// Checks what QEMU's SeaBIOS MADT says on every machine: the local APIC, one
/// I/O APIC, IRQ 0 on GSI 2 and the PCI interrupts level-triggered.
fn assert_qemu_apic(platform: &X86Platform<'_>, cpus: usize) {
    let apic = &platform.apic;
    assert_eq!(apic.local_apic_address, PhysAddr(0xfee0_0000));
    assert!(apic.legacy_pics);
    let expected: Vec<LocalApic> = (0..cpus as u32).map(cpu).collect();
    assert_eq!(apic.local_apics.kept(), expected.as_slice());
    assert_eq!(apic.local_apics.count(), cpus);
    assert_eq!(apic.cpu_count(), cpus);
    assert_eq!(
        apic.io_apics.kept(),
        &[IoApic {
            id: 0,
            address: PhysAddr(0xfec0_0000),
            gsi_base: 0,
        }]
    );
    let isa = |source, gsi, polarity, trigger| InterruptOverride {
        bus: 0,
        source,
        gsi,
        polarity,
        trigger,
    };
    let pci = |irq| {
        isa(
            irq,
            u32::from(irq),
            Polarity::ActiveHigh,
            TriggerMode::Level,
        )
    };
    assert_eq!(
        apic.overrides.kept(),
        &[
            isa(0, 2, Polarity::BusDefault, TriggerMode::BusDefault),
            pci(5),
            pci(9),
            pci(10),
            pci(11),
        ]
    );
    assert_eq!(platform.command_line, Some(COMMAND_LINE));
}

/// What one machine's fixture must give.
struct Expected {
    machine: &'static str,
    ram: &'static [(u64, u64)],
    /// The memory map's entries.
    entries: u64,
    /// Its type 2 entries from the top of low RAM up, as `[start, end)`.
    firmware: &'static [(u64, u64)],
    usable: &'static [(u64, u64)],
    rsdp: u64,
    cpus: usize,
}

/// Type 2 entries of every machine: the BIOS flash, the last 256 KiB below
/// 4 GiB.
const FLASH: (u64, u64) = (0xfffc_0000, 0x1_0000_0000);
/// The AMD HyperTransport hole at 1012 GiB, also a type 2 entry everywhere.
const HYPERTRANSPORT: (u64, u64) = (0xfd_0000_0000, 0x100_0000_0000);
/// q35's PCIe configuration window (what the MCFG names).
const Q35_ECAM: (u64, u64) = (0xb000_0000, 0xc000_0000);
/// q35's chipset root complex registers.
const Q35_RCBA: (u64, u64) = (0xfed1_c000, 0xfed2_0000);

fn ranges(pairs: &[(u64, u64)]) -> Vec<PhysRange> {
    pairs
        .iter()
        .map(|&(start, size)| range(start, size))
        .collect()
}

/// Checks a machine's RAM, reservations (with no modules), usable RAM, RSDP
/// and MADT.
fn check(memory: &Memory, expected: &Expected) {
    let platform = describe(memory);
    assert_eq!(
        platform.ram(),
        ranges(expected.ram).as_slice(),
        "{}",
        expected.machine
    );
    let mut reserved = low_memory_and_start_info(expected.entries);
    reserved.extend(
        expected
            .firmware
            .iter()
            .map(|&(start, end)| firmware(start, end)),
    );
    reserved.push(command_line());
    assert_eq!(platform.reserved(), reserved.as_slice());
    let usable: Vec<PhysRange> = platform.usable().collect();
    assert_eq!(usable, ranges(expected.usable));
    assert_eq!(platform.rsdp, PhysAddr(expected.rsdp));
    assert!(platform.modules().is_empty());
    assert_qemu_apic(&platform, expected.cpus);
}

#[test]
fn pc_128m() {
    check(
        &Memory::load("pc-128m"),
        &Expected {
            machine: "pc-128m",
            ram: &[(0, 0x9_fc00), (0x10_0000, 0x7ee_0000)],
            entries: 7,
            firmware: &[(0x7fe_0000, 0x800_0000), FLASH, HYPERTRANSPORT],
            usable: &[(0x10_0000, 0x7ee_0000)],
            rsdp: 0xf_5250,
            cpus: 1,
        },
    );
}

#[test]
fn pc_4g_splits_ram_around_the_pci_hole() {
    check(
        &Memory::load("pc-4g"),
        &Expected {
            machine: "pc-4g",
            ram: &[
                (0, 0x9_fc00),
                (0x10_0000, 0xbfee_0000),
                (0x1_0000_0000, 0x4000_0000),
            ],
            entries: 8,
            firmware: &[(0xbffe_0000, 0xc000_0000), FLASH, HYPERTRANSPORT],
            usable: &[(0x10_0000, 0xbfee_0000), (0x1_0000_0000, 0x4000_0000)],
            rsdp: 0xf_5230,
            cpus: 1,
        },
    );
}

const Q35_128M: Expected = Expected {
    machine: "q35-128m",
    ram: &[(0, 0x9_fc00), (0x10_0000, 0x7ed_f000)],
    entries: 9,
    firmware: &[
        (0x7fd_f000, 0x800_0000),
        Q35_ECAM,
        Q35_RCBA,
        FLASH,
        HYPERTRANSPORT,
    ],
    usable: &[(0x10_0000, 0x7ed_f000)],
    rsdp: 0xf_5250,
    cpus: 1,
};

#[test]
fn q35_128m() {
    check(&Memory::load("q35-128m"), &Q35_128M);
}

#[test]
fn q35_4g_splits_ram_at_2_gib() {
    check(
        &Memory::load("q35-4g"),
        &Expected {
            machine: "q35-4g",
            ram: &[
                (0, 0x9_fc00),
                (0x10_0000, 0x7fed_f000),
                (0x1_0000_0000, 0x8000_0000),
            ],
            entries: 10,
            firmware: &[
                (0x7ffd_f000, 0x8000_0000),
                Q35_ECAM,
                Q35_RCBA,
                FLASH,
                HYPERTRANSPORT,
            ],
            usable: &[(0x10_0000, 0x7fed_f000), (0x1_0000_0000, 0x8000_0000)],
            rsdp: 0xf_5230,
            cpus: 1,
        },
    );
}

#[test]
fn q35_smp2_lists_both_cpus() {
    check(
        &Memory::load("q35-128m-smp2"),
        &Expected {
            machine: "q35-128m-smp2",
            cpus: 2,
            ..Q35_128M
        },
    );
}

#[test]
fn pc_initrd_is_a_reserved_module() {
    let memory = Memory::load("pc-128m-initrd");
    let platform = describe(&memory);
    assert_eq!(platform.modules(), &[range(0x7fd_7000, 0x24)]);
    let mut reserved = low_memory_and_start_info(7);
    reserved.extend([
        firmware(0x7fe_0000, 0x800_0000),
        firmware(FLASH.0, FLASH.1),
        firmware(HYPERTRANSPORT.0, HYPERTRANSPORT.1),
        command_line(),
        reservation(0x21c0, 32, ReservationReason::ModuleList),
        reservation(0x7fd_7000, 0x24, ReservationReason::Module { index: 0 }),
    ]);
    assert_eq!(platform.reserved(), reserved.as_slice());
    // The module's partial page is not free either.
    let usable: Vec<PhysRange> = platform.usable().collect();
    assert_eq!(
        usable,
        vec![range(0x10_0000, 0x7ed_7000), range(0x7fd_8000, 0x8000)]
    );
    assert_qemu_apic(&platform, 1);
}

#[test]
fn reasons_read_well_in_a_report() {
    let memory = Memory::load("pc-128m-initrd");
    let platform = describe(&memory);
    let reasons: Vec<String> = platform
        .reserved()
        .iter()
        .map(|reservation| std::format!("{}", reservation.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            "first MiB",
            "PVH start info",
            "memory map",
            "firmware: reserved",
            "firmware: reserved",
            "firmware: reserved",
            "firmware: reserved",
            "firmware: reserved",
            "command line",
            "module list",
            "module 0",
        ]
    );
    assert_eq!(
        std::format!("{}", ReservationReason::Firmware(MemoryType::AcpiNvs)),
        "firmware: ACPI NVS"
    );
}

#[test]
fn the_platform_description_of_a_pvh_boot() {
    let memory = Memory::load("q35-128m-smp2");
    let Ok(description) =
        crate::platform::PlatformDescription::from_pvh(&&memory, memory.start_info())
    else {
        panic!("the q35 dump is refused")
    };
    let x86 = describe(&memory);
    assert_eq!(description.ram(), x86.ram());
    assert_eq!(description.reserved(), x86.reserved());
    assert_eq!(description.bootargs, Some(COMMAND_LINE));
    assert_eq!(description.cpus.count(), 2);
    let ids: Vec<_> = description.cpus.listed().iter().map(|cpu| cpu.id).collect();
    assert_eq!(ids, [Some(0), Some(1)]);
    assert_eq!(
        description.apic().map(|apic| apic.local_apic_address),
        Some(PhysAddr(0xfee0_0000))
    );
    assert!(description.console().uart().is_none() && description.interrupt_controller.is_none());
}
