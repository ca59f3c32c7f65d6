//! The interrupt controllers and CPUs of an x86 machine, from the ACPI MADT.
//!
//! [`read_apic`] follows the RSDP to the RSDT (revision 0, 32-bit pointers) or
//! the XSDT (revision 2 and later, 64-bit pointers), checks every table that
//! root lists (length and checksum), and reads the MADT ("APIC"): the local
//! APIC address, I/O APICs, processor local APICs and x2APICs, and interrupt
//! source overrides.
//!
//! Our own parser, not the `acpi` crate. The crate reaches memory through an
//! `AcpiHandler` whose `unsafe fn map_physical_region` hands back typed
//! `PhysicalMapping`s, so each table becomes a reference to a packed struct
//! that is trusted to be well formed, and its interrupt model collects the
//! processors into allocator-backed vectors: a heap we do not have yet. We
//! need one table, before the heap, from untrusted bytes, tested on the host
//! over fixture buffers. A reader over byte slices from [`PhysicalMemory`]
//! does that in a few hundred lines with no `unsafe`, fixed-capacity lists and
//! errors that carry the offending address in the platform's own
//! [`Error`]. AML (the DSDT) stays out of scope either way.

use core::fmt;

use super::Error;
use super::bounded::{Blank, CountedList};
use super::error::FirmwareStructure;
use super::physical::{Fields, PhysicalMemory};
use crate::addr::PhysAddr;

/// How many processor local APICs an [`Apic`] keeps; more are counted.
pub const LOCAL_APIC_CAPACITY: usize = 64;

/// How many I/O APICs an [`Apic`] keeps; more are counted.
pub const IO_APIC_CAPACITY: usize = 8;

/// How many interrupt source overrides an [`Apic`] keeps; more are counted.
pub const INTERRUPT_OVERRIDE_CAPACITY: usize = 16;

/// The size of the RSDP of ACPI 1.0 (revision 0): what its checksum covers.
const RSDP_V1_SIZE: usize = 20;
/// The size of the ACPI 2.0 RSDP, which its `length` field may exceed.
const RSDP_V2_SIZE: usize = 36;
/// The size of the header every system description table starts with.
const TABLE_HEADER_SIZE: usize = 36;
/// Where the MADT's interrupt controller structures start.
const MADT_ENTRIES: usize = 44;

/// A four-byte ACPI table signature, such as `APIC` for the MADT.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 4]);

impl Signature {
    /// The Root System Description Table (32-bit pointers).
    pub const RSDT: Self = Self(*b"RSDT");
    /// The Extended System Description Table (64-bit pointers).
    pub const XSDT: Self = Self(*b"XSDT");
    /// The Multiple APIC Description Table.
    pub const MADT: Self = Self(*b"APIC");
}

impl fmt::Display for Signature {
    /// The four bytes as text, a byte that is not printable ASCII as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            if byte.is_ascii_graphic() || byte == b' ' {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(\"{self}\")")
    }
}

/// One CPU's local APIC: a MADT entry of type 0 (xAPIC) or 9 (x2APIC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApic {
    /// The ACPI processor UID that matches this entry to its processor object
    /// (one byte in a type 0 entry).
    pub processor_uid: u32,
    /// The local APIC ID (one byte in a type 0 entry).
    pub apic_id: u32,
    /// Flags bit 0: the CPU is usable now.
    pub enabled: bool,
    /// Flags bit 1 (ACPI 6.3): a disabled CPU can be brought online later.
    pub online_capable: bool,
    /// The entry is a type 9 (x2APIC) entry.
    pub x2apic: bool,
}

impl Blank for LocalApic {
    const BLANK: Self = Self {
        processor_uid: 0,
        apic_id: 0,
        enabled: false,
        online_capable: false,
        x2apic: false,
    };
}

/// An I/O APIC: a MADT entry of type 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// Its I/O APIC ID.
    pub id: u8,
    /// Where its registers are.
    pub address: PhysAddr,
    /// The first global system interrupt it serves.
    pub gsi_base: u32,
}

impl Blank for IoApic {
    const BLANK: Self = Self {
        id: 0,
        address: PhysAddr(0),
        gsi_base: 0,
    };
}

/// The polarity bits of an interrupt source override's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// 0: as the bus specifies (active high for ISA).
    BusDefault,
    /// 1: active high.
    ActiveHigh,
    /// 3: active low.
    ActiveLow,
    /// 2: reserved by the specification.
    Reserved,
}

/// The trigger mode bits of an interrupt source override's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerMode {
    /// 0: as the bus specifies (edge for ISA).
    BusDefault,
    /// 1: edge triggered.
    Edge,
    /// 3: level triggered.
    Level,
    /// 2: reserved by the specification.
    Reserved,
}

