//! The interrupt tree: which controller is its root, whether the kernel
//! drives it, how the timer's interrupts are read, and what is listed as
//! not driven.

use super::builder::BlobBuilder;
use super::*;
use crate::platform::devices::MAX_INTERRUPT_HOPS;
use std::vec::Vec;

const GIC: u32 = 1;
const OTHER: u32 = 2;

/// `minimal_root` with `interrupt-parent = <parent>` on the root node.
fn root(builder: &mut BlobBuilder, parent: u32) -> &mut BlobBuilder {
    builder
        .begin_node(b"")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .cells("interrupt-parent", &[parent])
        .begin_node(b"memory@40000000")
        .string("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x800_0000])
        .end_node()
}

/// Adds the generic timer, its four PPIs in three cells each.
fn armv8_timer(builder: &mut BlobBuilder) -> &mut BlobBuilder {
    builder
        .begin_node(b"timer")
        .string("compatible", "arm,armv8-timer")
        .cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])
        .end_node()
}

/// A root whose interrupt parent is `root_parent`, with a GIC of `compatible`
/// (phandle [`GIC`], its own interrupt parent as in Linux's trees,
/// three-cell interrupts) and a timer; `extra` adds nodes.
fn tree(root_parent: u32, compatible: &str, extra: &dyn Fn(&mut BlobBuilder)) -> Vec<u8> {
    let mut builder = BlobBuilder::new();
    root(&mut builder, root_parent);
    extra(&mut builder);
    builder
        .begin_node(b"intc@8000000")
        .string("compatible", compatible)
        .property("interrupt-controller", &[])
        .cells("#interrupt-cells", &[3])
        .cells("phandle", &[GIC])
        .cells("interrupt-parent", &[GIC])
        .cells("reg", &[0, 0x800_0000, 0, 0x1000, 0, 0x801_0000, 0, 0x1000])
        .end_node();
    armv8_timer(&mut builder).end_node().end();
    builder.finish()
}

fn unsupported<'a>(description: &'a PlatformDescription<'_>) -> Vec<(&'a str, UnsupportedReason)> {
    description
        .unsupported()
        .kept()
        .iter()
        .map(|device| (device.path.as_str(), device.reason))
        .collect()
}

#[test]
fn every_gic_that_linux_drives_is_driven() {
    for compatible in [
        "arm,gic-400",
        "arm,cortex-a15-gic",
        "arm,cortex-a9-gic",
        "arm,cortex-a7-gic",
        "arm,pl390",
        "qcom,msm-qgic2",
        "qcom,msm-8660-qgic",
        "arm,arm11mp-gic",
        "arm,arm1176jzf-devchip-gic",
    ] {
        let blob = tree(GIC, compatible, &|_| {});
        let description = parse(&blob);
        let gic = description.interrupt_controller.expect(compatible);
        assert_eq!(gic.version(), GicVersion::V2, "{compatible}");
        assert_eq!(gic.cpu_interface(), Some(range(0x801_0000, 0x1000)));
        assert_eq!(description.timer.map(|timer| timer.virtual_intid), Some(27));
        assert!(description.unsupported().kept().is_empty(), "{compatible}");
    }
}

#[test]
fn a_root_controller_that_is_not_a_gic_is_named_with_the_timer() {
    // A Raspberry Pi 3: the root's parent is the ARM control block, whose
    // parent is the local controller, its own parent; the timer goes there.
    let mut builder = BlobBuilder::new();
    root(&mut builder, OTHER + 1)
        .begin_node(b"intc@7e00b200")
        .string("compatible", "brcm,bcm2836-armctrl-ic")
        .property("interrupt-controller", &[])
        .cells("phandle", &[OTHER + 1])
        .cells("interrupt-parent", &[OTHER])
        .end_node()
        .begin_node(b"local_intc@40000000")
        .string("compatible", "brcm,bcm2836-l1-intc")
        .property("interrupt-controller", &[])
        .cells("phandle", &[OTHER])
        .cells("interrupt-parent", &[OTHER])
        .end_node()
        .begin_node(b"timer")
        .string("compatible", "arm,armv7-timer")
        .cells("interrupt-parent", &[OTHER])
        .cells("interrupts", &[0, 4, 1, 4, 3, 4, 2, 4])
        .end_node()
        .end_node()
        .end();
    let blob = builder.finish();
    let description = parse(&blob);
    assert_eq!(description.interrupt_controller, None);
    assert_eq!(description.timer, None);
    assert_eq!(
        unsupported(&description),
        [
            ("/local_intc@40000000", UnsupportedReason::NotAGic),
            ("/timer", UnsupportedReason::TimerWithoutGic),
        ]
    );
    assert_eq!(
        description.unsupported().kept()[0].to_string(),
        "/local_intc@40000000 (brcm,bcm2836-l1-intc): interrupt controller, not a GIC: no driver"
    );
}

