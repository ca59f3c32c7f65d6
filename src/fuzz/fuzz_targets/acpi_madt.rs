//! Arbitrary bytes as the body of an ACPI MADT, behind a valid RSDP and RSDT
//! with every checksum made right. The seeds are the MADTs QEMU builds, from
//! `src/platform/testdata/x86/`.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| kernel_fuzz::x86::madt(input));
