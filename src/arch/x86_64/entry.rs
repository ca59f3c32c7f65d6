//! The first Rust code on x86_64: `entry.s` calls [`x86_64_entry`] in the
//! higher half, on the boot stack, with long mode, NX and write protection
//! on and the boot page tables of `entry.s` in CR3 (the image with per-section
//! rights, the first 4 GiB identity-mapped read-only).
//!
//! Until the shared boot flow (`kernel::start`, issue 8) takes over, this
//! brings up COM1 and the traps, prints what the boot handed over, runs a
//! crash test or this CPU's self-tests if the command line asks for them,
//! and exits through `isa-debug-exit` when the command line has
//! `exit=isa-debug-exit`.

use core::fmt;

use super::exceptions::{self, Cause};
use super::fault::Fault;
use super::{console, cpu, host, self_tests, timer, traps};
use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange, VirtAddr};
use crate::drivers::uart16550::{COM1, Uart16550};

/// The kernel's status after a panic: QEMU exits with 5.
pub const PANIC_EXIT: u32 = 2;

/// `hvm_start_info.magic` (Xen's `arch-x86/hvm/start_info.h`).
const START_INFO_MAGIC: u32 = 0x336e_c578;

/// End of the boot identity map (`entry.s`): the first 4 GiB.
pub const IDENTITY_END: u64 = 4 << 30;

/// Longest command line read (the PVH ABI sets no limit; QEMU's is 4 KiB).
const COMMAND_LINE_LIMIT: usize = 4096;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
    static __fault_stack_bottom: u8;
}

/// The head of `struct hvm_start_info`, version 0: what this entry prints.
/// The platform description parses the whole structure and the memory map.
#[repr(C)]
#[derive(Clone, Copy)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    module_count: u32,
    module_list: u64,
    command_line: u64,
    rsdp: u64,
}

/// Why the start info could not be read.
#[derive(Clone, Copy, Debug)]
enum StartInfoError {
    /// It does not lie inside the boot identity map.
    OutsideIdentityMap(PhysAddr),
    /// Its magic number is wrong: not a PVH boot.
    BadMagic(PhysAddr, u32),
    /// The command line has no NUL within [`COMMAND_LINE_LIMIT`] bytes, runs
    /// out of the identity map, or is not UTF-8.
    BadCommandLine(PhysAddr),
}

impl fmt::Display for StartInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideIdentityMap(address) => write!(
                f,
                "start info at {address} lies outside the boot identity map"
            ),
            Self::BadMagic(address, magic) => write!(
                f,
                "no PVH start info at {address} (magic {magic:#x}, expected {START_INFO_MAGIC:#x})"
            ),
            Self::BadCommandLine(address) => write!(
                f,
                "command line at {address} is not a UTF-8 string of at most \
                 {COMMAND_LINE_LIMIT} bytes in the boot identity map"
            ),
        }
    }
}

/// `bytes` bytes at `address` through the boot identity map, if they lie in
/// it (page 0 is not mapped).
fn identity_mapped(address: PhysAddr, bytes: usize) -> Option<*const u8> {
    let end = address.checked_add(bytes as u64)?;
    (address.0 >= PAGE_SIZE as u64 && end.0 <= IDENTITY_END)
        .then(|| VirtAddr(address.0).as_mut_ptr::<u8>().cast_const())
}

impl StartInfo {
    fn read(address: PhysAddr) -> Result<Self, StartInfoError> {
        let pointer = identity_mapped(address, size_of::<Self>())
            .ok_or(StartInfoError::OutsideIdentityMap(address))?;
        // SAFETY: the bytes lie in the boot identity map, which is read-only
        // and stays while this entry runs; any bit pattern is a `StartInfo`.
        let info = unsafe { pointer.cast::<Self>().read_unaligned() };
        if info.magic != START_INFO_MAGIC {
            return Err(StartInfoError::BadMagic(address, info.magic));
        }
        Ok(info)
    }

    /// The NUL-terminated command line, or `None` when there is none.
    fn command_line(&self) -> Result<Option<&'static str>, StartInfoError> {
        if self.command_line == 0 {
            return Ok(None);
        }
        let address = PhysAddr(self.command_line);
        let error = StartInfoError::BadCommandLine(address);
        let mut length = 0;
        loop {
            let byte = identity_mapped(address.checked_add(length as u64).ok_or(error)?, 1)
                .ok_or(error)?;
            // SAFETY: the byte lies in the read-only boot identity map.
            if unsafe { byte.read() } == 0 {
                break;
            }
            length += 1;
            if length == COMMAND_LINE_LIMIT {
                return Err(error);
            }
        }
        let start = identity_mapped(address, length).ok_or(error)?;
        // SAFETY: `length` bytes from `start` were just read one by one in the
        // identity map, which nothing writes while the entry runs.
        let bytes = unsafe { core::slice::from_raw_parts(start, length) };
        core::str::from_utf8(bytes).map(Some).map_err(|_| error)
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "OFF" }
}

