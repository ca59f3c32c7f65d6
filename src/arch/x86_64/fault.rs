//! Decoding of x86_64 exceptions (vector, error code, CR2) into fault reports.
//!
//! Pure code: the trap handlers read the registers, this names what they
//! hold, and the host tests check it.

use core::fmt;

use crate::addr::VirtAddr;

/// Vector of the page fault (#PF), whose error code [`PageFaultError`] decodes.
pub const PAGE_FAULT: u8 = 14;
/// Vector of the double fault (#DF).
pub const DOUBLE_FAULT: u8 = 8;
/// Vector of the general protection fault (#GP).
pub const GENERAL_PROTECTION: u8 = 13;
/// The first vector that is an interrupt, not an exception.
pub const FIRST_INTERRUPT: u8 = 32;

/// How far below the interrupted stack pointer the CPU pushes an exception
/// frame: at most six words, after aligning RSP down to 16 bytes.
const FRAME_PUSH_REACH: u64 = 64;

/// A page fault's error code, decoded (Intel SDM vol. 3A, 4.7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageFaultError {
    /// The page was present, so its rights refused the access; otherwise no
    /// translation exists.
    pub present: bool,
    /// The access was a write.
    pub write: bool,
    /// The access came from user mode (CPL 3).
    pub user: bool,
    /// A paging-structure entry has a reserved bit set.
    pub reserved_bit: bool,
    /// The access was an instruction fetch.
    pub instruction_fetch: bool,
}

impl PageFaultError {
    /// Decodes the error code the CPU pushed for a page fault; bits beyond
    /// the five above (protection keys, shadow stacks, SGX) are ignored.
    pub const fn decode(error_code: u64) -> Self {
        Self {
            present: error_code & (1 << 0) != 0,
            write: error_code & (1 << 1) != 0,
            user: error_code & (1 << 2) != 0,
            reserved_bit: error_code & (1 << 3) != 0,
            instruction_fetch: error_code & (1 << 4) != 0,
        }
    }

    /// The access in words, as a fault report puts it before the address:
    /// "fetch from", "write to" or "read from".
    pub const fn access(&self) -> &'static str {
        match (self.instruction_fetch, self.write) {
            (true, _) => "fetch from",
            (false, true) => "write to",
            (false, false) => "read from",
        }
    }
}

impl fmt::Display for PageFaultError {
    /// Why the access failed, then the mode it came from: `page not
    /// present, kernel mode`; for a present page the right it lacks,
    /// `protection violation: not executable, kernel mode` (a fetch: NX, or
    /// SMEP on a user page), `protection violation: read-only, kernel mode`
    /// (a write, with CR0.WP) or plain `protection violation` (a read:
    /// SMAP or protection keys); `reserved bit set, user mode` when an
    /// entry on the walk was malformed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            Self {
                reserved_bit: true, ..
            } => "reserved bit set",
            Self { present: false, .. } => "page not present",
            Self {
                instruction_fetch: true,
                ..
            } => "protection violation: not executable",
            Self { write: true, .. } => "protection violation: read-only",
            Self { .. } => "protection violation",
        })?;
        f.write_str(if self.user {
            ", user mode"
        } else {
            ", kernel mode"
        })
    }
}

/// One exception as the CPU delivered it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fault {
    /// The IDT vector, 0..=31 for exceptions.
    pub vector: u8,
    /// The error code, for the vectors that push one.
    pub error_code: Option<u64>,
    /// The instruction that faulted (or, for traps, the next one).
    pub rip: VirtAddr,
    /// For a page fault, the address that faulted (CR2); for a double fault,
    /// the last page fault's (CR2 still holds it).
    pub address: Option<VirtAddr>,
}

impl Fault {
    /// The exception of `vector` taken at `rip`, with the error code it
    /// pushed, if any; `cr2` is kept only for a page or double fault.
    pub const fn new(vector: u8, error_code: Option<u64>, rip: u64, cr2: u64) -> Self {
        Self {
            vector,
            error_code,
            rip: VirtAddr(rip),
            address: match vector {
                PAGE_FAULT | DOUBLE_FAULT => Some(VirtAddr(cr2)),
                _ => None,
            },
        }
    }

    /// Whether this double fault is a stack overflow: the last page fault
    /// (CR2) hit just below the interrupted stack pointer `rsp`, where the CPU
    /// was pushing the page fault's frame, so the stack itself is unmapped.
    pub fn is_stack_overflow(&self, rsp: u64) -> bool {
        match (self.vector, self.address) {
            (DOUBLE_FAULT, Some(cr2)) => cr2.0 < rsp && rsp - cr2.0 <= FRAME_PUSH_REACH,
            _ => false,
        }
    }

    /// The decoded error code of a page fault.
    pub fn page_fault(&self) -> Option<PageFaultError> {
        match (self.vector, self.error_code) {
            (PAGE_FAULT, Some(code)) => Some(PageFaultError::decode(code)),
            _ => None,
        }
    }

