//! The x86_64 boot protocol: from the PVH start info `entry.s` hands over to
//! the portable boot record, then [`kernel::start`](crate::kernel::start).
//!
//! `entry.s` has entered long mode with NX and write protection on, mapped
//! the image in the top 2 GiB with per-section rights and the first 4 GiB
//! identity-mapped read-only, and moved to the higher half. Here COM1 becomes
//! the console and the traps come up, so that every later step can report;
//! the start info, its memory map and the ACPI tables are read through the
//! identity map into the platform description; the command line is copied
//! into the image, the identity map goes (the lower half is empty from then
//! on), and the record goes to the shared boot flow.

use core::fmt;

use super::{cpu, exceptions, fixmap, host, traps};
use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::drivers::ConsoleUart;
use crate::drivers::uart16550::{COM1, Uart16550};
use crate::kernel::{self, BootRecord, console, report};
use crate::memory::paging::Attributes;
use crate::platform::{PhysicalMemory, PlatformDescription};

/// End of the boot identity map (`entry.s`): the first 4 GiB.
pub const IDENTITY_END: u64 = 4 << 30;

/// Longest command line kept (QEMU's limit is 4 KiB too).
const COMMAND_LINE_CAPACITY: usize = 4096;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __boot_tables_start: u8;
    static __boot_tables_end: u8;
    static mut boot_pml4: [u64; 512];
}

/// The fixmap slots that show physical pages 0 and 1 while the platform is
/// read: `entry.s` leaves page 0 out of the identity map (a null pointer must
/// fault), but QEMU puts the PVH memory map there.
const LOW_PAGES_SLOT: usize = 1;

/// Physical memory as the boot identity map shows it (the first 4 GiB,
/// read-only), with the first two pages through the fixmap. Valid until
/// [`drop_identity_map`].
struct IdentityMap;

impl IdentityMap {
    /// Shows physical pages 0 and 1 at two adjacent fixmap slots.
    fn map_low_pages() {
        for page in 0..2 {
            // SAFETY: slots 1 and 2 are free during early boot; read-only.
            unsafe {
                fixmap::map(
                    LOW_PAGES_SLOT + page,
                    PhysAddr((page * PAGE_SIZE) as u64),
                    Attributes::KERNEL_RODATA,
                )
            };
        }
    }

    /// Takes the low pages out of the fixmap again.
    fn unmap_low_pages() {
        for page in 0..2 {
            // SAFETY: nothing borrows the low pages any more (see `bytes`).
            unsafe { fixmap::unmap(LOW_PAGES_SLOT + page) };
        }
    }
}

impl PhysicalMemory<'static> for IdentityMap {
    fn bytes(&self, at: PhysAddr, len: usize) -> Option<&'static [u8]> {
        let end = at.checked_add(len as u64)?;
        let low = 2 * PAGE_SIZE as u64;
        let address = if at.0 < PAGE_SIZE as u64 {
            // In page 0, and not beyond page 1: through the fixmap.
            (end.0 <= low).then(|| fixmap::slot_address(LOW_PAGES_SLOT).0 + at.0)?
        } else if end.0 <= IDENTITY_END {
            at.0
        } else {
            return None;
        };
        // SAFETY: the range lies in the read-only identity map or the two
        // fixmap slots of the low pages, which nothing writes and which stay
        // until every borrowed byte is copied out (`keep_command_line`) and
        // the mappings go.
        Some(unsafe { core::slice::from_raw_parts(VirtAddr(address).as_mut_ptr::<u8>(), len) })
    }
}

/// Where the command line lives once the identity map is gone.
static COMMAND_LINE: spin::Once<([u8; COMMAND_LINE_CAPACITY], usize)> = spin::Once::new();

/// Copies `line` into the image (cut between characters at
/// [`COMMAND_LINE_CAPACITY`] bytes) and returns the copy.
fn keep_command_line(line: &str) -> &'static str {
    let mut length = line.len().min(COMMAND_LINE_CAPACITY);
    while !line.is_char_boundary(length) {
        length -= 1;
    }
    let (bytes, length) = COMMAND_LINE.call_once(|| {
        let mut bytes = [0; COMMAND_LINE_CAPACITY];
        bytes[..length].copy_from_slice(&line.as_bytes()[..length]);
        (bytes, length)
    });
    core::str::from_utf8(&bytes[..*length]).unwrap_or("")
}

