# x86_64 under QEMU, booted through PVH (`-kernel` with the ELF itself). The
# start info QEMU builds (memory map, RSDP, command line) describes the
# machine; these variables only choose it:
#   MACHINE=q35|pc       chipset          MEM=128M|4G|...   RAM size
#   SMP=1..4             CPUs             APPEND=...        kernel command line
# MEM, SMP and APPEND are the same variables as for virt (qemu-virt/board.mk).
MACHINE ?= q35

X86_64_ELF       := $(BUILD)/x86_64/kernel.elf
X86_64_CARGO_ELF := target/x86_64-unknown-none/release/kernel
QEMU_X86_64      := qemu-system-x86_64

# -nic none: pc and q35 create a NIC whose iPXE ROM (package ipxe-qemu) the
# kernel does not need. -no-reboot: a triple fault ends QEMU (status 0, never
# the 33 of success) instead of rebooting into the same fault forever.
qemu_x86_64_args = -M $(MACHINE) -m $(MEM) -smp $(SMP) -display none -nic none -no-reboot \
	-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel $(X86_64_ELF)

# The runs `make test` checks: "command-line words|QEMU exit status|regex"
# ('+' for a space in the words; in the regex `.` stands for one). The exit
# status is (value << 1) | 1 of what the kernel wrote to isa-debug-exit:
# 33 = done, 7 = fatal exception, 5 = panic (src/arch/x86_64/).
X86_64_RUNS = \
	boot|33|x86_64:.long.mode.on,.NX.on,.WP.on.*TSC.at.[1-9][0-9]*.kHz.*command.line."boot.exit=isa-debug-exit" \
	run-on-stack-test|33|running.on.the.fresh.stack,.[0-9]{1,3}.bytes.below.its.top \
	arch-selftest|33|selftest:.2.passed,.0.failed \
	fault-test|7|FATAL.page.fault:.write.to.0xffff_ffff_80[0-9a-f_]*.\(page.not.present,.kernel.mode\).at.rip.*boot.stack.s.guard.page \
	overflow-test|7|FATAL.kernel.stack.overflow:.double.fault.*in.the.boot.stack.s.guard.page \
	invalid-opcode-test|7|FATAL.invalid.opcode.at.rip.0xffff_ffff_80 \
	interrupt-test|7|FATAL.unhandled.interrupt:.interrupt.64.at.rip.0xffff_ffff_80 \
	protection-test|7|FATAL.general.protection.fault.at.rip.0xffff_ffff_80[0-9a-f_]*.\(error.code.0x0\)