/// An ISA interrupt that reaches the I/O APIC on another pin: a MADT entry of type 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptOverride {
    /// The bus (0 for ISA).
    pub bus: u8,
    /// The bus-relative interrupt (the ISA IRQ).
    pub source: u8,
    /// The global system interrupt it arrives on.
    pub gsi: u32,
    /// Flags bits 0–1.
    pub polarity: Polarity,
    /// Flags bits 2–3.
    pub trigger: TriggerMode,
}

impl Blank for InterruptOverride {
    const BLANK: Self = Self {
        bus: 0,
        source: 0,
        gsi: 0,
        polarity: Polarity::BusDefault,
        trigger: TriggerMode::BusDefault,
    };
}

/// What the MADT says about interrupt controllers and CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Apic {
    /// Where every CPU's local APIC registers are: the 32-bit address in the
    /// MADT header, unless a type 5 entry overrides it with a 64-bit one.
    pub local_apic_address: PhysAddr,
    /// Header flag `PCAT_COMPAT`: the machine also has the two legacy 8259
    /// PICs, which must be masked before the APICs are used.
    pub legacy_pics: bool,
    /// Processor local APICs and x2APICs, in table order.
    pub local_apics: CountedList<LocalApic, LOCAL_APIC_CAPACITY>,
    /// I/O APICs, in table order.
    pub io_apics: CountedList<IoApic, IO_APIC_CAPACITY>,
    /// Interrupt source overrides, in table order.
    pub overrides: CountedList<InterruptOverride, INTERRUPT_OVERRIDE_CAPACITY>,
}

impl Apic {
    /// How many CPUs can run: entries that are enabled or online capable,
    /// counting those beyond [`LOCAL_APIC_CAPACITY`] too.
    pub fn cpu_count(&self) -> usize {
        self.cpu_entries_beyond_capacity()
            + self
                .local_apics
                .kept()
                .iter()
                .filter(|cpu| cpu.enabled || cpu.online_capable)
                .count()
    }

    /// Local APIC entries that did not fit, whatever their flags.
    fn cpu_entries_beyond_capacity(&self) -> usize {
        self.local_apics.count() - self.local_apics.kept().len()
    }
}

/// Reads the MADT that the RSDP at `rsdp` leads to.
///
/// Fails with [`Error::Unreadable`] when a structure runs into memory `memory`
/// cannot read (a truncated table), [`Error::BadRsdpSignature`],
/// [`Error::AcpiChecksum`] (the RSDP, its extended part, or any table the root
/// lists), [`Error::AcpiLength`] (a length shorter than its header, or a root
/// whose entries do not fill it), [`Error::UnexpectedAcpiTable`] (the root
/// pointer reaches another table), [`Error::NoMadt`], or
/// [`Error::BadMadtEntry`] (an entry shorter than 2 bytes or than its type
/// needs, or one that runs past the table). Never panics, whatever the bytes.
pub fn read_apic<'m>(memory: &impl PhysicalMemory<'m>, rsdp: PhysAddr) -> Result<Apic, Error> {
    let root = root_table(memory, rsdp)?;
    let (width, signature) = match root.pointer_width {
        PointerWidth::Bits32 => (4, Signature::RSDT),
        PointerWidth::Bits64 => (8, Signature::XSDT),
    };
    let table = Table::read(memory, root.address)?;
    if table.signature != signature {
        return Err(Error::UnexpectedAcpiTable {
            address: root.address,
            expected: signature,
            found: table.signature,
        });
    }
    let pointers = table.body();
    if pointers.len() % width != 0 {
        return Err(table.bad_length());
    }
    let mut madt = None;
    for pointer in pointers.chunks_exact(width) {
        let fields = Fields(pointer);
        let address = match root.pointer_width {
            PointerWidth::Bits32 => fields.u32(0).map(u64::from),
            PointerWidth::Bits64 => fields.u64(0),
        }
        .ok_or(table.bad_length())?;
        // Every listed table is checked, not only the MADT: a bad one means
        // the firmware's tables (or the pointer to them) cannot be trusted.
        let listed = Table::read(memory, PhysAddr(address))?;
        if listed.signature == Signature::MADT && madt.is_none() {
            madt = Some(listed);
        }
    }
    madt.ok_or(Error::NoMadt)?.madt()
}

/// How wide the root table's pointers are.
#[derive(Clone, Copy)]
enum PointerWidth {
    Bits32,
    Bits64,
}

/// Where the RSDP says the root table is.
struct Root {
    address: PhysAddr,
    pointer_width: PointerWidth,
}

