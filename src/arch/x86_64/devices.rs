//! The devices an x86_64 kernel starts: COM1 as console, and the local APIC
//! with its timer as the interrupt controller, the I/O APICs and the legacy
//! 8259s silenced. The same API as AArch64's `devices`.
//!
//! The console is not in any table: the PVH boot record has no device tree,
//! and ACPI does not list the PC's serial ports in the MADT, so the console
//! is COM1, the 16550 at I/O port 0x3f8, where QEMU's `-serial stdio` and
//! every PC put it. The interrupt controllers come from the MADT, each
//! register block mapped through the kernel's callback (device memory in
//! vmap, uncached; never the cacheable identity map of the boot).
//!
//! Vectors: the exceptions own 0–31; the 8259s, masked, are moved to
//! [`LEGACY_PIC_BASE`] (32–47) so nothing they might still send passes for an
//! exception; the timer ticks on [`TIMER_VECTOR`]; the local APIC's spurious
//! vector is [`SPURIOUS_VECTOR`]. Any other vector stays fatal in the IDT.

use alloc::string::String;

use spin::{Mutex, Once};
use x86_64::instructions::interrupts;
use x86_64::registers::model_specific::Msr;
use x86_64::structures::idt::InterruptStackFrame;

use super::lapic_timer;
use crate::addr::{PhysAddr, PhysRange};
use crate::drivers::ConsoleUart;
use crate::drivers::ioapic::{self, IoApic};
use crate::drivers::lapic::{self, LocalApic};
use crate::drivers::pic8259::LegacyPics;
use crate::drivers::uart16550::{COM1, Uart16550};
use crate::platform::PlatformDescription;
use crate::platform::acpi::Apic;

pub use crate::arch::devices::{Interrupts, MapDevice, ReadDevice};

/// How the boot report names the console.
const CONSOLE: &str = "COM1 (16550 at I/O port 0x3f8; PVH has no device tree to name one)";

/// The console line of the boot report: always COM1 on a PVH boot.
pub fn describe_console(_platform: &PlatformDescription<'_>) -> Option<String> {
    Some(String::from(CONSOLE))
}

/// The vector of the 8259s' IRQ 0; their 16 vectors follow.
pub const LEGACY_PIC_BASE: u8 = 0x20;

/// The vector the local APIC timer raises: the first past the 8259s'.
pub const TIMER_VECTOR: u8 = 0x30;

/// The local APIC's spurious vector: 0xff, whose low four bits the P6
/// family forces to 1 anyway.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// IA32_APIC_BASE: where the local APIC is and which mode it is in.
const APIC_BASE_MSR: u32 = 0x1b;
/// IA32_APIC_BASE bit 11: the APIC is globally enabled.
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bit 10: x2APIC mode (registers are MSRs, not memory).
const APIC_X2APIC_MODE: u64 = 1 << 10;
/// IA32_APIC_BASE bits 12 and up: the register page's physical address.
const APIC_BASE_MASK: u64 = !0xfff;

/// The boot CPU's local APIC, once started. The interrupt entry takes it
/// with interrupts off (an interrupt gate clears IF), and every other user
/// goes through [`with_local_apic`], which masks them: so the lock is never
/// held by the code an interrupt interrupts.
static LOCAL_APIC: Mutex<Option<LocalApic>> = Mutex::new(None);

/// The kernel's handler for one interrupt, by vector.
static HANDLER: Once<fn(u32)> = Once::new();

/// Runs `work` on the local APIC with interrupts masked; `None` before
/// [`start_interrupts`] has started it.
pub(super) fn with_local_apic<R>(work: impl FnOnce(&mut LocalApic) -> R) -> Option<R> {
    interrupts::without_interrupts(|| LOCAL_APIC.lock().as_mut().map(work))
}

/// Starts COM1 as the console, in place of the early one of the entry, which
/// it replaces once the kernel installs it. Needs no mapping: a 16550 on a
/// PC lives in I/O port space. Never fails.
pub fn start_console(
    _platform: &PlatformDescription<'_>,
    _map: MapDevice<'_>,
) -> Result<Option<ConsoleUart>, String> {
    // SAFETY: COM1 is the PC's first serial port; the early console's driver
    // for it is replaced by this one as soon as the kernel installs it, and
    // prints nothing meanwhile (`init` only waits for its last byte).
    let mut uart = unsafe { Uart16550::new(COM1) };
    uart.init();
    Ok(Some(ConsoleUart::Uart16550(uart)))
}

/// Nothing to release on x86: the early console uses I/O ports, not a fixmap
/// slot, and the kernel's console replaces it on the same ports.
pub fn release_early_console() {}

