//! Moving to another stack, for both CPUs: the switch itself is each CPU's
//! `run_on_stack` in assembly (AArch64 `boot.s`, x86_64 `probe.s`), which
//! ends the frame chain (a zero frame pointer and an undefined return
//! address), so a backtrace ends at `next`.

use crate::addr::VirtAddr;

/// Calls `next(argument)` on the stack that ends at `top`, with a fresh frame
/// chain (a backtrace ends there), never to return.
///
/// # Safety
///
/// `top` must be the 16-byte aligned end of a mapped stack that nothing uses;
/// nothing on the current stack may be needed again.
pub unsafe fn run_on_stack<T: Sync>(
    top: VirtAddr,
    next: extern "C" fn(&'static T) -> !,
    argument: &'static T,
) -> ! {
    unsafe extern "C" {
        /// Moves the stack pointer to `top`, then calls `next(argument)`.
        fn run_on_stack(top: u64, next: usize, argument: usize) -> !;
    }
    // SAFETY: forwarded from the caller; `next` takes `argument` in its first
    // argument register as a pointer, which is how a `&'static T` is passed.
    unsafe { run_on_stack(top.0, next as usize, argument as *const T as usize) }
}
