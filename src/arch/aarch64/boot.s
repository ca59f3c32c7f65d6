// Entry of the AArch64 kernel image.
//
// The loader (QEMU, the Raspberry Pi firmware) jumps to the first byte with
// x0 = physical address of the device tree, MMU off, at EL2 or EL1. Until the
// MMU is on, everything here is position-independent (adrp/add) because the
// image runs at its physical load address, not at its link address.

// PC-relative address of a symbol within +-4 GiB.
.macro adr_l register, symbol
    adrp    \register, \symbol
    add     \register, \register, #:lo12:\symbol
.endm

.equ PAGE_TABLE_TYPE,   0b11                // table (levels 0-2) or page (level 3)
.equ BLOCK_TYPE,        0b01
.equ ATTR_ACCESS_FLAG,  1 << 10
.equ ATTR_INNER_SHARE,  3 << 8
.equ ATTR_READ_ONLY,    1 << 7
.equ ATTR_PXN,          1 << 53
.equ ATTR_UXN,          1 << 54
.equ NORMAL_PAGE,       PAGE_TABLE_TYPE | ATTR_ACCESS_FLAG | ATTR_INNER_SHARE
.equ BOOT_L3_TABLES,    4

.section .text.head, "ax"
.global _start
_start:
    // arm64 Image header (Linux Documentation/arch/arm64/booting.rst).
    b       primary_entry               // code0
    .long   0                           // code1
    .quad   0                           // text_offset: load 2 MiB-aligned
    .quad   __kernel_size               // image size including bss
    .quad   0xa                         // little-endian, 4 KiB pages, anywhere
    .quad   0, 0, 0                     // reserved
    .ascii  "ARM\x64"                   // magic
    .long   0                           // no PE header

.section .text.boot, "ax"
primary_entry:
    mov     x19, x0                     // x19 = device tree (physical)
    mrs     x0, mpidr_el1
    and     x0, x0, #0xffffff           // Aff2.Aff1.Aff0
    cbnz    x0, park                    // only core 0 boots; others wait forever

    mrs     x20, CurrentEL
    lsr     x20, x20, #2                // x20 = exception level at entry
    cmp     x20, #2
    b.eq    leave_el2
    cmp     x20, #1
    b.ne    park                        // EL3 is not supported
    b       at_el1

leave_el2:
    mov     x0, #(1 << 31)              // HCR_EL2.RW: EL1 is AArch64, E2H clear
    msr     hcr_el2, x0
    isb
    mrs     x0, midr_el1                // EL1 reads these through VPIDR/VMPIDR,
    msr     vpidr_el2, x0               // which reset to UNKNOWN values
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    // MDCR_EL2: no debug or PMU traps; every PMU counter belongs to EL1.
    mov     x1, #0
    mrs     x0, id_aa64dfr0_el1
    ubfx    x0, x0, #8, #4              // PMUVer
    cbz     x0, 9f
    cmp     x0, #0xf                    // IMPLEMENTATION DEFINED PMU: leave it
    b.eq    9f
    mrs     x1, pmcr_el0
    ubfx    x1, x1, #11, #5             // HPMN = PMCR_EL0.N
9:  msr     mdcr_el2, x1
    mrs     x0, id_aa64mmfr0_el1
    ubfx    x0, x0, #56, #4             // FEAT_FGT: clear the fine-grained traps
    cbz     x0, 10f
    msr     S3_4_C1_C1_4, xzr           // HFGRTR_EL2
    msr     S3_4_C1_C1_5, xzr           // HFGWTR_EL2
    msr     S3_4_C1_C1_6, xzr           // HFGITR_EL2
    msr     S3_4_C3_C1_4, xzr           // HDFGRTR_EL2
    msr     S3_4_C3_C1_5, xzr           // HDFGWTR_EL2
10: mrs     x0, id_aa64mmfr1_el1
    ubfx    x0, x0, #40, #4             // FEAT_HCX: no extra controls
    cbz     x0, 11f
    msr     S3_4_C1_C2_2, xzr           // HCRX_EL2