#[test]
fn the_chain_is_followed_to_a_gic_behind_another_controller() {
    // MediaTek's sysirq (or Tegra's lic) sits between the devices and the
    // GIC; the walk meets it before the GIC here, and after it below.
    let sysirq = |builder: &mut BlobBuilder| {
        builder
            .begin_node(b"sysirq@10200620")
            .string("compatible", "mediatek,mt6577-sysirq")
            .property("interrupt-controller", &[])
            .cells("phandle", &[OTHER])
            .cells("interrupt-parent", &[GIC])
            .end_node();
    };
    let blob = tree(OTHER, "arm,gic-400", &sysirq);
    let description = parse(&blob);
    assert!(description.interrupt_controller.is_some());
    assert_eq!(description.warnings().kept(), &[]);
    // The timer inherits the root's parent, the sysirq: not the GIC.
    assert_eq!(
        unsupported(&description),
        [("/timer", UnsupportedReason::TimerInterruptsElsewhere)]
    );

    let mut builder = BlobBuilder::new();
    root(&mut builder, OTHER)
        .begin_node(b"intc@8000000")
        .string("compatible", "arm,gic-v3")
        .property("interrupt-controller", &[])
        .cells("#interrupt-cells", &[4])
        .cells("#redistributor-regions", &[2])
        .property("redistributor-stride", &0x4_0000u64.to_be_bytes())
        .cells("interrupt-parent", &[GIC])
        .cells("phandle", &[GIC])
        .cells(
            "reg",
            &[
                0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0x4_0000, 0, 0x90a_0000, 0, 0x4_0000,
            ],
        )
        .end_node();
    sysirq(&mut builder);
    builder
        .begin_node(b"timer")
        .string("compatible", "arm,armv8-timer")
        .cells("interrupt-parent", &[GIC])
        // Four cells each, as on an RK3399: the last names a PPI partition.
        .cells(
            "interrupts",
            &[1, 13, 8, 0, 1, 14, 8, 0, 1, 11, 8, 0, 1, 10, 8, 0],
        )
        .end_node()
        .end_node()
        .end();
    let blob = builder.finish();
    let description = parse(&blob);
    let gic = description
        .interrupt_controller
        .expect("the GIC behind the sysirq");
    assert_eq!(gic.version(), GicVersion::V3);
    assert_eq!(
        gic.redistributors(),
        &[range(0x80a_0000, 0x4_0000), range(0x90a_0000, 0x4_0000)]
    );
    assert_eq!(gic.redistributor_stride(), Some(0x4_0000));
    assert_eq!(
        description.timer,
        Some(Timer {
            path: NodePath::root().child("timer"),
            secure_physical_intid: 29,
            physical_intid: 30,
            virtual_intid: 27,
            hypervisor_intid: 26,
        })
    );
    assert!(description.unsupported().kept().is_empty());
}

#[test]
fn a_broken_chain_warns_and_falls_back_to_the_first_gic() {
    let blob = tree(0x99, "arm,cortex-a15-gic", &|_| {});
    let description = parse(&blob);
    assert!(description.interrupt_controller.is_some());
    assert_eq!(
        description.warnings().kept()[0].problem,
        Problem::BrokenInterruptTree { phandle: 0x99 }
    );
}

/// Interrupt controllers (not GICs) with phandles `from`, `from + 1`…,
/// each the interrupt parent of the one before it; the last one's parent is
/// `last_parent`.
fn chain(from: u32, length: u32, last_parent: u32) -> impl Fn(&mut BlobBuilder) {
    move |builder: &mut BlobBuilder| {
        for phandle in from..from + length {
            let parent = if phandle + 1 == from + length {
                last_parent
            } else {
                phandle + 1
            };
            builder
                .begin_node(std::format!("intc@{phandle:x}").as_bytes())
                .string("compatible", "vendor,cascaded-intc")
                .property("interrupt-controller", &[])
                .cells("phandle", &[phandle])
                .cells("interrupt-parent", &[parent])
                .end_node();
        }
    }
}

