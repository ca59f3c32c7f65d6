//! The one door from a mapped device address to a typed register block.
//!
//! Registers are declared with `tock-registers`' `register_structs!`, but the
//! drivers never hold a `&` to a register block or to one register: a
//! reference is `dereferenceable`, which lets the compiler read through it
//! whenever it likes, and a spurious read of a read-sensitive register (GICC_IAR
//! acknowledges an interrupt, UARTDR pops the receive FIFO) changes the device.
//! Instead [`register!`] projects a raw pointer from the block's base to one
//! field, and [`Register`] reads and writes it with exactly one volatile access
//! each time it is asked to.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{RegisterLongName, UIntLike};

use crate::addr::{PAGE_SIZE, VirtAddr};

/// Alignment every register block must have: a page, as the mapping that
/// reaches it is made of whole pages (the physical blocks the drivers know are
/// 4 KiB or 64 KiB aligned, but only the page matters to the virtual address).
pub const REGISTER_BLOCK_ALIGNMENT: usize = PAGE_SIZE;

/// A driver was handed a register block address that is not aligned as its
/// block must be ([`REGISTER_BLOCK_ALIGNMENT`] for all but the mini UART), or
/// is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Misaligned {
    /// The address handed over.
    pub address: VirtAddr,
    /// The alignment the block needs, in bytes.
    pub alignment: usize,
}

impl fmt::Display for Misaligned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "register block at {} is not {}-byte aligned",
            self.address, self.alignment
        )
    }
}

/// Exclusive access to a block of memory-mapped registers laid out as `T`.
///
/// Behaves like a `Box<T>` that lives in device memory, except that it never
/// lends out `&T`: registers are reached one at a time with [`register!`].
pub(crate) struct Mmio<T> {
    base: NonNull<T>,
}

impl<T> Mmio<T> {
    /// Takes the register block of type `T` that starts at `base`, which
    /// must start a page ([`REGISTER_BLOCK_ALIGNMENT`]).
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is null or not page-aligned.
    ///
    /// # Safety
    ///
    /// As for [`Self::new_aligned`].
    pub(crate) unsafe fn new(base: VirtAddr) -> Result<Self, Misaligned> {
        // SAFETY: the caller's promise is `new_aligned`'s contract.
        unsafe { Self::new_aligned(base, REGISTER_BLOCK_ALIGNMENT) }
    }

    /// Takes the register block of type `T` that starts at `base`, aligned to
    /// `alignment` bytes: for a block that shares its page with other
    /// devices' registers (the mini UART's 0x40 bytes sit at offset 0x40 of
    /// the AUX page).
    ///
    /// # Errors
    ///
    /// [`Misaligned`] when `base` is null or not aligned to `alignment` (a
    /// power of two, at least `align_of::<T>()`).
    ///
    /// # Safety
    ///
    /// Unless it is refused, `base` must be the virtual address of a mapping of
    /// the device's registers laid out as `T`, with device memory attributes,
    /// covering `size_of::<T>()` bytes. The mapping must stay valid as long as
    /// the returned value (and anything it is moved into) lives, and no other
    /// `Mmio` may name any of those bytes at the same time.
    pub(crate) unsafe fn new_aligned(base: VirtAddr, alignment: usize) -> Result<Self, Misaligned> {
        const {
            assert!(
                align_of::<T>() <= REGISTER_BLOCK_ALIGNMENT,
                "a register type needs more than page alignment"
            );
        }
        let misaligned = Misaligned {
            address: base,
            alignment,
        };
        if !alignment.is_power_of_two()
            || alignment < align_of::<T>()
            || !base.is_aligned(alignment as u64)
        {
            return Err(misaligned);
        }
        let base = NonNull::new(base.as_mut_ptr::<T>()).ok_or(misaligned)?;
        Ok(Self { base })
    }

    /// The block's base, for [`register!`]'s projections. Never dereference it
    /// into a reference.
    pub(crate) fn base(&self) -> *mut T {
        self.base.as_ptr()
    }
}

