// Entry of the AArch64 kernel image.
//
// The loader (QEMU, the Raspberry Pi firmware) jumps to the first byte with
// x0 = physical address of the device tree, MMU off, at EL2 or EL1. Until the
// MMU is on, everything here is position-independent (adrp/add) because the
// image runs at its physical load address, not at its link address.
//
// Which core boots. booting.rst has a compliant loader enter the image on the
// primary CPU only; the others wait in the loader (a spin table or PSCI) until
// the kernel starts them. Some loaders start every core at the image's first
// byte (a JTAG load, QEMU raspi4b given an ELF), and the primary need not have
// affinity 0, so no affinity value is assumed. The cores that enter hold an
// election (`elect_boot_cpu`, below): one wins and boots, every other core
// waits in the kernel's holding pen, from where it can be released.
//
// The election. Its safety (never two winners) must not depend on timing: a
// virtual CPU (QEMU's threads, a hypervisor) can be stopped between any two
// instructions for any time. It cannot use an atomic instruction either: with
// the MMU off every data access is Device-nGnRnE, and whether
// load/store-exclusive (or LSE atomics) work on Device memory is
// IMPLEMENTATION DEFINED (they may always fail, never be exclusive, or
// abort). So it uses plain 64-bit loads and stores, each followed by
// `dsb sy`: a core's next access starts only once the previous one is
// complete, so the memory sees the accesses of all cores one at a time, each
// core's in program order (sequential consistency, which the two classic
// arguments below assume). That holds for Device memory and at EL2 or EL3; it
// does not if a hypervisor entered us at EL1 with HCR_EL2.DC set (data
// accesses are then Normal Non-shareable memory). A core's identity is its
// affinity (MPIDR_EL1 Aff3..Aff0) with bit 63 set, so that 0 means "none".
//
// Phase 1 gives some cores a small name, with a chain of SPLITTER_LEVELS
// splitters (Moir and Anderson, 1995). Level L has two words, X (the last
// core to enter) and Y (a door, 0 while open). A core at level L:
//     X = me; if Y != 0: lose (to the pen); Y = 1;
//     if X == me: stop, its name is L; else: go to level L + 1.
// (a) At most one core stops at a level. If P stops, no core wrote X between
//     P's write and P's read of X. Another core Q that stops did the same, so
//     their two windows do not overlap: say P's ends first. Then P closed the
//     door before Q read it, and Q lost instead.
// (b) Not every entrant goes down. The last core to write X finds its own
//     value if it reads X again, so it stops or loses; of k cores entering a
//     level at most k - 1 go down.
// (c) Someone ahead of a loser stops. The first core to read Y at a level
//     finds it open (no core closes it before reading it), so while any core
//     enters a level, one passes its door and stops or goes down; by (b) the
//     count going down shrinks at each level and, with at most
//     SPLITTER_LEVELS cores entering, reaches a level where one stops.
// A splitter chain alone elects nobody: P can stop at level 0 while Q, which
// read the door open before P closed it, goes down and stops at level 1.
//
// Phase 2 elects one of the named cores with Lamport's bakery (1974) over
// their names: a core announces it is choosing, takes a ticket one above
// every ticket it sees, stops choosing, then for every other name waits
// until that core has finished choosing and until it holds no ticket or a
// later one (ties go to the lower name). Mutual exclusion: of two cores with
// tickets, the later one cannot pass the earlier (Lamport's proof). No
// deadlock: the earliest ticket waits for nobody. The winner stores its
// identity in `boot_cpu_claim`; the winner never gives its ticket back, so a
// named core still waiting loses once it sees the claim. A core arriving
// after the election finds level 0's door closed and loses.
//
// Beyond SPLITTER_LEVELS: with more cores entering at once, a core may go
// down past the last level; it loses, which is safe but can leave no winner
// (every core in the pen, no boot). A Raspberry Pi has four cores, and a
// QEMU virt machine starts its others through PSCI, so one enters.
//
// After the MMU is on, the kernel reads `boot_cpu_claim` once and stops with
// a boot failure if it does not name the running core (cpu::check_elected).
//
// Caches. The words that cores write with the MMU off (the election, the pen, the
// EL2 trap record) live alone in one page, `.data.uncached`, which the kernel
// never writes through its cacheable mapping: a dirty line there could be
// written back over what a core stored to memory. The kernel reads them after
// invalidating their line (cpu.rs).

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
    msr     daifset, #0xf               // booting.rst asks the loader to
    mov     x19, x0                     // x19 = device tree (physical)
    bl      elect_boot_cpu
    cbnz    x0, enter_holding_pen       // another core boots the kernel

    mov     x22, #0                     // x22 = 1 once E2H is found RES1
    mrs     x20, CurrentEL
    lsr     x20, x20, #2                // x20 = exception level at entry
    cmp     x20, #2
    b.eq    leave_el2
    cmp     x20, #1
    b.ne    park                        // EL3 is not supported
    b       at_el1

