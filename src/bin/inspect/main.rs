//! `make inspect DTB=board.dtb [FORMAT=text|json|svg]`: what the kernel
//! would make of a device tree, computed on the host by the kernel's own
//! platform description.
//!
//! It reads the tree as the kernel boots from it (`from_dtb`); when the
//! kernel would refuse the tree as written (it leaves RAM to a bootloader,
//! say), it says so and shows the tree as written instead. It leaves out
//! what exists only at boot: the kernel image, the blob's own placement and
//! the boot page tables. Text and JSON carry the same facts; SVG draws the
//! physical memory map (`svg.rs`). On a bad tree it prints the named error
//! on stderr, nothing on stdout, and exits 1 (`make inspect` then reports
//! that as its own failure, status 2).

mod svg;

#[cfg(test)]
mod corpus;

use std::fmt::Write as _;
use std::process::ExitCode;

use kernel::addr::{PhysAddr, PhysRange};
use kernel::platform::{self, Error, NotUsed, PlatformDescription, UartNode};

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let (Some(path), format) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: inspect <file.dtb> [text|json|svg]");
        return ExitCode::from(2);
    };
    let mut blob = match std::fs::read(&path) {
        Ok(blob) => blob,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let inspected = match Inspected::read(&mut blob) {
        Ok(inspected) => inspected,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match format.as_deref() {
        Some("json") => println!("{}", json(&inspected)),
        Some("svg") => print!("{}", svg::memory_map(&inspected.platform)),
        None | Some("text") => print!("{}", text(&inspected)),
        Some(other) => {
            eprintln!("unknown format {other:?}: use text, json or svg");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// A tree as the kernel would read it, or as written when the kernel would
/// refuse it.
struct Inspected<'dtb> {
    platform: PlatformDescription<'dtb>,
    /// Why the kernel would not boot from the tree as written, if it would not.
    refusal: Option<Error>,
}

impl<'dtb> Inspected<'dtb> {
    /// As the kernel does: NOPs out, then parse, with no blob address
    /// (inspect shows the tree, not its placement). A tree the kernel would
    /// refuse is read again as written, leaving what a bootloader fills in
    /// (memory) empty; only a tree that even that cannot read is an error.
    fn read(blob: &'dtb mut [u8]) -> Result<Self, Error> {
        platform::strip_nops(blob)?;
        let blob: &'dtb [u8] = blob;
        match PlatformDescription::from_dtb(blob, None) {
            Ok(platform) => Ok(Self {
                platform,
                refusal: None,
            }),
            Err(refusal) => Ok(Self {
                platform: PlatformDescription::from_dtb_as_written(blob)?,
                refusal: Some(refusal),
            }),
        }
    }
}

/// The words for an empty RAM list: the tree leaves RAM to a bootloader.
const RAM_LEFT_TO_BOOTLOADER: &str = "none in the tree: it leaves RAM to the bootloader (no /memory node, or only placeholder entries)";

/// The words for the kernel's verdict on the tree as written.
fn verdict(refusal: Option<&str>) -> String {
    match refusal {
        None => "boots from this tree as written".to_owned(),
        Some(error) => format!("would refuse this tree as written ({error}); shown as written"),
    }
}

/// The words for a timer: its path and the two INTIDs that matter.
fn timer_words(timer: Option<&platform::Timer>) -> String {
    match timer {
        Some(timer) => format!(
            "{} (virtual INTID {}, physical INTID {})",
            timer.path, timer.virtual_intid, timer.physical_intid
        ),
        None => "(none the kernel can use)".to_owned(),
    }
}

/// The words for a GIC's generation.
fn version_words(version: platform::GicVersion) -> &'static str {
    match version {
        platform::GicVersion::V2 => "GICv2",
        platform::GicVersion::V3 => "GICv3",
    }
}

/// `and N more`, when a bounded list counted more than it kept.
fn beyond(kept: usize, count: usize) -> Option<usize> {
    count.checked_sub(kept).filter(|&more| more > 0)
}

fn text(inspected: &Inspected<'_>) -> String {
    let platform = &inspected.platform;
    let mut out = String::new();
    let _ = writeln!(out, "model:      {}", platform.model.unwrap_or("(none)"));
    let _ = writeln!(
        out,
        "kernel:     {}",
        verdict(inspected.refusal.map(|error| error.to_string()).as_deref())
    );
    let warnings = platform.warnings();
    for warning in warnings.kept() {
        let _ = writeln!(out, "warning:    {warning}");
    }
    if let Some(more) = beyond(warnings.kept().len(), warnings.count()) {
        let _ = writeln!(out, "warning:    and {more} more");
    }
    for range in platform.ram() {
        let _ = writeln!(out, "ram:        {range}");
    }
    if platform.ram().is_empty() {
        let _ = writeln!(out, "ram:        {RAM_LEFT_TO_BOOTLOADER}");
    }
    for reservation in platform.reserved() {
        let _ = writeln!(
            out,
            "reserved:   {} ({})",
            reservation.range, reservation.reason
        );
    }
    let reusable = platform.reusable();
    for pool in reusable.kept() {
        let _ = writeln!(out, "reusable:   {pool}");
    }
    if let Some(more) = beyond(reusable.kept().len(), reusable.count()) {
        let _ = writeln!(out, "reusable:   and {more} more");
    }
    for range in platform.usable() {
        let _ = writeln!(out, "usable:     {range}");
    }
    // The kernel's own decision, in the boot report's words.
    let console = platform.console();
    let _ = writeln!(out, "console:    {console}");
    for region in console
        .uart()
        .iter()
        .flat_map(|uart| uart.device.regions.iter())
    {
        let _ = writeln!(out, "            {region}");
    }
    match &platform.interrupt_controller {
        Some(gic) => {
            let _ = writeln!(
                out,
                "interrupts: {} ({}), {}",
                gic.device().path,
                gic.device().compatible,
                version_words(gic.version())
            );
            for region in gic.device().regions.iter() {
                let _ = writeln!(out, "            {region}");
            }
        }
        None => out.push_str("interrupts: (none the kernel drives)\n"),
    }
    let unsupported = platform.unsupported();
    for device in unsupported.kept() {
        let _ = writeln!(out, "not driven: {device}");
    }
    if let Some(more) = beyond(unsupported.kept().len(), unsupported.count()) {
        let _ = writeln!(out, "not driven: and {more} more");
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
    let _ = writeln!(out, "timer:      {}", timer_words(platform.timer.as_ref()));
    let _ = writeln!(out, "bootargs:   {}", platform.bootargs.unwrap_or("(none)"));
    out
}

fn json(inspected: &Inspected<'_>) -> String {
    let platform = &inspected.platform;
    let region = |range: &PhysRange| {
        format!(
            "{{\"base\": \"{:#x}\", \"size\": \"{:#x}\"}}",
            range.start.0, range.size
        )
    };
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let optional = |text: Option<&str>| text.map_or("null".to_owned(), string);
    let refusal = optional(inspected.refusal.map(|error| error.to_string()).as_deref());
    let warnings = platform.warnings();
    let warning_list = list(
        warnings
            .kept()
            .iter()
            .map(|warning| string(&warning.to_string()))
            .collect(),
    );
    let more_warnings = beyond(warnings.kept().len(), warnings.count()).unwrap_or(0);
    let ram = list(platform.ram().iter().map(region).collect());
    let reserved = list(
        platform
            .reserved()
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
    let usable = list(platform.usable().map(|range| region(&range)).collect());
    let reusable_pools = platform.reusable();
    let reusable = list(
        reusable_pools
            .kept()
            .iter()
            .map(|pool| {
                let place = match (pool.range, pool.size) {
                    (Some(range), _) => format!(
                        "\"base\": \"{:#x}\", \"size\": \"{:#x}\"",
                        range.start.0, range.size
                    ),
                    (None, Some(size)) => format!("\"base\": null, \"size\": \"{size:#x}\""),
                    (None, None) => "\"base\": null, \"size\": null".to_owned(),
                };
                format!("{{\"name\": {}, {place}}}", string(pool.name))
            })
            .collect(),
    );
    let more_reusable = beyond(reusable_pools.kept().len(), reusable_pools.count()).unwrap_or(0);
    let console = platform.console();
    let console_fallback = console.not_used().map_or("null".to_owned(), |not_used| {
        not_used_json(&not_used, platform)
    });
    let console = console.uart().map_or("null".to_owned(), |uart| {
        // The first region again as `base` and `size`: the register block
        // the driver uses, kept for readers written before `regions`.
        let registers = uart
            .device
            .regions
            .first()
            .copied()
            .unwrap_or(PhysRange::new(PhysAddr(0), 0));
        format!(
            "{{\"path\": {}, \"compatible\": {}, \"base\": \"{:#x}\", \"size\": \"{:#x}\", \"regions\": {}, \"driver\": {}}}",
            string(uart.device.path.as_str()),
            string(uart.device.compatible),
            registers.start.0,
            registers.size,
            list(uart.device.regions.iter().map(region).collect()),
            string(uart.model.name())
        )
    });
    let controller = platform
        .interrupt_controller
        .as_ref()
        .map_or("null".to_owned(), |gic| {
            let device = gic.device();
            format!(
                "{{\"path\": {}, \"compatible\": {}, \"version\": {}, \"regions\": {}}}",
                string(device.path.as_str()),
                string(device.compatible),
                string(version_words(gic.version())),
                list(device.regions.iter().map(region).collect())
            )
        });
    let unsupported = platform.unsupported();
    let not_driven = list(
        unsupported
            .kept()
            .iter()
            .map(|device| {
                format!(
                    "{{\"path\": {}, \"compatible\": {}, \"kind\": {}, \"reason\": {}}}",
                    string(&device.path.to_string()),
                    string(device.compatible),
                    string(device.reason.device_kind()),
                    string(&device.reason.to_string())
                )
            })
            .collect(),
    );
    let more_not_driven = beyond(unsupported.kept().len(), unsupported.count()).unwrap_or(0);
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
                    optional(cpu.enable_method)
                )
            })
            .collect(),
    );
    let cpus = format!(
        "{{\"count\": {}, \"listed\": {cpus}}}",
        platform.cpus.count()
    );
    let timer = platform.timer.as_ref().map_or("null".to_owned(), |timer| {
        format!(
            "{{\"path\": {}, \"virtual_intid\": {}, \"physical_intid\": {}}}",
            string(timer.path.as_str()),
            timer.virtual_intid,
            timer.physical_intid
        )
    });
    format!(
        "{{\"model\": {},\n \"refusal\": {refusal},\n \"warnings\": {warning_list},\n \"more_warnings\": {more_warnings},\n \"ram\": {ram},\n \"ram_left_to_bootloader\": {},\n \"reserved\": {reserved},\n \"reusable\": {reusable},\n \"more_reusable\": {more_reusable},\n \"usable\": {usable},\n \"console\": {console},\n \"console_fallback\": {console_fallback},\n \"interrupt_controller\": {controller},\n \"not_driven\": {not_driven},\n \"more_not_driven\": {more_not_driven},\n \"cpus\": {cpus},\n \"timer\": {timer},\n \"bootargs\": {}}}",
        optional(platform.model),
        platform.ram().is_empty(),
        optional(platform.bootargs)
    )
}

