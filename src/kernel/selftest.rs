//! The in-kernel test suite, run when the command line says `selftest`.
//!
//! Each test prints one line; a summary line follows. With `exit=semihosting`
//! the kernel then ends QEMU with status 0 (all passed) or 1. The tests adapt to
//! the machine they find: RAM size, GIC version, entry level.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::arch::current::exceptions;
use crate::arch::current::{IrqSafeMutex, cpu, layout, self_tests, timer};
use crate::kernel::devices::{self, Devices};
use crate::kernel::{Boot, console, memory, report, stress};
use crate::memory::frames::FreeError;
use crate::memory::heap::{MIN_GROWTH, small};
use crate::memory::paging::{Attributes, MemoryKind};
use crate::memory::protection;
use crate::println;

type Outcome = Result<(), String>;

macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($message)*));
        }
    };
}

/// One self-test: it gets what the boot found and set up.
type Test = fn(&Boot, &Devices) -> Outcome;

const TESTS: &[(&str, Test)] = &[
    (
        "platform: RAM, console and interrupt controller found",
        platform_found,
    ),
    (
        "platform: the device tree's seeds read as zeros once taken",
        seeds_wiped,
    ),
    (
        "frames: a 2 MiB-aligned contiguous run from fresh RAM, written and freed",
        frames_contiguous_run,
    ),
    (
        "frames: allocate every free frame, free all, twice",
        frames_drain_and_refill,
    ),
    (
        "frames: bad frees, double frees included, are refused",
        frames_refuse_bad_frees,
    ),
    (
        "heap: Box, Vec, BTreeMap, realloc, large alignments",
        heap_collections,
    ),
    (
        "heap: grows by 256 MiB (half the free RAM when less), shrinks when freed",
        heap_grows_and_shrinks,
    ),
    (
        "heap: exhaustion returns null and loses nothing",
        heap_exhaustion,
    ),
    (
        "vmap: the seed example keeps the frame count",
        vmap_seed_example,
    ),
    ("vmap: ranges coalesce after frees", vmap_ranges),
    (
        "paging: a 64 MiB run switches the fixmap per table, not per page",
        runs_stay_on_their_tables,
    ),
    (
        "mmio: device mappings are device memory, never executable",
        mmio_attributes,
    ),
    ("mmio: a device range over RAM is refused", mmio_refuses_ram),
    (
        "paging: W^X, no kernel page user-accessible, no device memory executable",
        protection_rules,
    ),
    (
        "paging: the lower half and page 0 are unmapped",
        lower_half_empty,
    ),
    ("fault: guard page below the kernel stack", guard_page_fault),
    (
        "fault: guard page below the emergency stack",
        emergency_guard_page_fault,
    ),
    (
        "fault: access to the heap's unmapped middle",
        unmapped_heap_fault,
    ),
    ("timer: interrupts keep ticking", timer_ticks),
    (
        "locks: IRQ-safe locks mask the timer while held",
        irq_safe_locks,
    ),
    (
        "locks: the console lock is IRQ-safe",
        console_lock_masks_irqs,
    ),
    (
        "stress: a short seeded mix to exhaustion loses nothing",
        short_stress,
    ),
];

/// Runs every test, prints one line each and a summary; true when all passed.
pub fn run(boot: &Boot, devices: &Devices) -> bool {
    let total = TESTS.len() + self_tests::TESTS.len();
    println!("selftest: {total} tests");
    let shared = TESTS
        .iter()
        .map(|(name, test)| (*name, test(boot, devices)));
    let own = self_tests::TESTS.iter().map(|(name, test)| (*name, test()));
    let mut failed = 0;
    for (name, outcome) in shared.chain(own) {
        match outcome {
            Ok(()) => println!("selftest: ok   {name}"),
            Err(reason) => {
                failed += 1;
                println!("selftest: FAIL {name}: {reason}");
            }
        }
    }
    println!("selftest: {} passed, {failed} failed", total - failed);
    failed == 0
}