11: mrs     x0, cnthctl_el2
    orr     x0, x0, #3                  // EL1PCEN | EL1PCTEN: EL1 may use the timers
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4             // GIC system register interface present?
    cbz     x0, 1f
    mrs     x0, S3_4_C12_C9_5           // ICC_SRE_EL2
    mov     x1, #0x9                    // Enable | SRE: EL1 may use ICC_* registers
    orr     x0, x0, x1
    msr     S3_4_C12_C9_5, x0
    isb
    // CPTR_EL2: RES1 bits, TFP clear (FP/SIMD do not trap); TZ set, so SVE
    // traps to EL2, which this soft-float kernel never uses.
1:  mov     x0, #0x33ff
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    ldr     x0, =0x30d00800             // SCTLR_EL1 RES1 bits, MMU off
    msr     sctlr_el1, x0
    mov     x0, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x0
    adr_l   x0, at_el1
    msr     elr_el2, x0
    eret

at_el1:
    msr     spsel, #1                   // the kernel runs on SP_EL1
    ldr     x0, =0x30d00800             // SCTLR_EL1: RES1 bits, MMU and caches off,
    msr     sctlr_el1, x0               // little-endian, whatever firmware left
    mov     x0, #(3 << 20)              // CPACR_EL1.FPEN: FP/SIMD does not trap
    msr     cpacr_el1, x0
    isb

    // Zero bss. Invalidate it first so no stale cache line can later be
    // written back over what we write with the caches off.
    adr_l   x0, __bss_start
    adr_l   x1, __bss_end
    bl      invalidate_dcache_range
    adr_l   x0, __bss_start
    adr_l   x1, __bss_end
2:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    2b

    adr_l   x21, __kernel_start         // x21 = physical base of the image

    // TTBR1: L0[511] -> L1, L1[510] -> L2, L2[0..4] -> L3 tables, L2[511] -> fixmap.
    adr_l   x0, boot_l0_kernel
    adr_l   x1, boot_l1_kernel
    orr     x2, x1, #PAGE_TABLE_TYPE
    str     x2, [x0, #511 * 8]
    adr_l   x0, boot_l2_kernel
    orr     x2, x0, #PAGE_TABLE_TYPE
    str     x2, [x1, #510 * 8]
    adr_l   x3, boot_l3_image
    mov     x4, #0
3:  add     x2, x3, x4, lsl #12
    orr     x2, x2, #PAGE_TABLE_TYPE
    str     x2, [x0, x4, lsl #3]
    add     x4, x4, #1
    cmp     x4, #BOOT_L3_TABLES
    b.lo    3b
    adr_l   x2, boot_l3_fixmap
    orr     x2, x2, #PAGE_TABLE_TYPE
    str     x2, [x0, #511 * 8]

    // One level-3 entry per page of the image, with per-section rights.
    adr_l   x5, __text_end
    adr_l   x6, __rodata_end
    adr_l   x7, __boot_stack_guard
    adr_l   x8, __kernel_end
    mov     x9, x21                     // x9 = physical page being mapped
    adr_l   x10, boot_l3_image          // x10 = its entry
    adr_l   x11, __emergency_stack_guard
4:  cmp     x9, x7
    b.eq    6f                          // the guard pages stay unmapped
    cmp     x9, x11
    b.eq    6f
    ldr     x2, =(NORMAL_PAGE | ATTR_READ_ONLY | ATTR_UXN)
    cmp     x9, x5
    b.lo    5f                          // text: read + execute
    ldr     x2, =(NORMAL_PAGE | ATTR_READ_ONLY | ATTR_UXN | ATTR_PXN)
    cmp     x9, x6
    b.lo    5f                          // rodata: read only
    ldr     x2, =(NORMAL_PAGE | ATTR_UXN | ATTR_PXN)   // data, bss: read-write
5:  orr     x2, x2, x9
    str     x2, [x10]
6:  add     x9, x9, #4096
    add     x10, x10, #8
    cmp     x9, x8
    b.lo    4b

    // TTBR0: read-only 2 MiB identity blocks over the image, only until we run
    // high (read-only: with SCTLR_EL1.WXN a writable block could not execute).
    // The image (at most 8 MiB) touches at most two 1 GiB slots, hence two L2
    // tables; it is assumed not to straddle a 512 GiB boundary.
    adr_l   x0, boot_l0_identity
    adr_l   x1, boot_l1_identity
    ubfx    x2, x21, #39, #9
    orr     x3, x1, #PAGE_TABLE_TYPE
    str     x3, [x0, x2, lsl #3]
    lsr     x9, x21, #21
    lsl     x9, x9, #21                 // x9 = 2 MiB block being mapped
    adr_l   x8, __kernel_end
    adr_l   x10, boot_l2_identity
    ubfx    x11, x9, #30, #9            // x11 = 1 GiB slot of the first block
8:  ubfx    x2, x9, #30, #9
    sub     x3, x2, x11
    add     x3, x10, x3, lsl #12        // this slot's L2 table
    orr     x4, x3, #PAGE_TABLE_TYPE
    str     x4, [x1, x2, lsl #3]
    ubfx    x2, x9, #21, #9
    mov     x4, #(BLOCK_TYPE | ATTR_ACCESS_FLAG | ATTR_INNER_SHARE | ATTR_READ_ONLY)
    orr     x4, x4, x9
    str     x4, [x3, x2, lsl #3]
    add     x9, x9, #0x200, lsl #12     // next 2 MiB
    cmp     x9, x8
    b.lo    8b

    dsb     sy
    adr_l   x0, __bss_start             // drop any stale lines of the new tables
    adr_l   x1, __bss_end
    bl      invalidate_dcache_range

    ldr     x0, =0x04ff                 // MAIR: Attr0 normal WB, Attr1 device nGnRE
    msr     mair_el1, x0
    // TCR: 48-bit VA both halves, 4 KiB granules, WB-WA inner-shareable walks.
    ldr     x0, =((16 << 0) | (1 << 8) | (1 << 10) | (3 << 12) | (0 << 14) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30))
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #0xf                // PARange
    cmp     x1, #5
    mov     x2, #5
    csel    x1, x1, x2, ls              // at most 48-bit physical addresses
    bfi     x0, x1, #32, #3             // IPS
    msr     tcr_el1, x0
    adr_l   x0, boot_l0_identity
    msr     ttbr0_el1, x0
    adr_l   x0, boot_l0_kernel
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x0, sctlr_el1
    ldr     x1, =((1 << 0) | (1 << 2) | (1 << 12) | (1 << 19))  // M, C, I, WXN
    orr     x0, x0, x1
    bic     x0, x0, #(1 << 1)           // no alignment checks
    msr     sctlr_el1, x0
    isb
    ldr     x0, =running_high
    br      x0

running_high:
    // The frame chain starts here: a debugger's backtrace ends at kernel_entry.
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, xzr
    mov     x30, xzr
    ldr     x0, =__boot_stack_top
    mov     sp, x0
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    // TTBR0 now points at an empty table: the lower half is left for user space.
    ldr     x0, =boot_l0_empty
    ldr     x1, =__kernel_start
    sub     x0, x0, x1
    add     x0, x0, x21
    msr     ttbr0_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, x19                     // device tree (physical)
    mov     x1, x20                     // exception level at entry
    mov     x2, x21                     // physical base of the image
    bl      kernel_entry
park:
    wfe
    b       park
    .cfi_endproc

// run_on_stack(top: x0, next: x1, argument: x2) -> !: calls next(argument) on
// the stack that ends at top. The frame chain restarts here too, so a
// backtrace from next ends at this function.
.global run_on_stack
run_on_stack:
    .cfi_startproc
    .cfi_undefined x30
    mov     sp, x0
    mov     x29, xzr
    mov     x0, x2
    blr     x1
    b       park
    .cfi_endproc

// Invalidates the data cache lines of [x0, x1) to the point of coherency.
invalidate_dcache_range:
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4             // DminLine: log2(words per line)
    mov     x2, #4
    lsl     x2, x2, x3                  // line size in bytes
    sub     x3, x2, #1
    bic     x0, x0, x3
7:  dc      ivac, x0
    add     x0, x0, x2
    cmp     x0, x1
    b.lo    7b
    dsb     sy
    ret
.ltorg

.section .boot_tables, "aw", @nobits
.balign 4096
.global boot_l0_kernel, boot_l3_fixmap, boot_l0_empty
boot_l0_kernel:     .space 4096
boot_l1_kernel:     .space 4096
boot_l2_kernel:     .space 4096
boot_l3_image:      .space 4096 * BOOT_L3_TABLES
boot_l3_fixmap:     .space 4096
boot_l0_identity:   .space 4096
boot_l1_identity:   .space 4096
boot_l2_identity:   .space 4096 * 2
boot_l0_empty:      .space 4096