/// Why the console is not `stdout-path`'s UART, as the `console_fallback`
/// object: the reason as a short code and in the boot report's words,
/// `stdout-path` as written, the node it named when it named one, and the
/// `serial0` alias's node, driven or not.
fn not_used_json(not_used: &NotUsed<'_>, platform: &PlatformDescription<'_>) -> String {
    let (reason, named) = match not_used {
        NotUsed::NoStdoutPath => ("no stdout-path", None),
        NotUsed::NamesNothing { .. } => ("names nothing", None),
        NotUsed::Disabled { named } => ("disabled", Some(named)),
        NotUsed::NoDriver { named } => ("no driver", Some(named)),
    };
    let node = |uart: Option<&UartNode<'_>>| {
        uart.map_or("null".to_owned(), |uart| {
            let base = uart
                .device
                .ok()
                .and_then(|device| device.regions.first().copied())
                .map_or("null".to_owned(), |registers| {
                    format!("\"{:#x}\"", registers.start.0)
                });
            format!(
                "{{\"path\": {}, \"compatible\": {}, \"base\": {base}}}",
                string(uart.path.as_str()),
                string(uart.compatible)
            )
        })
    };
    format!(
        "{{\"reason\": \"{reason}\", \"words\": {}, \"stdout_path\": {}, \"named\": {}, \"serial0\": {}}}",
        string(&not_used.to_string()),
        platform.stdout_path.map_or("null".to_owned(), string),
        node(named),
        node(platform.serial0.as_ref())
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
    use serde_json::Value;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/src/platform/testdata/{name}.dtb",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    }

    fn inspect_json(blob: &mut [u8]) -> String {
        json(&Inspected::read(blob).expect("readable fixture"))
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut blob = fixture("virt-initrd");
        assert_eq!(
            inspect_json(&mut blob),
            r#"{"model": "initrd and reserved-memory fixture",
 "refusal": null,
 "warnings": [],
 "more_warnings": 0,
 "ram": [{"base": "0x40000000", "size": "0x10000000"}],
 "ram_left_to_bootloader": false,
 "reserved": [{"base": "0x4f000000", "size": "0x100000", "reason": "reserved-memory:firmware@4f000000"}, {"base": "0x48000000", "size": "0x201800", "reason": "initrd"}],
 "reusable": [],
 "more_reusable": 0,
 "usable": [{"base": "0x40000000", "size": "0x8000000"}, {"base": "0x48202000", "size": "0x6dfe000"}, {"base": "0x4f100000", "size": "0xf00000"}],
 "console": {"path": "/pl011@9000000", "compatible": "arm,pl011", "base": "0x9000000", "size": "0x1000", "regions": [{"base": "0x9000000", "size": "0x1000"}], "driver": "PL011"},
 "console_fallback": null,
 "interrupt_controller": {"path": "/intc@8000000", "compatible": "arm,cortex-a15-gic", "version": "GICv2", "regions": [{"base": "0x8000000", "size": "0x10000"}, {"base": "0x8010000", "size": "0x10000"}]},
 "not_driven": [],
 "more_not_driven": 0,
 "cpus": {"count": 0, "listed": []},
 "timer": {"path": "/timer", "virtual_intid": 27, "physical_intid": 30},
 "bootargs": "console=ttyAMA0 root=/dev/ram0"}"#
        );
        let mut blob = fixture("virt-smp4");
        assert!(inspect_json(&mut blob).contains(r#""cpus": {"count": 4, "listed": [{"path": "/cpus/cpu@0", "mpidr": "0x0", "enable_method": "psci"}, {"path": "/cpus/cpu@1", "mpidr": "0x1", "enable_method": "psci"}, {"path": "/cpus/cpu@2", "mpidr": "0x2", "enable_method": "psci"}, {"path": "/cpus/cpu@3", "mpidr": "0x3", "enable_method": "psci"}]}"#));
    }

    #[test]
    fn pi_addresses_are_translated_and_missing_memory_is_left_to_the_bootloader() {
        let mut blob = fixture("rpi4");
        let out = inspect_json(&mut blob);
        assert!(out.contains(r#""console": {"path": "/soc/serial@7e201000", "compatible": "arm,pl011", "base": "0xfe201000""#));
        assert!(out.contains(r#""reason": "memreserve""#));
        let mut blob = fixture("bad-no-memory");
        let inspected = Inspected::read(&mut blob).unwrap();
        assert_eq!(inspected.refusal, Some(Error::NoMemoryNode));
        let out = json(&inspected);
        assert!(out.contains(r#""ram": [],"#));
        assert!(out.contains(r#""ram_left_to_bootloader": true,"#));
        assert!(text(&inspected).contains(&format!("ram:        {RAM_LEFT_TO_BOOTLOADER}\n")));
    }

    #[test]
    fn the_console_is_the_kernels_choice_with_its_fallback() {
        // Linux's Pi 4 tree (fetched by `make host-test`): the mini UART that
        // stdout-path names, as the kernel uses it.
        let path = format!(
            "{}/build/dtbs/6.1/broadcom/bcm2711-rpi-4-b.dtb",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut blob = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        let inspected = Inspected::read(&mut blob).expect("Linux's Pi 4 tree");
        assert!(text(&inspected).contains(
            "console:    /soc/serial@7e215040 (brcm,bcm2835-aux-uart)\n            [0xfe21_5040, 0xfe21_5080) 64 B\n"
        ));
        assert!(json(&inspected).contains(
            r#""console": {"path": "/soc/serial@7e215040", "compatible": "brcm,bcm2835-aux-uart", "base": "0xfe215040", "size": "0x40", "regions": [{"base": "0xfe215040", "size": "0x40"}], "driver": "mini UART"},
 "console_fallback": null,"#
        ));
        // No stdout-path: serial0's UART, and the reason, in both formats.
        let mut blob = fixture("split-ram");
        let inspected = Inspected::read(&mut blob).expect("split-ram");
        assert!(text(&inspected).contains(
            "console:    /uart@9000000 (arm,pl011) from the serial0 alias: the tree has no stdout-path\n"
        ));
        assert!(json(&inspected).contains(
            r#""console_fallback": {"reason": "no stdout-path", "words": "the tree has no stdout-path", "stdout_path": null, "named": null, "serial0": {"path": "/uart@9000000", "compatible": "arm,pl011", "base": "0x9000000"}},"#
        ));
    }

    #[test]
    fn every_console_region_is_in_both_formats() {
        // A console UART with two `reg` regions, compiled by `dtc`.
        let source = "/dts-v1/; / { #address-cells = <1>; #size-cells = <1>; \
            memory@40000000 { device_type = \"memory\"; reg = <0x40000000 0x8000000>; }; \
            chosen { stdout-path = \"/uart@9000000\"; }; \
            uart@9000000 { compatible = \"arm,pl011\"; reg = <0x9000000 0x1000 0x9100000 0x100>; }; };";
        let mut child = std::process::Command::new("dtc")
            .args(["-I", "dts", "-O", "dtb"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("dtc (make host-test installs device-tree-compiler)");
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, source.as_bytes()).expect("dtc's stdin");
        }
        let output = child.wait_with_output().expect("dtc did not finish");
        assert!(output.status.success(), "dtc failed");
        let mut blob = output.stdout;
        let inspected = Inspected::read(&mut blob).expect("the tree");
        let printed = text(&inspected);
        assert!(printed.contains(
            "console:    /uart@9000000 (arm,pl011)\n            [0x900_0000, 0x900_1000) 4 KiB\n            [0x910_0000, 0x910_0100) 256 B\n"
        ), "{printed}");
        let facts: Value = serde_json::from_str(&json(&inspected)).expect("JSON");
        assert_eq!(
            printed.lines().map(str::to_owned).collect::<Vec<_>>(),
            text_from_json(&facts)
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }

    fn range_words(value: &Value) -> String {
        let number = |key: &str| {
            let text = value[key].as_str().expect("hex string");
            u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex")
        };
        PhysRange::new(PhysAddr(number("base")), number("size")).to_string()
    }

    fn text_or<'v>(value: &'v Value, none: &'v str) -> &'v str {
        value.as_str().unwrap_or(none)
    }

    /// The text inspect should print, rebuilt from nothing but its JSON.
    pub(super) fn text_from_json(facts: &Value) -> Vec<String> {
        let list = |key: &str| facts[key].as_array().cloned().unwrap_or_default();
        let mut lines = vec![
            format!("model:      {}", text_or(&facts["model"], "(none)")),
            format!("kernel:     {}", verdict(facts["refusal"].as_str())),
        ];
        for warning in list("warnings") {
            lines.push(format!("warning:    {}", text_or(&warning, "?")));
        }
        if facts["more_warnings"] != 0 {
            lines.push(format!("warning:    and {} more", facts["more_warnings"]));
        }
        for range in list("ram") {
            lines.push(format!("ram:        {}", range_words(&range)));
        }
        if facts["ram_left_to_bootloader"] == true {
            lines.push(format!("ram:        {RAM_LEFT_TO_BOOTLOADER}"));
        }
        for reservation in list("reserved") {
            lines.push(format!(
                "reserved:   {} ({})",
                range_words(&reservation),
                text_or(&reservation["reason"], "?")
            ));
        }
        for pool in list("reusable") {
            let name = text_or(&pool["name"], "?");
            let place = match (pool["base"].is_null(), pool["size"].as_str()) {
                (false, _) => range_words(&pool),
                (true, Some(size)) => std::format!(
                    "{} placed by the OS (no reg)",
                    kernel::addr::ByteSize(
                        u64::from_str_radix(size.trim_start_matches("0x"), 16).expect("hex")
                    )
                ),
                (true, None) => "(no reg, no size)".to_owned(),
            };
            lines.push(format!(
                "reusable:   /reserved-memory/{name} {place}: reusable, left usable (no driver here claims it back)"
            ));
        }
        if facts["more_reusable"] != 0 {
            lines.push(format!("reusable:   and {} more", facts["more_reusable"]));
        }
        for range in list("usable") {
            lines.push(format!("usable:     {}", range_words(&range)));
        }
        let console = &facts["console"];
        let fallback = &facts["console_fallback"];
        let uart = || {
            format!(
                "{} ({})",
                text_or(&console["path"], "?"),
                text_or(&console["compatible"], "?")
            )
        };
        lines.push(match (console.is_null(), fallback.is_null()) {
            (false, true) => format!("console:    {}", uart()),
            (false, false) => format!(
                "console:    {} from the serial0 alias: {}",
                uart(),
                text_or(&fallback["words"], "?")
            ),
            (true, _) => format!(
                "console:    none: {}, and serial0 names no UART the kernel drives",
                text_or(&fallback["words"], "?")
            ),
        });
        for region in console["regions"].as_array().cloned().unwrap_or_default() {
            lines.push(format!("            {}", range_words(&region)));
        }
        let gic = &facts["interrupt_controller"];
        if gic.is_null() {
            lines.push("interrupts: (none the kernel drives)".to_owned());
        } else {
            lines.push(format!(
                "interrupts: {} ({}), {}",
                text_or(&gic["path"], "?"),
                text_or(&gic["compatible"], "?"),
                text_or(&gic["version"], "?")
            ));
            for region in gic["regions"].as_array().cloned().unwrap_or_default() {
                lines.push(format!("            {}", range_words(&region)));
            }
        }
        for device in list("not_driven") {
            let compatible = text_or(&device["compatible"], "");
            lines.push(format!(
                "not driven: {} ({}): {}",
                text_or(&device["path"], "?"),
                if compatible.is_empty() {
                    "no compatible"
                } else {
                    compatible
                },
                text_or(&device["reason"], "?")
            ));
        }
        if facts["more_not_driven"] != 0 {
            lines.push(format!("not driven: and {} more", facts["more_not_driven"]));
        }
        lines.push(format!("cpus:       {}", facts["cpus"]["count"]));
        for cpu in facts["cpus"]["listed"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            lines.push(format!(
                "            {}: MPIDR {}, enable-method {}",
                text_or(&cpu["path"], "?"),
                text_or(&cpu["mpidr"], "unreadable"),
                text_or(&cpu["enable_method"], "(none)")
            ));
        }
        let timer = &facts["timer"];
        lines.push(if timer.is_null() {
            format!("timer:      {}", timer_words(None))
        } else {
            format!(
                "timer:      {} (virtual INTID {}, physical INTID {})",
                text_or(&timer["path"], "?"),
                timer["virtual_intid"],
                timer["physical_intid"]
            )
        });
        lines.push(format!(
            "bootargs:   {}",
            text_or(&facts["bootargs"], "(none)")
        ));
        lines
    }

    #[test]
    fn text_and_json_carry_the_same_facts_on_every_fixture() {
        let directory = format!("{}/src/platform/testdata", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for entry in std::fs::read_dir(directory).expect("testdata") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|extension| extension != "dtb") {
                continue;
            }
            let mut blob = std::fs::read(&path).expect("fixture");
            let Ok(inspected) = Inspected::read(&mut blob) else {
                continue;
            };
            let facts: Value = serde_json::from_str(&json(&inspected))
                .unwrap_or_else(|error| panic!("{}: JSON does not parse: {error}", path.display()));
            let printed: Vec<String> = text(&inspected).lines().map(str::to_owned).collect();
            assert_eq!(printed, text_from_json(&facts), "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} fixtures read");
    }
}
