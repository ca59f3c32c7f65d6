//! The AArch64 boot protocol: from the device tree `boot.s` hands over to the
//! portable boot record, then [`kernel::start`](crate::kernel::start).
//!
//! `boot.s` has dropped to EL1, built the boot tables, turned the MMU on and
//! moved to the TTBR1 image. Here the device tree is mapped through the
//! fixmap, stripped of FDT_NOP tokens and described; an early console comes up
//! on the UART it names, so that every later step can report; and the record
//! goes to the shared boot flow.

use core::fmt;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::arch::aarch64::{cpu, exceptions, fixmap, layout, semihosting};
use crate::kernel::{self, BootRecord, console, report};
use crate::memory::paging::Attributes;
use crate::memory::placement::{self, NoSeed, Seed};
use crate::platform::{self, PlatformDescription};

/// Why the boot stopped before the kernel could run.
#[derive(Debug)]
pub enum BootError {
    /// No device tree header at the address the loader passed in x0 (0 when
    /// the kernel was loaded as an ELF: boot the raw image instead).
    NoDeviceTree(PhysAddr),
    /// The device tree does not fit the fixmap.
    DeviceTreeTooLarge(u64),
    /// The platform description refused the device tree.
    Platform(platform::Error),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDeviceTree(address) => write!(
                f,
                "no device tree at {address} (x0 at entry); boot the raw image build/kernel8.img"
            ),
            Self::DeviceTreeTooLarge(size) => write!(
                f,
                "device tree of {size} bytes does not fit the fixmap ({} bytes)",
                fixmap::DTB_SLOTS * PAGE_SIZE
            ),
            Self::Platform(error) => write!(f, "device tree: {error}"),
        }
    }
}

unsafe extern "C" {
    static __kernel_end: u8;
    static __boot_tables_start: u8;
    static __boot_tables_end: u8;
    static boot_l0_kernel: u8;
}

fn image_offset(symbol: *const u8) -> u64 {
    VirtAddr::from_ptr(symbol).0 - layout::IMAGE.start.0
}

/// The first Rust code, called by `boot.s` on the boot stack with the MMU on.
/// `vhe_only` is 1 when the kernel came from EL2 and HCR_EL2.E2H stayed set.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(
    device_tree: u64,
    entry_level: u64,
    image_base: u64,
    vhe_only: u64,
) -> ! {
    exceptions::set_fatal_handler(kernel::fatal_fault);
    let mut milestones = report::Milestones::start();
    let image_size = image_offset(&raw const __kernel_end);
    let tables_start = image_offset(&raw const __boot_tables_start);
    let tables_end = image_offset(&raw const __boot_tables_end);
    let image = PhysRange::new(PhysAddr(image_base), tables_start);
    let boot_tables = PhysRange::new(
        PhysAddr(image_base + tables_start),
        tables_end - tables_start,
    );
    debug_assert_eq!(tables_end, image_size);
    let kernel_root = PhysAddr(image_base + image_offset(&raw const boot_l0_kernel));

    match describe(PhysAddr(device_tree)) {
        Ok((platform, removed_nops, seed)) => {
            // Once the console can say so: a core that lost the election
            // must not run the kernel beside the winner.
            if let Err(error) = cpu::check_elected() {
                kernel::boot_failed(format_args!("{error}"));
            }
            milestones.platform_described();
            kernel::start(BootRecord {
                entered: match (entry_level, vhe_only) {
                    (2, 1) => "EL2 (VHE only: HCR_EL2.E2H is RES1)",
                    _ => ENTRY_LEVELS[(entry_level as usize).min(3)],
                },
                image,
                boot_tables,
                kernel_root,
                platform,
                removed_nops,
                milestones,
                seed,
            })
        }
        // Without a description there is no command line to allow an exit.
        Err(error) => kernel::boot_failed_unread(format_args!("{error}")),
    }
}

/// How the report names the exception level the kernel was entered at.
const ENTRY_LEVELS: [&str; 4] = ["EL0", "EL1", "EL2", "EL3"];