/// The description is read after the entry took the seeds (on x86_64 there
/// is no tree, so nothing to check).
fn seeds_wiped(boot: &Boot, _: &Devices) -> Outcome {
    for (name, value) in [
        ("kaslr-seed", boot.platform.kaslr_seed),
        ("rng-seed", boot.platform.rng_seed),
    ] {
        ensure!(
            value.is_none_or(|bytes| bytes.iter().all(|&byte| byte == 0)),
            "/chosen/{name} still holds its value: {value:x?}"
        );
    }
    Ok(())
}

fn platform_found(boot: &Boot, devices: &Devices) -> Outcome {
    ensure!(!boot.platform.ram().is_empty(), "no RAM");
    ensure!(
        crate::arch::current::devices::describe_console(&boot.platform).is_some(),
        "no console"
    );
    ensure!(
        devices.interrupts.is_some(),
        "no interrupt controller running: {:?}",
        devices.problems
    );
    Ok(())
}

/// Runs before the drain (which uses up the fresh ranges): a run of 512
/// frames on a 2 MiB boundary, mapped through vmap, every page written and
/// read back, then freed frame by frame; a run no fresh range holds is
/// refused and changes nothing.
fn frames_contiguous_run(_: &Boot, _: &Devices) -> Outcome {
    const FRAMES: usize = 512;
    let align = (FRAMES * PAGE_SIZE) as u64;
    let before = memory::free_frame_count();
    let refused =
        memory::with_space(|space| space.allocate_contiguous(before + 1, PAGE_SIZE as u64))
            .ok_or("no memory system")?;
    ensure!(
        refused.is_err(),
        "a run longer than the free RAM was handed out"
    );
    ensure!(
        memory::free_frame_count() == before,
        "a refused run changed the count"
    );
    let run = memory::with_space(|space| space.allocate_contiguous(FRAMES, align))
        .ok_or("no memory system")?
        .map_err(|error| error.to_string())?;
    ensure!(
        run.start.0 % align == 0 && run.size == align,
        "{run} is not {FRAMES} frames on a 2 MiB boundary"
    );
    ensure!(
        memory::free_frame_count() == before - FRAMES,
        "the run took {} frames",
        before - memory::free_frame_count()
    );
    let allocated = memory::allocate_range(FRAMES).map_err(|error| error.to_string())?;
    let virt = allocated.range().start;
    let mapped = memory::with_space(|space| {
        space.map_frames(virt, run.start, FRAMES, Attributes::KERNEL_DATA)
    })
    .ok_or("no memory system")?;
    let words = FRAMES * PAGE_SIZE / 8;
    let intact = mapped.is_ok() && {
        let base = virt.as_mut_ptr::<u64>();
        for index in 0..words {
            // SAFETY: the run is mapped read-write at `virt`, and it is ours.
            unsafe { base.add(index).write_volatile(index as u64 ^ run.start.0) };
        }
        // SAFETY: as above.
        (0..words)
            .all(|index| unsafe { base.add(index).read_volatile() } == index as u64 ^ run.start.0)
    };
    memory::with_space(|space| space.unmap_range(allocated.range()));
    memory::free_range(allocated);
    ensure!(mapped.is_ok(), "mapping the run failed: {:?}", mapped);
    ensure!(intact, "the run did not read back what was written");
    for index in 0..FRAMES as u64 {
        let frame = PhysAddr(run.start.0 + index * PAGE_SIZE as u64);
        ensure!(
            memory::free_frame(frame) == Ok(()),
            "{frame} of the run refused"
        );
    }
    ensure!(
        memory::free_frame(run.start) == Err(FreeError::DoubleFree(run.start)),
        "a second free of {} was accepted",
        run.start
    );
    let after = memory::free_frame_count();
    ensure!(after == before, "{before} free before, {after} after");
    Ok(())
}

