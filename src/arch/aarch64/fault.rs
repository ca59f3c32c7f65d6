//! Decoding of synchronous exceptions (ESR_EL1 / FAR_EL1) into fault reports.

use core::fmt;

use crate::addr::VirtAddr;

/// What kind of access faulted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

/// A decoded synchronous exception.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fault {
    /// The raw syndrome register.
    pub esr: u64,
    /// The faulting data or instruction address, when the CPU reports one.
    pub address: Option<VirtAddr>,
    /// The instruction that faulted.
    pub pc: VirtAddr,
    /// Read, write or fetch; `None` when the exception is not an abort.
    pub access: Option<Access>,
}

impl Fault {
    /// Decodes `esr`/`far` of a synchronous exception taken at `pc`.
    pub fn decode(esr: u64, far: u64, pc: u64) -> Self {
        let class = exception_class(esr);
        let iss = esr & 0x1ff_ffff;
        let (access, far_valid) = match class {
            0x20 | 0x21 => (Some(Access::Execute), iss & (1 << 10) == 0),
            0x24 | 0x25 => {
                let write = iss & (1 << 6) != 0;
                (
                    Some(if write { Access::Write } else { Access::Read }),
                    iss & (1 << 10) == 0,
                )
            }
            0x22 | 0x26 => (None, true), // PC or SP alignment: FAR holds the address
            _ => (None, false),
        };
        Self {
            esr,
            address: far_valid.then_some(VirtAddr(far)),
            pc: VirtAddr(pc),
            access,
        }
    }

    /// The ESR exception class.
    pub fn class(&self) -> u64 {
        exception_class(self.esr)
    }

    /// What the exception is, in words: "data abort", "instruction abort", ….
    pub fn kind(&self) -> &'static str {
        match self.class() {
            0x00 => "unknown instruction",
            0x15 => "system call (svc)",
            0x16 => "hypervisor call (hvc)",
            0x17 => "secure monitor call (smc)",
            0x18 => "trapped system register access",
            0x20 | 0x21 => "instruction abort",
            0x22 => "pc alignment fault",
            0x24 | 0x25 => "data abort",
            0x26 => "sp alignment fault",
            0x3c => "breakpoint (brk)",
            _ => "synchronous exception",
        }
    }

    /// The fault status of an abort in words with its table level, e.g.
    /// ("translation fault", Some(3)).
    pub fn status(&self) -> (&'static str, Option<u64>) {
        let status = self.esr & 0x3f;
        let level = status & 0b11;
        match (self.access, status >> 2) {
            (None, _) => ("", None),
            (Some(_), 0b0001) => ("translation fault", Some(level)),
            (Some(_), 0b0010) => ("access flag fault", Some(level)),
            (Some(_), 0b0011) => ("permission fault", Some(level)),
            (Some(_), 0b0000) => ("address size fault", Some(level)),
            (Some(_), _) if status == 0b10_0001 => ("alignment fault", None),
            (Some(_), _) if status == 0b01_0000 => ("synchronous external abort", None),
            (Some(_), _) => ("other fault", None),
        }
    }
}

fn exception_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

impl fmt::Display for Fault {
    /// `data abort: write to 0xffff_8000_1234_5000 (translation fault, level 3) at pc 0x…`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind())?;
        if let (Some(access), Some(address)) = (self.access, self.address) {
            let verb = match access {
                Access::Read => "read from",
                Access::Write => "write to",
                Access::Execute => "fetch from",
            };
            write!(f, ": {verb} {address}")?;
        }
        match self.status() {
            ("", _) => {}
            (status, Some(level)) => write!(f, " ({status}, level {level})")?,
            (status, None) => write!(f, " ({status})")?,
        }
        match self.class() {
            // The preferred return address of an exception-generating
            // instruction is the one after it, not the call.
            0x15 | 0x16 => write!(
                f,
                " returning to {}, the instruction after the call (esr {:#x})",
                self.pc, self.esr
            ),
            _ => write!(f, " at pc {} (esr {:#x})", self.pc, self.esr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn decodes_a_write_translation_fault() {
        // EC 0x25 (data abort, same EL), IL, WnR, DFSC = translation fault level 3.
        let esr = (0x25 << 26) | (1 << 25) | (1 << 6) | 0b000111;
        let fault = Fault::decode(esr, 0xffff_8000_1234_5000, 0xffff_ffff_8000_2b14);
        assert_eq!(fault.access, Some(Access::Write));
        assert_eq!(
            fault.to_string(),
            "data abort: write to 0xffff_8000_1234_5000 (translation fault, level 3) \
             at pc 0xffff_ffff_8000_2b14 (esr 0x96000047)"
        );
    }

    #[test]
    fn a_call_names_its_return_address_as_the_instruction_after() {
        // EC 0x16 (HVC), IL, immediate 0x4b32: ELR is past the HVC.
        let fault = Fault::decode(0x5a00_4b32, 0, 0xffff_ffff_8000_2b18);
        assert_eq!(
            fault.to_string(),
            "hypervisor call (hvc) returning to 0xffff_ffff_8000_2b18, \
             the instruction after the call (esr 0x5a004b32)"
        );
    }

    #[test]
    fn decodes_permission_faults_and_fetches() {
        let esr = (0x21 << 26) | 0b001111;
        let fault = Fault::decode(esr, 0x1000, 0x1000);
        assert_eq!(fault.kind(), "instruction abort");
        assert_eq!(fault.status(), ("permission fault", Some(3)));
        let not_abort = Fault::decode(0x15 << 26, 0xdead, 0x2000);
        assert_eq!(not_abort.address, None);
        assert_eq!(
            not_abort.to_string(),
            "system call (svc) returning to 0x2000, the instruction after the call (esr 0x54000000)"
        );
    }
}
