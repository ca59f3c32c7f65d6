//! Real device trees, damaged one edit at a time, into the platform
//! description. The seed corpus is the committed fixtures
//! (`src/platform/testdata/*.dtb`, which `run.sh` copies with QEMU's padding
//! cut off); the mutator edits them along their structure most of the time
//! and leaves the rest to libFuzzer's byte-level mutations.

#![no_main]

use kernel_fuzz::mutate::{Random, mutate_structure};

libfuzzer_sys::fuzz_target!(|input: &[u8]| kernel_fuzz::exercise(input));

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut random = Random::new(seed);
    if random.below(4) != 0 {
        let original = data[..size].to_vec();
        if let Some(new_size) = mutate_structure(data, size, max_size, &mut random)
            && data[..new_size] != original[..]
        {
            return new_size;
        }
        // The edit did not apply or changed nothing: undo any partial work.
        data[..size].copy_from_slice(&original);
    }
    libfuzzer_sys::fuzzer_mutate(data, size, max_size)
});