fn frames_drain_and_refill(_: &Boot, _: &Devices) -> Outcome {
    for round in 0..2 {
        let mut taken: Vec<PhysAddr> = Vec::with_capacity(memory::free_frame_count() + 64);
        let before = memory::free_frame_count();
        let drained = memory::with_space(|space| {
            while taken.len() < taken.capacity() {
                match space.allocate_frame() {
                    Some(frame) => taken.push(frame),
                    None => break,
                }
            }
            let empty = space.free_frame_count() == 0;
            (empty, space.free_frames_from(&taken))
        });
        let (empty, refilled) = drained.ok_or("no memory system")?;
        ensure!(empty, "round {round}: frames left after draining");
        ensure!(
            refilled.is_ok(),
            "round {round}: refill refused: {:?}",
            refilled
        );
        // Draining also hands out the frames that held the stack's window tables.
        ensure!(
            taken.len() >= before,
            "round {round}: drained {} of {before}",
            taken.len()
        );
        let after = memory::free_frame_count();
        ensure!(
            after == before,
            "round {round}: {before} free before, {after} after"
        );
    }
    Ok(())
}

fn frames_refuse_bad_frees(boot: &Boot, _: &Devices) -> Outcome {
    let before = memory::free_frame_count();
    let image = boot.image.start;
    ensure!(
        memory::free_frame(image) == Err(FreeError::Reserved(image)),
        "kernel image accepted"
    );
    let low = PhysAddr(0x1000);
    let outside = boot.platform.ram().iter().all(|range| !range.contains(low));
    if outside {
        ensure!(
            memory::free_frame(low) == Err(FreeError::NotRam(low)),
            "non-RAM accepted"
        );
    }
    let odd = PhysAddr(image.0 + 8);
    ensure!(
        memory::free_frame(odd) == Err(FreeError::Unaligned(odd)),
        "unaligned accepted"
    );
    ensure!(memory::free_frame_count() == before, "the count changed");
    // A double free, of a frame that is an entry and of one that has become a
    // window page: both are refused in every build (the free-frame map).
    let frames = memory::with_space(|space| {
        let first = space.allocate_frame()?;
        let second = space.allocate_frame()?;
        Some((first, second))
    })
    .flatten()
    .ok_or("no frames to free twice")?;
    for frame in [frames.0, frames.1] {
        ensure!(memory::free_frame(frame) == Ok(()), "{frame} refused");
        ensure!(
            memory::free_frame(frame) == Err(FreeError::DoubleFree(frame)),
            "a second free of {frame} was accepted"
        );
    }
    let window_page = memory::with_space(|space| space.top_stack_page())
        .flatten()
        .ok_or("the frame stack has no page")?;
    ensure!(
        memory::free_frame(window_page) == Err(FreeError::DoubleFree(window_page)),
        "a free of the stack's own page {window_page} was accepted"
    );
    ensure!(memory::free_frame_count() == before, "the count changed");
    Ok(())
}

fn heap_collections(_: &Boot, _: &Devices) -> Outcome {
    let boxed = Box::new([7u64; 100]);
    ensure!(boxed.iter().all(|&v| v == 7), "box contents");
    let mut numbers: Vec<u64> = (0..10_000).collect();
    numbers.extend(10_000..50_000);
    ensure!(
        numbers.iter().enumerate().all(|(i, &v)| i as u64 == v),
        "vec contents after realloc"
    );
    let mut map = BTreeMap::new();
    for key in 0..5_000u32 {
        map.insert(key.wrapping_mul(2_654_435_761), key);
    }
    ensure!(map.len() == 5_000, "btreemap size");
    for align in [16, 4096, 65536, 1 << 21] {
        let layout = Layout::from_size_align(align + 100, align).map_err(|e| e.to_string())?;
        // SAFETY: non-zero size; freed right away with the same layout.
        unsafe {
            let block = alloc::alloc::alloc(layout);
            ensure!(!block.is_null(), "alignment {align}: null");
            ensure!(
                (block as usize).is_multiple_of(align),
                "alignment {align}: {block:p}"
            );
            block.write_bytes(0xab, layout.size());
            alloc::alloc::dealloc(block, layout);
        }
    }
    Ok(())
}

/// Page tables the heap's pages may keep after the shrink: the leaf tables of
/// the empty pages it keeps, and the tables above them.
const SHRINK_TABLE_FRAMES: usize = 8;

