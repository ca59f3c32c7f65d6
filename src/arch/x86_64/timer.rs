//! The timer: `arm(hz)`, the local APIC timer's tick (`lapic_timer`).

pub use super::lapic_timer::arm;
