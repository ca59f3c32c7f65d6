// Probes: one load or one store that may fault, with a place to continue.
//
// Each faulting instruction is listed in `__ex_table` with its fixup: when a
// page fault or general protection fault hits a listed instruction, traps.rs
// records the fault and resumes at the fixup instead of reporting it
// (Linux's extable; src/arch/probe.rs). The table is keyed by address, so the
// instructions' lengths do not matter.

.section .text.probe, "ax"

// probe_read(address: rdi) -> rax = value, rdx = 0; or rdx = 1 when it faulted.
.global probe_read
probe_read:
    xor     %edx, %edx
1:  mov     (%rdi), %rax
    ret
2:  xor     %eax, %eax
    mov     $1, %edx
    ret
.pushsection __ex_table, "a"
    .balign 8
    .quad   1b, 2b
.popsection

// probe_write(address: rdi, value: rsi) -> rax = 0; or rax = 1 when it faulted.
.global probe_write
probe_write:
1:  mov     %rsi, (%rdi)
    xor     %eax, %eax
    ret
2:  mov     $1, %eax
    ret
.pushsection __ex_table, "a"
    .balign 8
    .quad   1b, 2b
.popsection

// run_on_stack(top: rdi, next: rsi, argument: rdx): moves the stack pointer
// to top and calls next(argument), never to return. The frame chain ends
// here (rbp = 0, return address undefined), so a backtrace stops at `next`.
.section .text.run_on_stack, "ax"
.global run_on_stack
run_on_stack:
    .cfi_startproc
    .cfi_undefined %rip
    mov     %rdi, %rsp
    xor     %ebp, %ebp
    mov     %rdx, %rdi
    call    *%rsi
    ud2
    .cfi_endproc