fn heap_grows_and_shrinks(_: &Boot, _: &Devices) -> Outcome {
    const CHUNK: usize = 1 << 20;
    memory::trim_heap();
    let before = memory::free_frame_count();
    let free_bytes = before * PAGE_SIZE;
    let (target, why) = if 256 * CHUNK <= free_bytes / 2 {
        (256 * CHUNK, "256 MiB")
    } else {
        (free_bytes / 2, "half the free RAM")
    };
    let start_mapped = memory::heap_mapped_bytes() as usize;
    // Half in blocks of up to a page (the front end), half in 1 MiB chunks
    // (the back end), interleaved.
    let mut small: Vec<Box<[u8]>> = Vec::with_capacity(target / 2 / 2048 + 1);
    let mut chunks: Vec<Box<[u8]>> = Vec::with_capacity(target / 2 / CHUNK + 1);
    let (mut small_bytes, mut chunk_bytes) = (0, 0);
    while small_bytes + chunk_bytes < target {
        if chunk_bytes <= small_bytes {
            let mut chunk = alloc::vec![0u8; CHUNK].into_boxed_slice();
            chunk[CHUNK - 1] = chunks.len() as u8;
            chunks.push(chunk);
            chunk_bytes += CHUNK;
        } else {
            let size = 8 + (small.len() * 264) % 4089;
            let mut block = alloc::vec![small.len() as u8; size].into_boxed_slice();
            block[size - 1] = !(small.len() as u8);
            small.push(block);
            small_bytes += size;
        }
    }
    let mapped = memory::heap_mapped_bytes() as usize;
    ensure!(
        mapped >= start_mapped + target,
        "heap mapped {mapped} bytes for a {target}-byte target"
    );
    for (index, chunk) in chunks.iter().enumerate() {
        ensure!(chunk[CHUNK - 1] == index as u8, "chunk {index} corrupted");
    }
    for (index, block) in small.iter().enumerate() {
        let ends = (block[0], block[block.len() - 1]);
        ensure!(
            ends == (index as u8, !(index as u8)),
            "small block {index} corrupted"
        );
    }
    drop(small);
    drop(chunks);
    // What the heap keeps by its policy: empty pages below the trim threshold,
    // the back end's first growth step, the side table down to the kept
    // pages, and the page tables of all these.
    let bound = small::KEPT_EMPTY_PAGES
        + MIN_GROWTH / PAGE_SIZE
        + target / PAGE_SIZE / 1024
        + 1
        + SHRINK_TABLE_FRAMES;
    let kept = before.saturating_sub(memory::free_frame_count());
    ensure!(
        kept <= bound,
        "{kept} frames not back after freeing everything (bound {bound})"
    );
    memory::trim_heap();
    let trimmed = before.saturating_sub(memory::free_frame_count());
    let trimmed_bound = MIN_GROWTH / PAGE_SIZE + SHRINK_TABLE_FRAMES;
    ensure!(
        trimmed <= trimmed_bound,
        "{trimmed} frames not back after a trim (bound {trimmed_bound})"
    );
    println!(
        "          heap grew by {} MiB (target: {why}, {} MiB); freed, {kept} frames kept (bound {bound}), after a trim {trimmed} (bound {trimmed_bound})",
        (mapped - start_mapped) >> 20,
        target >> 20
    );
    Ok(())
}

fn heap_exhaustion(_: &Boot, _: &Devices) -> Outcome {
    let before = memory::free_frame_count();
    let allocator = memory::KernelAllocator;
    let sizes = [
        memory::placement().heap.size as usize,
        (before + 16) * PAGE_SIZE,
    ];
    for size in sizes {
        let layout = Layout::from_size_align(size, 8).map_err(|e| e.to_string())?;
        // SAFETY: a non-zero layout; a null result is what we expect.
        let block = unsafe { allocator.alloc(layout) };
        ensure!(block.is_null(), "{size} bytes were handed out");
    }
    ensure!(
        memory::free_frame_count() == before,
        "{} frames free before, {} after",
        before,
        memory::free_frame_count()
    );
    let small = Box::new(42u32);
    ensure!(*small == 42, "the heap still works");
    Ok(())
}

