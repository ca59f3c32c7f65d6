//! Simulated physical memory into the x86_64 PVH reader, from a start info at
//! the first region's base through the memory map, command line, modules and
//! ACPI tables. The seeds are QEMU's own, from `src/platform/testdata/x86/`.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| kernel_fuzz::x86::start_info(input));
