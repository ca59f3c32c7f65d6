//! The devices an AArch64 kernel starts from the device tree: the PL011 that
//! serves as console, the GIC (v2 or v3) and the generic timer's interrupt.
//!
//! The kernel maps each register block through a callback (the vmap window
//! lives in the kernel, not here) and gets back what runs; the GIC stays
//! here, behind the IRQ entry, which acknowledges each interrupt, hands its
//! INTID to the kernel's handler and ends it.

use alloc::boxed::Box;
use alloc::string::String;

use crate::arch::aarch64::{exceptions, fixmap};
use crate::arch::irq_lock::IrqSafeMutex;
use crate::drivers::ConsoleUart;
use crate::drivers::gic::InterruptController;
use crate::drivers::gic::v2::GicV2;
use crate::drivers::gic::v3::{self, GicV3};
use crate::drivers::pl011::Pl011;
use crate::platform::{Device, GicVersion, PlatformDescription};

pub use crate::arch::devices::{Interrupts, MapDevice, ReadDevice};

/// IRQ-safe: the IRQ entry takes it.
static CONTROLLER: IrqSafeMutex<Option<Box<dyn InterruptController + Send>>> =
    IrqSafeMutex::new(None);

/// The kernel's handler for one interrupt, by INTID.
static HANDLER: spin::Once<fn(u32)> = spin::Once::new();

/// The UART the kernel can drive as its console: `stdout-path`'s device when it
/// is a PL011, else the `serial0` alias's device when that is one.
pub fn console_uart<'p, 'dtb>(platform: &'p PlatformDescription<'dtb>) -> Option<&'p Device<'dtb>> {
    let is_pl011 = |device: &&Device<'_>| device.compatible.contains("arm,pl011");
    platform
        .console
        .as_ref()
        .filter(is_pl011)
        .or_else(|| platform.serial0.as_ref().filter(is_pl011))
}

/// The console line of the boot report: the UART the kernel writes to, and
/// the one `stdout-path` named when the kernel has no driver for it.
pub fn describe_console(platform: &PlatformDescription<'_>) -> Option<String> {
    let used = console_uart(platform)?;
    Some(match &platform.console {
        Some(named) if named.path.as_str() != used.path.as_str() => alloc::format!(
            "{} ({}) has no driver here; using {} ({})",
            named.path,
            named.compatible,
            used.path,
            used.compatible
        ),
        _ => alloc::format!("{} ({})", used.path, used.compatible),
    })
}

/// Maps and starts the console UART, if the tree names one the kernel drives.
/// On success the early console's fixmap slot is free again.
pub fn start_console(
    platform: &PlatformDescription<'_>,
    map: MapDevice<'_>,
) -> Result<Option<ConsoleUart>, String> {
    let Some(uart) = console_uart(platform) else {
        return Ok(None);
    };
    let Some(&registers) = uart.regions.first() else {
        return Ok(None);
    };
    let Some(virt) = map("console (PL011)", registers) else {
        return Ok(None);
    };
    // SAFETY: `virt` maps this PL011's registers for good; the early instance
    // in the fixmap is replaced once the kernel installs this one.
    let mut pl011 =
        unsafe { Pl011::new(virt) }.map_err(|error| alloc::format!("console (PL011): {error}"))?;
    pl011.init();
    Ok(Some(ConsoleUart::Pl011(pl011)))
}

/// Frees the early console's fixmap slot, once the console runs from vmap.
pub fn release_early_console() {
    // SAFETY: the early console, the slot's only user, has been replaced.
    unsafe { fixmap::unmap(fixmap::CONSOLE_SLOT) };
}

/// Maps and starts the interrupt controller the tree describes and enables the
/// timer's interrupt; from then on every interrupt goes to `handler` with its
/// INTID. IRQs stay masked at the CPU.
///
/// Of a GICv3's redistributors only the boot CPU's is mapped (its RD_base and
/// SGI_base frames, 128 KiB), found with `read_register` by the affinity in
/// each one's GICR_TYPER: the other CPUs stay parked.
pub fn start_interrupts(
    platform: &PlatformDescription<'_>,
    map: MapDevice<'_>,
    read_register: ReadDevice<'_>,
    handler: fn(u32),
) -> Result<Interrupts, String> {
    let gic = platform
        .interrupt_controller
        .as_ref()
        .ok_or("no supported interrupt controller in the device tree")?;
    let first = gic.distributor();
    let second = match gic.version() {
        GicVersion::V2 => gic.cpu_interface().ok_or_else(|| {
            alloc::format!("{} lacks its CPU interface region", gic.device().path)
        })?,
        GicVersion::V3 => v3::this_cpu_redistributor(
            gic.redistributors(),
            gic.redistributor_stride(),
            read_register,
        )
        .ok_or_else(|| {
            alloc::format!(
                "{}: no redistributor for this CPU in its {} redistributor region(s)",
                gic.device().path,
                gic.redistributors().len()
            )
        })?,
    };
    let mapping_failed = || String::from("the interrupt controller could not be mapped");
    let (name, mut controller): (_, Box<dyn InterruptController + Send>) = match gic.version() {
        GicVersion::V2 => {
            let distributor = map("GICv2 distributor", first).ok_or_else(mapping_failed)?;
            let cpu_interface = map("GICv2 CPU interface", second).ok_or_else(mapping_failed)?;
            // SAFETY: both blocks are mapped for good and used only by this driver.
            let mut gic = unsafe { GicV2::new(distributor, cpu_interface) }
                .map_err(|error| alloc::format!("GICv2: {error}"))?;
            gic.init_distributor();
            ("GICv2", Box::new(gic))
        }
        GicVersion::V3 => {
            let distributor = map("GICv3 distributor", first).ok_or_else(mapping_failed)?;
            let redistributor = map("GICv3 redistributor", second).ok_or_else(mapping_failed)?;
            // SAFETY: both blocks are mapped for good and used only by this
            // driver; `second` is one redistributor's two frames.
            let mut gic = unsafe { GicV3::new(distributor, redistributor) }
                .map_err(|error| alloc::format!("GICv3: {error}"))?;
            gic.init_distributor();
            ("GICv3", Box::new(gic))
        }
    };
    let timer = platform
        .timer
        .as_ref()
        .map(|timer| timer.virtual_intid)
        .ok_or("no timer in the device tree")?;
    controller.init_cpu_interface();
    controller.enable(timer);
    *CONTROLLER.lock() = Some(controller);
    HANDLER.call_once(|| handler);
    exceptions::set_irq_handler(dispatch);
    Ok(Interrupts {
        controller: name,
        timer,
    })
}

/// The IRQ entry's work: acknowledge each pending interrupt, hand it to the
/// kernel, end it.
fn dispatch() {
    let mut controller = CONTROLLER.lock();
    let Some(controller) = controller.as_mut() else {
        return;
    };
    let handler = HANDLER.get().copied();
    while let Some(intid) = controller.acknowledge() {
        if let Some(handler) = handler {
            handler(intid);
        }
        controller.end_of_interrupt(intid);
    }
}