#[test]
fn a_looping_or_overlong_chain_warns_and_falls_back_to_the_first_gic() {
    // A -> B -> A, and a chain of more links than MAX_INTERRUPT_HOPS that
    // would end at the GIC.
    let looping = tree(0x10, "arm,gic-400", &chain(0x10, 2, 0x10));
    let overlong = tree(
        0x20,
        "arm,gic-400",
        &chain(0x20, MAX_INTERRUPT_HOPS as u32 + 2, GIC),
    );
    for blob in [looping, overlong] {
        let description = parse(&blob);
        let gic = description
            .interrupt_controller
            .expect("the first GIC, as a fallback");
        assert_eq!(gic.device().path.as_str(), "/intc@8000000");
        assert!(matches!(
            description.warnings().kept()[0].problem,
            Problem::BrokenInterruptTree { .. }
        ));
    }
    // One link fewer than the limit still reaches the GIC, with no warning.
    let long = tree(
        0x20,
        "arm,gic-400",
        &chain(0x20, MAX_INTERRUPT_HOPS as u32, GIC),
    );
    let description = parse(&long);
    assert!(description.interrupt_controller.is_some());
    assert_eq!(description.warnings().kept(), &[]);
}

#[test]
fn a_malformed_phandle_elsewhere_is_no_phandle() {
    // As in Linux: under four bytes is no phandle; more reads the first cell.
    let odd = |builder: &mut BlobBuilder| {
        builder
            .begin_node(b"short")
            .property("phandle", &[0, 1])
            .end_node()
            .begin_node(b"long")
            .property("phandle", &[0, 0, 0, 9, 0, 0])
            .end_node();
    };
    let blob = tree(GIC, "arm,gic-400", &odd);
    let description = parse(&blob);
    assert!(description.interrupt_controller.is_some());
    assert_eq!(description.warnings().kept(), &[]);
}

#[test]
fn a_gic_without_banked_registers_is_not_driven() {
    let blob = tree(GIC, "arm,cortex-a9-gic", &|_| {});
    // Rewrite as a tree whose GIC has `cpu-offset`: same tree, one property more.
    let mut builder = BlobBuilder::new();
    root(&mut builder, GIC)
        .begin_node(b"intc@8000000")
        .string("compatible", "arm,cortex-a9-gic")
        .cells("cpu-offset", &[0x4000])
        .cells("phandle", &[GIC])
        .cells("reg", &[0, 0x800_0000, 0, 0x1000, 0, 0x801_0000, 0, 0x1000])
        .end_node()
        .end_node()
        .end();
    let unbanked = builder.finish();
    assert!(parse(&blob).interrupt_controller.is_some());
    let description = parse(&unbanked);
    assert_eq!(description.interrupt_controller, None);
    assert_eq!(
        unsupported(&description),
        [("/intc@8000000", UnsupportedReason::UnbankedGic)]
    );
}

#[test]
fn named_uarts_without_a_driver_are_listed_once() {
    let uarts = |builder: &mut BlobBuilder| {
        builder
            .begin_node(b"chosen")
            .string("stdout-path", "serial1:115200n8")
            .end_node()
            .begin_node(b"aliases")
            .string("serial0", "/pl011@9000000")
            .string("serial1", "/serial@ff1a0000")
            .string("serial2", "/serial@ff1b0000")
            .end_node()
            .begin_node(b"pl011@9000000")
            .string("compatible", "arm,pl011")
            .cells("reg", &[0, 0x900_0000, 0, 0x1000])
            .end_node()
            .begin_node(b"serial@ff1a0000")
            .string("compatible", "snps,dw-apb-uart")
            .cells("reg", &[0, 0xff1a_0000, 0, 0x100])
            .end_node()
            .begin_node(b"serial@ff1b0000")
            .string("compatible", "snps,dw-apb-uart")
            .string("status", "disabled")
            .cells("reg", &[0, 0xff1b_0000, 0, 0x100])
            .end_node();
    };
    let blob = tree(GIC, "arm,gic-400", &uarts);
    let description = parse(&blob);
    // The disabled one too: the console decision names a missing driver first.
    assert_eq!(
        unsupported(&description),
        [
            ("/serial@ff1a0000", UnsupportedReason::NoUartDriver),
            ("/serial@ff1b0000", UnsupportedReason::NoUartDriver),
        ]
    );
}

