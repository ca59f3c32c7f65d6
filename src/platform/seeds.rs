//! The boot seeds of `/chosen` (`kaslr-seed`, `rng-seed`): read once, then
//! wiped from the blob.

use core::ops::Range;

#[cfg(doc)]
use super::PlatformDescription;
use super::{Error, root_child, validated_fdt};

/// Calls `read` with the `/chosen` `kaslr-seed` and `rng-seed` values of
/// `blob` (those [`PlatformDescription`] reads: the first root child named
/// `chosen`), then overwrites both values in the blob with zeros and returns
/// what `read` returned. Linux does the same (it zeroes `kaslr-seed` and
/// drops `rng-seed`) so that nothing that reads the tree later learns the
/// seed. The properties keep their lengths, so the tree's structure and size
/// do not change; a `kaslr-seed` of 0 and an `rng-seed` of zeros mean "no
/// seed" to whoever reads them next (`memory::placement::seed_from_tree`
/// included). Only `/chosen` is read: the tree is described once, after.
///
/// # Errors
///
/// A blob that is not a well-formed tree (what the validation before every
/// description refuses); it is then left unchanged.
pub fn take_seeds<R>(
    blob: &mut [u8],
    read: impl FnOnce(Option<&[u8]>, Option<&[u8]>) -> R,
) -> Result<R, Error> {
    let (result, wiped) = {
        let fdt = validated_fdt(blob)?;
        let chosen = fdt
            .find_node("/")
            .and_then(|root| root_child(root, "chosen"));
        let seed = |name: &str| Some(chosen?.property(name)?.value);
        let (kaslr_seed, rng_seed) = (seed("kaslr-seed"), seed("rng-seed"));
        let within = |value: Option<&[u8]>| value.map(|value| byte_range(blob, value));
        (
            read(kaslr_seed, rng_seed),
            [within(kaslr_seed), within(rng_seed)],
        )
    };
    for range in wiped.into_iter().flatten() {
        blob[range].fill(0);
    }
    Ok(result)
}

/// Where `value`, a slice of `blob`, lies in it.
fn byte_range(blob: &[u8], value: &[u8]) -> Range<usize> {
    let start = value.as_ptr() as usize - blob.as_ptr() as usize;
    start..start + value.len()
}
