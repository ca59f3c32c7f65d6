//! Reading firmware structures by physical address, without `unsafe` in the parsers.
//!
//! The PVH start info and the ACPI tables point at each other by physical
//! address. The parsers never turn an address into a pointer: they ask a
//! [`PhysicalMemory`] for the bytes, which the kernel serves from its mapping
//! of low memory and the host tests from fixture buffers.

use crate::addr::PhysAddr;

/// Physical memory that the parsers may read.
///
/// `'m` is how long the returned bytes stay valid; the parsed description
/// borrows strings (the command line) for that long.
pub trait PhysicalMemory<'m> {
    /// The `len` bytes at `[at, at + len)`, or `None` when any of them is not
    /// readable (outside what the implementation maps, or past 2^64). Must
    /// return exactly `len` bytes when it returns `Some`, and the bytes must
    /// not change while `'m` lasts.
    fn bytes(&self, at: PhysAddr, len: usize) -> Option<&'m [u8]>;
}

/// Little-endian fields of a structure already read in full.
///
/// Each accessor is `None` when the field runs past the bytes, so a decoder can
/// use `?` and report one "truncated" error for the whole structure.
#[derive(Clone, Copy)]
pub(super) struct Fields<'a>(pub(super) &'a [u8]);

impl<'a> Fields<'a> {
    /// The `N` bytes at `offset`.
    pub(super) fn array<const N: usize>(self, offset: usize) -> Option<[u8; N]> {
        self.0.get(offset..offset.checked_add(N)?)?.try_into().ok()
    }

    /// The byte at `offset`.
    pub(super) fn u8(self, offset: usize) -> Option<u8> {
        self.0.get(offset).copied()
    }

    /// The little-endian `u16` at `offset`.
    pub(super) fn u16(self, offset: usize) -> Option<u16> {
        self.array(offset).map(u16::from_le_bytes)
    }

    /// The little-endian `u32` at `offset`.
    pub(super) fn u32(self, offset: usize) -> Option<u32> {
        self.array(offset).map(u32::from_le_bytes)
    }

    /// The little-endian `u64` at `offset`.
    pub(super) fn u64(self, offset: usize) -> Option<u64> {
        self.array(offset).map(u64::from_le_bytes)
    }
}
