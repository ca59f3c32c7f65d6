//! The x86_64 targets' harness: the PVH start info and the ACPI MADT, read
//! the way the kernel's x86_64 boot reads them, with the promises of
//! `kernel::platform::pvh` and `kernel::platform::acpi` checked on the way.
//!
//! A panic here, from the kernel crate or from an assertion below, is a
//! finding: both readers promise a named error, never a panic, for any bytes.

use kernel::addr::PhysAddr;
use kernel::platform::{Error, X86Platform, acpi, describe_pvh};

use crate::physical::Regions;

/// Where [`madt`] places the tables it wraps around the input.
const RSDP_AT: u64 = 0xf_5250;
const RSDT_AT: u64 = 0x7fe_2000;
const MADT_AT: u64 = 0x7fe_3000;

/// Reads `input` as physical memory (see [`Regions`]) and describes the
/// machine from a start info at the first region's base, as the kernel does
/// with the address in ebx.
pub fn start_info(input: &[u8]) {
    let memory = Regions::decode(input);
    let Some(at) = memory.first_base() else {
        return;
    };
    match describe_pvh(&&memory, at) {
        Ok(platform) => check(&platform),
        Err(error) => format_error(&error),
    }
}

/// Treats `input` as the body of a MADT (what follows the 36-byte header) and
/// reads it through a valid RSDP and RSDT, with the checksums made right, so
/// that every input reaches the entry parser instead of stopping at a bad sum.
pub fn madt(input: &[u8]) {
    let mut madt = header(b"APIC", 36 + input.len());
    madt.extend_from_slice(input);
    balance(&mut madt, 9);
    let mut rsdt = header(b"RSDT", 36 + 4);
    rsdt.extend_from_slice(&(MADT_AT as u32).to_le_bytes());
    balance(&mut rsdt, 9);
    let mut rsdp = b"RSD PTR ".to_vec();
    rsdp.extend_from_slice(&[0; 12]);
    rsdp[16..20].copy_from_slice(&(RSDT_AT as u32).to_le_bytes());
    balance(&mut rsdp, 8);
    let mut encoded = Vec::new();
    for (base, bytes) in [(RSDP_AT, &rsdp), (RSDT_AT, &rsdt), (MADT_AT, &madt)] {
        let Ok(length) = u16::try_from(bytes.len()) else {
            return; // Longer than a region record holds: not a MADT worth reading.
        };
        encoded.extend_from_slice(&base.to_le_bytes());
        encoded.extend_from_slice(&length.to_le_bytes());
        encoded.extend_from_slice(bytes);
    }
    let memory = Regions::decode(&encoded);
    match acpi::read_apic(&&memory, PhysAddr(RSDP_AT)) {
        Ok(apic) => {
            assert!(apic.local_apics.kept().len() <= apic.local_apics.count());
            assert!(apic.cpu_count() <= apic.local_apics.count());
            let _ = format!("{apic:?}");
        }
        Err(error) => format_error(&error),
    }
}

/// A system description table header of `length` bytes so far unsummed.
fn header(signature: &[u8; 4], length: usize) -> Vec<u8> {
    let mut header = vec![0; 36];
    header[..4].copy_from_slice(signature);
    header[4..8].copy_from_slice(&(length as u32).to_le_bytes());
    header[8] = 1; // revision
    header
}

/// Sets `bytes[offset]` so that the bytes sum to 0 (mod 256), as ACPI's do.
fn balance(bytes: &mut [u8], offset: usize) {
    bytes[offset] = 0;
    let sum = bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    bytes[offset] = sum.wrapping_neg();
}

/// The promises of a described machine: RAM never empty, and usable pieces
/// page-aligned, increasing, inside RAM and clear of every reservation.
fn check(platform: &X86Platform<'_>) {
    assert!(!platform.ram().is_empty(), "a description without RAM");
    let mut previous_end = 0;
    for piece in platform.usable() {
        assert!(
            piece.start.is_page_aligned() && piece.size.is_multiple_of(4096) && piece.size > 0,
            "usable piece not in whole pages: {piece:?}"
        );
        assert!(
            piece.start.as_u64() >= previous_end,
            "usable pieces overlap or go backwards"
        );
        let last = piece
            .last()
            .expect("a usable piece neither empty nor wrapping");
        previous_end = last.as_u64().saturating_add(1);
        assert!(
            platform
                .ram()
                .iter()
                .any(|ram| ram.contains(piece.start) && ram.contains(last)),
            "usable piece {piece:?} outside RAM"
        );
        for reservation in platform.reserved() {
            assert!(
                !reservation.range.overlaps(&piece),
                "usable piece {piece:?} overlaps {reservation:?}"
            );
        }
    }
    let _ = format!("{platform:?}");
}

/// Formats an error the way the boot report would; `Display` must not panic.
fn format_error(error: &Error) {
    let text = format!("{error}");
    assert!(!text.is_empty(), "an error without words: {error:?}");
}
