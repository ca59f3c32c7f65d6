// Exception vector table: 16 entries of 128 bytes, 2 KiB aligned.
// Every entry saves the interrupted state as a TrapFrame on the current stack,
// calls `exception_entry(frame, kind)` in Rust and restores the (possibly
// changed) state on return.
//
// Before it pushes the frame, an entry asks the MMU (AT S1E1W) whether the
// frame's lowest byte is writable. If not, the kernel stack has overflowed into
// its guard page: pushing would fault again, forever. The entry then moves to a
// small emergency stack and reports kind 6, which is fatal. The emergency stack
// has a guard page too; `exceptions.rs` stops a fatal report that faults again.

.equ FRAME_SIZE, 36 * 8
.equ KIND_STACK_OVERFLOW, 6

.macro vector kind
.balign 0x80
    msr     tpidr_el1, x0               // scratch: nothing else uses TPIDR_EL1
    sub     x0, sp, #FRAME_SIZE
    at      s1e1w, x0
    isb
    mrs     x0, par_el1
    tbnz    x0, #0, stack_overflow      // PAR_EL1.F: the frame would not fit
    mrs     x0, tpidr_el1
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0 * 16]
    mov     x0, #\kind
    b       save_and_dispatch
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    vector 4    // current EL with SP_EL0: synchronous (never used by the kernel)
    vector 4    //   IRQ
    vector 4    //   FIQ
    vector 4    //   SError
    vector 0    // current EL with SP_ELx: synchronous
    vector 1    //   IRQ
    vector 2    //   FIQ
    vector 3    //   SError
    vector 5    // lower EL, AArch64 (no user space yet)
    vector 5
    vector 5
    vector 5
    vector 5    // lower EL, AArch32
    vector 5
    vector 5
    vector 5

stack_overflow:
    ldr     x0, =__emergency_stack_top
    mov     sp, x0
    mrs     x0, tpidr_el1
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0 * 16]
    mov     x0, #KIND_STACK_OVERFLOW
    b       save_and_dispatch

save_and_dispatch:
    stp     x2, x3, [sp, #1 * 16]
    stp     x4, x5, [sp, #2 * 16]
    stp     x6, x7, [sp, #3 * 16]
    stp     x8, x9, [sp, #4 * 16]
    stp     x10, x11, [sp, #5 * 16]
    stp     x12, x13, [sp, #6 * 16]
    stp     x14, x15, [sp, #7 * 16]
    stp     x16, x17, [sp, #8 * 16]
    stp     x18, x19, [sp, #9 * 16]
    stp     x20, x21, [sp, #10 * 16]
    stp     x22, x23, [sp, #11 * 16]
    stp     x24, x25, [sp, #12 * 16]
    stp     x26, x27, [sp, #13 * 16]
    stp     x28, x29, [sp, #14 * 16]
    mrs     x1, elr_el1
    stp     x30, x1, [sp, #15 * 16]
    mrs     x1, spsr_el1
    mrs     x2, esr_el1
    stp     x1, x2, [sp, #16 * 16]
    mrs     x1, far_el1
    str     x1, [sp, #17 * 16]
    mov     x1, x0
    mov     x0, sp
    bl      exception_entry
    ldp     x1, x2, [sp, #16 * 16]
    msr     spsr_el1, x1
    ldp     x30, x1, [sp, #15 * 16]
    msr     elr_el1, x1
    ldp     x0, x1, [sp, #0 * 16]
    ldp     x2, x3, [sp, #1 * 16]
    ldp     x4, x5, [sp, #2 * 16]
    ldp     x6, x7, [sp, #3 * 16]
    ldp     x8, x9, [sp, #4 * 16]
    ldp     x10, x11, [sp, #5 * 16]
    ldp     x12, x13, [sp, #6 * 16]
    ldp     x14, x15, [sp, #7 * 16]
    ldp     x16, x17, [sp, #8 * 16]
    ldp     x18, x19, [sp, #9 * 16]
    ldp     x20, x21, [sp, #10 * 16]
    ldp     x22, x23, [sp, #11 * 16]
    ldp     x24, x25, [sp, #12 * 16]
    ldp     x26, x27, [sp, #13 * 16]
    ldp     x28, x29, [sp, #14 * 16]
    add     sp, sp, #FRAME_SIZE
    eret
.ltorg

// Where boot.s's EL2 vectors return to EL1 after an unexpected trap to EL2,
// with x0..x4 = ESR_EL2, ELR_EL2, FAR_EL2, SPSR_EL2 and the EL2 vector's
// index. The trapped code does not resume, so its stack is left alone: the
// report runs on the emergency stack.
.global el2_trap_landing
el2_trap_landing:
    ldr     x5, =__emergency_stack_top
    mov     sp, x5
    mov     x29, xzr
    mov     x30, xzr
    b       el2_trap_entry
.ltorg
