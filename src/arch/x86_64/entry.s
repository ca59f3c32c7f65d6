// Entry of the x86_64 kernel through PVH, the boot protocol QEMU's `-kernel`
// speaks to an ELF with the note below (Xen's `hvm/start_info.h`).
//
// The loader puts each segment at its physical (load) address and jumps to
// pvh_start32 in 32-bit protected mode: paging off, flat 4 GiB segments,
// interrupts off, no stack, ebx = physical address of struct hvm_start_info.
// This code zeroes .bss, checks the CPU, builds the boot page tables, enters
// long mode with NX and write protection, and jumps to the image's link
// address in the top 2 GiB, where it calls
// x86_64_entry(start_info: rdi, image_base: rsi) on the boot stack.
//
// Everything before long_mode_high runs at physical addresses: the section
// .boot32 is linked where it is loaded (low, identity-mapped later), and a
// symbol of the higher-half image is reached at its load address,
// (symbol - KERNEL_VIRT_OFFSET).

.equ KERNEL_VIRT_OFFSET, 0xffffffff80000000   // linker.ld: virtual = physical + this
.global entry_kernel_virt_offset            // for linker.ld to check that
.set entry_kernel_virt_offset, KERNEL_VIRT_OFFSET

.equ PTE_PRESENT,       1 << 0
.equ PTE_WRITABLE,      1 << 1
.equ PTE_HUGE,          1 << 7                // a 2 MiB page in a page directory
.equ PTE_NX_HIGH,       1 << 31               // bit 63, in the entry's upper half
.equ TABLE,             PTE_PRESENT | PTE_WRITABLE  // rights are set by the leaves
.equ IDENTITY_PDS,      4                     // 4 page directories: the first 4 GiB
.equ IMAGE_PTS,         4                     // 4 page tables: an image of 8 MiB

.equ CR0_WP,            1 << 16
.equ CR0_PG,            1 << 31
.equ CR4_PAE,           1 << 5
.equ MSR_EFER,          0xc0000080
.equ EFER_LME,          1 << 8
.equ EFER_NXE,          1 << 11
.equ CPUID_LM,          29                    // CPUID 0x8000_0001 EDX bits
.equ CPUID_NX,          20
.equ COM1,              0x3f8
.equ COM1_LSR,          COM1 + 5
.equ LSR_THRE,          1 << 5

// The PVH note: XEN_ELFNOTE_PHYS32_ENTRY (18), the 32-bit entry's physical
// address. linker.ld puts it in a PT_NOTE segment, where QEMU looks for it.
.section .note.Xen, "a", @note
    .balign 4
    .long   4                           // name size, "Xen\0"
    .long   8                           // descriptor size
    .long   18                          // type
    .asciz  "Xen"
    .balign 4
    .quad   pvh_start32

.section .boot32, "ax"
// The transition's GDT, in this read-only page: every descriptor has its
// accessed bit set already, so loading it needs no write. The kernel loads
// its own GDT, with the TSS, in Rust (traps.rs).
.balign 8
boot_gdt:
    .quad   0
boot_gdt_code64:
    .quad   0x00af9b000000ffff          // 64-bit code, DPL 0, present, accessed
boot_gdt_data:
    .quad   0x00cf93000000ffff          // data, writable, present, accessed
boot_gdt_end:
boot_gdt_pointer:
    .word   boot_gdt_end - boot_gdt - 1
    .long   boot_gdt

.equ BOOT_CODE64,       boot_gdt_code64 - boot_gdt
.equ BOOT_DATA,         boot_gdt_data - boot_gdt

