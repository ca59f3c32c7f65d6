//! The boot report, the boot-cost milestones and the seed's example.

use crate::addr::{ByteSize, PAGE_SIZE};
use crate::arch::current::devices::describe_console;
use crate::arch::current::{cpu, timer};
use crate::kernel::devices::{self, Devices};
use crate::kernel::{Boot, memory};
use crate::{print, println};

/// Counter ticks at fixed points of the boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Milestones {
    entry: u64,
    platform: u64,
    frames: u64,
    heap: u64,
    devices: u64,
    report: u64,
}

impl Milestones {
    /// Starts the clock at kernel entry.
    pub fn start() -> Self {
        Self {
            entry: timer::counter(),
            ..Self::default()
        }
    }
    /// The platform description is done.
    pub fn platform_described(&mut self) {
        self.platform = timer::counter();
    }
    /// The frame stack holds every usable frame.
    pub fn frames_ready(&mut self) {
        self.frames = timer::counter();
    }
    /// The heap and the vmap window work.
    pub fn heap_ready(&mut self) {
        self.heap = timer::counter();
    }
    /// The devices are mapped and the timer has ticked.
    pub fn devices_ready(&mut self) {
        self.devices = timer::counter();
    }
    /// The boot report is printed.
    pub fn report_done(&mut self) {
        self.report = timer::counter();
    }
    /// Prints how long each phase of the boot took, in milliseconds.
    pub fn print(&self) {
        let frequency = timer::frequency();
        let phases = [
            ("platform", self.entry, self.platform),
            ("frames", self.platform, self.frames),
            ("heap", self.frames, self.heap),
            ("devices", self.heap, self.devices),
            ("report", self.devices, self.report),
        ];
        print!("boot time: ");
        for (name, from, to) in phases {
            print!(
                "{name} {}, ",
                Milliseconds::new(to.saturating_sub(from), frequency)
            );
        }
        println!(
            "total {} (devices include the wait for {} timer ticks)",
            Milliseconds::new(self.report.saturating_sub(self.entry), frequency),
            devices::BOOT_TICKS
        );
    }

    /// Prints the milestones as raw counter ticks since entry, the form that
    /// `make bootcost` reads (command-line word `bootcost`).
    pub fn print_ticks(&self) {
        let since = |t: u64| t.saturating_sub(self.entry);
        println!(
            "bootcost: platform={} frames={} heap={} devices={} report={} (counter ticks since entry, {} Hz)",
            since(self.platform),
            since(self.frames),
            since(self.heap),
            since(self.devices),
            since(self.report),
            timer::frequency()
        );
    }
}

/// A count of counter ticks shown as milliseconds with one decimal.
struct Milliseconds {
    tenths: u64,
}

impl Milliseconds {
    fn new(ticks: u64, frequency: u64) -> Self {
        let tenths = (u128::from(ticks) * 10_000 / u128::from(frequency.max(1))) as u64;
        Self { tenths }
    }
}

impl core::fmt::Display for Milliseconds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{} ms", self.tenths / 10, self.tenths % 10)
    }
}

/// Prints what the kernel found and built.
pub fn print(boot: &Boot, devices: &Devices) {
    let platform = &boot.platform;
    println!();
    println!("== boot report ==");
    println!("model:     {}", platform.model.unwrap_or("(none)"));
    println!("entered:   {}", boot.entered);
    println!(
        "cmdline:   {}",
        platform
            .bootargs
            .filter(|line| !line.is_empty())
            .unwrap_or("(none)")
    );
    if boot.removed_nops > 0 {
        println!(
            "dtb:       {} NOP tokens stripped before parsing",
            boot.removed_nops
        );
    }
    let warnings = platform.warnings();
    for warning in warnings.kept() {
        println!("warning:   {warning}");
    }
    if let more @ 1.. = warnings.count() - warnings.kept().len() {
        println!("warning:   and {more} more");
    }
    print_cpus(boot);
    if let Some(console) = describe_console(platform) {
        println!("console:   {console}");
    }
    for range in platform.ram() {
        println!("ram:       {range}");
    }
    for reservation in platform.reserved() {
        println!("reserved:  {} ({})", reservation.range, reservation.reason);
    }
    let reusable = platform.reusable();
    for pool in reusable.kept() {
        println!("reusable:  {pool}");
    }
    if let more @ 1.. = reusable.count() - reusable.kept().len() {
        println!("reusable:  and {more} more, left usable too");
    }
    let free = memory::free_frame_count();
    let mapped = memory::heap_mapped_bytes();
    let (pages, tables, fresh, fresh_ranges, map_bytes) = memory::with_space(|space| {
        let frames = space.frames();
        (
            frames.window_page_count(),
            frames.table_frame_count(),
            frames.fresh_frame_count(),
            frames.fresh_ranges().len(),
            frames.free_map_bytes(),
        )
    })
    .unwrap_or_default();
    println!(
        "frames:    {free} free of {} ({}): {fresh} still fresh in {fresh_ranges} ranges; {pages} pages and {tables} page tables of the free frames hold the stack itself; free-frame map {} present",
        boot.frames_at_boot,
        ByteSize((boot.frames_at_boot * PAGE_SIZE) as u64),
        ByteSize(map_bytes as u64)
    );
    if memory::with_space(|space| space.frames().has_free_map()) == Some(false) {
        println!("problem:   no room for the free-frame map: double frees go unnoticed");
    }
    if let refused @ 1.. = memory::refused_free_count() {
        println!("problem:   {refused} frees the memory system made were refused: frames lost");
    }
    if let (count @ 1.., Some(error)) = boot.refused_ranges {
        println!("problem:   {count} usable ranges not given to the frame stack (first: {error})");
    }
    println!("kaslr:     {}", boot.kaslr);
    println!("kernel address space (upper half):");
    for (name, range) in memory::windows() {
        println!("  {name:<14} {range}");
    }
    println!(
        "heap:      {} mapped, {} in use",
        ByteSize(mapped),
        ByteSize(memory::heap_used_bytes() as u64)
    );
    for device in &devices.mapped {
        println!(
            "device:    {:<22} {} -> {}",
            device.name, device.phys, device.virt
        );
    }
    for problem in &devices.problems {
        println!("problem:   {problem}");
    }
    let unsupported = platform.unsupported();
    for device in unsupported.kept() {
        println!("not driven: {device}");
    }
    if let more @ 1.. = unsupported.count() - unsupported.kept().len() {
        println!("not driven: and {more} more");
    }
    match devices.interrupts {
        Some(interrupts) => println!(
            "timer:     interrupt {} on the {}, {} Hz, {} ticks taken (boot waits for {})",
            interrupts.timer,
            interrupts.controller,
            devices::TICK_HZ,
            devices.boot_ticks,
            devices::BOOT_TICKS
        ),
        None => println!("timer:     not running"),
    }
}