#[test]
fn many_undriven_uarts_cannot_push_out_the_controller_and_the_timer() {
    // Ten named UARTs without a driver, more than the list keeps, before a
    // root controller that is not a GIC and a timer.
    let names: Vec<std::string::String> = (0..10)
        .map(|index| std::format!("/serial@{:x}", 0xff00_0000u32 + index * 0x1000))
        .collect();
    let mut builder = BlobBuilder::new();
    root(&mut builder, OTHER).begin_node(b"aliases");
    for (index, name) in names.iter().enumerate() {
        builder.string(&std::format!("serial{index}"), name);
    }
    builder.end_node();
    for (index, name) in names.iter().enumerate() {
        builder
            .begin_node(&name.as_bytes()[1..])
            .string("compatible", "snps,dw-apb-uart")
            .cells("reg", &[0, 0xff00_0000 + index as u32 * 0x1000, 0, 0x100])
            .end_node();
    }
    builder
        .begin_node(b"intc@40000000")
        .string("compatible", "brcm,bcm2836-l1-intc")
        .property("interrupt-controller", &[])
        .cells("phandle", &[OTHER])
        .end_node();
    armv8_timer(&mut builder).end_node().end();
    let blob = builder.finish();
    let description = parse(&blob);
    let listed = unsupported(&description);
    assert_eq!(listed.len(), UNSUPPORTED_CAPACITY);
    assert_eq!(
        listed[..3],
        [
            ("/intc@40000000", UnsupportedReason::NotAGic),
            ("/timer", UnsupportedReason::TimerWithoutGic),
            ("/serial@ff000000", UnsupportedReason::NoUartDriver),
        ]
    );
    assert_eq!(description.unsupported().count(), 12);
}

#[test]
fn interrupts_extended_name_their_controller_per_interrupt() {
    let timer = |phandle: u32| {
        move |builder: &mut BlobBuilder| {
            builder
                .begin_node(b"timer")
                .string("compatible", "arm,armv8-timer")
                .cells(
                    "interrupts-extended",
                    &[
                        phandle, 1, 13, 4, GIC, 1, 14, 4, GIC, 1, 11, 4, GIC, 1, 10, 4,
                    ],
                )
                .end_node();
        }
    };
    // `tree` adds a timer with plain `interrupts` after these nodes: the
    // first timer in the tree is the one read.
    let blob = tree(GIC, "arm,gic-400", &timer(GIC));
    let description = parse(&blob);
    assert_eq!(description.timer.map(|timer| timer.virtual_intid), Some(27));
    let blob = tree(GIC, "arm,gic-400", &timer(OTHER));
    let description = parse(&blob);
    assert_eq!(description.timer, None);
    assert_eq!(
        unsupported(&description),
        [("/timer", UnsupportedReason::TimerInterruptsElsewhere)]
    );
    // A controller of two cells (not the GIC's three) that the timer's
    // entries go to: elsewhere, not a malformed property.
    let two_cells = |builder: &mut BlobBuilder| {
        builder
            .begin_node(b"intc@1000")
            .string("compatible", "vendor,local-intc")
            .property("interrupt-controller", &[])
            .cells("#interrupt-cells", &[2])
            .cells("phandle", &[OTHER])
            .end_node()
            .begin_node(b"timer")
            .string("compatible", "arm,armv8-timer")
            .cells(
                "interrupts-extended",
                &[OTHER, 13, 4, OTHER, 14, 4, OTHER, 11, 4, OTHER, 10, 4],
            )
            .end_node();
    };
    let blob = tree(GIC, "arm,gic-400", &two_cells);
    let description = parse(&blob);
    assert_eq!(description.timer, None);
    assert_eq!(
        unsupported(&description),
        [("/timer", UnsupportedReason::TimerInterruptsElsewhere)]
    );
}
