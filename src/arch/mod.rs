//! Architecture layers, and the one contract the kernel sees.
//!
//! Each CPU's layer lives in its own module; the kernel names only
//! `arch::current`, the layer of the CPU it is built for. The pure parts of a
//! layer (descriptor format, address-space layout, fault decoding) build on
//! every target, so the host tests check them; the parts that touch the CPU
//! build only for their own bare-metal target.
//!
//! What `arch::current` provides (the AArch64 layer is the reference):
//! - `entry`: the boot protocol, turned into a [`crate::kernel::BootRecord`]
//!   handed to [`crate::kernel::start`]; `run_on_stack` to move to a kernel
//!   stack;
//! - `PageFormat` ([`crate::memory::paging::PageTableFormat`]), `KernelTlb`
//!   ([`crate::memory::paging::Tlb`], with a `const fn new`) and
//!   `KernelTableAccess` ([`crate::memory::paging::TableAccess`], an `unsafe
//!   fn new`, made once) for the kernel's one address space;
//! - `layout`: the kernel windows `HEAP`, `VMAP`, `STACKS`, `FRAME_STACK`,
//!   `IMAGE`, the list `WINDOWS`, `window_of` and `KERNEL_STACK_SIZE`;
//! - `cpu`: `halt`, `wait_for_interrupt`, `enable_interrupts`, `mask_irqs` /
//!   `restore_irqs` / `irqs_masked`, `id` (of the running CPU, as the
//!   platform description names CPUs), `lower_half_root` and `translate_read`
//!   (for the self-tests' checks of the live tables);
//! - `IrqSafeMutex`: a lock that masks IRQs while held;
//! - `exceptions`: `set_fatal_handler`, `stop`, the guard pages of the boot
//!   and emergency stacks, the `Fault` and `Cause` the fatal handler gets, and
//!   `read`/`write`: one access whose fault is expected and returned, found
//!   through an exception table (faulting instruction → where to continue),
//!   so it works whatever the instruction length;
//! - `timer`: `counter`, `frequency`, `arm(hz)`;
//! - `devices`: `start_console` and `release_early_console`,
//!   `start_interrupts` (maps through a kernel callback, enables the timer's
//!   interrupt, routes every interrupt to the kernel's handler);
//! - `host`: `allow_exit`, `exit_allowed`, `exit(status)` and `write(text)`,
//!   the way back to the emulator or debugger;
//! - `self_tests`: the checks only this CPU has (its drivers' contracts).
//!
//! The x86_64 layer does not provide all of this yet: its entry ends in its
//! own function (`x86_64::entry::x86_64_entry`) until it joins the shared
//! boot flow.

pub mod aarch64;
pub mod devices;
pub mod x86_64;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use aarch64 as current;

#[cfg(all(
    target_os = "none",
    not(any(target_arch = "aarch64", target_arch = "x86_64"))
))]
compile_error!("the kernel supports AArch64 and x86_64 only");
