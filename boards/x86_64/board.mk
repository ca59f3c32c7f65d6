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
qemu_x86_64_machine = -display none -nic none -no-reboot -serial stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel $(X86_64_ELF)
qemu_x86_64_args = -M $(MACHINE) -m $(MEM) -smp $(SMP) $(qemu_x86_64_machine)

# The runs `make test` checks: "command-line words|QEMU exit status|regex|
# machine|RAM|more QEMU arguments" ('+' for a space in the words and the
# arguments; in the regex `.` stands for one; machine and RAM default to q35
# and 128M). QEMU's default CPU has no RDRAND, so those runs keep the fixed
# layout; `-cpu max` has it, and -seed makes it reproducible: the two
# 4 GiB runs must place the heap, vmap and frame stack apart (`kaslr_check`
# in the Makefile compares their logs, by name: x86_64-selftest-q35-4G.log
# and x86_64-selftest-pc-4G.log). The exit status is
# (value << 1) | 1 of what the kernel wrote to isa-debug-exit: 33 = done,
# 3 = a self-test failed, 5 = panic, 7 = fatal exception, 9 = boot failed
# (src/arch/x86_64/host.rs). No memory map QEMU builds leaves a PC without
# usable RAM (the MiB below the image at 2 MiB is always free), so the boot
# failure is provoked by `withhold-ram-test`: the frame stack gets nothing.
X86_64_RUNS = \
	selftest|33|kaslr:.*off,.fixed.layout:.the.CPU.has.no.RDRAND.*selftest:.24.passed,.0.failed|q35|128M \
	selftest|33|kaslr:.*on,.seed.from.RDRAND.*selftest:.24.passed,.0.failed|q35|4G|-cpu+max+-seed+1 \
	selftest|33|selftest:.24.passed,.0.failed|pc|128M \
	selftest|33|kaslr:.*on,.seed.from.RDRAND.*selftest:.24.passed,.0.failed|pc|4G|-cpu+max+-seed+2 \
	fault-test|7|FATAL.page.fault:.write.to.0xffff_80c0_0000_0000.\(page.not.present,.kernel.mode\).*kernel.stacks,.guard.page \
	fault-in-fault-test|7|FATAL.page.fault:.write.to.0xffff_80c0_0000_0000.*FATAL.fault.inside.the.fault.handler:.page.fault:.write \
	nokaslr+unmapped-test|7|kaslr:.*off,.fixed.layout:.nokaslr.on.the.command.line.*FATAL.page.fault:.read.from.0xffff_80bf_ffff_f000.\(page.not.present,.kernel.mode\).*in.vmap.window.\(not.mapped\)|q35|128M|-cpu+max \
	null-test|7|FATAL.page.fault:.read.from.0x0.\(page.not.present,.kernel.mode\).*in.page.0 \
	rodata-write-test|7|FATAL.page.fault:.write.to.0xffff_ffff_80[0-9a-f_]*.\(protection.violation:.read-only,.kernel.mode\).*in.kernel.image,.read-only.data \
	heap-exec-test|7|FATAL.page.fault:.fetch.from.0xffff_80[0-9a-f_]*.\(protection.violation:.not.executable,.kernel.mode\).*in.heap.\(mapped.read-write,.not.executable\) \
	device-exec-test|7|FATAL.page.fault:.fetch.from.0xffff_8080_0000_0000.\(protection.violation:.not.executable,.kernel.mode\).*in.vmap.window.\(mapped.as.device.memory \
	overflow-test|7|FATAL.kernel.stack.overflow:.stack.\[0xffff_80c0_0000_1000,.0xffff_80c0_0001_1000\).64.KiB.ran.into.its.guard.page:.double.fault.*kernel.stacks,.guard.page \
	oom-test|5|memory.allocation.of.1099511627776.bytes.failed \
	space-lock-test|5|heap.growth.while.the.address.space.lock.is.held \
	invalid-opcode-test|7|FATAL.invalid.opcode.at.rip.0xffff_ffff_80 \
	interrupt-test|7|FATAL.unhandled.exception.\(vector.kind.64\):.interrupt.64.at.rip.0xffff_ffff_80 \
	protection-test|7|FATAL.general.protection.fault.at.rip.0xffff_ffff_80[0-9a-f_]*.\(error.code.0x0\) \
	withhold-ram-test|9|boot.failed:.no.kernel.stack:.out.of.frames:.16.requested,.0.free \
	stress|33|stress:.1000000.operations,.[1-9][0-9]*.exhaustions,.0.lost|q35|1G
