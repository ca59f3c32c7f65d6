//! A spin lock that keeps IRQs masked on this core while it is held, for
//! both CPUs: only the masking differs, and `current::cpu` does it.
//!
//! Data that an interrupt handler takes must live behind this lock: with a
//! plain spin lock, an IRQ taken while the interrupted code holds the lock
//! spins forever on its own core. The console and the interrupt controller are
//! such data. Masking IRQs is enough: the kernel takes no FIQs on AArch64, and
//! on x86_64 what `cli` leaves on (NMIs, machine checks) is fatal anyway.

use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use spin::{Mutex, MutexGuard};

use super::current::cpu;

/// Whether IRQs were masked before `cpu::mask_irqs`, for `cpu::restore_irqs`.
#[derive(Clone, Copy, Debug)]
#[must_use = "restore the IRQ mask with `restore_irqs`"]
pub struct IrqState {
    pub(super) was_masked: bool,
}

/// A `spin::Mutex` whose guard masks IRQs from before the lock is taken until
/// after it is released, then restores the mask the caller had.
pub struct IrqSafeMutex<T> {
    inner: Mutex<T>,
}

/// Access to the value of an [`IrqSafeMutex`]; IRQs stay masked while it lives.
pub struct IrqSafeGuard<'lock, T> {
    guard: ManuallyDrop<MutexGuard<'lock, T>>,
    saved: IrqState,
}

impl<T> IrqSafeMutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            inner: Mutex::new(value),
        }
    }

    /// Masks IRQs, then spins until the lock is free and takes it.
    pub fn lock(&self) -> IrqSafeGuard<'_, T> {
        let saved = cpu::mask_irqs();
        IrqSafeGuard {
            guard: ManuallyDrop::new(self.inner.lock()),
            saved,
        }
    }

    /// True while someone holds the lock.
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Releases the lock whoever holds it.
    ///
    /// # Safety
    ///
    /// The holder must never touch the value again (it was interrupted for
    /// good, as on the fatal paths).
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> Deref for IrqSafeGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqSafeGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for IrqSafeGuard<'_, T> {
    /// Releases the lock first, then restores the IRQ mask: an IRQ may only
    /// come once the lock is free.
    fn drop(&mut self) {
        // SAFETY: `guard` is dropped once, here, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        cpu::restore_irqs(self.saved);
    }
}
