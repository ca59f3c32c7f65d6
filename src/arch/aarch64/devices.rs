//! The devices an AArch64 kernel starts from the device tree: the UART that
//! serves as console (a PL011 or a mini UART, whichever the platform's
//! console decision chose), the GIC (v2 or v3) and the generic timer's
//! interrupt.
//!
//! The kernel maps each register block through a callback (the vmap window
//! lives in the kernel, not here) and gets back what runs; the GIC stays
//! here, behind the IRQ entry, which acknowledges each interrupt, hands its
//! INTID to the kernel's handler and ends it.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::addr::VirtAddr;
use crate::arch::aarch64::{cpu, exceptions, fixmap};
use crate::arch::irq_lock::IrqSafeMutex;
use crate::drivers::ConsoleUart;
use crate::drivers::Misaligned;
use crate::drivers::gic::InterruptController;
use crate::drivers::gic::v2::GicV2;
use crate::drivers::gic::v3::{self, GicV3};
use crate::drivers::mini_uart::{MiniUart, NotEnabled};
use crate::drivers::pl011::Pl011;
use crate::platform::{GicVersion, PlatformDescription, UartModel};

pub use crate::arch::devices::{Interrupts, MapDevice, ReadDevice};

/// IRQ-safe: the IRQ entry takes it.
static CONTROLLER: IrqSafeMutex<Option<Box<dyn InterruptController + Send>>> =
    IrqSafeMutex::new(None);

/// The kernel's handler for one interrupt, by INTID.
static HANDLER: spin::Once<fn(u32)> = spin::Once::new();

/// The console line of the boot report: the platform's console decision
/// (`platform::console`), or `None` when there is no UART to write to.
pub fn describe_console(platform: &PlatformDescription<'_>) -> Option<String> {
    let choice = platform.console();
    choice.uart().map(|_| alloc::format!("{choice}"))
}

/// Why a console UART's driver refused to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// The register block is not aligned as the driver needs.
    Misaligned(Misaligned),
    /// The mini UART is switched off (AUX_ENABLES).
    NotEnabled(NotEnabled),
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned(error) => write!(f, "{error}"),
            Self::NotEnabled(error) => write!(f, "{error}"),
        }
    }
}

/// Starts the driver `model` needs over its registers, mapped at `registers`
/// (the block's own address, not its page's). Allocates nothing, so the
/// early console can use it before the heap exists.
///
/// # Errors
///
/// The driver's refusal, as a [`UartError`].
///
/// # Safety
///
/// Unless it is refused, `registers` must map the UART's register block as
/// device memory for as long as the returned driver lives, and no other
/// driver may use it.
pub unsafe fn start_uart(model: UartModel, registers: VirtAddr) -> Result<ConsoleUart, UartError> {
    match model {
        UartModel::Pl011 => {
            // SAFETY: the caller's promise is `Pl011::new`'s contract.
            let mut pl011 = unsafe { Pl011::new(registers) }.map_err(UartError::Misaligned)?;
            pl011.init();
            Ok(ConsoleUart::Pl011(pl011))
        }
        UartModel::MiniUart => {
            // SAFETY: the caller's promise is `MiniUart::new`'s contract.
            let mut mini = unsafe { MiniUart::new(registers) }.map_err(UartError::Misaligned)?;
            mini.init().map_err(UartError::NotEnabled)?;
            Ok(ConsoleUart::MiniUart(mini))
        }
    }
}

/// Maps and starts the console UART the platform chose, if there is one.
/// On success the early console's fixmap slot is free again.
pub fn start_console(
    platform: &PlatformDescription<'_>,
    map: MapDevice<'_>,
) -> Result<Option<ConsoleUart>, String> {
    let Some(uart) = platform.console().uart() else {
        return Ok(None);
    };
    let Some(&registers) = uart.device.regions.first() else {
        return Ok(None);
    };
    let name = match uart.model {
        UartModel::Pl011 => "console (PL011)",
        UartModel::MiniUart => "console (mini UART)",
    };
    let Some(virt) = map(name, registers) else {
        return Ok(None);
    };
    // SAFETY: `virt` maps this UART's registers for good; the early instance
    // in the fixmap is replaced once the kernel installs this one.
    unsafe { start_uart(uart.model, virt) }
        .map(Some)
        .map_err(|error| alloc::format!("{name}: {error}"))
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
            if let Some(icc_sre_el2) = cpu::icc_sre_el2_at_boot() {
                v3::check_el2_enable(icc_sre_el2)
                    .map_err(|error| alloc::format!("GICv3: {error}"))?;
            }
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