fn vmap_seed_example(_: &Boot, _: &Devices) -> Outcome {
    ensure!(report::seed_example(), "see the seed lines above");
    Ok(())
}

fn vmap_ranges(_: &Boot, _: &Devices) -> Outcome {
    let before = memory::vmap_free_bytes();
    let mappings: Vec<_> = (1..=8)
        .map(memory::allocate_pages)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    ensure!(
        // 1 + 2 + ... + 8 pages, each followed by its guard pages.
        memory::vmap_free_bytes()
            == before - (36 + 8 * memory::VMAP_GUARD_PAGES) as u64 * PAGE_SIZE as u64,
        "vmap accounting"
    );
    drop(mappings);
    ensure!(
        memory::vmap_free_bytes() == before,
        "vmap free bytes not restored"
    );
    Ok(())
}

/// Maps 64 MiB (or half the free frames, when that is less) through the path
/// the heap grows by, unmaps and frees it, and counts the fixmap's table
/// switches, each a TLB invalidation: a walk per 2 MiB costs a handful, a
/// walk per page (before runs) cost 8 per page.
fn runs_stay_on_their_tables(_: &Boot, _: &Devices) -> Outcome {
    let pages = ((64 << 20) / PAGE_SIZE).min(memory::free_frame_count() / 2);
    let start = memory::table_switches();
    let mapping = memory::allocate_pages(pages).map_err(|error| error.to_string())?;
    let mapped = memory::table_switches() - start;
    drop(mapping);
    let unmapped = memory::table_switches() - start - mapped;
    let per_page = |switches: u64| switches as f64 / pages as f64;
    println!(
        "          {pages} pages: {mapped} switches to map ({:.3} per page), {unmapped} to unmap and free ({:.3} per page)",
        per_page(mapped),
        per_page(unmapped)
    );
    ensure!(
        mapped <= pages as u64 / 8 && unmapped <= pages as u64 / 8,
        "more than one switch per 8 pages"
    );
    Ok(())
}

fn mmio_attributes(_: &Boot, devices: &Devices) -> Outcome {
    ensure!(!devices.mapped.is_empty(), "no device mapped");
    for device in &devices.mapped {
        let found = memory::with_space(|space| space.mapper().translate(device.virt)).flatten();
        let (phys, attributes) =
            found.ok_or_else(|| alloc::format!("{} not mapped", device.name))?;
        ensure!(
            phys == device.phys.start,
            "{}: maps {phys}, expected {}",
            device.name,
            device.phys.start
        );
        let expected = Attributes {
            kind: MemoryKind::Device,
            writable: true,
            executable: false,
            user: false,
        };
        ensure!(attributes == expected, "{}: {attributes:?}", device.name);
        ensure!(
            memory::placement().vmap.contains(device.virt),
            "{} outside the vmap window",
            device.name
        );
    }
    Ok(())
}

fn mmio_refuses_ram(boot: &Boot, _: &Devices) -> Outcome {
    let ram = *boot.platform.ram().first().ok_or("no RAM")?;
    let before = memory::free_frame_count();
    let vmap_before = memory::vmap_free_bytes();
    // The last page of RAM and the page after it: a device range that a bad
    // tree could name, half RAM.
    let last_page =
        ram.end().map_or(u64::MAX, |end| end.0).saturating_sub(1) & !(PAGE_SIZE as u64 - 1);
    let straddling = PhysRange::new(PhysAddr(last_page), 2 * PAGE_SIZE as u64);
    for range in [PhysRange::new(ram.start, PAGE_SIZE as u64), straddling] {
        match memory::map_device(range) {
            Ok(mapping) => {
                let virt = mapping.leak();
                return Err(alloc::format!("{range} mapped as a device at {virt}"));
            }
            Err(error) => println!("          {range}: {error}"),
        }
    }
    ensure!(
        memory::free_frame_count() == before && memory::vmap_free_bytes() == vmap_before,
        "a refused device mapping kept frames or virtual space"
    );
    Ok(())
}

