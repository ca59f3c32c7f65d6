// Probes: one load or one store that may fault, with a place to continue.
//
// Each faulting instruction is listed in `__ex_table` with its fixup: when a
// synchronous abort hits a listed instruction, the exception entry records the
// fault and resumes at the fixup instead of reporting it (Linux's extable).
// The table is keyed by address, so it works for any instruction length.

.section .text.probe, "ax"

// probe_read(address: x0) -> x0 = value, x1 = 0; or x1 = 1 when it faulted.
.global probe_read
probe_read:
    mov     x1, x0
1:  ldr     x0, [x1]
    mov     x1, #0
    ret
2:  mov     x0, #0
    mov     x1, #1
    ret
.pushsection __ex_table, "a"
    .quad   1b, 2b
.popsection

// probe_write(address: x0, value: x1) -> x0 = 0; or x0 = 1 when it faulted.
.global probe_write
probe_write:
1:  str     x1, [x0]
    mov     x0, #0
    ret
2:  mov     x0, #1
    ret
.pushsection __ex_table, "a"
    .quad   1b, 2b
.popsection
