//! Host tests over committed `.dtb` fixtures (see `testdata/README.md`), and
//! of the PVH and ACPI readers over QEMU dumps (see `testdata/x86/README.md`).

mod builder;
mod console;
mod damaged;
mod fixtures;
mod fuzz;
mod interrupts;
mod raspberry_pi;
mod warnings;
mod x86;

use super::*;

/// A fixture from `testdata/`, by file stem.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../testdata/", $name, ".dtb")).as_slice()
    };
}
pub(crate) use fixture;

/// `[start, start + size)` as a physical range.
fn range(start: u64, size: u64) -> PhysRange {
    PhysRange::new(PhysAddr(start), size)
}

/// Parses a fixture that must be good.
fn parse(blob: &[u8]) -> PlatformDescription<'_> {
    match PlatformDescription::from_dtb(blob, None) {
        Ok(description) => description,
        Err(error) => panic!("fixture refused: {error}"),
    }
}

/// The usable ranges as a list.
fn usable(description: &PlatformDescription<'_>) -> std::vec::Vec<PhysRange> {
    description.usable().collect()
}
