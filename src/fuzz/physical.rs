//! Simulated physical memory for the x86_64 targets: the fuzz input read as a
//! list of regions, each placed at its own physical address.
//!
//! The encoding is what the seed corpus is written in (`run.sh` turns each
//! fixture directory of `src/platform/testdata/x86/` into one input): records
//! of a little-endian `u64` base, a little-endian `u16` length and that many
//! bytes, back to back. A record cut short by the end of the input keeps the
//! bytes it has. Every address outside the regions is unreadable, as in the
//! host tests.

use kernel::addr::PhysAddr;
use kernel::platform::PhysicalMemory;

/// Regions of memory, in input order; the first one found holding a range wins.
pub struct Regions<'a> {
    regions: Vec<(u64, &'a [u8])>,
}

impl<'a> Regions<'a> {
    /// Decodes `input` as records (see the module documentation).
    pub fn decode(mut input: &'a [u8]) -> Self {
        let mut regions = Vec::new();
        while input.len() >= 10 {
            let base = u64::from_le_bytes(input[..8].try_into().expect("8 bytes"));
            let length = usize::from(u16::from_le_bytes([input[8], input[9]]));
            let bytes = &input[10..];
            let (region, rest) = bytes.split_at(length.min(bytes.len()));
            regions.push((base, region));
            input = rest;
        }
        Self { regions }
    }

    /// The base of the first region: where the PVH target's start info is.
    pub fn first_base(&self) -> Option<PhysAddr> {
        self.regions.first().map(|&(base, _)| PhysAddr(base))
    }
}

impl<'a> PhysicalMemory<'a> for &Regions<'a> {
    fn bytes(&self, at: PhysAddr, len: usize) -> Option<&'a [u8]> {
        self.regions.iter().find_map(|&(base, bytes)| {
            let offset = usize::try_from(at.as_u64().checked_sub(base)?).ok()?;
            bytes.get(offset..offset.checked_add(len)?)
        })
    }
}