leave_el2:
    // An unexpected trap to EL2 from now on is reported, not taken to the
    // UNKNOWN address VBAR_EL2 resets to.
    adr_l   x0, el2_vectors
    msr     vbar_el2, x0
    // HCR_EL2.RW: EL1 is AArch64. E2H clear, unless the core says it cannot
    // be (ID_AA64MMFR4_EL1.E2H0 negative: FEAT_E2H0 absent, a VHE-only core;
    // the register reads as zero on cores older than the field). Some cores
    // have E2H RES1 without saying so, hence the read-back: with E2H set,
    // the EL1 registers written below have other names or layouts.
    mov     x0, #(1 << 31)
    mrs     x1, S3_0_C0_C7_4            // ID_AA64MMFR4_EL1
    tbz     x1, #27, 12f                // E2H0 (bits 27:24) sign bit
    orr     x0, x0, #(1 << 34)          // E2H
12: msr     hcr_el2, x0
    isb
    mrs     x0, hcr_el2
    ubfx    x22, x0, #34, #1            // x22 = E2H as it reads back
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
    mov     x1, #3                      // EL1PCEN | EL1PCTEN: EL1 may use the timers;
    cbz     x22, 13f
    mov     x1, #(3 << 10)              // with E2H set they are bits 11 and 10
13: orr     x0, x0, x1
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
    mrs     x0, S3_4_C12_C9_5           // EL3 can keep either bit at 0: the GIC
    orr     x0, x0, #(1 << 63)          // driver checks the read-back (cpu.rs)
    adr_l   x1, el2_icc_sre
    str     x0, [x1]
    // CPTR_EL2: RES1 bits, TFP clear (FP/SIMD do not trap); TZ set, so SVE
    // traps to EL2, which this soft-float kernel never uses. With E2H set it
    // has CPACR_EL1's layout: FPEN = 0b11, ZEN and SMEN 0 (they trap).
1:  mov     x0, #0x33ff
    cbz     x22, 14f
    mov     x0, #(3 << 20)
14: msr     cptr_el2, x0
    msr     hstr_el2, xzr
    ldr     x0, =0x30d00800             // SCTLR_EL1 RES1 bits, MMU off
    cbnz    x22, 15f
    msr     sctlr_el1, x0
    b       16f
15: msr     S3_5_C1_C0_0, x0            // SCTLR_EL12: with E2H set, sctlr_el1 is SCTLR_EL2
16:
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
    mov     x3, x22                     // E2H stayed set (a VHE-only core)
    bl      kernel_entry
park:
    wfe
    b       park
    .cfi_endproc

.equ CLAIMED,         1 << 63           // set in every identity: affinity 0 is a value
.equ SPLITTER_LEVELS, 16

// The election's accesses (see the head of this file): each one is complete
// before the core's next access starts.
.macro store_in_order value, address:vararg
    str     \value, \address
    dsb     sy
.endm
.macro load_in_order register, address:vararg
    ldr     \register, \address
    dsb     sy
.endm

// elect_boot_cpu() -> x0 = 0 if this core is the boot CPU, 1 if it lost;
// x1 = this core's identity (MPIDR_EL1's affinity fields, Aff3 included,
// | CLAIMED). MMU off. The argument is at the head of this file.
elect_boot_cpu:
    mrs     x1, mpidr_el1
    ldr     x2, =0xff00ffffff           // Aff3 (bits 39:32), Aff2..Aff0
    and     x1, x1, x2
    orr     x1, x1, #CLAIMED
    mov     x5, #1
    // Phase 1: x2 = this level's X (Y follows it), x3 = the level.
    adr_l   x2, election_splitters
    mov     x3, #0
