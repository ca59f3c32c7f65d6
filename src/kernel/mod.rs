//! The kernel proper: the boot flow from the first Rust instruction to the
//! idle loop or the self-test runner.
//!
//! 1. map the device tree through the fixmap and describe the platform;
//! 2. bring up the console early (fixmap) so that everything after can report;
//! 3. build the frame stack from usable RAM and install the kernel space;
//! 4. move to a kernel stack with a guard page; the heap grows on first use;
//! 5. map devices on demand through the vmap window, start the timer tick;
//! 6. print the boot report, run the seed example, then idle or self-test.

pub mod console;
pub mod devices;
pub mod memory;
pub mod report;
pub mod selftest;
pub mod stress;

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::arch::aarch64::exceptions::Cause;
use crate::arch::aarch64::fault::Fault;
use crate::arch::aarch64::fixmap::{self, FixmapAccess};
use crate::arch::aarch64::tlb::BroadcastTlb;
use crate::arch::aarch64::{cpu, exceptions, layout, semihosting};
use crate::drivers::pl011::Pl011;
use crate::memory::frames::{FrameStack, FreeError};
use crate::memory::paging::{Attributes, Mapper};
use crate::memory::space::AddressSpace;
use crate::memory::window::PageView;
use crate::platform::{self, PlatformDescription, ReservationReason};
use crate::println;

/// What the boot code handed over, and what the platform description says.
pub struct Boot {
    /// The exception level the kernel was entered at.
    pub entry_level: u64,
    /// Where the image lies in physical memory.
    pub image: PhysRange,
    /// The boot page tables inside the image.
    pub boot_tables: PhysRange,
    /// The platform description from the device tree.
    pub platform: PlatformDescription<'static>,
    /// FDT_NOP tokens stripped from the device tree before parsing.
    pub removed_nops: usize,
    /// Frames given to the frame stack at boot.
    pub frames_at_boot: usize,
    /// Usable ranges the frame stack refused (beyond its range capacity), with
    /// the first refusal.
    pub refused_ranges: (usize, Option<FreeError>),
    /// Counter ticks at fixed points of the boot, for boot-cost measurements.
    pub milestones: report::Milestones,
}

static BOOT: Once<Boot> = Once::new();

/// What the kernel was told at boot (available once memory is up).
pub fn boot() -> Option<&'static Boot> {
    BOOT.get()
}

/// Why the boot stopped before the kernel could run.
#[derive(Debug)]
pub enum BootError {
    /// No device tree header at the address the loader passed in x0 (0 when
    /// the kernel was loaded as an ELF: boot the raw image instead).
    NoDeviceTree(PhysAddr),
    /// The device tree does not fit the fixmap.
    DeviceTreeTooLarge(u64),
    /// The platform description refused the device tree.
    Platform(crate::platform::Error),
    /// Memory ran out during bring-up.
    OutOfMemory(&'static str),
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
            Self::OutOfMemory(what) => write!(f, "out of memory while setting up {what}"),
        }
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __boot_tables_start: u8;
    static __boot_tables_end: u8;
    static boot_l0_kernel: u8;
}

fn image_offset(symbol: *const u8) -> u64 {
    VirtAddr::from_ptr(symbol).0 - layout::IMAGE.start.0
}

/// The first Rust code, called by `boot.s` on the boot stack with the MMU on.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(device_tree: u64, entry_level: u64, image_base: u64) -> ! {
    exceptions::set_fatal_handler(fatal_fault);
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

    let boot = bring_up(
        PhysAddr(device_tree),
        entry_level,
        image,
        boot_tables,
        &mut milestones,
    );
    let boot = match boot {
        Ok(boot) => BOOT.call_once(|| boot),
        Err(error) => {
            if console::is_ready() {
                println!("boot failed: {error}");
            } else {
                // No console to report on: try the debugger or emulator, which
                // prints this when semihosting is enabled (else `hlt` traps).
                let mut text = crate::text::LineBuffer::new();
                let _ = fmt::Write::write_fmt(&mut text, format_args!("boot failed: {error}\n"));
                semihosting::write(text.as_str());
            }
            cpu::halt();
        }
    };
    match memory::allocate_kernel_stack() {
        Ok(stack) => {
            let top = stack.stack.start.0 + stack.stack.size;
            // SAFETY: `top` ends a mapped, unused kernel stack (64 KiB, so
            // 16-byte aligned); `kernel_main` never returns, so nothing on the
            // boot stack is needed again.
            unsafe { run_on_stack(top, kernel_main, boot) }
        }
        Err(error) => {
            println!("boot failed: no kernel stack: {error}");
            cpu::halt();
        }
    }
}

