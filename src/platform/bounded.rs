//! A list with a capacity fixed at compile time, for use before the heap exists.

use core::ops::Deref;

/// A value that fills the unused slots of a [`BoundedList`].
///
/// The blank is never visible through the list's API; it only lets the storage be
/// a plain array without `unsafe` or `MaybeUninit`.
pub trait Blank: Copy {
    /// The filler value.
    const BLANK: Self;
}

/// Returned by [`BoundedList::push`] when the list already holds `N` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFull;

/// Up to `N` items of `T` in an inline array, in insertion order.
///
/// Pushing beyond `N` fails with [`ListFull`] instead of growing; the list
/// dereferences to the slice of the items pushed so far.
#[derive(Clone, Copy)]
pub struct BoundedList<T: Blank, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Blank, const N: usize> BoundedList<T, N> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            items: [T::BLANK; N],
            len: 0,
        }
    }

    /// The most items the list can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends `item`, or returns [`ListFull`] (leaving the list unchanged) when
    /// it already holds `N` items.
    pub fn push(&mut self, item: T) -> Result<(), ListFull> {
        let slot = self.items.get_mut(self.len).ok_or(ListFull)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    /// The items, in insertion order (or the order a sort left them in).
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The items, mutably, so they can be sorted or adjusted in place.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.items.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// Keeps the first `len` items and drops the rest; a longer `len` does nothing.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl<T: Blank, const N: usize> Default for BoundedList<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Blank, const N: usize> Deref for BoundedList<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Blank + core::fmt::Debug, const N: usize> core::fmt::Debug for BoundedList<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Blank + PartialEq, const N: usize> PartialEq for BoundedList<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Blank + Eq, const N: usize> Eq for BoundedList<T, N> {}

/// Up to `N` items of `T` kept, and a count of every item offered.
///
/// For what the kernel lists but does not need in full (CPUs, I/O APICs):
/// beyond the capacity an item is counted, not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedList<T: Blank, const N: usize> {
    kept: BoundedList<T, N>,
    offered: usize,
}

impl<T: Blank, const N: usize> CountedList<T, N> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            kept: BoundedList::new(),
            offered: 0,
        }
    }

    /// Counts `item`, and keeps it if fewer than `N` are kept.
    pub fn offer(&mut self, item: T) {
        self.offered = self.offered.saturating_add(1);
        // Beyond the capacity an item is only counted.
        let _ = self.kept.push(item);
    }

    /// The first `N` items offered, in order.
    pub fn kept(&self) -> &[T] {
        self.kept.as_slice()
    }

    /// How many items were offered: `kept().len()` plus those beyond the capacity.
    pub fn count(&self) -> usize {
        self.offered
    }

    /// Offers, in order, every item `other` was offered: those it kept, then
    /// a count of those it could only count.
    pub fn append<const M: usize>(&mut self, other: &CountedList<T, M>)
    where
        T: Copy,
    {
        for item in other.kept() {
            self.offer(*item);
        }
        let counted_only = other.count().saturating_sub(other.kept().len());
        self.offered = self.offered.saturating_add(counted_only);
    }
}

impl<T: Blank, const N: usize> Default for CountedList<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Blank for u8 {
        const BLANK: Self = 0;
    }

    #[test]
    fn push_fails_at_capacity_and_keeps_the_items() {
        let mut list = BoundedList::<u8, 2>::new();
        assert_eq!(list.push(7), Ok(()));
        assert_eq!(list.push(9), Ok(()));
        assert_eq!(list.push(11), Err(ListFull));
        assert_eq!(list.as_slice(), &[7, 9]);
        list.truncate(1);
        assert_eq!(&*list, &[7]);
    }

    #[test]
    fn counted_list_counts_beyond_capacity() {
        let mut list = CountedList::<u8, 2>::new();
        for item in [1, 2, 3] {
            list.offer(item);
        }
        assert_eq!(list.kept(), &[1, 2]);
        assert_eq!(list.count(), 3);
    }
}