.code32
.global pvh_start32
pvh_start32:
    cld
    mov     %ebx, %esi                  // esi = start info (physical), to the end

    // Zero .bss before anything lives there: the boot stack and the boot page
    // tables are in it. (QEMU's loader zero-fills it, but PVH does not
    // promise that.) Nothing writes .bss before this.
    mov     $(__bss_start - KERNEL_VIRT_OFFSET), %edi
    mov     $(__bss_end - KERNEL_VIRT_OFFSET), %ecx
    sub     %edi, %ecx
    shr     $2, %ecx
    xor     %eax, %eax
    rep stosl
    mov     $(__boot_stack_top - KERNEL_VIRT_OFFSET), %esp

    // Long mode and NX, or a message on COM1 and a halt. CPUID itself is
    // there on every CPU a PVH loader runs on.
    mov     $0x80000000, %eax
    cpuid
    cmp     $0x80000001, %eax
    jb      no_long_mode
    mov     $0x80000001, %eax
    cpuid
    bt      $CPUID_LM, %edx
    jnc     no_long_mode
    bt      $CPUID_NX, %edx
    jnc     no_nx

    // Identity map of the first 4 GiB, for this code and for reading the start
    // info and ACPI until the platform is described: 2 MiB pages, read-only
    // and not executable...
    mov     $(boot_pd_identity - KERNEL_VIRT_OFFSET), %edi
    xor     %ecx, %ecx                  // ecx = 2 MiB page number
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_PRESENT | PTE_HUGE), %eax
    mov     %eax, (%edi, %ecx, 8)
    movl    $PTE_NX_HIGH, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $(IDENTITY_PDS * 512), %ecx
    jb      1b
    mov     $(boot_pdpt_identity - KERNEL_VIRT_OFFSET), %edi
    mov     $(boot_pd_identity - KERNEL_VIRT_OFFSET + TABLE), %eax
    mov     $IDENTITY_PDS, %edx
    call    link_tables
    // ...except the first 2 MiB, in 4 KiB pages so that page 0 stays
    // unmapped (a null pointer faults)...
    mov     $(boot_pt_low - KERNEL_VIRT_OFFSET), %edi
    xor     %eax, %eax
    call    fill_page_table
    movl    $0, (%edi)
    movl    $0, 4(%edi)
    mov     $(boot_pd_identity - KERNEL_VIRT_OFFSET), %ebx
    mov     $(boot_pt_low - KERNEL_VIRT_OFFSET + TABLE), %eax
    call    install_table
    // ...and the 2 MiB around this code, in 4 KiB pages so that only this
    // section is executable (linker.ld keeps it out of the first 2 MiB).
    mov     $(boot_pt_entry - KERNEL_VIRT_OFFSET), %edi
    mov     $pvh_start32, %eax
    and     $~0x1fffff, %eax
    call    fill_page_table
    shr     $21, %eax
    lea     (%ebx, %eax, 8), %ebx
    mov     $(boot_pt_entry - KERNEL_VIRT_OFFSET + TABLE), %eax
    call    install_table
    mov     $__boot32_start, %ecx
3:  mov     %ecx, %eax
    shr     $12, %eax
    and     $511, %eax
    movl    $0, 4(%edi, %eax, 8)        // executable: clear NX
    add     $4096, %ecx
    cmp     $__boot32_end, %ecx
    jb      3b

    // The image at its link address, 0xffff_ffff_8000_0000 + its physical
    // address: PML4[511] -> PDPT[510] -> PD[load address / 2 MiB ...] -> four
    // page tables, one 4 KiB entry per page with the rights of its section.
    mov     $(boot_pml4 - KERNEL_VIRT_OFFSET), %edi
    movl    $(boot_pdpt_identity - KERNEL_VIRT_OFFSET + TABLE), (%edi)
    movl    $(boot_pdpt_kernel - KERNEL_VIRT_OFFSET + TABLE), 511 * 8(%edi)
    mov     $(boot_pdpt_kernel - KERNEL_VIRT_OFFSET), %edi
    movl    $(boot_pd_kernel - KERNEL_VIRT_OFFSET + TABLE), 510 * 8(%edi)
    // The fixmap (fixmap.rs, layout::FIXMAP): the last 2 MiB of the same page
    // directory, one page table whose entries Rust fills.
    mov     $(boot_pd_kernel - KERNEL_VIRT_OFFSET), %edi
    movl    $(boot_pt_fixmap - KERNEL_VIRT_OFFSET + TABLE), 511 * 8(%edi)
    mov     $(__kernel_start - KERNEL_VIRT_OFFSET), %ecx
    shr     $21, %ecx                   // linker.ld: 2 MiB-aligned, below 1 GiB
    mov     $(boot_pd_kernel - KERNEL_VIRT_OFFSET), %edi
    lea     (%edi, %ecx, 8), %edi
    mov     $(boot_pt_image - KERNEL_VIRT_OFFSET + TABLE), %eax
    mov     $IMAGE_PTS, %edx
    call    link_tables
    mov     $(__text_start - KERNEL_VIRT_OFFSET), %ebx   // ebx = physical page being mapped
    mov     %ebx, %edi
    sub     $(__kernel_start - KERNEL_VIRT_OFFSET), %edi
    shr     $(12 - 3), %edi
    add     $(boot_pt_image - KERNEL_VIRT_OFFSET), %edi  // edi = its entry
5:  cmp     $(__boot_stack_guard - KERNEL_VIRT_OFFSET), %ebx
    je      7f                          // the guard pages stay unmapped
    cmp     $(__fault_stack_guard - KERNEL_VIRT_OFFSET), %ebx
    je      7f
    mov     %ebx, %eax
    or      $PTE_PRESENT, %eax
    xor     %edx, %edx
    cmp     $(__text_end - KERNEL_VIRT_OFFSET), %ebx
    jb      6f                          // text: read + execute
    mov     $PTE_NX_HIGH, %edx
    cmp     $(__rodata_end - KERNEL_VIRT_OFFSET), %ebx
    jb      6f                          // rodata: read only
    or      $PTE_WRITABLE, %eax         // data, bss: read-write
