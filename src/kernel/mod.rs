//! The kernel proper: one boot flow for every architecture, from the boot
//! record to the idle loop or the self-test runner.
//!
//! Each architecture's entry (`arch::current::entry`) turns its boot protocol
//! into a [`BootRecord`] and calls [`start`]; from there on nothing names a
//! CPU. [`start`] gives the usable RAM to the frame stack and installs the
//! kernel address space, then moves to a kernel stack with a guard page;
//! `kernel_main` makes the heap's first use possible (vmap ranges live on it),
//! maps the devices on demand through the vmap window and starts the timer
//! tick, prints the boot report, runs the seed example, then idles or runs
//! what the command line asks for (self-tests, the stress run, the crash
//! demonstrations).

pub mod console;
pub mod crash;
pub mod devices;
pub mod kaslr;
pub mod memory;
pub mod report;
pub mod selftest;
pub mod stress;

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use crate::arch::current::{self, cpu, exceptions, host, layout};
use crate::arch::current::{Cause, Fault, KernelTableAccess, KernelTlb};
use crate::memory::frames::{FrameStack, FreeError, MAX_RANGES};
use crate::memory::free_map::{FreeMap, MapPages};
use crate::memory::paging::Mapper;
use crate::memory::placement::{NoSeed, Seed};
use crate::memory::space::AddressSpace;
use crate::memory::window::PageView;
use crate::platform::{PlatformDescription, RAM_CAPACITY, RESERVATION_CAPACITY, ReservationReason};
use crate::println;
use crate::text::LineBuffer;

/// What an architecture's entry hands to [`start`]: its boot protocol (a
/// device tree, or the PVH start info and ACPI) turned into one portable value.
pub struct BootRecord {
    /// How the CPU was entered, for the report (`EL2`, `long mode via PVH`).
    pub entered: &'static str,
    /// Where the image lies in physical memory ([`start`] reserves it).
    pub image: PhysRange,
    /// The boot page tables ([`start`] reserves them; they stay in use).
    pub boot_tables: PhysRange,
    /// The root table of the kernel half, built by the boot code.
    pub kernel_root: PhysAddr,
    /// RAM, reservations with their reasons, the command line, the CPUs,
    /// and the devices the platform names: on a device tree the console,
    /// the interrupt controller and the timer; from ACPI the APICs (an x86
    /// PC's console is COM1 and its tick the local APIC timer, which the x86
    /// layer knows without being told).
    pub platform: PlatformDescription<'static>,
    /// Device-tree FDT_NOP tokens stripped before parsing (0 elsewhere).
    pub removed_nops: usize,
    /// Counter ticks at fixed points of the boot; the platform is described.
    pub milestones: report::Milestones,
    /// The seed for placing the heap, vmap and frame-stack windows: from
    /// the device tree on AArch64, RDRAND on x86_64; or why there is none.
    pub seed: Result<Seed, NoSeed>,
}

/// The boot record, and what [`start`] made of it.
pub struct Boot {
    /// What the architecture's entry handed over.
    pub record: BootRecord,
    /// Frames given to the frame stack at boot.
    pub frames_at_boot: usize,
    /// Usable ranges the frame stack refused (beyond its range capacity or
    /// the free map's reach), with the first refusal.
    pub refused_ranges: (usize, Option<FreeError>),
    /// Whether the windows were placed at random, and from what.
    pub kaslr: kaslr::Kaslr,
}

impl core::ops::Deref for Boot {
    type Target = BootRecord;

    fn deref(&self) -> &BootRecord {
        &self.record
    }
}

static BOOT: Once<Boot> = Once::new();

/// What the kernel was told at boot (available once memory is up).
pub fn boot() -> Option<&'static Boot> {
    BOOT.get()
}

