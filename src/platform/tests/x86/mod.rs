//! The PVH start info and ACPI readers on what QEMU really hands a kernel:
//! each fixture directory of `testdata/x86/` placed at its physical addresses.

mod damaged;
mod fixtures;
mod fuzz;

use super::range;
use crate::addr::PhysAddr;
use crate::platform::{Error, PhysicalMemory, X86Platform, describe_pvh};
use std::string::String;
use std::vec::Vec;

/// Physical memory made of fixture regions; every other byte is unreadable.
#[derive(Clone)]
struct Memory {
    regions: Vec<Region>,
}

/// One dumped region: its base, what it is (`start-info`, `apic`…), its bytes.
#[derive(Clone)]
struct Region {
    base: u64,
    what: String,
    bytes: Vec<u8>,
}

impl Memory {
    /// The regions of `testdata/x86/<machine>/`, each file named
    /// `<16 hex digits of its base>-<what>.bin`.
    fn load(machine: &str) -> Self {
        let directory = std::format!(
            "{}/src/platform/testdata/x86/{machine}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut regions: Vec<Region> = std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("{directory}: {error}"))
            .map(|entry| {
                let path = entry.expect("a directory entry").path();
                let name = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .expect("a name");
                let (base, what) = name.split_once('-').expect("<base>-<what>.bin");
                Region {
                    base: u64::from_str_radix(base, 16).expect("a hex base"),
                    what: what.into(),
                    bytes: std::fs::read(&path).expect("a readable fixture"),
                }
            })
            .collect();
        regions.sort_by_key(|region| region.base);
        Self { regions }
    }

    /// The region named `what`; a test that asks for a missing one is wrong.
    fn region(&mut self, what: &str) -> &mut Region {
        self.regions
            .iter_mut()
            .find(|region| region.what == what)
            .unwrap_or_else(|| panic!("no region {what}"))
    }

    /// Where the start info is (what ebx held).
    fn start_info(&self) -> PhysAddr {
        let region = self
            .regions
            .iter()
            .find(|region| region.what == "start-info");
        PhysAddr(region.expect("a start info").base)
    }

    /// Adds a region that no fixture has (a synthetic table).
    fn add(&mut self, base: u64, what: &str, bytes: Vec<u8>) {
        self.regions.push(Region {
            base,
            what: what.into(),
            bytes,
        });
    }

    /// What `describe_pvh` makes of this memory.
    fn describe(&self) -> Result<X86Platform<'_>, Error> {
        describe_pvh(&self, self.start_info())
    }
}

impl Region {
    /// Writes `value` little-endian at `offset`.
    fn write(&mut self, offset: usize, value: &[u8]) {
        self.bytes[offset..offset + value.len()].copy_from_slice(value);
    }

    /// Sets the byte at `offset` so that the bytes sum to 0 again.
    fn fix_checksum(&mut self, offset: usize) {
        balance(&mut self.bytes, offset);
    }
}

/// Sets `bytes[offset]` so that `bytes` sum to 0 (mod 256), as ACPI checksums do.
fn balance(bytes: &mut [u8], offset: usize) {
    bytes[offset] = 0;
    let sum = bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    bytes[offset] = sum.wrapping_neg();
}

impl<'m> PhysicalMemory<'m> for &'m Memory {
    fn bytes(&self, at: PhysAddr, len: usize) -> Option<&'m [u8]> {
        let memory: &'m Memory = self;
        memory.regions.iter().find_map(|region| {
            let offset = usize::try_from(at.as_u64().checked_sub(region.base)?).ok()?;
            region.bytes.get(offset..offset.checked_add(len)?)
        })
    }
}

/// Parses a machine's fixture, which must be good.
fn describe(memory: &Memory) -> X86Platform<'_> {
    memory
        .describe()
        .unwrap_or_else(|error| panic!("fixture refused: {error}"))
}