/// Maps and describes the device tree and starts the early console. Also the
/// number of NOPs stripped, and the placement seed its `/chosen` gives,
/// which is zeroed in the blob once read.
fn describe(device_tree: PhysAddr) -> Result<Described, BootError> {
    let blob = map_device_tree(device_tree)?;
    let removed_nops = platform::strip_nops(blob).map_err(BootError::Platform)?;
    let seed =
        platform::take_seeds(blob, placement::seed_from_tree).map_err(BootError::Platform)?;
    let blob: &'static [u8] = blob;
    let platform =
        PlatformDescription::from_dtb(blob, Some(device_tree)).map_err(BootError::Platform)?;
    if kernel::has_word(platform.bootargs, semihosting::EXIT_WORD) {
        semihosting::allow_exit();
    }
    start_early_console(&platform);
    Ok((platform, removed_nops, seed))
}

/// What [`describe`] found: the description, the NOPs stripped, the seed.
type Described = (PlatformDescription<'static>, usize, Result<Seed, NoSeed>);

/// Size of the flattened device tree header.
const DTB_HEADER_SIZE: usize = 40;
/// The header's magic number (big-endian in the blob).
const DTB_MAGIC: u32 = 0xd00d_feed;

/// Maps the device tree blob at `phys` into the fixmap, after checking that a
/// header is there. Writable: FDT_NOP tokens are stripped in place.
fn map_device_tree(phys: PhysAddr) -> Result<&'static mut [u8], BootError> {
    if phys.0 == 0 || !phys.is_aligned(8) {
        return Err(BootError::NoDeviceTree(phys));
    }
    let page = PAGE_SIZE as u64;
    let first = phys.align_down(page);
    let offset = (phys.0 - first.0) as usize;
    let map_pages = |pages: core::ops::Range<usize>| {
        for index in pages {
            let frame = PhysAddr(first.0 + (index * PAGE_SIZE) as u64);
            // SAFETY: the DTB slots belong to this function during early boot.
            unsafe {
                fixmap::map(
                    fixmap::DTB_FIRST_SLOT + index,
                    frame,
                    Attributes::KERNEL_DATA,
                )
            };
        }
    };
    let header_pages = (offset + DTB_HEADER_SIZE).div_ceil(PAGE_SIZE);
    map_pages(0..header_pages);
    let base = fixmap::slot_address(fixmap::DTB_FIRST_SLOT).0 as usize + offset;
    // SAFETY: the header's pages are mapped; magic and totalsize are the
    // big-endian words at offsets 0 and 4, and `base` is 8-byte aligned.
    let (magic, total) = unsafe {
        (
            u32::from_be((base as *const u32).read()),
            u32::from_be(((base + 4) as *const u32).read()) as usize,
        )
    };
    if magic != DTB_MAGIC {
        return Err(BootError::NoDeviceTree(phys));
    }
    let pages = (offset + total.max(DTB_HEADER_SIZE)).div_ceil(PAGE_SIZE);
    if pages > fixmap::DTB_SLOTS {
        return Err(BootError::DeviceTreeTooLarge(total as u64));
    }
    map_pages(header_pages..pages);
    // SAFETY: `pages` pages from the blob's first page are mapped for the
    // kernel's lifetime, and this is the only reference made to them.
    Ok(unsafe { core::slice::from_raw_parts_mut(base as *mut u8, total) })
}

/// The console UART through the fixmap's console slot, until the devices are
/// mapped through vmap. One slot maps the page that holds the register
/// block's start; the driver refuses a block that is not aligned as it must
/// be (a PL011 starts a page, a mini UART's 0x40 bytes lie within one), and
/// then there is no early console (the vmap attempt later records the
/// refusal among the problems).
fn start_early_console(platform: &PlatformDescription<'_>) {
    let Some(uart) = platform.console().uart() else {
        return;
    };
    let Some(registers) = uart.device.regions.first() else {
        return;
    };
    let page = registers.start.align_down(PAGE_SIZE as u64);
    // SAFETY: the console slot is free during early boot; device memory.
    unsafe { fixmap::map(fixmap::CONSOLE_SLOT, page, Attributes::DEVICE) };
    let slot = fixmap::slot_address(fixmap::CONSOLE_SLOT);
    let block = VirtAddr(slot.0 + (registers.start.0 - page.0));
    // SAFETY: the slot maps the page that holds the block's start, and the
    // driver accepts only a block that lies within it; this is the only
    // instance.
    if let Ok(uart) = unsafe { super::devices::start_uart(uart.model, block) } {
        console::install(uart);
    }
}