/// Checks the RSDP at `at` and returns the XSDT (revision 2 or later, when its
/// address is not 0) or else the RSDT.
fn root_table<'m>(memory: &impl PhysicalMemory<'m>, at: PhysAddr) -> Result<Root, Error> {
    let unreadable = |size: usize| Error::Unreadable {
        structure: FirmwareStructure::Rsdp,
        address: at,
        size: size as u64,
    };
    let bytes = memory
        .bytes(at, RSDP_V1_SIZE)
        .ok_or(unreadable(RSDP_V1_SIZE))?;
    let fields = Fields(bytes);
    let signature: [u8; 8] = fields.array(0).ok_or(unreadable(RSDP_V1_SIZE))?;
    if &signature != b"RSD PTR " {
        return Err(Error::BadRsdpSignature {
            address: at,
            found: signature,
        });
    }
    checksum(bytes, FirmwareStructure::Rsdp, at)?;
    let revision = fields.u8(15).ok_or(unreadable(RSDP_V1_SIZE))?;
    let rsdt = fields.u32(16).ok_or(unreadable(RSDP_V1_SIZE))?;
    let rsdt = Root {
        address: PhysAddr(u64::from(rsdt)),
        pointer_width: PointerWidth::Bits32,
    };
    // Revision 0 is ACPI 1.0; 1 was never assigned, so it is read as 0.
    if revision < 2 {
        return Ok(rsdt);
    }
    let extended = memory
        .bytes(at, RSDP_V2_SIZE)
        .ok_or(unreadable(RSDP_V2_SIZE))?;
    let length = Fields(extended).u32(20).ok_or(unreadable(RSDP_V2_SIZE))?;
    let size = usize::try_from(length)
        .ok()
        .filter(|&size| size >= RSDP_V2_SIZE)
        .ok_or(Error::AcpiLength {
            structure: FirmwareStructure::Rsdp,
            address: at,
            length,
        })?;
    let extended = memory.bytes(at, size).ok_or(unreadable(size))?;
    checksum(extended, FirmwareStructure::ExtendedRsdp, at)?;
    match Fields(extended).u64(24) {
        Some(0) => Ok(rsdt),
        Some(xsdt) => Ok(Root {
            address: PhysAddr(xsdt),
            pointer_width: PointerWidth::Bits64,
        }),
        None => Err(unreadable(size)),
    }
}

/// Fails with [`Error::AcpiChecksum`] unless the bytes sum to 0 (mod 256).
fn checksum(bytes: &[u8], structure: FirmwareStructure, address: PhysAddr) -> Result<(), Error> {
    let sum = bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    if sum == 0 {
        Ok(())
    } else {
        Err(Error::AcpiChecksum {
            structure,
            address,
            sum,
        })
    }
}

/// A system description table whose length and checksum have been checked.
struct Table<'m> {
    address: PhysAddr,
    signature: Signature,
    /// The whole table, header included: exactly its `length` bytes.
    bytes: &'m [u8],
}

impl<'m> Table<'m> {
    /// Reads the table at `at`: its header, then its `length` bytes.
    fn read(memory: &impl PhysicalMemory<'m>, at: PhysAddr) -> Result<Self, Error> {
        let header = memory
            .bytes(at, TABLE_HEADER_SIZE)
            .ok_or(Error::Unreadable {
                structure: FirmwareStructure::AcpiTableHeader,
                address: at,
                size: TABLE_HEADER_SIZE as u64,
            })?;
        let fields = Fields(header);
        let (Some(signature), Some(length)) = (fields.array(0), fields.u32(4)) else {
            return Err(Error::Unreadable {
                structure: FirmwareStructure::AcpiTableHeader,
                address: at,
                size: TABLE_HEADER_SIZE as u64,
            });
        };
        let signature = Signature(signature);
        let structure = FirmwareStructure::AcpiTable(signature);
        let size = usize::try_from(length)
            .ok()
            .filter(|&size| size >= TABLE_HEADER_SIZE)
            .ok_or(Error::AcpiLength {
                structure,
                address: at,
                length,
            })?;
        let bytes = memory.bytes(at, size).ok_or(Error::Unreadable {
            structure,
            address: at,
            size: u64::from(length),
        })?;
        checksum(bytes, structure, at)?;
        Ok(Self {
            address: at,
            signature,
            bytes,
        })
    }