#[expect(
    improper_ctypes,
    reason = "only a pointer to `Boot` crosses; the assembly passes it on unread"
)]
unsafe extern "C" {
    /// `boot.s`: moves the stack pointer to `top`, then calls `next(boot)`
    /// with a fresh frame chain (a backtrace ends there).
    ///
    /// Safety: `top` must be the 16-byte aligned end of a mapped stack that
    /// nothing uses; nothing on the current stack is needed again.
    fn run_on_stack(top: u64, next: extern "C" fn(&'static Boot) -> !, boot: &'static Boot) -> !;
}

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

fn bring_up(
    device_tree: PhysAddr,
    entry_level: u64,
    image: PhysRange,
    boot_tables: PhysRange,
    milestones: &mut report::Milestones,
) -> Result<Boot, BootError> {
    let blob = map_device_tree(device_tree)?;
    let removed_nops = platform::strip_nops(blob).map_err(BootError::Platform)?;
    let blob: &'static [u8] = blob;
    let mut platform =
        PlatformDescription::from_dtb(blob, Some(device_tree)).map_err(BootError::Platform)?;
    if has_word(platform.bootargs, "exit=semihosting") {
        semihosting::allow_exit();
    }
    start_early_console(&platform);
    platform
        .reserve(image, ReservationReason::KernelImage)
        .map_err(BootError::Platform)?;
    platform
        .reserve(boot_tables, ReservationReason::BootTables)
        .map_err(BootError::Platform)?;
    milestones.platform_described();

    let root = PhysAddr(image.start.0 + image_offset(&raw const boot_l0_kernel));
    // SAFETY: the TTBR1 root and the image's tables were built by `boot.s`, are
    // edited only through this mapper from now on, and reachable through the
    // fixmap. The only `FixmapAccess` is made here.
    let mapper = unsafe { Mapper::new(root, FixmapAccess::new(), BroadcastTlb) };
    let frames = FrameStack::new(platform.ram().iter().copied(), platform.usable());
    let mut space = AddressSpace::new(mapper, frames, layout::FRAME_STACK, PageView::Live);
    let mut frames_at_boot = 0;
    let mut refused_ranges = (0, None);
    for range in platform.usable() {
        match space.add_free_range(range) {
            Ok(frames) => frames_at_boot += frames,
            // Lose the rest of the range, not the boot; the report says so.
            Err(refused) => {
                frames_at_boot += refused.accepted;
                refused_ranges = (
                    refused_ranges.0 + 1,
                    refused_ranges.1.or(Some(refused.error)),
                );
            }
        }
    }
    memory::install(space);
    milestones.frames_ready();
    Ok(Boot {
        entry_level,
        image,
        boot_tables,
        platform,
        removed_nops,
        frames_at_boot,
        refused_ranges,
        milestones: *milestones,
    })
}

fn start_early_console(platform: &PlatformDescription<'_>) {
    let Some(console) = devices::console_uart(platform) else {
        return;
    };
    let Some(registers) = console.regions.first() else {
        return;
    };
    // One fixmap slot holds the whole 4 KiB register block only when it starts
    // a page, and `Pl011::new` refuses anything else: such a PL011 gets no early
    // console (the vmap attempt later records the refusal among the problems).
    if !registers.start.is_aligned(PAGE_SIZE as u64) {
        return;
    }
    // SAFETY: the console slot is free during early boot; device memory.
    unsafe { fixmap::map(fixmap::CONSOLE_SLOT, registers.start, Attributes::DEVICE) };
    // SAFETY: the slot maps the PL011's page-aligned register block, one page;
    // this is the only instance.
    if let Ok(mut uart) = unsafe { Pl011::new(fixmap::slot_address(fixmap::CONSOLE_SLOT)) } {
        uart.init();
        console::install(uart);
    }
}

/// Runs on the first kernel stack, with the heap available.
extern "C" fn kernel_main(boot: &'static Boot) -> ! {
    let mut milestones = boot.milestones;
    memory::init_vmap();
    milestones.heap_ready();
    let devices = devices::init(&boot.platform);
    milestones.devices_ready();
    report::print(boot, &devices);
    report::seed_example();
    milestones.report_done();
    milestones.print();
    if command_line_has("bootcost") {
        milestones.print_ticks();
    }

    if command_line_has("fault-in-fault-test") {
        // The fault below is reported, then the report itself faults.
        FAULT_WHILE_REPORTING.store(true, Ordering::SeqCst);
    }
    if command_line_has("fault-test") || command_line_has("fault-in-fault-test") {
        // Shows (and lets `make test` check) the report of a fault nobody
        // expected: a store to the guard page below the first kernel stack.
        println!(
            "fault-test: writing to the guard page at {}",
            layout::STACKS.start
        );
        // SAFETY: not safe at all: this store faults, and the fault stops the kernel.
        unsafe { layout::STACKS.start.as_mut_ptr::<u64>().write_volatile(0) };
    }
    if command_line_has("overflow-test") {
        println!("overflow-test: recursing until the kernel stack overflows");
        println!("overflow-test: depth {}", recurse(0));
    }
    if command_line_has("oom-test") {
        // Shows the allocation-error path: a request the heap window cannot hold.
        println!("oom-test: asking the heap for 1 TiB");
        let hopeless: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(1 << 40);
        println!("oom-test: got {} bytes?", hopeless.capacity());
    }
    if command_line_has("space-lock-test") {
        // Shows that code holding the address space cannot grow the heap
        // silently: the growth finds the lock held and panics.
        println!("space-lock-test: growing the heap inside with_space");
        let beyond = memory::heap_mapped_bytes() as usize + (1 << 20);
        memory::with_space(|_| alloc::vec::Vec::<u8>::with_capacity(beyond).capacity());
    }
    let mut passed = !command_line_has("selftest") || selftest::run(boot, &devices);
    if command_line_has("stress") {
        let seed = command_line_value("stress-seed")
            .and_then(|value| value.parse().ok())
            .unwrap_or(stress::DEFAULT_SEED);
        println!(
            "stress: {} operations from seed {seed}",
            stress::FULL_OPERATIONS
        );
        let report = stress::run(boot, stress::FULL_OPERATIONS, seed);
        println!("{report}");
        // After all that, the kernel still works with the same frames.
        passed &= report.passed() && report::seed_example();
    }
    if command_line_has("exit=semihosting") {
        semihosting::exit(if passed { 0 } else { 1 });
    }
    println!("idle: the timer keeps ticking (Ctrl-A X quits QEMU)");
    loop {
        cpu::wait_for_interrupt();
    }
}

/// Recurses without end, 1 KiB of stack per level (for `overflow-test`).
#[inline(never)]
#[expect(
    unconditional_recursion,
    reason = "overflow-test must overflow the kernel stack"
)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 128];
    // SAFETY: a volatile write to a local array keeps it from being optimised out.
    unsafe { (&raw mut frame[127]).write_volatile(depth) };
    recurse(depth + 1) + frame[depth as usize % 128]
}