// SAFETY: an `Mmio` is the only handle to its register block (see `new`), so
// moving it to another CPU moves the whole access right, as moving a `Box<T>`
// would. `T: Send` keeps that reasoning honest for the register types.
unsafe impl<T: Send> Send for Mmio<T> {}

/// One register (or array of registers) of type `F` inside a block that an
/// [`Mmio`] owns, borrowed from it for `'block`. Made by [`register!`].
///
/// For `tock-registers`' `ReadOnly`, `ReadWrite` and `WriteOnly` it implements
/// `Readable` and/or `Writeable`, so the typed field API (`read`, `write`,
/// `is_set`, `modify`, ...) works as on the register itself; each `get` or
/// `set` is one volatile access of the register's width.
pub(crate) struct Register<'block, F> {
    pointer: *mut F,
    _block: PhantomData<&'block ()>,
}

impl<'block, F> Register<'block, F> {
    /// # Safety
    ///
    /// `pointer` must point at a register of type `F` inside `block`'s
    /// register block.
    pub(crate) unsafe fn new<T>(_block: &'block Mmio<T>, pointer: *mut F) -> Self {
        Self {
            pointer,
            _block: PhantomData,
        }
    }
}

impl<'block, F, const N: usize> Register<'block, [F; N]> {
    /// Element `index` of a register array.
    ///
    /// # Panics
    ///
    /// When `index` is not below `N`, like indexing an array.
    pub(crate) fn at(&self, index: usize) -> Register<'block, F> {
        assert!(index < N, "register index {index} out of 0..{N}");
        Register {
            pointer: self.pointer.cast::<F>().wrapping_add(index),
            _block: PhantomData,
        }
    }
}

impl<F> Register<'_, F> {
    /// One volatile read of the register's value.
    fn load<T: UIntLike>(&self) -> T {
        // SAFETY: `pointer` points into a mapped register block that lives for
        // `'block` (`new`'s contract). `F` is one of tock-registers' register
        // types, `repr(transparent)` over `UnsafeCell<T>` and so over `T`.
        unsafe { self.pointer.cast::<T>().read_volatile() }
    }

    /// One volatile write of `value` to the register.
    fn store<T: UIntLike>(&self, value: T) {
        // SAFETY: as in `load`.
        unsafe { self.pointer.cast::<T>().write_volatile(value) }
    }
}

impl<T: UIntLike, R: RegisterLongName> Readable for Register<'_, ReadOnly<T, R>> {
    type T = T;
    type R = R;

    fn get(&self) -> T {
        self.load()
    }
}

impl<T: UIntLike, R: RegisterLongName> Readable for Register<'_, ReadWrite<T, R>> {
    type T = T;
    type R = R;

    fn get(&self) -> T {
        self.load()
    }
}

impl<T: UIntLike, R: RegisterLongName> Writeable for Register<'_, ReadWrite<T, R>> {
    type T = T;
    type R = R;

    fn set(&self, value: T) {
        self.store(value);
    }
}

impl<T: UIntLike, R: RegisterLongName> Writeable for Register<'_, WriteOnly<T, R>> {
    type T = T;
    type R = R;

    fn set(&self, value: T) {
        self.store(value);
    }
}

/// The register at a field path of an [`Mmio`] block, as a [`Register`]:
/// `register!(self.registers, cr)`, `register!(self.redistributor, sgi.igroupr0)`,
/// `register!(self.distributor, isenabler[index])`.
macro_rules! register {
    ($block:expr, $($field:ident).+ [$index:expr]) => {
        $crate::drivers::mmio::register!($block, $($field).+).at($index)
    };
    ($block:expr, $($field:ident).+) => {{
        let block = &$block;
        let base = block.base();
        // SAFETY: `base` points at a whole register block as long as `block`
        // lives (`Mmio::new`'s contract), so the field lies inside it. `&raw mut`
        // makes a pointer, never a reference, and the fields are plain names.
        unsafe { $crate::drivers::mmio::Register::new(block, &raw mut (*base).$($field).+) }
    }};
}
pub(crate) use register;