1:  store_in_order x1, [x2]             // X = me
    load_in_order x4, [x2, #8]
    cbnz    x4, 9f                      // the door is closed: lose
    store_in_order x5, [x2, #8]         // close it
    load_in_order x4, [x2]
    cmp     x4, x1
    b.eq    2f                          // stop: this core's name is x3
    add     x2, x2, #16
    add     x3, x3, #1
    cmp     x3, #SPLITTER_LEVELS
    b.lo    1b
    b       9f                          // past the last level: lose
    // Phase 2, the bakery: x6 = choosing[name], x7 = ticket[name], x8 = our ticket.
2:  adr_l   x6, election_choosing
    adr_l   x7, election_tickets
    adr_l   x10, boot_cpu_claim
    store_in_order x5, [x6, x3, lsl #3]
    mov     x8, #0
    mov     x9, #0                      // x9 = the other core's name
3:  load_in_order x4, [x7, x9, lsl #3]
    cmp     x4, x8
    csel    x8, x4, x8, hi
    add     x9, x9, #1
    cmp     x9, #SPLITTER_LEVELS
    b.lo    3b
    add     x8, x8, #1                  // one above every ticket seen
    store_in_order x8, [x7, x3, lsl #3]
    store_in_order xzr, [x6, x3, lsl #3]
    mov     x9, #0
4:  cmp     x9, x3
    b.eq    7f
5:  load_in_order x4, [x6, x9, lsl #3]
    cbnz    x4, 5b                      // it is still choosing
6:  load_in_order x4, [x10]
    cbnz    x4, 9f                      // a core has won: lose
    load_in_order x4, [x7, x9, lsl #3]
    cbz     x4, 7f                      // no ticket
    cmp     x4, x8
    b.lo    6b                          // an earlier ticket goes first
    b.hi    7f
    cmp     x9, x3
    b.lo    6b                          // the same ticket: the lower name goes first
7:  add     x9, x9, #1
    cmp     x9, #SPLITTER_LEVELS
    b.lo    4b
    store_in_order x1, [x10]            // won
    mov     x0, #0
    ret
9:  mov     x0, #1
    ret

// The holding pen. A core that entered the image but lost the election
// (x1 = its identity) waits here, as a spin-table CPU waits in its loader
// (booting.rst). The release contract, which the boot report prints with
// these words' physical addresses:
//   1. write the entry address (physical) to `holding_pen_entry`;
//   2. then write the core's identity, its affinity | 1 << 63, to
//      `holding_pen_release`;
//   both so that memory holds them (through a Device or Non-cacheable
//   mapping, or each cleaned to the point of coherency), then `dsb sy; sev`.
// The core then jumps to the entry in the state it entered the image in: at
// its entry exception level, MMU and caches off, DAIF masked, x0 = 0, no
// stack. It reads the entry once, right after it sees its identity: change
// the entry for another core only after the released one has started.
// Every core that comes in also stores its identity in `holding_pen_last`,
// so the boot report can say a core is there.
enter_holding_pen:
    adr_l   x2, holding_pen_last
    str     x1, [x2]
    dsb     sy
    adr_l   x2, holding_pen_release
    adr_l   x5, holding_pen_entry
3:  ldr     x3, [x2]
    cmp     x3, x1
    b.eq    4f
    wfe                                 // a release's sev, or any event, wakes us
    b       3b
4:  dmb     ld                          // the entry is read after the release it follows
    ldr     x4, [x5]
    mov     x0, #0
    br      x4

// EL2's vectors, installed by leave_el2. The kernel runs at EL1 and asks
// nothing of EL2, so any exception taken to EL2 is unexpected. Each entry
// records ESR_EL2, ELR_EL2, FAR_EL2, SPSR_EL2 and its own index in
// `el2_trap_record` (physical: EL2 runs with its MMU off; for a debugger),
// then: if it came from EL1 with EL1's MMU on, returns to EL1 at
// `el2_trap_landing` (vectors.s), which reports the five values as a fatal
// fault through the kernel's console; otherwise (a trap while this file
// still sets up EL2, or before EL1's MMU is on, when nothing could print)
// it halts the core. It never returns to the trapped code.
.macro el2_vector index
.balign 0x80
    mov     x5, #\index
    b       el2_unexpected
.endm

.balign 0x800
el2_vectors:
    .irp index, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    el2_vector \index
    .endr

el2_unexpected:
    mrs     x0, esr_el2
    mrs     x1, elr_el2
    mrs     x2, far_el2
    mrs     x3, spsr_el2
    adr_l   x4, el2_trap_record
    stp     x0, x1, [x4]
    stp     x2, x3, [x4, #16]
    str     x5, [x4, #32]
    dsb     sy
    ubfx    x4, x3, #2, #2              // SPSR_EL2.M[3:2]: the level trapped from
    cmp     x4, #1
    b.ne    4f
    mrs     x4, hcr_el2
    tbnz    x4, #34, 5f
    mrs     x4, sctlr_el1
    b       6f
5:  mrs     x4, S3_5_C1_C0_0            // SCTLR_EL12
6:  tbz     x4, #0, 4f                  // EL1's MMU off: its virtual addresses mean nothing
    ldr     x4, =el2_trap_landing       // virtual: TTBR1 maps the image
    msr     elr_el2, x4
    mov     x4, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x4
    mov     x4, x5                      // x0..x4 = ESR, ELR, FAR, SPSR, vector index
    eret
4:  wfe
    b       4b

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

// Words written with the MMU off (see the head of this file), alone in their
// page. Read by the kernel only after invalidating their cache line.
.section .data.uncached, "aw"
.balign 4096
.global boot_cpu_claim, holding_pen_last, holding_pen_release, holding_pen_entry, el2_trap_record
.global el2_icc_sre
boot_cpu_claim:         .quad 0         // the winner's identity; 0 until the election ends
holding_pen_last:       .quad 0         // the identity of the last core into the pen
holding_pen_release:    .quad 0         // the identity of the core to release
holding_pen_entry:      .quad 0         // where the released core jumps (physical)
el2_trap_record:        .quad 0, 0, 0, 0, 0     // ESR, ELR, FAR, SPSR_EL2, vector
el2_icc_sre:            .quad 0         // ICC_SRE_EL2 read back | 1 << 63; 0 if not set
election_splitters:     .fill SPLITTER_LEVELS * 2, 8, 0 // X, Y of each level
election_choosing:      .fill SPLITTER_LEVELS, 8, 0     // per name: choosing a ticket
election_tickets:       .fill SPLITTER_LEVELS, 8, 0     // per name: its ticket, 0 = none
.balign 4096

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
