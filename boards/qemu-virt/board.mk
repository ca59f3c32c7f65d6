# QEMU `virt` (AArch64). The device tree QEMU generates describes everything the
# kernel needs; these variables only choose the machine:
#   MEM=128M|1G|4G|...   RAM size          SMP=1..4   cores
#   GIC=2|3              GIC version       EL2=1      enter at EL2 (virtualization=on)
#   CPU=cortex-a72|max   CPU model         APPEND=... kernel command line
MEM ?= 128M
SMP ?= 1
GIC ?= 2
EL2 ?= 0
CPU ?= cortex-a72
APPEND ?=

VIRT_MACHINE = virt,gic-version=$(GIC)$(if $(filter 1,$(EL2)),$(comma)virtualization=on)
comma := ,

# The raw image, as every board boots it; -kernel gives x0 = the DTB address.
# -nic none: virt's default virtio NIC needs an iPXE ROM (package ipxe-qemu) that
# a --no-install-recommends QEMU lacks, and the kernel has no network driver.
qemu_virt_args = -M $(VIRT_MACHINE) -cpu $(CPU) -m $(MEM) -smp $(SMP) -nographic -nic none \
	-semihosting-config enable=on,target=native -kernel $(IMAGE)

# The in-QEMU suites `make test` runs: "name|QEMU arguments" ('+' for a space).
# QEMU's -seed makes the kaslr-seed it writes into its tree reproducible: the
# first two suites must place the heap, vmap and frame stack apart
# (`kaslr_check` in the Makefile compares their logs, by name:
# selftest-virt-gicv2-el1-128m.log and selftest-virt-gicv3-el2-1g.log).
VIRT_SUITES = \
	virt-gicv2-el1-128m|-M+virt,gic-version=2+-cpu+cortex-a72+-m+128M+-seed+1 \
	virt-gicv3-el2-1g|-M+virt,gic-version=3,virtualization=on+-cpu+cortex-a72+-m+1G+-seed+2 \
	virt-gicv2-el1-4g-smp4|-M+virt,gic-version=2+-cpu+cortex-a72+-m+4G+-smp+4

# Runs whose report is checked: "command-line words|QEMU exit status|regex|RAM|
# device tree|machine options" (no spaces: '+' stands for one in the words,
# `.` in the regex; RAM defaults to 128M; with a device tree QEMU boots that
# blob (`-dtb`, gunzipped first if it ends in `.gz`) instead of its own, and
# an empty word names the run after the blob; machine options are appended
# to `-M virt,`).
# The regex is matched against the whole log, so `.*` may span lines: that
# is how a run checks two reports in order. 4 = boot failed, 3 = fatal fault,
# 2 = panic (src/kernel/mod.rs); `halt`: the kernel must still be halted
# after HALT_SECONDS (the Makefile). The crash runs must stop with their
# report; the stress run must end with nothing lost; a boot with no usable
# memory must fail with its named error, on the PL011 and through
# semihosting; a device tree too large to read (so is its command line) must
# be named through semihosting, and the kernel halt; a tree Linux boots with
# warnings must boot, print its warnings in the boot report, and pass the
# self-tests, and so must one with 3,000 reservations (2,873 folds: the
# blob's own reservation, pushed last, makes one more).
CHECKED_RUNS = $(CRASH_TESTS) $(BOOT_FAILURES) $(BAD_TREES) \
	stress|0|stress:.1000000.operations,.[1-9][0-9]*.exhaustions,.0.lost|1G
BAD_TREES = \
	selftest|0|warning:.*/reserved-memory/zero@46000000:.zero-size.reg.entry,.skipped.*/reserved-memory/tail@46100000:.reg.of.24.bytes.*last.8.bytes.ignored.*/reserved-memory/past-end@fffffffffffff000:.*past.the.end.of.the.address.space.*/reserved-memory/outside@10000000:.*outside.RAM.*selftest:.[0-9]*.passed,.0.failed||src/platform/testdata/virt-bad-reserved.dtb \
	selftest|0|warning:.*/chosen:.stdout-path../nothing@0..names.nothing,.console.from.the.serial0.alias.*/memreserve/:.reservation.*overlaps.*selftest:.[0-9]*.passed,.0.failed||src/platform/testdata/virt-bad-chosen.dtb \
	selftest|0|warning:.*reservations:.more.than.128:.2873.folded.into.a.neighbour.*selftest:.[0-9]*.passed,.0.failed||src/platform/testdata/virt-many-reserved.dtb.gz
BOOT_FAILURES = \
	|4|boot.failed:.no.kernel.stack:.out.of.frames:.16.requested,.0.free.*boot.failed:.no.kernel.stack||src/platform/testdata/virt-all-reserved.dtb \
	|halt|boot.failed:.device.tree.of.[0-9]*.bytes.does.not.fit.the.fixmap.*boot.failed:.the.command.line.cannot.be.read:.halting||src/platform/testdata/virt-too-large.dtb.gz
CRASH_TESTS = \
	fault-test|3|FATAL.data.abort:.write.to.0xffff_00c0_0000_0000.\(translation.fault,.level.3\).*guard.page \
	fault-in-fault-test|3|FATAL.data.abort:.write.to.0xffff_00c0_0000_0000.*guard.page.*FATAL.fault.inside.the.fault.handler:.data.abort:.write \
	oom-test|2|memory.allocation.of.1099511627776.bytes.failed \
	space-lock-test|2|heap.growth.while.the.address.space.lock.is.held \
	nokaslr+unmapped-test|3|kaslr:.*off,.fixed.layout:.nokaslr.on.the.command.line.*FATAL.data.abort:.read.from.0xffff_00bf_ffff_f000.\(translation.fault,.level.1\).*in.vmap.window.\(not.mapped\) \
	null-test|3|FATAL.data.abort:.read.from.0x0.\(translation.fault,.level.0\).*in.page.0 \
	rodata-write-test|3|FATAL.data.abort:.write.to.0xffff_ffff_80[0-9a-f_]*.\(permission.fault,.level.3\).*in.kernel.image,.read-only.data.\(mapped.read-only \
	heap-exec-test|3|FATAL.instruction.abort:.fetch.from.0xffff_[0-3][0-9a-f_]*.\(permission.fault,.level.3\).*in.heap.\(mapped.read-write,.not.executable\) \
	device-exec-test|3|kaslr:.*on,.seed.from./chosen/kaslr-seed.*FATAL.instruction.abort:.fetch.from.0xffff_[0-3][0-9a-f_]*.\(permission.fault,.level.3\).*in.vmap.window.\(mapped.as.device.memory \
	el2-trap-test|3|FATAL.unexpected.trap.to.EL2.\(EL2.vector.8\):.hypervisor.call.\(hvc\).returning.to.0xffff_ffff_80[0-9a-f_]*..the.instruction.after.the.call.\(esr.0x5a004b32\)|||virtualization=on \
	overflow-test|3|FATAL.kernel.stack.overflow:.stack.\[0xffff_00c0_0000_1000,.0xffff_00c0_0001_1000\).64.KiB.ran.into.its.guard.page:.data.abort:.write.to.0xffff_00c0_0000_0.*guard.page