fn has_word(line: &str, word: &str) -> bool {
    line.split_ascii_whitespace()
        .any(|candidate| candidate == word)
}

/// Called by `entry.s` with the physical addresses of the PVH start info
/// (from ebx) and of the image's first byte. Never returns: it stops through
/// `isa-debug-exit` or halts.
#[unsafe(no_mangle)]
pub extern "C" fn x86_64_entry(start_info: PhysAddr, image_base: PhysAddr) -> ! {
    exceptions::set_fatal_handler(report_fatal);
    // SAFETY: COM1 is the PC's first serial port, and this is its only driver.
    let mut uart = unsafe { Uart16550::new(COM1) };
    uart.init();
    console::install(uart);
    traps::init();

    let protections = cpu::Protections::read();
    console::print(format_args!(
        "x86_64: long mode {}, NX {}, WP {}\n",
        on_off(protections.long_mode),
        on_off(protections.no_execute),
        on_off(protections.write_protect)
    ));
    let image_start = VirtAddr::from_ptr(&raw const __kernel_start);
    let image_size = VirtAddr::from_ptr(&raw const __kernel_end).0 - image_start.0;
    console::print(format_args!(
        "x86_64: image at {} (physical), linked at {image_start}\n",
        PhysRange::new(image_base, image_size)
    ));
    console::print(format_args!(
        "x86_64: CPU {}, TSC at {} kHz\n",
        cpu::id(),
        timer::frequency() / 1000
    ));

    let command_line = StartInfo::read(start_info).and_then(|info| {
        console::print(format_args!(
            "x86_64: start info at {start_info}, version {}, RSDP at {}\n",
            info.version,
            PhysAddr(info.rsdp)
        ));
        info.command_line()
    });
    let command_line = match command_line {
        Ok(line) => line.unwrap_or(""),
        Err(error) => {
            console::print(format_args!("x86_64: boot failed: {error}\n"));
            cpu::halt();
        }
    };
    console::print(format_args!("x86_64: command line \"{command_line}\"\n"));
    if has_word(command_line, "exit=isa-debug-exit") {
        host::allow_exit();
    }
    run_crash_test(command_line);
    if has_word(command_line, "run-on-stack-test") {
        let top = VirtAddr::from_ptr(&raw const __boot_stack_top);
        console::print(format_args!("x86_64: moving to a fresh stack at {top}\n"));
        // SAFETY: the boot stack's top is 16-byte aligned (linker.ld) and
        // mapped; nothing on it is needed again, as the call never returns.
        unsafe { crate::arch::run_on_stack(top, on_fresh_stack, &FRESH_STACK_WORDS) };
    }
    let status = if has_word(command_line, "arch-selftest") {
        run_self_tests()
    } else {
        0
    };

    if host::exit_allowed() {
        console::print(format_args!(
            "x86_64: entry done; exit through isa-debug-exit (QEMU status {})\n",
            host::qemu_status(status)
        ));
        host::exit(status);
    }
    console::print(format_args!("x86_64: entry done; halted\n"));
    cpu::halt()
}

