//! Self-tests only AArch64 has: the contracts of its drivers. The kernel's
//! runner adds them to its shared suite.

use alloc::string::String;

use crate::addr::VirtAddr;
use crate::drivers::Misaligned;
use crate::drivers::gic::v2::GicV2;
use crate::drivers::gic::v3::{self, GicV3};
use crate::drivers::pl011::Pl011;

/// One check: `Err` says what went wrong.
pub type Check = fn() -> Result<(), String>;

/// The checks, each with the line the runner prints.
pub const TESTS: &[(&str, Check)] = &[(
    "mmio: drivers refuse misaligned register blocks",
    drivers_refuse_misaligned_blocks,
)];

macro_rules! check {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($message)*));
        }
    };
}

fn drivers_refuse_misaligned_blocks() -> Result<(), String> {
    let aligned = crate::kernel::memory::placement().vmap.start;
    let misaligned = VirtAddr(aligned.0 + 0x40);
    let expected = Some(Misaligned {
        address: misaligned,
    });
    // SAFETY: this call and those below are refused on alignment before they
    // read or write any register, and nothing refused is kept.
    let pl011 = unsafe { Pl011::new(misaligned) }.err();
    check!(pl011 == expected, "PL011 at {misaligned}: {pl011:?}");
    // SAFETY: see above.
    let gic_v2 = unsafe { GicV2::new(aligned, misaligned) }.err();
    check!(gic_v2 == expected, "GICv2 CPU interface: {gic_v2:?}");
    for (distributor, redistributor) in [(misaligned, aligned), (aligned, misaligned)] {
        // SAFETY: see above.
        let gic_v3 = unsafe { GicV3::new(distributor, redistributor) }.err();
        check!(
            gic_v3 == expected.map(v3::Error::Misaligned),
            "GICv3 at {distributor}, {redistributor}: {gic_v3:?}"
        );
    }
    Ok(())
}
