//! Physical and virtual addresses as distinct types, and half-open ranges of them.
//!
//! The two address spaces never mix by accident: a [`PhysAddr`] names a byte of RAM
//! or a device register as the CPU's bus sees it, a [`VirtAddr`] names a byte as the
//! running code sees it through the page tables. Arithmetic is checked: an overflow
//! is `None`, never a wrap.

use core::fmt;

/// The one translation granule the kernel uses on every target: 4 KiB.
pub const PAGE_SIZE: usize = 4096;

/// `log2(PAGE_SIZE)`.
pub const PAGE_SHIFT: u32 = 12;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The address as a plain integer.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// `self + bytes`, or `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(value) => Some(Self(value)),
                    None => None,
                }
            }

            /// `self - bytes`, or `None` on underflow.
            pub const fn checked_sub(self, bytes: u64) -> Option<Self> {
                match self.0.checked_sub(bytes) {
                    Some(value) => Some(Self(value)),
                    None => None,
                }
            }

            /// True when the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }

            /// True when the address starts a 4 KiB page.
            pub const fn is_page_aligned(self) -> bool {
                self.is_aligned(PAGE_SIZE as u64)
            }

            /// The address rounded down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }

            /// The address rounded up to a multiple of `align` (a power of two),
            /// or `None` when that overflows.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(value) => Some(Self(value & !(align - 1))),
                    None => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            /// Hex with `_` between groups of four digits, so that higher-half
            /// addresses stay readable: `0x4000_0000`, `0xffff_ffff_8000_2b14`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_grouped_hex(f, self.0)
            }
        }
    };
}

address_type!(
    /// An address in the physical address space (RAM and device registers).
    PhysAddr
);
address_type!(
    /// An address in a virtual address space, translated by the page tables.
    VirtAddr
);

impl VirtAddr {
    /// The address as a raw pointer. Dereferencing it is the caller's business.
    ///
    /// The pointer takes whatever provenance was exposed for this address: a
    /// kernel address names memory the page tables map, not a Rust allocation.
    pub fn as_mut_ptr<T>(self) -> *mut T {
        core::ptr::with_exposed_provenance_mut(self.0 as usize)
    }

    /// The virtual address of a pointer (exposing its provenance, so that
    /// [`Self::as_mut_ptr`] may lead back to it).
    pub fn from_ptr<T>(pointer: *const T) -> Self {
        Self(pointer.expose_provenance() as u64)
    }
}

/// Writes `value` as hex with `_` between groups of four digits, counted from
/// the right and never zero-padded (the way Rust literals are written):
/// `0x1000`, `0x4000_0000`, `0x1_4000_0000`, `0xffff_ffff_8000_2b14`. One rule
/// for every address and size, physical or virtual, in every report.
pub(crate) fn write_grouped_hex(f: &mut fmt::Formatter<'_>, value: u64) -> fmt::Result {
    f.write_str("0x")?;
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
    for index in (0..digits).rev() {
        let digit = (value >> (index * 4)) & 0xf;
        write!(f, "{digit:x}")?;
        if index > 0 && index % 4 == 0 {
            f.write_str("_")?;
        }
    }
    Ok(())
}

macro_rules! range_type {
    ($(#[$doc:meta])* $name:ident, $addr:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            /// First byte of the range.
            pub start: $addr,
            /// Size in bytes; the end (`start + size`) is exclusive.
            pub size: u64,
        }

        impl $name {
            /// The range `[start, start + size)`.
            pub const fn new(start: $addr, size: u64) -> Self {
                Self { start, size }
            }

            /// The exclusive end `start + size`, or `None` when it does not fit in
            /// 64 bits (a range that ends exactly at 2^64 has no representable end).
            pub const fn end(&self) -> Option<$addr> {
                self.start.checked_add(self.size)
            }

            /// The last byte of the range, or `None` for an empty range.
            pub const fn last(&self) -> Option<$addr> {
                if self.size == 0 {
                    return None;
                }
                self.start.checked_add(self.size - 1)
            }

            /// True when `address` lies inside the range.
            pub fn contains(&self, address: $addr) -> bool {
                match self.last() {
                    Some(last) => self.start <= address && address <= last,
                    None => false,
                }
            }

            /// True when the two ranges share at least one byte.
            pub fn overlaps(&self, other: &Self) -> bool {
                match (self.last(), other.last()) {
                    (Some(a_last), Some(b_last)) => {
                        self.start <= b_last && other.start <= a_last
                    }
                    _ => false,
                }
            }

            /// The bytes the two ranges share, or `None` when they share none
            /// (or either is empty or runs past 2^64, having no last byte).
            /// Exact up to the top of the address space: it compares last
            /// bytes, never exclusive ends.
            pub fn intersection(&self, other: &Self) -> Option<Self> {
                let (a_last, b_last) = (self.last()?, other.last()?);
                let (start, last) = (self.start.max(other.start), a_last.min(b_last));
                (start <= last).then(|| Self::new(start, last.0 - start.0 + 1))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self)
            }
        }

        impl fmt::Display for $name {
            /// `[start, end)` followed by the size in binary units.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.end() {
                    Some(end) => write!(f, "[{}, {})", self.start, end)?,
                    None => write!(f, "[{}, 2^64)", self.start)?,
                }
                write!(f, " {}", ByteSize(self.size))
            }
        }
    };
}

