//! Self-tests only AArch64 has: the contracts of its drivers. The kernel's
//! runner adds them to its shared suite.

use alloc::string::String;

use crate::addr::VirtAddr;
use crate::drivers::gic::v2::GicV2;
use crate::drivers::gic::v3::{self, GicV3};
use crate::drivers::mini_uart::{self, MiniUart};
use crate::drivers::pl011::Pl011;
use crate::drivers::{Misaligned, REGISTER_BLOCK_ALIGNMENT};

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
        alignment: REGISTER_BLOCK_ALIGNMENT,
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
    // The mini UART needs only its 0x40 bytes aligned: 0x40 into a page is
    // where it sits, 0x20 is refused.
    let off_block = VirtAddr(aligned.0 + 0x20);
    // SAFETY: see above.
    let mini = unsafe { MiniUart::new(off_block) }.err();
    check!(
        mini == Some(Misaligned {
            address: off_block,
            alignment: mini_uart::REGISTER_BLOCK_SIZE,
        }),
        "mini UART at {off_block}: {mini:?}"
    );
    // SAFETY: `new` touches no register, and the driver is dropped unused.
    let accepted = unsafe { MiniUart::new(misaligned) }.is_ok();
    check!(
        accepted,
        "mini UART at {misaligned}, its place in the AUX page, refused"
    );
    Ok(())
}