/// The crash runs: each word makes one fault on purpose, so that a test can
/// check that its report names what happened.
fn run_crash_test(command_line: &str) {
    if has_word(command_line, "fault-test") {
        console::print(format_args!(
            "x86_64: storing to the boot stack's guard page\n"
        ));
        // SAFETY: not safe at all: this store to an unmapped page faults, on
        // purpose, and the page-fault report stops the kernel.
        unsafe {
            exceptions::boot_stack_guard()
                .as_mut_ptr::<u64>()
                .write_volatile(0)
        };
    }
    if has_word(command_line, "overflow-test") {
        console::print(format_args!("x86_64: overflowing the boot stack\n"));
        overflow(0);
    }
    if has_word(command_line, "invalid-opcode-test") {
        console::print(format_args!("x86_64: executing ud2\n"));
        // SAFETY: `ud2` raises #UD, on purpose; the report stops the kernel.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    }
    if has_word(command_line, "interrupt-test") {
        console::print(format_args!("x86_64: raising interrupt 64\n"));
        // SAFETY: vector 64 has no handler but the catch-all (0x30 is the
        // timer's), whose report stops the kernel, on purpose.
        unsafe { core::arch::asm!("int 64", options(nomem, nostack)) };
    }
    if has_word(command_line, "protection-test") {
        console::print(format_args!("x86_64: reading a non-canonical address\n"));
        // SAFETY: not safe at all: a non-canonical address raises #GP, on
        // purpose; the report stops the kernel.
        unsafe { VirtAddr(1 << 63).as_mut_ptr::<u64>().read_volatile() };
    }
}

/// What `run-on-stack-test` hands to [`on_fresh_stack`].
static FRESH_STACK_WORDS: &str = "running on the fresh stack";

/// Runs on the boot stack from its top again (`run-on-stack-test`): prints
/// `words` and how deep it is, and exits with success.
extern "C" fn on_fresh_stack(words: &'static &'static str) -> ! {
    let marker = 0u8;
    let depth =
        VirtAddr::from_ptr(&raw const __boot_stack_top).0 - VirtAddr::from_ptr(&raw const marker).0;
    console::print(format_args!(
        "x86_64: {words}, {depth} bytes below its top\n"
    ));
    if host::exit_allowed() {
        host::exit(0);
    }
    cpu::halt()
}

/// This CPU's self-tests (`arch-selftest`), until the shared runner of
/// `kernel::selftest` runs them with its suite: the status for
/// [`host::exit`]. Without a heap a failing check panics while formatting
/// its message (status 5, not 33), so a failure still shows.
fn run_self_tests() -> u32 {
    let mut failed = 0;
    for (name, check) in self_tests::TESTS {
        match check() {
            Ok(()) => console::print(format_args!("selftest: ok {name}\n")),
            Err(message) => {
                failed += 1;
                console::print(format_args!("selftest: FAIL {name}: {message}\n"));
            }
        }
    }
    console::print(format_args!(
        "selftest: {} passed, {failed} failed\n",
        self_tests::TESTS.len() - failed
    ));
    u32::from(failed > 0)
}

/// The entry's fatal report, until `kernel::fatal_fault` (which says the
/// same with the kernel's windows) takes over.
fn report_fatal(fault: &Fault, cause: Cause) -> ! {
    let (what, address) = match cause {
        Cause::InsideFatalHandler { .. } => ("fault inside the fault handler: ", None),
        Cause::StackOverflow => ("kernel stack overflow: ", fault.address),
        Cause::UnhandledVector(_) => ("unhandled interrupt: ", fault.address),
        Cause::Unexpected => ("", fault.address),
    };
    console::print_emergency(format_args!("\nFATAL {what}{fault}"));
    if let Some(address) = address {
        console::print_emergency(format_args!(", in {}", describe(address)));
    }
    console::print_emergency(format_args!("\n"));
    exceptions::stop()
}

/// True when `address` lies in `[start, end)`, two of the image's symbols.
fn within(address: VirtAddr, start: *const u8, end: *const u8) -> bool {
    (VirtAddr::from_ptr(start)..VirtAddr::from_ptr(end)).contains(&address)
}

/// What the boot page tables put at `address`, for fault reports.
fn describe(address: VirtAddr) -> &'static str {
    let boot_guard = exceptions::boot_stack_guard();
    let emergency_guard = exceptions::emergency_stack_guard();
    if within(
        address,
        boot_guard.as_mut_ptr(),
        &raw const __boot_stack_bottom,
    ) {
        "the boot stack's guard page"
    } else if within(
        address,
        emergency_guard.as_mut_ptr(),
        &raw const __fault_stack_bottom,
    ) {
        "the double-fault stack's guard page"
    } else if within(address, &raw const __kernel_start, &raw const __kernel_end) {
        "the kernel image"
    } else if address.0 < PAGE_SIZE as u64 {
        "page 0, never mapped"
    } else if address.0 < IDENTITY_END {
        "the boot identity map (first 4 GiB, read-only)"
    } else {
        "no mapping"
    }
}

/// Recurses until the stack runs into its guard page.
#[expect(
    unconditional_recursion,
    reason = "the overflow test never returns, on purpose"
)]
fn overflow(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    overflow(depth.wrapping_add(1)).wrapping_add(frame[0])
}

/// The heap comes with the shared boot flow; until then every allocation
/// fails (and `alloc`'s error handler panics, naming its size).
struct NoHeapYet;

// SAFETY: `alloc` never hands out memory, so there is nothing to free or to
// keep consistent; `dealloc` can only be reached with a pointer it gave out.
unsafe impl core::alloc::GlobalAlloc for NoHeapYet {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _pointer: *mut u8, _layout: core::alloc::Layout) {
        unreachable!("no allocation ever succeeded");
    }
}

#[global_allocator]
static NO_HEAP_YET: NoHeapYet = NoHeapYet;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print_emergency(format_args!("\nPANIC: {info}\n"));
    if host::exit_allowed() {
        host::exit(PANIC_EXIT);
    }
    cpu::halt()
}
