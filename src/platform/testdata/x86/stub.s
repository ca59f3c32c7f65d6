# A PVH guest that does nothing: QEMU enters it in 32-bit protected mode with
# ebx = the physical address of `hvm_start_info`, and it halts forever, so
# that capture.sh can read the start info and what it points at from QEMU's
# monitor. Assemble and link: see capture.sh.

# The PVH entry point, as a Xen ELF note: name "Xen", type 18
# (XEN_ELFNOTE_PHYS32_ENTRY), a 4-byte physical entry address.
        .section .note.Xen, "a", @note
        .balign 4
        .long 4                 # name size, "Xen\0"
        .long 4                 # descriptor size
        .long 18                # XEN_ELFNOTE_PHYS32_ENTRY
        .asciz "Xen"
        .long pvh_entry

        .text
        .code32
        .globl pvh_entry
pvh_entry:
        cli
1:      hlt
        jmp 1b
