//! Arbitrary bytes into the platform description, as the kernel's boot would
//! read them: strip the FDT_NOPs in place, then parse. No seed corpus; the
//! dictionary `dtb.dict` gives libFuzzer the format's magic and tokens.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| kernel_fuzz::exercise(input));