    /// What follows the header.
    fn body(&self) -> &'m [u8] {
        self.bytes.get(TABLE_HEADER_SIZE..).unwrap_or(&[])
    }

    /// [`Error::AcpiLength`] for this table: its length does not fit its contents.
    fn bad_length(&self) -> Error {
        Error::AcpiLength {
            structure: FirmwareStructure::AcpiTable(self.signature),
            address: self.address,
            length: self.bytes.len() as u32,
        }
    }

    /// Reads this table as the MADT.
    fn madt(&self) -> Result<Apic, Error> {
        let fields = Fields(self.bytes);
        let (Some(local_apic), Some(flags)) = (fields.u32(36), fields.u32(40)) else {
            return Err(self.bad_length());
        };
        let mut apic = Apic {
            local_apic_address: PhysAddr(u64::from(local_apic)),
            legacy_pics: flags & 1 != 0,
            ..Apic::default()
        };
        let mut offset = MADT_ENTRIES;
        while offset < self.bytes.len() {
            let entry = self.madt_entry(offset)?;
            let fields = Fields(entry.bytes);
            let read = match entry.kind {
                0 => read_local_apic(fields).map(|cpu| apic.local_apics.offer(cpu)),
                1 => read_io_apic(fields).map(|io_apic| apic.io_apics.offer(io_apic)),
                2 => read_override(fields).map(|entry| apic.overrides.offer(entry)),
                5 => fields
                    .u64(4)
                    .map(|address| apic.local_apic_address = PhysAddr(address)),
                9 => read_x2apic(fields).map(|cpu| apic.local_apics.offer(cpu)),
                // NMI sources, local APIC NMIs, SAPICs, GIC entries…: not needed.
                _ => Some(()),
            };
            read.ok_or(Error::BadMadtEntry {
                table: self.address,
                offset,
                kind: entry.kind,
                length: Some(entry.bytes.len() as u8),
            })?;
            offset += entry.bytes.len();
        }
        Ok(apic)
    }

    /// The MADT entry at `offset` (inside the table), at least 2 bytes long
    /// and ending inside the table too.
    fn madt_entry(&self, offset: usize) -> Result<MadtEntry<'m>, Error> {
        let fields = Fields(self.bytes);
        let kind = fields.u8(offset).ok_or(self.bad_length())?;
        let length = fields.u8(offset + 1);
        let bad = Error::BadMadtEntry {
            table: self.address,
            offset,
            kind,
            length,
        };
        let size = usize::from(length.ok_or(bad)?);
        if size < 2 {
            return Err(bad);
        }
        let bytes = self.bytes.get(offset..offset + size).ok_or(bad)?;
        Ok(MadtEntry { kind, bytes })
    }
}

/// One interrupt controller structure of the MADT, its type and length bytes included.
struct MadtEntry<'m> {
    kind: u8,
    bytes: &'m [u8],
}

/// A type 0 entry: processor UID, APIC ID, flags.
fn read_local_apic(fields: Fields<'_>) -> Option<LocalApic> {
    let flags = fields.u32(4)?;
    Some(LocalApic {
        processor_uid: u32::from(fields.u8(2)?),
        apic_id: u32::from(fields.u8(3)?),
        enabled: flags & 1 != 0,
        online_capable: flags & 2 != 0,
        x2apic: false,
    })
}

/// A type 9 entry: 2 reserved bytes, x2APIC ID, flags, processor UID.
fn read_x2apic(fields: Fields<'_>) -> Option<LocalApic> {
    let flags = fields.u32(8)?;
    Some(LocalApic {
        processor_uid: fields.u32(12)?,
        apic_id: fields.u32(4)?,
        enabled: flags & 1 != 0,
        online_capable: flags & 2 != 0,
        x2apic: true,
    })
}

/// A type 1 entry: ID, a reserved byte, address, GSI base.
fn read_io_apic(fields: Fields<'_>) -> Option<IoApic> {
    Some(IoApic {
        id: fields.u8(2)?,
        address: PhysAddr(u64::from(fields.u32(4)?)),
        gsi_base: fields.u32(8)?,
    })
}

/// A type 2 entry: bus, source, GSI, flags (MPS INTI: polarity, trigger mode).
fn read_override(fields: Fields<'_>) -> Option<InterruptOverride> {
    let flags = fields.u16(8)?;
    Some(InterruptOverride {
        bus: fields.u8(2)?,
        source: fields.u8(3)?,
        gsi: fields.u32(4)?,
        polarity: match flags & 0b11 {
            0 => Polarity::BusDefault,
            1 => Polarity::ActiveHigh,
            3 => Polarity::ActiveLow,
            _ => Polarity::Reserved,
        },
        trigger: match (flags >> 2) & 0b11 {
            0 => TriggerMode::BusDefault,
            1 => TriggerMode::Edge,
            3 => TriggerMode::Level,
            _ => TriggerMode::Reserved,
        },
    })
}
