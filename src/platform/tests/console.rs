//! The console decision (`platform::console`): the UART `stdout-path` names,
//! or `serial0`'s with the reason, on Linux's Raspberry Pi 4 trees, the
//! committed fixtures and small trees made for each case.

use std::string::ToString;
use std::vec::Vec;

use super::builder::BlobBuilder;
use super::*;

/// One UART node under the root: name, `compatible` strings, `status`.
struct Uart<'a> {
    name: &'a str,
    compatible: &'a [&'a str],
    status: Option<&'a str>,
}

const PL011: Uart<'static> = Uart {
    name: "pl011@9000000",
    compatible: &["arm,pl011", "arm,primecell"],
    status: None,
};

/// A tree with 128 MiB of RAM, `stdout-path` and the `serial0` alias as
/// given, and `uarts` at 0x9000000, 0x9001000, … in order.
fn tree(stdout_path: Option<&str>, serial0: Option<&str>, uarts: &[Uart<'_>]) -> Vec<u8> {
    let mut builder = BlobBuilder::new();
    builder.minimal_root();
    if let Some(stdout_path) = stdout_path {
        builder
            .begin_node(b"chosen")
            .string("stdout-path", stdout_path)
            .end_node();
    }
    if let Some(serial0) = serial0 {
        builder
            .begin_node(b"aliases")
            .string("serial0", serial0)
            .end_node();
    }
    for (index, uart) in uarts.iter().enumerate() {
        let compatible: Vec<u8> = uart
            .compatible
            .iter()
            .flat_map(|name| name.bytes().chain([0]))
            .collect();
        builder
            .begin_node(uart.name.as_bytes())
            .property("compatible", &compatible)
            .cells("reg", &[0, 0x900_0000 + 0x1000 * index as u32, 0, 0x1000]);
        if let Some(status) = uart.status {
            builder.string("status", status);
        }
        builder.end_node();
    }
    builder.end_node().end();
    builder.finish()
}

/// The console's node path and driver, if there is a console.
fn used(choice: &ConsoleChoice<'_>) -> Option<(std::string::String, UartModel)> {
    choice
        .uart()
        .map(|uart| (uart.device.path.as_str().to_string(), uart.model))
}

/// Checks that `choice` writes to the UART at `path` with the `model`
/// driver, and that the report's console line for it is `line`.
fn assert_uses(choice: &ConsoleChoice<'_>, path: &str, model: UartModel, line: &str) {
    assert_eq!(used(choice), Some((path.into(), model)));
    assert_eq!(choice.to_string(), line);
}

/// Linux's `bcm2711-rpi-4-b.dtb` of one Debian kernel package, fetched by
/// `make test` (`boards/fetch-debian`; GPL, so not committed).
fn debian_pi4(version: &str) -> Vec<u8> {
    let path = std::format!(
        "{}/build/dtbs/{version}/broadcom/bcm2711-rpi-4-b.dtb",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{path}: {error} (make host-test fetches it)"))
}

#[test]
fn the_pi4_console_is_the_mini_uart_stdout_path_names() {
    for version in ["6.1", "6.12"] {
        // Read as written: its `/memory` is the firmware's to fill (QEMU does).
        let blob = debian_pi4(version);
        let description = PlatformDescription::from_dtb_as_written(&blob).expect("reads");
        let choice = description.console();
        let Some(uart) = choice.uart() else {
            panic!("{version}: no console: {choice}")
        };
        assert_eq!(choice, ConsoleChoice::Named(uart), "{version}");
        assert_eq!(uart.model, UartModel::MiniUart, "{version}");
        assert_eq!(uart.device.path.as_str(), "/soc/serial@7e215040");
        assert_eq!(&*uart.device.regions, &[range(0xfe21_5040, 0x40)]);
        assert_eq!(
            choice.to_string(),
            "/soc/serial@7e215040 (brcm,bcm2835-aux-uart)"
        );
        // serial0 is the PL011, kept for a fallback the tree does not need.
        let serial0 = description.serial0.expect("serial0");
        assert_eq!(serial0.model, Some(UartModel::Pl011));
    }
}

#[test]
fn committed_fixtures_name_their_pl011() {
    // The hand-written Pi 4 tree points stdout-path (serial1) at its PL011.
    let rpi4 = parse(fixture!("rpi4"));
    let choice = rpi4.console();
    assert_eq!(
        used(&choice),
        Some(("/soc/serial@7e201000".into(), UartModel::Pl011))
    );
    assert_eq!(choice.not_used(), None);
    assert_eq!(rpi4.stdout_path, Some("serial1:115200n8"));
    for virt in [fixture!("virt-128m"), fixture!("virt-gicv3")] {
        let virt = parse(virt);
        let choice = virt.console();
        assert_uses(
            &choice,
            "/pl011@9000000",
            UartModel::Pl011,
            "/pl011@9000000 (arm,pl011)",
        );
    }
}

#[test]
fn a_uart_without_a_driver_falls_back_to_serial0_and_says_why() {
    for unknown in ["snps,dw-apb-uart", "arm,sbsa-uart"] {
        let blob = tree(
            Some("/uart@9001000:115200n8"),
            Some("/pl011@9000000"),
            &[
                PL011,
                Uart {
                    name: "uart@9001000",
                    compatible: &[unknown],
                    status: None,
                },
            ],
        );
        let description = parse(&blob);
        let choice = description.console();
        assert_eq!(
            used(&choice),
            Some(("/pl011@9000000".into(), UartModel::Pl011))
        );
        let Some(NotUsed::NoDriver { named }) = choice.not_used() else {
            panic!("{unknown}: {choice:?}")
        };
        assert_eq!(named.path.as_str(), "/uart@9001000");
        assert_eq!(
            choice.to_string(),
            std::format!(
                "/pl011@9000000 (arm,pl011) from the serial0 alias: stdout-path names /uart@9001000 ({unknown}), which has no driver here"
            )
        );
        assert!(description.warnings().kept().is_empty());
    }
}

#[test]
fn a_disabled_stdout_uart_falls_back() {
    let blob = tree(
        Some("/serial@9001000"),
        Some("/pl011@9000000"),
        &[
            PL011,
            Uart {
                name: "serial@9001000",
                compatible: &["brcm,bcm2835-aux-uart"],
                status: Some("disabled"),
            },
        ],
    );
    let choice = parse(&blob).console();
    assert_eq!(
        used(&choice),
        Some(("/pl011@9000000".into(), UartModel::Pl011))
    );
    assert!(matches!(choice.not_used(), Some(NotUsed::Disabled { .. })));
    assert!(
        choice.to_string().ends_with(
            "stdout-path names /serial@9001000 (brcm,bcm2835-aux-uart), which is disabled"
        )
    );
    // Disabled and without a driver: the missing driver is what the report says.
    let blob = tree(
        Some("/serial@9001000"),
        Some("/pl011@9000000"),
        &[
            PL011,
            Uart {
                name: "serial@9001000",
                compatible: &["qcom,msm-uartdm-v1.4"],
                status: Some("disabled"),
            },
        ],
    );
    let choice = parse(&blob).console();
    assert!(matches!(choice.not_used(), Some(NotUsed::NoDriver { .. })));
}

#[test]
fn any_compatible_string_can_name_the_driver() {
    let blob = tree(
        Some("/serial@9000000"),
        None,
        &[Uart {
            name: "serial@9000000",
            compatible: &["acme,uart-v2", "brcm,bcm2835-aux-uart"],
            status: Some("okay"),
        }],
    );
    let choice = parse(&blob).console();
    assert_uses(
        &choice,
        "/serial@9000000",
        UartModel::MiniUart,
        "/serial@9000000 (acme,uart-v2)",
    );
}

#[test]
fn without_stdout_path_serial0_serves_and_the_report_says_so() {
    let description = parse(fixture!("split-ram"));
    let choice = description.console();
    assert_eq!(
        used(&choice),
        Some(("/uart@9000000".into(), UartModel::Pl011))
    );
    assert_eq!(choice.not_used(), Some(NotUsed::NoStdoutPath));
    assert_eq!(
        choice.to_string(),
        "/uart@9000000 (arm,pl011) from the serial0 alias: the tree has no stdout-path"
    );
}

#[test]
fn no_usable_uart_gives_no_console_and_the_reason() {
    let sbsa = Uart {
        name: "uart@9000000",
        compatible: &["arm,sbsa-uart"],
        status: None,
    };
    // stdout-path and serial0 name the same UART, which has no driver.
    let blob = tree(Some("serial0"), Some("/uart@9000000"), &[sbsa]);
    let choice = parse(&blob).console();
    assert_eq!(choice.uart(), None);
    assert!(matches!(choice.not_used(), Some(NotUsed::NoDriver { .. })));
    assert_eq!(
        choice.to_string(),
        "none: stdout-path names /uart@9000000 (arm,sbsa-uart), which has no driver here, and serial0 names no UART the kernel drives"
    );
    // A PL011 that nothing names is not taken: the tree did not offer it.
    let blob = tree(None, None, &[PL011]);
    let choice = parse(&blob).console();
    assert_eq!(
        choice,
        ConsoleChoice::Fallback {
            reason: NotUsed::NoStdoutPath,
            serial0: None
        }
    );
    // stdout-path naming nothing, and no serial0.
    let blob = tree(Some("serial9"), None, &[PL011]);
    let choice = parse(&blob).console();
    assert_eq!(choice.uart(), None);
    assert_eq!(
        choice.not_used(),
        Some(NotUsed::NamesNothing {
            stdout_path: "serial9"
        })
    );
}

#[test]
fn an_unreadable_serial0_matters_only_for_a_fallback() {
    let blob = |stdout_compatible: &str| {
        let mut builder = BlobBuilder::new();
        builder
            .minimal_root()
            .begin_node(b"chosen")
            .string("stdout-path", "/uart@9001000")
            .end_node()
            .begin_node(b"aliases")
            .string("serial0", "/broken")
            .end_node()
            .begin_node(b"broken")
            .string("compatible", "arm,pl011")
            .end_node()
            .begin_node(b"uart@9001000")
            .string("compatible", stdout_compatible)
            .cells("reg", &[0, 0x900_1000, 0, 0x1000])
            .end_node()
            .end_node()
            .end();
        builder.finish()
    };
    let drivable = blob("arm,pl011");
    assert!(
        parse(&drivable)
            .serial0
            .is_some_and(|serial0| serial0.device.is_err())
    );
    let without_driver = blob("snps,dw-apb-uart");
    assert_eq!(
        PlatformDescription::from_dtb(&without_driver, None).unwrap_err(),
        Error::MissingProperty {
            path: NodePath::root().child("broken"),
            property: "reg"
        }
    );
}

#[test]
fn an_unreadable_stdout_uart_matters_only_when_it_would_be_the_console() {
    // stdout-path names a UART whose `reg` is missing; serial0 is a PL011.
    let blob = |compatible: &str, status: &str| {
        let mut builder = BlobBuilder::new();
        builder
            .minimal_root()
            .begin_node(b"chosen")
            .string("stdout-path", "/broken:115200n8")
            .end_node()
            .begin_node(b"aliases")
            .string("serial0", "/pl011@9000000")
            .end_node()
            .begin_node(b"broken")
            .string("compatible", compatible)
            .string("status", status)
            .end_node()
            .begin_node(b"pl011@9000000")
            .string("compatible", "arm,pl011")
            .cells("reg", &[0, 0x900_0000, 0, 0x1000])
            .end_node()
            .end_node()
            .end();
        builder.finish()
    };
    let without_driver = blob("snps,dw-apb-uart", "okay");
    let description = parse(&without_driver);
    let choice = description.console();
    assert_uses(
        &choice,
        "/pl011@9000000",
        UartModel::Pl011,
        "/pl011@9000000 (arm,pl011) from the serial0 alias: stdout-path names /broken (snps,dw-apb-uart), which has no driver here",
    );
    let disabled = blob("arm,pl011", "disabled");
    assert!(matches!(
        parse(&disabled).console().not_used(),
        Some(NotUsed::Disabled { .. })
    ));
    let console = blob("arm,pl011", "okay");
    assert_eq!(
        PlatformDescription::from_dtb(&console, None).unwrap_err(),
        Error::MissingProperty {
            path: NodePath::root().child("broken"),
            property: "reg"
        }
    );
}
