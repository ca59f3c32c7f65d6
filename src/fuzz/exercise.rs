//! Runs one input through everything the kernel does with a device tree, and
//! checks the promises the platform description makes on the way.
//!
//! A panic here, whether from the kernel crate or from one of the assertions
//! below, is a finding: the documentation of `kernel::platform` promises a
//! named error, never a panic, for any bytes.

use std::fmt::Write;

use kernel::addr::{PhysAddr, PhysRange};
use kernel::platform::{PlatformDescription, ReservationReason, strip_nops, take_seeds};

/// Where the kernel would have found the blob (QEMU `virt` with 128 MiB).
const BLOB_ADDRESS: PhysAddr = PhysAddr(0x4400_0000);

/// The size of a page, the granule `usable` rounds to.
const PAGE: u64 = 4096;

/// Feeds `input` to the platform description as the kernel's boot does: strip
/// the FDT_NOP tokens in place (on a copy), take and wipe the `/chosen`
/// seeds, then parse. On success it also
/// walks the RAM, reservations and usable ranges and adds reservations of its
/// own; on failure it formats the error. Panics when a documented promise is
/// broken.
pub fn exercise(input: &[u8]) {
    let mut blob = input.to_vec();
    match strip_nops(&mut blob) {
        Ok(_) => {
            let mut again = blob.clone();
            assert_eq!(
                strip_nops(&mut again),
                Ok(0),
                "stripping twice removes nothing"
            );
            take_and_wipe_seeds(&mut blob);
            describe(&blob);
        }
        Err(error) => {
            assert_eq!(blob, input, "strip_nops changed a blob it refused");
            format_error(&error);
            // The kernel stops here; parse the untouched bytes anyway, since
            // `from_dtb` must be just as safe on blobs nobody stripped.
            describe(input);
        }
    }
}

/// What the boot does between stripping and parsing: `take_seeds` reads the
/// seeds and zeroes them in place, changing nothing else; a tree it refuses
/// is left as it was and is one the description refuses too.
fn take_and_wipe_seeds(blob: &mut [u8]) {
    let before = blob.to_vec();
    let owned =
        |kaslr: Option<&[u8]>, rng: Option<&[u8]>| (kaslr.map(<[u8]>::len), rng.map(<[u8]>::len));
    match take_seeds(blob, owned) {
        Ok(lengths) => {
            let zeros = |value: Option<&[u8]>| value.map(|v| v.iter().all(|&b| b == 0));
            let again = take_seeds(blob, |kaslr, rng| {
                (owned(kaslr, rng), zeros(kaslr), zeros(rng))
            })
            .expect("a tree take_seeds read once reads again");
            assert_eq!(again.0, lengths, "the wipe changed the seeds' lengths");
            assert!(
                again.1 != Some(false) && again.2 != Some(false),
                "a seed survived the wipe"
            );
            assert_eq!(blob.len(), before.len());
        }
        Err(error) => {
            assert_eq!(blob, &before[..], "take_seeds changed a blob it refused");
            assert!(
                PlatformDescription::from_dtb(blob, Some(BLOB_ADDRESS)).is_err(),
                "take_seeds refused a tree the description reads"
            );
            format_error(&error);
        }
    }
}

/// Parses `blob` and, if that works, exercises the description.
fn describe(blob: &[u8]) {
    match PlatformDescription::from_dtb(blob, Some(BLOB_ADDRESS)) {
        Ok(description) => inspect(description),
        Err(error) => format_error(&error),
    }
}

/// Formats an error the way the boot report would; `Display` must not panic.
fn format_error(error: &kernel::platform::Error) {
    let mut text = String::new();
    write!(text, "{error}").expect("formatting into a String cannot fail");
    assert!(!text.is_empty(), "an error without words: {error:?}");
}

/// Checks the contracts of `ram`, `reserved`, `usable` and `reserve`.
fn inspect(mut description: PlatformDescription<'_>) {
    let ram = description.ram().to_vec();
    assert!(!ram.is_empty(), "a description without RAM");
    for region in &ram {
        assert!(
            region.last().is_some(),
            "empty or wrapping RAM region {region:?}"
        );
    }
    // Touching regions are merged, so a gap of at least one byte separates
    // neighbours. (An end of exactly 2^64 has no `end()`; `last()` always works.)
    for pair in ram.windows(2) {
        let last = pair[0].last().unwrap_or(PhysAddr(u64::MAX));
        assert!(
            last.0 < u64::MAX && PhysAddr(last.0 + 1) < pair[1].start,
            "RAM not sorted, overlapping or unmerged: {pair:?}"
        );
    }
    for reservation in description.reserved() {
        assert!(
            reservation.range.last().is_some(),
            "empty or wrapping reservation {reservation:?}"
        );
        let _ = format!("{}", reservation.reason);
    }
    check_usable(&description);

    // What the kernel adds next: its image and boot tables, here placed in
    // the first RAM region, then ranges that must be refused.
    let first = ram[0];
    let inside = PhysRange::new(first.start, first.size.min(16 * PAGE));
    description
        .reserve(inside, ReservationReason::KernelImage)
        .map_or_else(
            |error| format_error(&error),
            |()| check_usable(&description),
        );
    let at_the_top = PhysRange::new(PhysAddr(u64::MAX - PAGE + 1), PAGE);
    let _ = description.reserve(at_the_top, ReservationReason::BootTables);
    for refused in [
        PhysRange::new(first.start, 0),
        PhysRange::new(PhysAddr(u64::MAX - PAGE + 2), PAGE),
    ] {
        match description.reserve(refused, ReservationReason::BootTables) {
            Ok(()) => panic!("reserve accepted {refused:?}"),
            Err(error) => format_error(&error),
        }
    }
    check_usable(&description);
    let _ = format!("{description:?}");
}

/// `usable`: page-aligned, increasing, disjoint pieces of RAM that touch no
/// reservation.
fn check_usable(description: &PlatformDescription<'_>) {
    let mut previous_last: Option<PhysAddr> = None;
    for piece in description.usable() {
        assert!(
            piece.start.0 % PAGE == 0 && piece.size % PAGE == 0,
            "usable piece not in whole pages: {piece:?}"
        );
        let last = piece
            .last()
            .expect("a usable piece is neither empty nor wrapping");
        if let Some(previous) = previous_last {
            assert!(
                previous < piece.start,
                "usable pieces overlap or go backwards"
            );
        }
        previous_last = Some(last);
        assert!(
            description
                .ram()
                .iter()
                .any(|ram| ram.contains(piece.start) && ram.contains(last)),
            "usable piece {piece:?} outside RAM"
        );
        for reservation in description.reserved() {
            assert!(
                !reservation.range.overlaps(&piece),
                "usable piece {piece:?} overlaps {reservation:?}"
            );
        }
    }
}
