//! Devices the kernel drives, mapped on demand through the vmap window from the
//! addresses in the platform description: the console UART, the interrupt
//! controller and the timer tick.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::addr::{PhysRange, VirtAddr};
use crate::arch::aarch64::irq_lock::IrqSafeMutex;
use crate::arch::aarch64::{cpu, fixmap, timer};
use crate::drivers::gic::InterruptController;
use crate::drivers::gic::v2::GicV2;
use crate::drivers::gic::v3::GicV3;
use crate::drivers::pl011::Pl011;
use crate::kernel::{console, memory};
use crate::platform::{Device, GicVersion, PlatformDescription};
use crate::println;

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;
/// Ticks the boot waits for to show that interrupts work.
pub const BOOT_TICKS: u64 = 10;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
/// IRQ-safe: the IRQ handler takes it.
static CONTROLLER: IrqSafeMutex<Option<Box<dyn InterruptController + Send>>> =
    IrqSafeMutex::new(None);

/// One device register block and where it is mapped.
#[derive(Clone, Copy, Debug)]
pub struct MappedDevice {
    /// What it is.
    pub name: &'static str,
    /// Its registers, CPU physical.
    pub phys: PhysRange,
    /// Where the kernel reaches them.
    pub virt: VirtAddr,
}

/// What [`init`] set up.
#[derive(Default)]
pub struct Devices {
    /// Every register block mapped, in order.
    pub mapped: Vec<MappedDevice>,
    /// The interrupt controller's version, once it runs.
    pub gic: Option<GicVersion>,
    /// The timer's INTID, once it ticks.
    pub timer_intid: Option<u32>,
    /// Ticks counted when the boot stopped waiting.
    pub boot_ticks: u64,
    /// What could not be set up, in words.
    pub problems: Vec<alloc::string::String>,
}

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

/// Timer interrupts taken so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

fn map(devices: &mut Devices, name: &'static str, phys: PhysRange) -> Option<VirtAddr> {
    match memory::map_device(phys) {
        Ok(mapping) => {
            let virt = mapping.leak();
            devices.mapped.push(MappedDevice { name, phys, virt });
            Some(virt)
        }
        Err(error) => {
            devices
                .problems
                .push(alloc::format!("{name} at {phys}: {error}"));
            None
        }
    }
}

/// Maps and starts the console, the interrupt controller and the timer tick,
/// then waits (at most one second) for [`BOOT_TICKS`] ticks.
pub fn init(platform: &PlatformDescription<'_>) -> Devices {
    let mut devices = Devices::default();
    if let Some(uart) = console_uart(platform)
        && let Some(&registers) = uart.regions.first()
        && let Some(virt) = map(&mut devices, "console (PL011)", registers)
    {
        // SAFETY: `virt` maps this PL011's registers for good; the early
        // instance in the fixmap is dropped by `install`.
        match unsafe { Pl011::new(virt) } {
            Ok(mut pl011) => {
                pl011.init();
                console::install(pl011);
                // SAFETY: the early console, the slot's only user, was just replaced.
                unsafe { fixmap::unmap(fixmap::CONSOLE_SLOT) };
            }
            Err(error) => devices
                .problems
                .push(alloc::format!("console (PL011): {error}")),
        }
    }
    start_interrupts(platform, &mut devices);
    devices
}

fn start_interrupts(platform: &PlatformDescription<'_>, devices: &mut Devices) {
    let Some(gic) = platform.interrupt_controller.as_ref() else {
        devices
            .problems
            .push("no supported interrupt controller in the device tree".into());
        return;
    };
    let first = gic.distributor();
    let second = match gic.version() {
        GicVersion::V2 => gic.cpu_interface(),
        GicVersion::V3 => gic.redistributors().first().copied(),
    };
    let Some(second) = second else {
        devices.problems.push(alloc::format!(
            "{} lacks its second register region",
            gic.device().path
        ));
        return;
    };
    let controller: Result<Box<dyn InterruptController + Send>, _> = match gic.version() {
        GicVersion::V2 => {
            let (Some(distributor), Some(cpu_interface)) = (
                map(devices, "GICv2 distributor", first),
                map(devices, "GICv2 CPU interface", second),
            ) else {
                return;
            };
            // SAFETY: both blocks are mapped for good and used only by this driver.
            let gic = unsafe { GicV2::new(distributor, cpu_interface) };
            gic.map(|mut gic| {
                gic.init_distributor();
                Box::new(gic) as Box<_>
            })
            .map_err(|error| alloc::format!("GICv2: {error}"))
        }
        GicVersion::V3 => {
            let (Some(distributor), Some(redistributors)) = (
                map(devices, "GICv3 distributor", first),
                map(devices, "GICv3 redistributors", second),
            ) else {
                return;
            };
            // SAFETY: both blocks are mapped for good and used only by this driver.
            let gic = unsafe { GicV3::new(distributor, redistributors, second.size as usize) };
            gic.map(|mut gic| {
                gic.init_distributor();
                Box::new(gic) as Box<_>
            })
            .map_err(|error| alloc::format!("GICv3: {error}"))
        }
    };
    let mut controller = match controller {
        Ok(controller) => controller,
        Err(problem) => {
            devices.problems.push(problem);
            return;
        }
    };
    devices.gic = Some(gic.version());
    let Some(intid) = platform.timer.as_ref().map(|timer| timer.virtual_intid) else {
        devices.problems.push("no timer in the device tree".into());
        return;
    };
    controller.init_cpu_interface();
    controller.enable(intid);
    *CONTROLLER.lock() = Some(controller);
    TIMER_INTID.store(intid, Ordering::Relaxed);
    devices.timer_intid = Some(intid);
    crate::arch::aarch64::exceptions::set_irq_handler(handle_irq);
    timer::arm(TICK_HZ);
    cpu::enable_interrupts();

    let deadline = timer::counter() + timer::frequency();
    while ticks() < BOOT_TICKS && timer::counter() < deadline {
        cpu::wait_for_interrupt();
    }
    devices.boot_ticks = ticks();
    if devices.boot_ticks < BOOT_TICKS {
        println!(
            "warning: only {} timer interrupts in one second",
            devices.boot_ticks
        );
    }
}

/// The IRQ handler: acknowledges, counts timer ticks and re-arms the timer.
fn handle_irq() {
    let mut controller = CONTROLLER.lock();
    let Some(controller) = controller.as_mut() else {
        return;
    };
    while let Some(intid) = controller.acknowledge() {
        if intid == TIMER_INTID.load(Ordering::Relaxed) {
            TICKS.fetch_add(1, Ordering::Relaxed);
            timer::arm(TICK_HZ);
        }
        controller.end_of_interrupt(intid);
    }
}
