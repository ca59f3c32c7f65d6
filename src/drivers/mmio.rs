//! The one door from a mapped device address to a typed register block.

use core::marker::PhantomData;
use core::ops::Deref;

use crate::addr::VirtAddr;

/// Exclusive access to a block of memory-mapped registers of type `T`.
///
/// Behaves like a `Box<T>` that lives in device memory: the owner reaches the
/// registers through `Deref`, and no other `Mmio` names the same block.
pub(crate) struct Mmio<T> {
    registers: *const T,
    _owns: PhantomData<T>,
}

impl<T> Mmio<T> {
    /// Takes the register block of type `T` that starts at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the virtual address of a mapping of the device's registers
    /// laid out as `T`, with device memory attributes, aligned for `T`, covering
    /// `size_of::<T>()` bytes. The mapping must stay valid as long as the returned
    /// value (and anything it is moved into) lives, and no other `Mmio` may name
    /// any of those bytes at the same time.
    pub(crate) unsafe fn new(base: VirtAddr) -> Self {
        Self {
            registers: base.as_mut_ptr::<T>(),
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s caller promised a mapped, aligned, unaliased block of
        // `T` that outlives `self`. The register types only access it through
        // volatile reads and writes inside `UnsafeCell`s.
        unsafe { &*self.registers }
    }
}

// SAFETY: an `Mmio` is the only handle to its register block (see `new`), so
// moving it to another CPU moves the whole access right, as moving a `Box<T>`
// would. `T: Send` keeps that reasoning honest for the register types.
unsafe impl<T: Send> Send for Mmio<T> {}
