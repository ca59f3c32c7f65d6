//! x86_64: the 4-level page-table format, built and tested on every target.
//! The rest of the layer (PVH entry, IDT, LAPIC, COM1) is for its own
//! bare-metal target only.

pub mod paging;