/// Silences the 8259s and every I/O APIC line, maps and enables the local
/// APIC (with [`SPURIOUS_VECTOR`]) and measures its timer's rate; from then
/// on the timer's interrupt goes to `handler` with [`TIMER_VECTOR`], followed
/// by an end of interrupt. IRQs stay masked at the CPU, and the timer is not
/// armed until the kernel calls [`super::timer::arm`].
///
/// Fails, in words, when the platform has no MADT, the local APIC is not an
/// xAPIC at the MADT's address, a register block cannot be mapped or is not
/// page-aligned, or the timer's rate cannot be measured. I/O APICs beyond
/// the MADT list's capacity are left as reset left them: masked.
///
/// `_read_register` is unused: ACPI's MADT names every block to map.
pub fn start_interrupts(
    platform: &PlatformDescription<'_>,
    map: MapDevice<'_>,
    _read_register: ReadDevice<'_>,
    handler: fn(u32),
) -> Result<Interrupts, String> {
    let apic = platform
        .apic()
        .ok_or("no ACPI MADT: no local APIC to take interrupts")?;
    check_xapic_mode(apic.local_apic_address)?;
    if apic.legacy_pics {
        // SAFETY: PCAT_COMPAT says the 8259 pair is there, and nothing else
        // in the kernel drives it.
        unsafe { LegacyPics::new() }.remap_and_mask(LEGACY_PIC_BASE);
    }
    mask_io_apics(apic, map)?;
    let mut local_apic = map_local_apic(apic, map)?;
    local_apic.enable(SPURIOUS_VECTOR);
    lapic_timer::calibrate(&mut local_apic).map_err(|error| alloc::format!("{error}"))?;
    interrupts::without_interrupts(|| *LOCAL_APIC.lock() = Some(local_apic));
    HANDLER.call_once(|| handler);
    Ok(Interrupts {
        controller: "local APIC",
        timer: u32::from(TIMER_VECTOR),
    })
}

/// Fails unless IA32_APIC_BASE has the APIC enabled, in xAPIC mode, at
/// `address` (the MADT's).
fn check_xapic_mode(address: PhysAddr) -> Result<(), String> {
    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC, which
    // every x86_64 CPU has; reading it has no effect.
    let base = unsafe { Msr::new(APIC_BASE_MSR).read() };
    if base & APIC_GLOBAL_ENABLE == 0 {
        return Err(String::from("the local APIC is disabled (IA32_APIC_BASE)"));
    }
    if base & APIC_X2APIC_MODE != 0 {
        return Err(String::from(
            "the local APIC is in x2APIC mode; the driver speaks xAPIC (MMIO)",
        ));
    }
    let msr_address = PhysAddr(base & APIC_BASE_MASK);
    if msr_address != address {
        return Err(alloc::format!(
            "the MADT puts the local APIC at {address}, IA32_APIC_BASE at {msr_address}"
        ));
    }
    Ok(())
}

/// Maps each I/O APIC the MADT lists and masks all its lines. The mappings
/// stay (the kernel keeps them for good); the drivers are dropped, as no
/// interrupt is routed through an I/O APIC yet.
fn mask_io_apics(apic: &Apic, map: MapDevice<'_>) -> Result<(), String> {
    for io_apic in apic.io_apics.kept() {
        let registers = PhysRange::new(io_apic.address, ioapic::MAPPING_SIZE);
        let virt = map("I/O APIC", registers).ok_or_else(|| {
            alloc::format!("the I/O APIC at {} could not be mapped", io_apic.address)
        })?;
        // SAFETY: `virt` maps this I/O APIC's registers as device memory for
        // good, and this is its only driver.
        let mut driver = unsafe { IoApic::new(virt) }
            .map_err(|error| alloc::format!("I/O APIC {}: {error}", io_apic.id))?;
        driver.mask_all();
    }
    Ok(())
}

/// Maps the local APIC and checks that it answers as an xAPIC of a CPU the
/// MADT lists.
fn map_local_apic(apic: &Apic, map: MapDevice<'_>) -> Result<LocalApic, String> {
    let address = apic.local_apic_address;
    let virt = map("local APIC", PhysRange::new(address, lapic::MAPPING_SIZE))
        .ok_or_else(|| alloc::format!("the local APIC at {address} could not be mapped"))?;
    // SAFETY: `virt` maps the local APIC's page as device memory for good;
    // the kernel runs on this one CPU and this is the APIC's only driver.
    let local_apic =
        unsafe { LocalApic::new(virt) }.map_err(|error| alloc::format!("local APIC: {error}"))?;
    let version = local_apic.version();
    if !(0x10..=0x1f).contains(&version) {
        return Err(alloc::format!(
            "no xAPIC at {address}: its version register reads {version:#x}"
        ));
    }
    let id = u32::from(local_apic.id());
    let listed = apic.local_apics.kept();
    let all_listed = listed.len() == apic.local_apics.count();
    if all_listed && !listed.iter().any(|cpu| cpu.apic_id == id) {
        return Err(alloc::format!(
            "this CPU's local APIC (ID {id}) is not among the MADT's"
        ));
    }
    Ok(local_apic)
}

/// The IDT entry of [`TIMER_VECTOR`]: hands the vector to the kernel's
/// handler, then ends the interrupt.
pub(super) extern "x86-interrupt" fn timer_interrupt(_frame: InterruptStackFrame) {
    if let Some(handler) = HANDLER.get() {
        handler(u32::from(TIMER_VECTOR));
    }
    with_local_apic(LocalApic::end_of_interrupt);
}

/// The IDT entry of [`SPURIOUS_VECTOR`]: the APIC withdrew an interrupt it
/// had signalled. Nothing to do, and no end of interrupt (SDM 11.9).
pub(super) extern "x86-interrupt" fn spurious_interrupt(_frame: InterruptStackFrame) {}