/// The CPUs the platform lists (by MPIDR on a device tree, local APIC ID
/// from ACPI): the boot CPU runs the kernel, the others stay parked where the
/// firmware left them, each with how it could be started; then the kernel's
/// own holding pen, where a core waits that entered the kernel but did not
/// boot it.
fn print_cpus(boot: &Boot) {
    let cpus = &boot.platform.cpus;
    let boot_cpu = cpu::id();
    if cpus.count() <= 1 {
        println!("cpus:      1, id {boot_cpu:#x}, running the kernel");
    } else {
        println!(
            "cpus:      {} listed; the kernel runs on the one with id {boot_cpu:#x}, the other {} stay parked",
            cpus.count(),
            cpus.count() - 1
        );
        for listed in cpus.listed() {
            match listed.id {
                Some(id) => print!("  {}: id {id:#x}", listed.path),
                None => print!("  {}: id unreadable", listed.path),
            }
            print!(
                ", enable-method {}: ",
                listed.enable_method.unwrap_or("(none)")
            );
            if listed.id == Some(boot_cpu) {
                println!("running the kernel");
            } else {
                println!("parked; to start: {}", cpus.start_method(listed));
            }
        }
        if cpus.count() > cpus.listed().len() {
            println!("  … and {} more", cpus.count() - cpus.listed().len());
        }
    }
    if let Some(pen) = cpu::holding_pen(boot.image.start) {
        println!("pen:       {pen}");
    }
}

/// The seed's example: allocate 16 zeroed frames and 16 pages of virtual
/// space, map, check they read as zero (the frames may be the ones an earlier
/// run wrote), write and read back, unmap, free; the free-frame count must
/// return.
pub fn seed_example() -> bool {
    let before = memory::free_frame_count();
    let ok = match memory::allocate_zeroed_pages(16) {
        Ok(mapping) => {
            let words = 16 * PAGE_SIZE / 8;
            let base = mapping.address().as_mut_ptr::<u64>();
            // SAFETY: the mapping covers `words` u64s, read-write, ours.
            let zeroed = (0..words).all(|index| unsafe { base.add(index).read_volatile() } == 0);
            for index in 0..words {
                // SAFETY: the mapping covers `words` u64s, read-write, ours.
                unsafe { base.add(index).write_volatile(index as u64 ^ 0x5eed) };
            }
            // SAFETY: as above.
            let intact = (0..words)
                .all(|index| unsafe { base.add(index).read_volatile() } == index as u64 ^ 0x5eed);
            let range = mapping.range();
            drop(mapping);
            println!(
                "seed:      16 frames mapped at {range}, zeroed, written and read back: {}",
                match (zeroed, intact) {
                    (true, true) => "ok",
                    (false, _) => "OLD CONTENTS LEFT",
                    (true, false) => "MISMATCH",
                }
            );
            zeroed && intact
        }
        Err(error) => {
            println!("seed:      failed: {error}");
            false
        }
    };
    let after = memory::free_frame_count();
    println!(
        "seed:      free frames before {before}, after {after}{}",
        if before == after { "" } else { "  <-- LEAK" }
    );
    ok && before == after
}
