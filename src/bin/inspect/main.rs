//! `make inspect DTB=board.dtb [FORMAT=json]`: what the kernel would make of a
//! device tree, computed on the host by the kernel's own platform description.
//!
//! It shows what the tree says, so it leaves out what exists only at boot: the
//! kernel image, the blob's own placement and the boot page tables. On a bad
//! tree it prints the named error on stderr, nothing on stdout, and exits 1
//! (`make inspect` then reports that as its own failure, status 2).

use std::fmt::Write as _;
use std::process::ExitCode;

use kernel::addr::{PAGE_SIZE, PhysRange};
use kernel::platform::{self, Device, PlatformDescription};

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let (Some(path), format) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: inspect <file.dtb> [text|json]");
        return ExitCode::from(2);
    };
    let mut blob = match std::fs::read(&path) {
        Ok(blob) => blob,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    // As the kernel does: NOPs out, then parse; but read the tree as written,
    // leaving what a bootloader fills in later (memory) empty rather than
    // refusing it. No blob address: inspect shows the tree, not its placement.
    let parsed = platform::strip_nops(&mut blob)
        .and_then(|_| PlatformDescription::from_dtb_as_written(&blob));
    let platform = match parsed {
        Ok(platform) => platform,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match format.as_deref() {
        Some("json") => println!("{}", json(&platform)),
        None | Some("text") => print!("{}", text(&platform)),
        Some(other) => {
            eprintln!("unknown format {other:?}: use text or json");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// RAM minus reservations, shrunk to whole pages, sorted (as the kernel uses it).
fn usable(platform: &PlatformDescription<'_>) -> Vec<PhysRange> {
    let mut usable: Vec<PhysRange> = platform
        .usable()
        .filter(|range| range.size >= PAGE_SIZE as u64)
        .collect();
    usable.sort_by_key(|range| range.start);
    usable
}

fn sorted_reservations<'p, 'dtb>(
    platform: &'p PlatformDescription<'dtb>,
) -> Vec<&'p platform::Reservation<'dtb>> {
    let mut reserved: Vec<_> = platform.reserved().iter().collect();
    reserved.sort_by_key(|reservation| (reservation.range.start, reservation.range.size));
    reserved
}

fn text(platform: &PlatformDescription<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model:      {}", platform.model.unwrap_or("(none)"));
    let warnings = platform.warnings();
    for warning in warnings.kept() {
        let _ = writeln!(out, "warning:    {warning}");
    }
    if warnings.count() > warnings.kept().len() {
        let _ = writeln!(
            out,
            "warning:    and {} more",
            warnings.count() - warnings.kept().len()
        );
    }
    for range in platform.ram() {
        let _ = writeln!(out, "ram:        {range}");
    }
    for reservation in sorted_reservations(platform) {
        let _ = writeln!(
            out,
            "reserved:   {} ({})",
            reservation.range, reservation.reason
        );
    }
    for range in usable(platform) {
        let _ = writeln!(out, "usable:     {range}");
    }
    let device = |out: &mut String, label: &str, device: &Device<'_>| {
        let _ = writeln!(out, "{label:<11} {} ({})", device.path, device.compatible);
        for region in device.regions.iter() {
            let _ = writeln!(out, "            {region}");
        }
    };
    match &platform.console {
        Some(console) => device(&mut out, "console:", console),
        None => out.push_str("console:    (none)\n"),
    }
    match &platform.interrupt_controller {
        Some(gic) => device(&mut out, "interrupts:", gic.device()),
        None => out.push_str("interrupts: (none supported)\n"),
    }
    let _ = writeln!(out, "cpus:       {}", platform.cpus.count());
    for cpu in platform.cpus.listed() {
        let _ = writeln!(
            out,
            "            {}: MPIDR {}, enable-method {}",
            cpu.path,
            cpu.id
                .map_or("unreadable".to_owned(), |mpidr| format!("{mpidr:#x}")),
            cpu.enable_method.unwrap_or("(none)")
        );
    }
    if let Some(timer) = &platform.timer {
        let _ = writeln!(
            out,
            "timer:      {} (virtual INTID {}, physical INTID {})",
            timer.path, timer.virtual_intid, timer.physical_intid
        );
    }
    if let Some(bootargs) = platform.bootargs {
        let _ = writeln!(out, "bootargs:   {bootargs}");
    }
    out
}

fn json(platform: &PlatformDescription<'_>) -> String {
    let region = |range: &PhysRange| {
        format!(
            "{{\"base\": \"{:#x}\", \"size\": \"{:#x}\"}}",
            range.start.0, range.size
        )
    };
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let ram = list(platform.ram().iter().map(region).collect());
    let reserved = list(
        sorted_reservations(platform)
            .iter()
            .map(|reservation| {
                format!(
                    "{{\"base\": \"{:#x}\", \"size\": \"{:#x}\", \"reason\": {}}}",
                    reservation.range.start.0,
                    reservation.range.size,
                    string(&reservation.reason.to_string())
                )
            })
            .collect(),
    );
    let usable = list(usable(platform).iter().map(region).collect());
    let console = platform
        .console
        .as_ref()
        .map_or("null".to_owned(), |console| {
            let registers = console
                .regions
                .first()
                .copied()
                .unwrap_or(PhysRange::new(kernel::addr::PhysAddr(0), 0));
            format!(
                "{{\"path\": {}, \"compatible\": {}, \"base\": \"{:#x}\", \"size\": \"{:#x}\"}}",
                string(console.path.as_str()),
                string(console.compatible),
                registers.start.0,
                registers.size
            )
        });
    let controller = platform
        .interrupt_controller
        .as_ref()
        .map_or("null".to_owned(), |gic| {
            let device = gic.device();
            format!(
                "{{\"path\": {}, \"compatible\": {}, \"regions\": {}}}",
                string(device.path.as_str()),
                string(device.compatible),
                list(device.regions.iter().map(region).collect())
            )
        });
    let cpus = list(
        platform
            .cpus
            .listed()
            .iter()
            .map(|cpu| {
                format!(
                    "{{\"path\": {}, \"mpidr\": {}, \"enable_method\": {}}}",
                    string(cpu.path.as_str()),
                    cpu.id
                        .map_or("null".to_owned(), |mpidr| format!("\"{mpidr:#x}\"")),
                    cpu.enable_method.map_or("null".to_owned(), string)
                )
            })
            .collect(),
    );
    let cpus = format!(
        "{{\"count\": {}, \"listed\": {cpus}}}",
        platform.cpus.count()
    );
    let model = platform.model.map_or("null".to_owned(), string);
    format!(
        "{{\"model\": {model},\n \"ram\": {ram},\n \"reserved\": {reserved},\n \"usable\": {usable},\n \"console\": {console},\n \"interrupt_controller\": {controller},\n \"cpus\": {cpus}}}"
    )
}

/// `text` as a JSON string literal.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/src/platform/testdata/{name}.dtb",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    }

    #[test]
    fn json_has_the_documented_shape() {
        let blob = fixture("virt-initrd");
        let platform = PlatformDescription::from_dtb_as_written(&blob).unwrap();
        assert_eq!(
            json(&platform),
            r#"{"model": "initrd and reserved-memory fixture",
 "ram": [{"base": "0x40000000", "size": "0x10000000"}],
 "reserved": [{"base": "0x48000000", "size": "0x201800", "reason": "initrd"}, {"base": "0x4f000000", "size": "0x100000", "reason": "reserved-memory:firmware@4f000000"}],
 "usable": [{"base": "0x40000000", "size": "0x8000000"}, {"base": "0x48202000", "size": "0x6dfe000"}, {"base": "0x4f100000", "size": "0xf00000"}],
 "console": {"path": "/pl011@9000000", "compatible": "arm,pl011", "base": "0x9000000", "size": "0x1000"},
 "interrupt_controller": {"path": "/intc@8000000", "compatible": "arm,cortex-a15-gic", "regions": [{"base": "0x8000000", "size": "0x10000"}, {"base": "0x8010000", "size": "0x10000"}]},
 "cpus": {"count": 0, "listed": []}}"#
        );
        let blob = fixture("virt-smp4");
        let platform = PlatformDescription::from_dtb_as_written(&blob).unwrap();
        assert!(json(&platform).ends_with(r#""cpus": {"count": 4, "listed": [{"path": "/cpus/cpu@0", "mpidr": "0x0", "enable_method": "psci"}, {"path": "/cpus/cpu@1", "mpidr": "0x1", "enable_method": "psci"}, {"path": "/cpus/cpu@2", "mpidr": "0x2", "enable_method": "psci"}, {"path": "/cpus/cpu@3", "mpidr": "0x3", "enable_method": "psci"}]}}"#));
    }

    #[test]
    fn pi_addresses_are_translated_and_missing_memory_is_empty() {
        let blob = fixture("rpi4");
        let platform = PlatformDescription::from_dtb_as_written(&blob).unwrap();
        let out = json(&platform);
        assert!(out.contains(r#""console": {"path": "/soc/serial@7e201000", "compatible": "arm,pl011", "base": "0xfe201000""#));
        assert!(out.contains(r#""reason": "memreserve""#));
        let blob = fixture("bad-no-memory");
        let empty = PlatformDescription::from_dtb_as_written(&blob).unwrap();
        assert!(json(&empty).contains(r#""ram": [],"#));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }
}