fn protection_rules(_: &Boot, _: &Devices) -> Outcome {
    let audit = memory::with_space(|space| protection::audit_kernel_tree(space.mapper(), true))
        .ok_or("no memory system")?;
    if let Some(violation) = audit.first {
        return Err(alloc::format!(
            "{violation} ({} of {} leaves break a rule)",
            audit.violations,
            audit.leaves
        ));
    }
    ensure!(
        audit.leaves > 0 && audit.executable > 0,
        "walked {} leaves, {} executable",
        audit.leaves,
        audit.executable
    );
    println!(
        "          {} leaves walked, {} executable, none breaks a rule",
        audit.leaves, audit.executable
    );
    Ok(())
}

fn lower_half_empty(_: &Boot, _: &Devices) -> Outcome {
    let root = PhysAddr(cpu::lower_half_root());
    let lower_half = memory::with_space(|space| {
        let table = space.mapper().access_table(root);
        let entries = layout::LOWER_HALF_ENTRIES;
        protection::check_lower_half(&table[entries.clone()], entries.start)
    })
    .ok_or("no memory system")?;
    lower_half.map_err(|violation| violation.to_string())?;
    ensure!(!cpu::is_readable(VirtAddr(0)), "page 0 is mapped");
    ensure!(
        !cpu::is_readable(VirtAddr(0x4000_0000)),
        "the lower half maps RAM"
    );
    Ok(())
}

fn check_fault(address: VirtAddr, write: bool, place: &str) -> Outcome {
    let outcome = if write {
        // SAFETY: the tests probe only addresses that must not be mapped: if
        // one is, the test fails (and the word written was nobody's).
        unsafe { exceptions::write(address, 1) }.map(|()| 0)
    } else {
        exceptions::read(address)
    };
    let fault = outcome.err().ok_or("no fault was taken")?;
    let report = alloc::format!("{fault}, in {}", memory::describe(address));
    let verb = if write { "write to" } else { "read from" };
    // Each CPU names the fault its own way (a data abort, a page fault);
    // both say what was accessed where, and the kernel says which window.
    let expected = alloc::format!("{verb} {address} (");
    ensure!(report.contains(&expected), "report {report:?}");
    ensure!(
        report.ends_with(place),
        "report {report:?} does not name {place:?}"
    );
    println!("          {report}");
    Ok(())
}

fn guard_page_fault(_: &Boot, _: &Devices) -> Outcome {
    // The kernel runs on the first stack of the stacks window; its guard page
    // is the window's first page.
    let marker = 0u8;
    let here = VirtAddr::from_ptr(&raw const marker);
    ensure!(
        layout::STACKS.contains(here),
        "not running on a kernel stack ({here})"
    );
    check_fault(
        VirtAddr(layout::STACKS.start.0 + 0x800),
        true,
        "kernel stacks, guard page",
    )
}

fn emergency_guard_page_fault(_: &Boot, _: &Devices) -> Outcome {
    let guard = exceptions::emergency_stack_guard();
    let page = PAGE_SIZE as u64;
    ensure!(
        cpu::is_readable(VirtAddr(guard.0 + page)),
        "the emergency stack above its guard page is not mapped"
    );
    check_fault(
        VirtAddr(guard.0 + 0x800),
        true,
        "kernel image, emergency stack guard page",
    )
}

fn unmapped_heap_fault(_: &Boot, _: &Devices) -> Outcome {
    let middle = memory::heap_unmapped_middle();
    check_fault(
        VirtAddr(middle.start.0 + 0x10),
        false,
        "heap, unmapped middle",
    )
}

fn timer_ticks(_: &Boot, devices: &Devices) -> Outcome {
    ensure!(devices.interrupts.is_some(), "the timer is not running");
    let start = devices::ticks();
    let now = ticks_reaching(start + 5);
    ensure!(now >= start + 5, "{} ticks in half a second", now - start);
    ensure!(now >= devices::BOOT_TICKS, "only {now} ticks in all");
    Ok(())
}

