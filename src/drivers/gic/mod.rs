//! ARM Generic Interrupt Controllers: the common interface and the v2 and v3
//! drivers.
//!
//! An INTID (interrupt identifier) is the GIC's name for an interrupt: 0..=15
//! are SGIs (software-generated), 16..=31 PPIs (private to one CPU, such as the
//! generic timer), 32..=1019 SPIs (shared peripherals), 1020..=1023 special;
//! GICv3 adds LPIs from 8192 up, which these drivers do not configure.

pub mod v2;
pub mod v3;

use core::ops::RangeInclusive;

/// Lowest INTID of a shared peripheral interrupt; below it SGIs and PPIs are
/// banked per CPU.
pub const FIRST_SPI: u32 = 32;

/// The special INTIDs, which an acknowledge returns when it has no interrupt to
/// hand out ("spurious") and which cannot be enabled.
pub const SPECIAL_INTIDS: RangeInclusive<u32> = 1020..=1023;

/// First of [`SPECIAL_INTIDS`]: SGIs, PPIs and SPIs all lie below it.
pub const FIRST_SPECIAL_INTID: u32 = *SPECIAL_INTIDS.start();

/// Priority given to every interrupt at init: low, yet valid everywhere.
///
/// A GIC implements as few as 4 priority bits, and a non-secure write is shifted
/// right by one with the top bit set, so `0xff` in the priority mask can read back
/// as `0xf0` or `0xf8`. An interrupt is signalled only when its priority value is
/// below the mask, and `0xa0` stays below it in every such combination.
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// What the kernel asks of an interrupt controller, whichever GIC version it is.
///
/// Call order: the driver's own `init_distributor` once, then
/// [`init_cpu_interface`](Self::init_cpu_interface) on the CPU that will take the
/// interrupts, then [`enable`](Self::enable) the INTIDs it wants, then unmask IRQs
/// at the CPU. In the IRQ handler, [`acknowledge`](Self::acknowledge) once, handle
/// the interrupt, and [`end_of_interrupt`](Self::end_of_interrupt) with the same
/// INTID.
///
/// `enable` and `is_enabled` cover SGIs, PPIs and SPIs: INTIDs from
/// [`FIRST_SPECIAL_INTID`] up are ignored and never reported enabled. INTIDs the
/// hardware does not implement read as disabled, and enabling them has no effect.
/// `end_of_interrupt` ignores the special INTIDs 1020..=1023.
pub trait InterruptController {
    /// Sets up the calling CPU's interface so it signals interrupts of every
    /// priority: priority mask fully open, no preemption grouping, both groups
    /// enabled.
    fn init_cpu_interface(&mut self);

    /// Lets `intid` be forwarded to the CPU.
    fn enable(&mut self, intid: u32);

    /// Takes the highest-priority pending interrupt, marking it active, and
    /// returns its INTID; `None` when the GIC answers with a spurious INTID
    /// (1020..=1023), which needs no end of interrupt.
    fn acknowledge(&mut self) -> Option<u32>;

    /// Ends the handling of `intid`, which must be the INTID most recently
    /// returned by [`acknowledge`](Self::acknowledge) and not yet ended.
    fn end_of_interrupt(&mut self, intid: u32);

    /// Whether `intid` is currently enabled.
    fn is_enabled(&self, intid: u32) -> bool;
}

/// The bit that stands for `intid` in a one-bit-per-interrupt register array,
/// as (register index, mask); `None` for special INTIDs.
fn bit_position(intid: u32) -> Option<(usize, u32)> {
    (intid < FIRST_SPECIAL_INTID).then(|| ((intid / 32) as usize, 1 << (intid % 32)))
}
