//! Traps of the x86_64 entry: the kernel's GDT with its TSS, and an IDT in
//! which every exception is reported on the console and stops the CPU (QEMU
//! then exits with status 7 under `exit=isa-debug-exit`).
//!
//! Handlers use the `x86-interrupt` calling convention through the `x86_64`
//! crate's IDT types: the compiler saves what each handler clobbers, and the
//! CPU's frame arrives as an argument. The double fault runs on a stack of its
//! own (IST1): a kernel stack overflow is a page fault that cannot push its
//! frame onto the overflowed stack, which the CPU turns into a double fault,
//! so it is still reported.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::control::Cr2;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::structures::tss::TaskStateSegment;

use super::entry::IDENTITY_END;
use super::fault::{Fault, PAGE_FAULT};
use super::{console, cpu, debug_exit, devices};
use crate::addr::{PAGE_SIZE, VirtAddr};

/// The `isa-debug-exit` value after a fatal exception: QEMU exits with 7.
pub const FATAL_EXIT: u32 = 3;

/// The TSS's interrupt stack table slot of the double-fault stack (IST1).
const DOUBLE_FAULT_IST_INDEX: u16 = 0;

/// Vector of the double fault (#DF).
const DOUBLE_FAULT: u8 = 8;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __boot_stack_guard: u8;
    static __boot_stack_bottom: u8;
    static __fault_stack_guard: u8;
    static __fault_stack_bottom: u8;
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
/// Set by the first fatal report: a fault while reporting stops at once.
static REPORTING: AtomicBool = AtomicBool::new(false);

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
    for entry in idt.slice_mut(32..) {
        entry.set_handler_fn(unexpected_interrupt);
    }
    idt[devices::TIMER_VECTOR].set_handler_fn(devices::timer_interrupt);
    idt[devices::SPURIOUS_VECTOR].set_handler_fn(devices::spurious_interrupt);
    idt
}

/// Defines a handler that reports its exception as fatal: `name, vector`,
/// with `error_code` for the vectors whose frame carries one.
macro_rules! fatal_handler {
    ($name:ident, $vector:literal) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            fatal(Fault::new(
                $vector,
                None,
                frame.instruction_pointer.as_u64(),
                0,
            ));
        }
    };
    ($name:ident, $vector:literal, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, error_code: u64) {
            let rip = frame.instruction_pointer.as_u64();
            fatal(Fault::new($vector, Some(error_code), rip, 0));
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
fatal_handler!(general_protection_fault, 13, error_code);
fatal_handler!(x87_floating_point, 16);
fatal_handler!(alignment_check, 17, error_code);
fatal_handler!(simd_floating_point, 19);
fatal_handler!(virtualization, 20);
fatal_handler!(control_protection, 21, error_code);
fatal_handler!(hypervisor_injection, 28);
fatal_handler!(vmm_communication, 29, error_code);
fatal_handler!(security_exception, 30, error_code);

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, error: PageFaultErrorCode) {
    let rip = frame.instruction_pointer.as_u64();
    fatal(Fault::new(
        PAGE_FAULT,
        Some(error.bits()),
        rip,
        Cr2::read_raw(),
    ));
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    fatal(Fault::new(18, None, frame.instruction_pointer.as_u64(), 0));
}

/// On IST1. CR2 still holds the page fault that could not be delivered when
/// the stack overflowed, so it says which stack did.
extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    let fault = Fault::new(
        DOUBLE_FAULT,
        Some(error_code),
        frame.instruction_pointer.as_u64(),
        0,
    );
    let last_page_fault = VirtAddr(Cr2::read_raw());
    if !REPORTING.swap(true, Ordering::SeqCst) {
        let cause = if in_boot_stack_guard(last_page_fault) {
            "kernel stack overflow: "
        } else {
            ""
        };
        console::print_emergency(format_args!(
            "\nFATAL {cause}{fault}; last page fault at {last_page_fault}, in {}\n",
            describe(last_page_fault)
        ));
    }
    stop();
}

extern "x86-interrupt" fn unexpected_interrupt(frame: InterruptStackFrame) {
    if !REPORTING.swap(true, Ordering::SeqCst) {
        console::print_emergency(format_args!(
            "\nFATAL unexpected interrupt (only the timer's and the spurious vector have a handler) at rip {}\n",
            VirtAddr(frame.instruction_pointer.as_u64())
        ));
    }
    stop();
}

/// Reports `fault` (once: a fault inside the report stops without one), then
/// stops.
fn fatal(fault: Fault) -> ! {
    if !REPORTING.swap(true, Ordering::SeqCst) {
        console::print_emergency(format_args!("\nFATAL {fault}"));
        if let Some(address) = fault.address {
            console::print_emergency(format_args!(", in {}", describe(address)));
        }
        console::print_emergency(format_args!("\n"));
    }
    stop();
}

/// Ends the run after a fatal report: through `isa-debug-exit` with
/// [`FATAL_EXIT`] when the host has it, else by halting.
pub fn stop() -> ! {
    if debug_exit::exit_allowed() {
        debug_exit::exit(FATAL_EXIT);
    }
    cpu::halt()
}

/// True when `address` lies in `[start, end)`, two of the image's symbols.
fn within(address: VirtAddr, start: *const u8, end: *const u8) -> bool {
    (VirtAddr::from_ptr(start)..VirtAddr::from_ptr(end)).contains(&address)
}

fn in_boot_stack_guard(address: VirtAddr) -> bool {
    within(
        address,
        &raw const __boot_stack_guard,
        &raw const __boot_stack_bottom,
    )
}

/// What the boot page tables put at `address`, for fault reports.
fn describe(address: VirtAddr) -> &'static str {
    let fault_stack_guard = &raw const __fault_stack_guard;
    if in_boot_stack_guard(address) {
        "the boot stack's guard page"
    } else if within(address, fault_stack_guard, &raw const __fault_stack_bottom) {
        "the double-fault stack's guard page"
    } else if within(address, &raw const __kernel_start, &raw const __kernel_end) {
        "the kernel image"
    } else if address.0 < PAGE_SIZE as u64 {
        "page 0, never mapped"
    } else if address.0 < IDENTITY_END {
        "the boot identity map (first 4 GiB, read-only)"
    } else {
        "no mapping"
    }
}

/// The bottom of the guard page below the boot stack, for the crash tests.
pub fn boot_stack_guard() -> VirtAddr {
    VirtAddr::from_ptr(&raw const __boot_stack_guard)
}
