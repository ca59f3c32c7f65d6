//! The kernel's GDT with its TSS, and the IDT: a page fault or general
//! protection fault of a probe resumes at its fixup; every other exception,
//! and any interrupt without a handler, goes to the fatal path of
//! [`super::exceptions`] (QEMU then exits with status 7 under
//! `exit=isa-debug-exit`).
//!
//! Handlers use the `x86-interrupt` calling convention through the `x86_64`
//! crate's IDT types: the compiler saves what each handler clobbers, and the
//! CPU's frame arrives as an argument. The double fault runs on a stack of its
//! own (IST1): a kernel stack overflow is a page fault that cannot push its
//! frame onto the overflowed stack, which the CPU turns into a double fault,
//! so it is still reported.

use spin::Once;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::control::Cr2;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::structures::tss::TaskStateSegment;

use super::devices;
use super::exceptions::{self, Cause};
use super::fault::{DOUBLE_FAULT, FIRST_INTERRUPT, Fault, GENERAL_PROTECTION, PAGE_FAULT};
use crate::arch::probe;

/// The TSS's interrupt stack table slot of the double-fault stack (IST1).
const DOUBLE_FAULT_IST_INDEX: u16 = 0;

unsafe extern "C" {
    static __fault_stack_top: u8;
}

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();
static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Loads the kernel's GDT (code, data, TSS) in place of the boot one, the TSS
/// with the double-fault stack, and the IDT. Call once, early: until then a
/// fault triple-faults.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            x86_64::VirtAddr::from_ptr(&raw const __fault_stack_top);
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let selectors = Selectors {
            code: gdt.append(Descriptor::kernel_code_segment()),
            data: gdt.append(Descriptor::kernel_data_segment()),
            tss: gdt.append(Descriptor::tss_segment(tss)),
        };
        (gdt, selectors)
    });
    gdt.load();
    // SAFETY: the selectors name the descriptors of the GDT just loaded, which
    // is static; the TSS is static too, and loaded once (a second `ltr` of a
    // busy TSS would fault).
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
    IDT.call_once(table).load();
}

fn table() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.non_maskable_interrupt
        .set_handler_fn(non_maskable_interrupt);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded
        .set_handler_fn(bound_range_exceeded);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    // SAFETY: IST1 is the double-fault stack of the TSS that `init` loads,
    // and no other handler uses it.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(DOUBLE_FAULT_IST_INDEX);
    }
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
    idt.general_protection_fault
        .set_handler_fn(general_protection_fault);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.machine_check.set_handler_fn(machine_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception
        .set_handler_fn(hypervisor_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security_exception);
    x86_64::set_general_handler!(&mut idt, unexpected_interrupt, FIRST_INTERRUPT..=255);
    idt[devices::TIMER_VECTOR].set_handler_fn(devices::timer_interrupt);
    idt[devices::SPURIOUS_VECTOR].set_handler_fn(devices::spurious_interrupt);
    idt
}

/// Defines a handler that reports its exception as fatal: `name, vector`,
/// with `error_code` for the vectors whose frame carries one.
macro_rules! fatal_handler {
    ($name:ident, $vector:literal) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            let rip = frame.instruction_pointer.as_u64();
            exceptions::fatal(&Fault::new($vector, None, rip, 0), Cause::Unexpected);
        }
    };
    ($name:ident, $vector:literal, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, error_code: u64) {
            let rip = frame.instruction_pointer.as_u64();
            let fault = Fault::new($vector, Some(error_code), rip, 0);
            exceptions::fatal(&fault, Cause::Unexpected);
        }
    };
}

fatal_handler!(divide_error, 0);
fatal_handler!(debug, 1);
fatal_handler!(non_maskable_interrupt, 2);
fatal_handler!(breakpoint, 3);
fatal_handler!(overflow, 4);
fatal_handler!(bound_range_exceeded, 5);
fatal_handler!(invalid_opcode, 6);
fatal_handler!(device_not_available, 7);
fatal_handler!(invalid_tss, 10, error_code);
fatal_handler!(segment_not_present, 11, error_code);
fatal_handler!(stack_segment_fault, 12, error_code);
fatal_handler!(x87_floating_point, 16);
fatal_handler!(alignment_check, 17, error_code);
fatal_handler!(simd_floating_point, 19);
fatal_handler!(virtualization, 20);
fatal_handler!(control_protection, 21, error_code);
fatal_handler!(hypervisor_injection, 28);
fatal_handler!(vmm_communication, 29, error_code);
fatal_handler!(security_exception, 30, error_code);

/// A probe's fault resumes at its fixup; any other is fatal.
fn resume_or_fatal(frame: &mut InterruptStackFrame, fault: Fault) {
    let Some(fixup) = probe::resume_after(fault, fault.rip.0) else {
        exceptions::fatal(&fault, Cause::Unexpected);
    };
    // SAFETY: the fixup is the probe's own continuation (probe.s), in the
    // same function, with the same stack and segments.
    unsafe {
        frame
            .as_mut()
            .update(|value| value.instruction_pointer = x86_64::VirtAddr::new_truncate(fixup));
    }
}

extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, error: PageFaultErrorCode) {
    let rip = frame.instruction_pointer.as_u64();
    let fault = Fault::new(PAGE_FAULT, Some(error.bits()), rip, Cr2::read_raw());
    resume_or_fatal(&mut frame, fault);
}

/// A probe of a non-canonical address faults here rather than as a page fault.
extern "x86-interrupt" fn general_protection_fault(
    mut frame: InterruptStackFrame,
    error_code: u64,
) {
    let rip = frame.instruction_pointer.as_u64();
    let fault = Fault::new(GENERAL_PROTECTION, Some(error_code), rip, 0);
    resume_or_fatal(&mut frame, fault);
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    let rip = frame.instruction_pointer.as_u64();
    exceptions::fatal(&Fault::new(18, None, rip, 0), Cause::Unexpected);
}

/// On IST1. CR2 still holds the page fault that could not be delivered; when
/// it lies just below the interrupted stack pointer, that stack overflowed.
extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    let rip = frame.instruction_pointer.as_u64();
    let fault = Fault::new(DOUBLE_FAULT, Some(error_code), rip, Cr2::read_raw());
    let cause = if fault.is_stack_overflow(frame.stack_pointer.as_u64()) {
        Cause::StackOverflow
    } else {
        Cause::Unexpected
    };
    exceptions::fatal(&fault, cause);
}

/// Every vector from [`FIRST_INTERRUPT`] on that has no handler of its own.
fn unexpected_interrupt(frame: InterruptStackFrame, vector: u8, _error_code: Option<u64>) {
    let fault = Fault::new(vector, None, frame.instruction_pointer.as_u64(), 0);
    exceptions::fatal(&fault, Cause::UnhandledVector(u64::from(vector)));
}