/// The value of the first `name=value` word on the kernel command line.
fn command_line_value(name: &str) -> Option<&'static str> {
    boot()?
        .platform
        .bootargs?
        .split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
}

/// True when `word` stands alone on the kernel command line (`/chosen/bootargs`).
fn command_line_has(word: &str) -> bool {
    has_word(boot().and_then(|boot| boot.platform.bootargs), word)
}

/// True when `word` stands alone on `line`.
fn has_word(line: Option<&str>, word: &str) -> bool {
    line.is_some_and(|line| line.split_whitespace().any(|candidate| candidate == word))
}

/// Set by `fault-in-fault-test`: the fatal handler faults after its report.
static FAULT_WHILE_REPORTING: AtomicBool = AtomicBool::new(false);

fn fatal_fault(fault: &Fault, cause: Cause) -> ! {
    match cause {
        Cause::InsideFatalHandler { first } => {
            // Touch as little as possible: no window lookup, no command line.
            console::print_emergency(format_args!(
                "\nFATAL fault inside the fault handler: {fault} (while reporting: {first})\n"
            ));
            exceptions::stop();
        }
        Cause::Unexpected => console::print_emergency(format_args!("\nFATAL {fault}")),
        Cause::StackOverflow => {
            console::print_emergency(format_args!("\nFATAL kernel stack overflow: {fault}"));
        }
        Cause::UnhandledVector(kind) => {
            console::print_emergency(format_args!(
                "\nFATAL unhandled exception (vector kind {kind}): {fault}"
            ));
        }
    }
    if let Some(address) = fault.address {
        console::print_emergency(format_args!(", in {}", memory::describe(address)));
    }
    console::print_emergency(format_args!("\n"));
    if FAULT_WHILE_REPORTING.load(Ordering::SeqCst) {
        // SAFETY: not safe at all: this store to the guard page below the
        // emergency stack faults inside the fatal handler, on purpose.
        unsafe {
            exceptions::emergency_stack_guard()
                .as_mut_ptr::<u64>()
                .write_volatile(0)
        };
    }
    exceptions::stop();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print_emergency(format_args!("\nPANIC: {info}\n"));
    // Memory counters help most when the panic is an allocation failure.
    if let Some(space) = memory::try_counts() {
        console::print_emergency(format_args!(
            "memory: {} free frames, heap {} bytes mapped, {} bytes in use\n",
            space.0, space.1, space.2
        ));
    }
    if semihosting::exit_allowed() {
        semihosting::exit(2);
    }
    cpu::halt();
}
