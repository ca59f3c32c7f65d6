//! A tiny device-tree writer for blobs `dtc` refuses to produce.

use std::vec::Vec;

/// Writes a version-17 blob token by token; `finish` lays out the header.
pub struct BlobBuilder {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl BlobBuilder {
    pub fn new() -> Self {
        Self {
            structure: Vec::new(),
            strings: Vec::new(),
        }
    }

    pub fn token(&mut self, token: u32) -> &mut Self {
        self.structure.extend_from_slice(&token.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }

    pub fn begin_node(&mut self, name: &[u8]) -> &mut Self {
        self.token(1);
        self.structure.extend_from_slice(name);
        self.structure.push(0);
        self.pad();
        self
    }

    pub fn end_node(&mut self) -> &mut Self {
        self.token(2)
    }

    pub fn nop(&mut self) -> &mut Self {
        self.token(4)
    }

    pub fn end(&mut self) -> &mut Self {
        self.token(9)
    }

    pub fn property(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let name_offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.token(3).token(value.len() as u32).token(name_offset);
        self.structure.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let value: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
        self.property(name, &value)
    }

    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.property(name, &bytes)
    }

    /// A root with 2/2 cells and 128 MiB of RAM at 0x40000000, left open.
    pub fn minimal_root(&mut self) -> &mut Self {
        self.begin_node(b"")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .begin_node(b"memory@40000000")
            .string("device_type", "memory")
            .cells("reg", &[0, 0x4000_0000, 0, 0x800_0000])
            .end_node()
    }

    pub fn finish(&self) -> Vec<u8> {
        let reservation_map = 40;
        let structure = reservation_map + 16;
        let strings = structure + self.structure.len();
        let total = strings + self.strings.len();
        let header = [
            0xd00d_feed,
            total as u32,
            structure as u32,
            strings as u32,
            reservation_map as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ];
        let mut blob: Vec<u8> = header
            .iter()
            .flat_map(|word| u32::to_be_bytes(*word))
            .collect();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob
    }
}
