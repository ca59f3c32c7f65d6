//! Arm semihosting: how the in-kernel tests tell QEMU (or a debugger) the result.
//! Only call this when the host enabled semihosting; otherwise `hlt` traps.

use core::sync::atomic::{AtomicBool, Ordering};

/// The command-line word that says the host serves semihosting (and so
/// [`exit`] and [`write`]).
pub const EXIT_WORD: &str = "exit=semihosting";

/// [`write`] reaches the host somewhere the console does not (QEMU's standard
/// error, a debugger): a boot failure is written there too.
pub const SEPARATE_CONSOLE: bool = true;

/// Set once the kernel knows that the host serves semihosting exits.
static EXIT_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Records that the host serves [`exit`] (the command line said so). Call it
/// as early as the command line is known: the fault and panic paths read this
/// flag, not the command line, which they may be unable to read.
pub fn allow_exit() {
    EXIT_ALLOWED.store(true, Ordering::SeqCst);
}

/// Whether [`allow_exit`] was called.
pub fn exit_allowed() -> bool {
    EXIT_ALLOWED.load(Ordering::SeqCst)
}

/// SYS_EXIT_EXTENDED: exit with a status code.
const SYS_EXIT_EXTENDED: u64 = 0x20;
/// ADP_Stopped_ApplicationExit.
const APPLICATION_EXIT: u64 = 0x20026;

/// Ends the emulation with `code` as QEMU's exit status.
pub fn exit(code: u32) -> ! {
    let block = [APPLICATION_EXIT, u64::from(code)];
    // SAFETY: the semihosting call reads the two-word block and does not return
    // when the host supports it; x0 is declared clobbered in case it does.
    unsafe {
        core::arch::asm!("hlt #0xf000", inlateout("x0") SYS_EXIT_EXTENDED => _, in("x1") block.as_ptr(),
            options(nostack));
    }
    super::cpu::halt()
}

/// SYS_WRITE0: write a NUL-terminated string to the host's console.
const SYS_WRITE0: u64 = 0x04;

/// Writes `text` to the host's console (QEMU: its standard error), truncated
/// to at most 255 bytes between characters. Without semihosting enabled the
/// `hlt` traps as an undefined instruction: use this only as a last resort
/// before stopping.
pub fn write(text: &str) {
    let mut buffer = [0u8; 256];
    let length = text.floor_char_boundary(buffer.len() - 1);
    buffer[..length].copy_from_slice(&text.as_bytes()[..length]);
    // SAFETY: the call only reads the NUL-terminated buffer; it may change x0,
    // which is declared clobbered.
    unsafe {
        core::arch::asm!("hlt #0xf000", inlateout("x0") SYS_WRITE0 => _, in("x1") buffer.as_ptr(), options(nostack));
    }
}