/// The one boot flow, shared by every architecture: places the heap, vmap
/// and frame-stack windows (at random unless `nokaslr` or no seed), gives
/// the usable RAM to
/// the frame stack, installs the kernel address space, moves to a kernel
/// stack with a guard page, then brings up the heap, the devices, the report
/// and the self-tests.
pub fn start(record: BootRecord) -> ! {
    let mut record = record;
    for (range, reason) in [
        (record.image, ReservationReason::KernelImage),
        (record.boot_tables, ReservationReason::BootTables),
    ] {
        if let Err(error) = record.platform.reserve(range, reason) {
            boot_failed(format_args!("cannot reserve {range} ({reason}): {error}"));
        }
    }
    let (placement, kaslr) = kaslr::choose(record.platform.bootargs, record.seed);
    memory::place_windows(placement);
    // SAFETY: the kernel root and its tables were built by the boot code, are
    // edited only through this mapper from now on, and the arch's table access
    // reaches them. This is the only table access and TLB object made.
    let mapper = unsafe {
        Mapper::new(
            record.kernel_root,
            KernelTableAccess::new(),
            KernelTlb::new(),
        )
    };
    // `withhold-ram-test` boots as firmware that reserved every frame would
    // make it boot (where no bad input can say so: an x86 PC's memory map
    // comes from QEMU): the frame stack gets nothing, and the boot must fail
    // cleanly.
    let withhold_ram = has_word(record.platform.bootargs, "withhold-ram-test");
    let free_map = match withhold_ram {
        false => make_free_map(&mut record.platform),
        true => None,
    };
    let platform = &record.platform;
    // Every usable piece fits the stack's tables: each reservation splits at
    // most one RAM region in two.
    const _: () = assert!(MAX_RANGES >= RAM_CAPACITY + RESERVATION_CAPACITY);
    let mut frames = FrameStack::new(platform.ram().iter().copied(), platform.usable());
    if let Some(map) = free_map {
        frames.install_free_map(map);
    }
    let mut space = AddressSpace::new(mapper, frames, placement.frame_stack, PageView::Live);
    let mut frames_at_boot = 0;
    let mut refused_ranges = (0, None);
    for range in platform.usable().filter(|_| !withhold_ram) {
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
    record.milestones.frames_ready();
    let boot = BOOT.call_once(|| Boot {
        record,
        frames_at_boot,
        refused_ranges,
        kaslr,
    });
    match memory::allocate_kernel_stack() {
        // SAFETY: the stack ends a mapped, unused kernel stack (64 KiB, so
        // 16-byte aligned); `kernel_main` never returns, so nothing on the
        // boot stack is needed again.
        Ok(stack) => unsafe { current::run_on_stack(stack.top(), kernel_main, boot) },
        Err(error) => boot_failed(format_args!("no kernel stack: {error}")),
    }
}

/// The status [`boot_failed`] ends the emulation with (`host::exit`; on
/// x86_64 QEMU then exits with 9).
pub const BOOT_FAILED_STATUS: u32 = 4;

/// Ends a boot that cannot go on, once the command line has been read: prints
/// `boot failed: {error}` on the console, and when the command line allowed
/// an exit to the host (`exit=semihosting`, `exit=isa-debug-exit`) also on
/// the host's own console if it is another one (semihosting), then ends the
/// emulation with [`BOOT_FAILED_STATUS`]. Without that word it says so and
/// halts: nothing else can tell the host.
pub fn boot_failed(error: fmt::Arguments<'_>) -> ! {
    let mut text = LineBuffer::new();
    let _ = fmt::Write::write_fmt(&mut text, format_args!("boot failed: {error}\n"));
    let text = text.as_str();
    console::print_emergency(format_args!("{text}"));
    if host::exit_allowed() {
        if host::SEPARATE_CONSOLE || !console::is_ready() {
            host::write(text);
        }
        host::exit(BOOT_FAILED_STATUS);
    }
    console::print_emergency(format_args!(
        "boot failed: halting ({} is not on the command line)\n",
        host::EXIT_WORD
    ));
    cpu::halt();
}

/// Ends a boot that failed before the command line could be read (the boot
/// protocol's own data is unreadable), so the kernel cannot know whether the
/// host takes an exit: prints `boot failed: {error}` and that it halts, on the
/// console or, before there is one, through `host::write` as a last resort
/// (on AArch64 semihosting, which traps where the host does not serve it; the
/// fault path then halts too), and halts.
pub fn boot_failed_unread(error: fmt::Arguments<'_>) -> ! {
    let mut text = LineBuffer::new();
    let _ = fmt::Write::write_fmt(
        &mut text,
        format_args!(
            "boot failed: {error}\nboot failed: the command line cannot be read: halting\n"
        ),
    );
    if console::is_ready() {
        console::print_emergency(format_args!("{}", text.as_str()));
    } else {
        host::write(text.as_str());
    }
    cpu::halt();
}

/// Reserves the frames the frame stack's free-frame map may need for its pages
/// and tables (from the first usable range with room) and makes the map over
/// `layout::FREE_MAP` with no page present: a page is mapped and zeroed when
/// the frame stack first hands out a frame of its 128 MiB span, so at boot the
/// map costs O(RAM ranges), whatever the RAM size. `None` (and every double
/// free then goes unnoticed outside debug builds) only when no range has
/// room, which the boot report says.
fn make_free_map(platform: &mut PlatformDescription<'static>) -> Option<FreeMap> {
    let bytes = (FreeMap::reserve_frames(platform.ram()) * PAGE_SIZE) as u64;
    let home = platform.usable().find(|range| range.size >= bytes)?;
    let reserve = PhysRange::new(home.start, bytes);
    platform
        .reserve(reserve, ReservationReason::FreeFrameMap)
        .ok()?;
    let pages = MapPages::Reserved {
        next: home.start,
        end: PhysAddr(home.start.0 + bytes),
    };
    // SAFETY: the FREE_MAP window (1 GiB, more than the 128 MiB map of the
    // 4 TiB it can cover: checked below) is the map's alone and nothing is
    // mapped there yet; the reserve's frames are reserved for it and belong
    // to nothing else.
    Some(unsafe { FreeMap::new(platform.ram(), layout::FREE_MAP.start.as_mut_ptr(), pages) })
}

// The largest free map fits its window.
const _: () =
    assert!(layout::FREE_MAP.size >= (crate::memory::free_map::MAX_PAGES * PAGE_SIZE) as u64);

/// Runs on the first kernel stack, with the heap available.
extern "C" fn kernel_main(boot: &'static Boot) -> ! {
    let mut milestones = boot.record.milestones;
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

    crash::run(command_line_has, &devices);
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
    if host::exit_allowed() {
        host::exit(if passed { 0 } else { 1 });
    }
    println!("idle: the timer keeps ticking (Ctrl-A X quits QEMU)");
    loop {
        cpu::wait_for_interrupt();
    }
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
pub fn has_word(line: Option<&str>, word: &str) -> bool {
    line.is_some_and(|line| line.split_whitespace().any(|candidate| candidate == word))
}

/// Set by `fault-in-fault-test`: the fatal handler faults after its report.
static FAULT_WHILE_REPORTING: AtomicBool = AtomicBool::new(false);

/// Reports a fatal exception (on the emergency path of the console) and stops;
/// the architecture's exception entry calls it.
pub fn fatal_fault(fault: &Fault, cause: Cause) -> ! {
    match cause {
        Cause::InsideFatalHandler { first } => {
            // Touch as little as possible: no window lookup, no command line.
            console::print_emergency(format_args!(
                "\nFATAL fault inside the fault handler: {fault} (while reporting: {first})\n"
            ));
            exceptions::stop();
        }
        Cause::Unexpected => console::print_emergency(format_args!("\nFATAL {fault}")),
        Cause::StackOverflow => match fault.address.and_then(memory::overflowed_stack) {
            Some(stack) => console::print_emergency(format_args!(
                "\nFATAL kernel stack overflow: stack {stack} ran into its guard page: {fault}"
            )),
            None => {
                console::print_emergency(format_args!("\nFATAL kernel stack overflow: {fault}"))
            }
        },
        Cause::TrapToHypervisor {
            vector,
            fault_address,
            saved_status,
        } => console::print_emergency(format_args!(
            "\nFATAL unexpected trap to EL2 (EL2 vector {vector}): {fault} (the address from ELR_EL2, esr ESR_EL2); FAR_EL2 {fault_address:#x}, SPSR_EL2 {saved_status:#x}"
        )),
        Cause::UnhandledVector(kind) => {
            console::print_emergency(format_args!(
                "\nFATAL unhandled exception (vector kind {kind}): {fault}"
            ));
        }
    }
    if let Some(address) = fault.address {
        console::print_emergency(format_args!(", in {}", memory::describe(address)));
        if let Some(rights) = memory::mapping_rights(address) {
            console::print_emergency(format_args!(" ({rights})"));
        }
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
    if host::exit_allowed() {
        host::exit(2);
    }
    cpu::halt();
}