    /// What the exception is, in words: "page fault", "double fault", ….
    pub fn kind(&self) -> &'static str {
        match self.vector {
            0 => "divide error",
            1 => "debug exception",
            2 => "non-maskable interrupt",
            3 => "breakpoint",
            4 => "overflow",
            5 => "bound range exceeded",
            6 => "invalid opcode",
            7 => "device not available",
            8 => "double fault",
            10 => "invalid TSS",
            11 => "segment not present",
            12 => "stack-segment fault",
            13 => "general protection fault",
            PAGE_FAULT => "page fault",
            16 => "x87 floating-point error",
            17 => "alignment check",
            18 => "machine check",
            19 => "SIMD floating-point exception",
            20 => "virtualization exception",
            21 => "control protection exception",
            28 => "hypervisor injection exception",
            29 => "VMM communication exception",
            30 => "security exception",
            9 | 15 | 22..=27 | 31 => "reserved exception",
            _ => "interrupt",
        }
    }
}

impl fmt::Display for Fault {
    /// `page fault: write to 0xffff_ffff_8030_0000 (page not present, kernel
    /// mode) at rip 0xffff_ffff_8020_1234 (error code 0x2)`, for other
    /// vectors `general protection fault at rip 0x… (error code 0x0)`, `double
    /// fault at rip 0x… (error code 0x0); last page fault at 0x…` or
    /// `interrupt 48 at rip 0x…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        if self.vector >= FIRST_INTERRUPT {
            write!(f, " {}", self.vector)?;
        }
        if let (Some(error), Some(address)) = (self.page_fault(), self.address) {
            write!(f, ": {} {address} ({error})", error.access())?;
        }
        write!(f, " at rip {}", self.rip)?;
        if let Some(code) = self.error_code {
            write!(f, " (error code {code:#x})")?;
        }
        if let (DOUBLE_FAULT, Some(address)) = (self.vector, self.address) {
            write!(f, "; last page fault at {address}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn decodes_each_page_fault_bit() {
        let write_absent = PageFaultError::decode(0b10);
        assert!(!write_absent.present && write_absent.write && !write_absent.user);
        assert_eq!(write_absent.access(), "write to");
        assert_eq!(write_absent.to_string(), "page not present, kernel mode");

        let fetch = PageFaultError::decode(0b1_0001);
        assert!(fetch.present && fetch.instruction_fetch);
        assert_eq!(fetch.access(), "fetch from");
        assert_eq!(
            fetch.to_string(),
            "protection violation: not executable, kernel mode"
        );
        let write_read_only = PageFaultError::decode(0b11);
        assert_eq!(
            write_read_only.to_string(),
            "protection violation: read-only, kernel mode"
        );
        assert_eq!(
            PageFaultError::decode(0b1).to_string(),
            "protection violation, kernel mode"
        );

        let reserved = PageFaultError::decode(0b1101);
        assert!(reserved.reserved_bit && reserved.user);
        assert_eq!(reserved.access(), "read from");
        assert_eq!(reserved.to_string(), "reserved bit set, user mode");
        // Protection-key, shadow-stack and SGX bits change none of the five.
        assert_eq!(PageFaultError::decode(0x8062), PageFaultError::decode(0b10));
    }

    #[test]
    fn reports_a_page_fault_with_its_address() {
        let fault = Fault::new(
            PAGE_FAULT,
            Some(0b10),
            0xffff_ffff_8020_1234,
            0xffff_ffff_8030_0000,
        );
        assert_eq!(
            fault.to_string(),
            "page fault: write to 0xffff_ffff_8030_0000 (page not present, kernel mode) \
             at rip 0xffff_ffff_8020_1234 (error code 0x2)"
        );
    }

    #[test]
    fn reports_other_exceptions_without_cr2() {
        let protection = Fault::new(13, Some(0), 0x1000, 0xdead_0000);
        assert_eq!(protection.address, None);
        assert_eq!(protection.page_fault(), None);
        assert_eq!(
            protection.to_string(),
            "general protection fault at rip 0x1000 (error code 0x0)"
        );
        assert_eq!(
            Fault::new(6, None, 0x2000, 0).to_string(),
            "invalid opcode at rip 0x2000"
        );
        assert_eq!(Fault::new(9, None, 0, 0).kind(), "reserved exception");
        assert_eq!(
            Fault::new(48, None, 0x3000, 0).to_string(),
            "interrupt 48 at rip 0x3000"
        );
    }

    #[test]
    fn a_double_fault_names_the_last_page_fault_and_spots_an_overflow() {
        let rsp = 0xffff_ffff_8020_b008;
        let overflow = Fault::new(DOUBLE_FAULT, Some(0), 0x4000, rsp - 0x18);
        assert_eq!(
            overflow.to_string(),
            "double fault at rip 0x4000 (error code 0x0); last page fault at 0xffff_ffff_8020_aff0"
        );
        assert!(overflow.is_stack_overflow(rsp));
        // A page fault far from the stack, or above it, is no overflow.
        assert!(!Fault::new(DOUBLE_FAULT, Some(0), 0x4000, rsp - 0x1000).is_stack_overflow(rsp));
        assert!(!Fault::new(DOUBLE_FAULT, Some(0), 0x4000, rsp + 8).is_stack_overflow(rsp));
        // Only a double fault can be one.
        assert!(!Fault::new(PAGE_FAULT, Some(2), 0x4000, rsp - 8).is_stack_overflow(rsp));
    }
}