/// Empties the lower half: PML4 entry 0, the identity map, goes.
fn drop_identity_map() {
    // SAFETY: `boot_pml4` is the live root (CR3), reached through the image
    // mapping; nothing reads the identity map any more (the platform
    // description holds no byte of it). Reloading CR3 flushes its entries.
    unsafe {
        (&raw mut boot_pml4[0]).write_volatile(0);
        let root: u64;
        core::arch::asm!("mov {}, cr3", out(reg) root, options(nomem, nostack, preserves_flags));
        core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags));
    }
}

/// Why the boot stopped before the kernel could run.
enum BootError {
    /// The platform description refused the start info or the ACPI tables.
    Platform(crate::platform::Error),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform(error) => write!(f, "PVH start info: {error}"),
        }
    }
}

fn image_offset(symbol: *const u8) -> u64 {
    VirtAddr::from_ptr(symbol).0 - VirtAddr::from_ptr(&raw const __kernel_start).0
}

/// Called by `entry.s` with the physical addresses of the PVH start info
/// (from ebx) and of the image's first byte. Never returns.
#[unsafe(no_mangle)]
pub extern "C" fn x86_64_entry(start_info: PhysAddr, image_base: PhysAddr) -> ! {
    exceptions::set_fatal_handler(kernel::fatal_fault);
    // SAFETY: COM1 is the PC's first serial port, and this is its only driver.
    let mut uart = unsafe { Uart16550::new(COM1) };
    uart.init();
    console::install(ConsoleUart::Uart16550(uart));
    traps::init();
    let mut milestones = report::Milestones::start();
    let tables_start = image_offset(&raw const __boot_tables_start);
    let tables_end = image_offset(&raw const __boot_tables_end);
    let image = PhysRange::new(image_base, tables_start);
    let boot_tables = PhysRange::new(
        PhysAddr(image_base.0 + tables_start),
        tables_end - tables_start,
    );
    debug_assert_eq!(tables_end, image_offset(&raw const __kernel_end));
    match describe(start_info) {
        Ok(platform) => {
            drop_identity_map();
            milestones.platform_described();
            kernel::start(BootRecord {
                entered: "long mode (PVH)",
                image,
                boot_tables,
                kernel_root: PhysAddr(cpu::lower_half_root()),
                platform,
                removed_nops: 0,
                milestones,
                seed: super::random::boot_seed(),
            })
        }
        // Without a description there is no command line to allow an exit.
        Err(error) => kernel::boot_failed_unread(format_args!("{error}")),
    }
}

/// Reads the platform through the identity map, keeps the command line, and
/// honours `exit=isa-debug-exit` and the crash words that must run before
/// the kernel.
fn describe(start_info: PhysAddr) -> Result<PlatformDescription<'static>, BootError> {
    IdentityMap::map_low_pages();
    let platform = PlatformDescription::from_pvh(&IdentityMap, start_info);
    let platform = platform.map(|mut platform| {
        platform.bootargs = platform.bootargs.map(keep_command_line);
        platform
    });
    IdentityMap::unmap_low_pages();
    let platform = platform.map_err(BootError::Platform)?;
    if kernel::has_word(platform.bootargs, host::EXIT_WORD) {
        host::allow_exit();
    }
    run_crash_test(platform.bootargs.unwrap_or(""));
    Ok(platform)
}

/// The crash runs only x86_64 has: each word makes one fault on purpose, so
/// that a test can check that its report names what happened.
fn run_crash_test(command_line: &str) {
    let has = |word| kernel::has_word(Some(command_line), word);
    if has("invalid-opcode-test") {
        crate::println!("invalid-opcode-test: executing ud2");
        // SAFETY: `ud2` raises #UD, on purpose; the report stops the kernel.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    }
    if has("interrupt-test") {
        crate::println!("interrupt-test: raising interrupt 64");
        // SAFETY: vector 64 has no handler but the catch-all (0x30 is the
        // timer's), whose report stops the kernel, on purpose.
        unsafe { core::arch::asm!("int 64", options(nomem, nostack)) };
    }
    if has("protection-test") {
        crate::println!("protection-test: reading a non-canonical address");
        // SAFETY: not safe at all: a non-canonical address raises #GP, on
        // purpose; the report stops the kernel.
        unsafe { VirtAddr(1 << 63).as_mut_ptr::<u64>().read_volatile() };
    }
}