6:  mov     %eax, (%edi)
    mov     %edx, 4(%edi)
7:  add     $4096, %ebx
    add     $8, %edi
    cmp     $(__kernel_end - KERNEL_VIRT_OFFSET), %ebx
    jb      5b

    // Long mode: PAE tables in CR3, EFER.LME and NXE, then paging with write
    // protection (the kernel too faults on read-only pages). SSE stays off
    // (CR4.OSFXSR clear), so an SSE instruction in this soft-float kernel
    // traps as #UD instead of corrupting state nobody saves.
    mov     $(boot_pml4 - KERNEL_VIRT_OFFSET), %eax
    mov     %eax, %cr3
    mov     %cr4, %eax
    or      $CR4_PAE, %eax
    mov     %eax, %cr4
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $(EFER_LME | EFER_NXE), %eax
    wrmsr
    lgdt    boot_gdt_pointer
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_WP), %eax
    mov     %eax, %cr0
    ljmp    $BOOT_CODE64, $long_mode_low

// Fills the page table at edi with 512 present, read-only, not executable
// 4 KiB entries mapping the 2 MiB from eax on. Keeps eax, ebx, esi, edi.
fill_page_table:
    xor     %ecx, %ecx
1:  mov     %ecx, %edx
    shl     $12, %edx
    or      %eax, %edx
    or      $PTE_PRESENT, %edx
    mov     %edx, (%edi, %ecx, 8)
    movl    $PTE_NX_HIGH, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $512, %ecx
    jb      1b
    ret

// Points the edx entries from edi to as many consecutive tables from eax
// (with their TABLE bits). Keeps ebx, esi, edi.
link_tables:
    xor     %ecx, %ecx
1:  mov     %eax, (%edi, %ecx, 8)
    add     $4096, %eax
    inc     %ecx
    cmp     %edx, %ecx
    jb      1b
    ret

// Points the 2 MiB entry at ebx to the table eax (with its TABLE bits),
// clearing the NX that the 2 MiB page had: the table's entries decide.
install_table:
    mov     %eax, (%ebx)
    movl    $0, 4(%ebx)
    ret

no_long_mode:
    mov     $message_no_long_mode, %ebx
    jmp     fail
no_nx:
    mov     $message_no_nx, %ebx
// Writes the NUL-terminated text at ebx to COM1 (usable as the firmware left
// it), then halts: without long mode there is no kernel to run.
fail:
1:  mov     $COM1_LSR, %dx
2:  in      %dx, %al
    test    $LSR_THRE, %al
    jz      2b
    movb    (%ebx), %al
    test    %al, %al
    jz      3f
    mov     $COM1, %dx
    out     %al, %dx
    inc     %ebx
    jmp     1b
3:  cli
    hlt
    jmp     3b

.code64
long_mode_low:
    mov     $BOOT_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %eax, %eax
    mov     %ax, %fs
    mov     %ax, %gs
    movabs  $long_mode_high, %rax
    jmp     *%rax

message_no_long_mode:
    .asciz  "FATAL x86_64: this CPU has no long mode (CPUID 0x80000001 EDX.LM clear)\r\n"
message_no_nx:
    .asciz  "FATAL x86_64: this CPU has no NX bit (CPUID 0x80000001 EDX.NX clear)\r\n"

.section .text.boot, "ax"
long_mode_high:
    // The frame chain starts here: a debugger's backtrace ends at x86_64_entry.
    .cfi_startproc
    .cfi_undefined %rip
    xor     %ebp, %ebp
    lea     __boot_stack_top(%rip), %rsp
    mov     %esi, %edi                  // start info (physical), zero-extended
    mov     $(__kernel_start - KERNEL_VIRT_OFFSET), %esi // image base (physical)
    call    x86_64_entry
    ud2                                 // x86_64_entry never returns
    .cfi_endproc

// The boot page tables, reserved with the image (linker.ld: __boot_tables_*).
// The identity map stays until the kernel has read what it needs below 4 GiB.
.section .boot_tables, "aw", @nobits
.balign 4096
.global boot_pml4
boot_pml4:          .space 4096
boot_pdpt_identity: .space 4096
boot_pd_identity:   .space 4096 * IDENTITY_PDS
boot_pt_low:        .space 4096
boot_pt_entry:      .space 4096
boot_pdpt_kernel:   .space 4096
boot_pd_kernel:     .space 4096
boot_pt_image:      .space 4096 * IMAGE_PTS
.global boot_pt_fixmap
boot_pt_fixmap:     .space 4096