range_type!(
    /// A half-open range of physical addresses.
    PhysRange,
    PhysAddr
);
range_type!(
    /// A half-open range of virtual addresses.
    VirtRange,
    VirtAddr
);

/// A byte count that prints in the largest binary unit that divides it evenly,
/// or with one decimal when none does: `128 MiB`, `1.5 GiB`, `4 KiB`, `300 B`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut unit = 0;
        while unit + 1 < UNITS.len() && self.0 >> (10 * (unit + 1)) != 0 {
            unit += 1;
        }
        let scale = 1u64 << (10 * unit);
        let whole = self.0 / scale;
        let tenths = (self.0 % scale) * 10 / scale;
        if tenths == 0 {
            write!(f, "{whole} {}", UNITS[unit])
        } else {
            write!(f, "{whole}.{tenths} {}", UNITS[unit])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_groups_every_four_digits() {
        assert_eq!(
            VirtAddr(0xffff_ffff_8000_2b14).to_string(),
            "0xffff_ffff_8000_2b14"
        );
        assert_eq!(PhysAddr(0x4000_0000).to_string(), "0x4000_0000");
        assert_eq!(PhysAddr(0x1_4000_0000).to_string(), "0x1_4000_0000");
        assert_eq!(PhysAddr(0x900_0000).to_string(), "0x900_0000");
        assert_eq!(PhysAddr(0x1000).to_string(), "0x1000");
        assert_eq!(PhysAddr(0).to_string(), "0x0");
        assert_eq!(
            PhysRange::new(PhysAddr(0x4000_0000), 0x1_0000_0000).to_string(),
            "[0x4000_0000, 0x1_4000_0000) 4 GiB"
        );
    }

    #[test]
    fn intersections_are_exact_to_the_top_of_the_address_space() {
        let range = |start: u64, size: u64| PhysRange::new(PhysAddr(start), size);
        assert_eq!(
            range(0x1000, 0x3000).intersection(&range(0x2000, 0x4000)),
            Some(range(0x2000, 0x2000))
        );
        assert_eq!(
            range(0x1000, 0x1000).intersection(&range(0x2000, 0x1000)),
            None,
            "touching ranges share nothing"
        );
        assert_eq!(range(0x1000, 0).intersection(&range(0, 0x4000)), None);
        assert_eq!(
            range(0, 0x4000).intersection(&range(0x1000, 0x1000)),
            Some(range(0x1000, 0x1000))
        );
        let top = range(u64::MAX - 0xfff, 0x1000);
        assert_eq!(
            top.intersection(&range(u64::MAX - 0x1fff, 0x1800)),
            Some(range(u64::MAX - 0xfff, 0x800))
        );
        assert_eq!(top.intersection(&top), Some(top));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(PhysAddr(u64::MAX).checked_add(1), None);
        assert_eq!(PhysAddr(0).checked_sub(1), None);
        assert_eq!(PhysAddr(0x1001).align_up(0x1000), Some(PhysAddr(0x2000)));
        assert_eq!(PhysAddr(u64::MAX).align_up(0x1000), None);
        assert_eq!(PhysAddr(0x1fff).align_down(0x1000), PhysAddr(0x1000));
    }

    #[test]
    fn ranges_are_half_open() {
        let range = PhysRange::new(PhysAddr(0x1000), 0x1000);
        assert!(range.contains(PhysAddr(0x1fff)));
        assert!(!range.contains(PhysAddr(0x2000)));
        assert!(!range.overlaps(&PhysRange::new(PhysAddr(0x2000), 1)));
        assert!(range.overlaps(&PhysRange::new(PhysAddr(0x1fff), 1)));
        assert!(!PhysRange::new(PhysAddr(5), 0).contains(PhysAddr(5)));
        let top = PhysRange::new(PhysAddr(u64::MAX - 0xfff), 0x1000);
        assert_eq!(top.end(), None);
        assert!(top.contains(PhysAddr(u64::MAX)));
    }

    #[test]
    fn byte_sizes_print_in_binary_units() {
        assert_eq!(ByteSize(128 << 20).to_string(), "128 MiB");
        assert_eq!(ByteSize(3 << 29).to_string(), "1.5 GiB");
        assert_eq!(ByteSize(300).to_string(), "300 B");
        assert_eq!(ByteSize(4096).to_string(), "4 KiB");
    }
}