fn short_stress(boot: &Boot, _: &Devices) -> Outcome {
    let report = stress::run(boot, stress::SHORT_OPERATIONS, stress::DEFAULT_SEED);
    println!("          {report}");
    ensure!(report.exhaustions > 0, "the run never reached exhaustion");
    ensure!(report.passed(), "{report}");
    ensure!(
        report::seed_example(),
        "the seed example failed after the stress run"
    );
    Ok(())
}

/// Waits for interrupts until the timer has ticked `target` times in all, or
/// half a second has passed, and returns the ticks then. Half a second, not
/// a tick period or two: QEMU on a loaded host delivers a timer interrupt
/// tens of milliseconds after it came due.
fn ticks_reaching(target: u64) -> u64 {
    let deadline = timer::counter() + timer::frequency() / 2;
    while devices::ticks() < target && timer::counter() < deadline {
        cpu::wait_for_interrupt();
    }
    devices::ticks()
}

/// Spins, IRQs masked, until the timer's interrupt is pending or half a
/// second has passed; whether it is pending then.
fn spin_until_tick_pending() -> bool {
    let deadline = timer::counter() + timer::frequency() / 2;
    while !timer::interrupt_pending() && timer::counter() < deadline {
        core::hint::spin_loop();
    }
    timer::interrupt_pending()
}

fn irq_safe_locks(_: &Boot, devices: &Devices) -> Outcome {
    static LOCK: IrqSafeMutex<u64> = IrqSafeMutex::new(0);
    static INNER: IrqSafeMutex<()> = IrqSafeMutex::new(());
    ensure!(devices.interrupts.is_some(), "the timer is not running");
    ensure!(!cpu::irqs_masked(), "IRQs are masked before the test");
    let before = devices::ticks();
    {
        let mut held = LOCK.lock();
        ensure!(
            cpu::irqs_masked(),
            "IRQs are not masked while the lock is held"
        );
        // Held until the tick has come due and waits at the CPU, however
        // late QEMU raises it: then the release alone must let it in.
        ensure!(
            spin_until_tick_pending(),
            "the timer interrupt did not become pending in half a second with the lock held"
        );
        *held = devices::ticks();
        // Nested: releasing an inner lock keeps the outer one's mask.
        drop(INNER.lock());
        ensure!(cpu::irqs_masked(), "releasing a nested lock unmasked IRQs");
    }
    let while_held = *LOCK.lock();
    ensure!(
        while_held == before,
        "{} timer IRQs were taken while the lock was held",
        while_held - before
    );
    ensure!(!cpu::irqs_masked(), "IRQs stay masked after the release");
    // The tick that was pending when the lock was released is taken now:
    // the half-second bound only absorbs a loaded host.
    ensure!(
        ticks_reaching(before + 1) > before,
        "the tick pending at the release was not taken in half a second"
    );
    // Locking with IRQs already masked leaves them masked.
    let saved = cpu::mask_irqs();
    drop(LOCK.lock());
    let still_masked = cpu::irqs_masked();
    cpu::restore_irqs(saved);
    ensure!(
        still_masked,
        "the release unmasked IRQs the caller had masked"
    );
    Ok(())
}

/// Formats as nothing, and records whether IRQs were masked when formatted.
struct MaskProbe(core::cell::Cell<Option<bool>>);

impl core::fmt::Display for MaskProbe {
    fn fmt(&self, _: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.set(Some(cpu::irqs_masked()));
        Ok(())
    }
}

fn console_lock_masks_irqs(_: &Boot, _: &Devices) -> Outcome {
    ensure!(!cpu::irqs_masked(), "IRQs are masked before the test");
    let probe = MaskProbe(core::cell::Cell::new(None));
    // The console formats its arguments while it holds its lock.
    console::print(format_args!("{probe}"));
    match probe.0.get() {
        Some(true) => Ok(()),
        Some(false) => Err("IRQs were unmasked while the console lock was held".into()),
        None => Err("the console did not format its arguments".into()),
    }
}
