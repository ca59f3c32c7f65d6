//! Devices the kernel drives, mapped on demand through the vmap window from the
//! addresses in the platform description: the console UART, the interrupt
//! controller and the timer tick. Which drivers serve them is the
//! architecture's business (`arch::current::devices`); mapping, bookkeeping
//! and the tick are the kernel's.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::addr::{PhysAddr, PhysRange, VirtAddr};
use crate::arch::current::{cpu, devices as arch_devices, timer};
use crate::kernel::{console, memory};
use crate::platform::PlatformDescription;
use crate::println;

pub use arch_devices::Interrupts;

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;
/// Ticks the boot waits for to show that interrupts work.
pub const BOOT_TICKS: u64 = 10;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_IRQ: AtomicU32 = AtomicU32::new(u32::MAX);

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
    /// The interrupt controller and the timer's interrupt, once they run.
    pub interrupts: Option<Interrupts>,
    /// Ticks counted when the boot stopped waiting.
    pub boot_ticks: u64,
    /// What could not be set up, in words.
    pub problems: Vec<String>,
}

/// Timer interrupts taken so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Maps `phys` as device memory for good and records it, or records why not.
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

/// Reads the 64-bit device register at `phys` through a vmap mapping of its
/// page that lasts for this read alone (see `arch::devices::ReadDevice`), or
/// `None` when `phys` is not 8-aligned or cannot be mapped (it is RAM, say).
fn read_register(phys: PhysAddr) -> Option<u64> {
    if !phys.0.is_multiple_of(8) {
        return None;
    }
    let mapping = memory::map_device(PhysRange::new(phys, 8)).ok()?;
    let register = mapping.address().as_mut_ptr::<u64>();
    // SAFETY: `mapping` maps the page holding `phys` as device memory (not
    // RAM: `map_device` refuses that) until it is dropped below, and `phys`
    // is 8-aligned, so this is one aligned device read; the caller asks only
    // for registers whose reads have no side effects.
    Some(unsafe { register.read_volatile() })
}

/// Maps and starts the console, the interrupt controller and the timer tick,
/// then waits (at most one second) for [`BOOT_TICKS`] ticks.
pub fn init(platform: &PlatformDescription<'_>) -> Devices {
    let mut devices = Devices::default();
    let console =
        arch_devices::start_console(platform, &mut |name, phys| map(&mut devices, name, phys));
    match console {
        Ok(Some(uart)) => {
            console::install(uart);
            arch_devices::release_early_console();
        }
        Ok(None) => {}
        Err(problem) => devices.problems.push(problem),
    }
    start_interrupts(platform, &mut devices);
    devices
}

fn start_interrupts(platform: &PlatformDescription<'_>, devices: &mut Devices) {
    let started = arch_devices::start_interrupts(
        platform,
        &mut |name, phys| map(devices, name, phys),
        &mut read_register,
        handle_irq,
    );
    let interrupts = match started {
        Ok(interrupts) => interrupts,
        Err(problem) => {
            devices.problems.push(problem);
            return;
        }
    };
    TIMER_IRQ.store(interrupts.timer, Ordering::Relaxed);
    devices.interrupts = Some(interrupts);
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

/// The kernel's interrupt handler: counts timer ticks and re-arms the timer.
fn handle_irq(irq: u32) {
    if irq == TIMER_IRQ.load(Ordering::Relaxed) {
        TICKS.fetch_add(1, Ordering::Relaxed);
        timer::arm(TICK_HZ);
    }
}
