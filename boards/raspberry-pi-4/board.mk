# Raspberry Pi 4 under QEMU (`-M raspi4b`). QEMU needs the board's device tree,
# which is Linux's: it comes from Debian's arm64 kernel packages, every DTB of
# Linux 6.1 and of 6.12 (fetched once into build/dtbs/ by boards/fetch-debian,
# not committed: they are GPL). QEMU offers only 2 GiB and always four cores.
DTBS      := $(BUILD)/dtbs
RPI4_DTBS := $(DTBS)/6.1/PACKAGE $(DTBS)/6.12/PACKAGE
RPI4_DTB  := $(DTBS)/6.1/broadcom/bcm2711-rpi-4-b.dtb

# QEMU's first -serial is the PL011, the second the mini UART; the kernel
# writes to the one /chosen/stdout-path names (the mini UART, in Linux's
# tree). Both go to this terminal through one multiplexed stdio (which also
# carries the monitor: Ctrl-A C), so that the boot report shows either way.
raspi4b_serials = -chardev stdio,id=uarts,mux=on,signal=off \
	-serial chardev:uarts -serial chardev:uarts -mon chardev=uarts
raspi4b_machine = -M raspi4b -m 2G -dtb $(RPI4_DTB) $(raspi4b_serials)
raspi4b_args = $(raspi4b_machine) -nographic -nic none \
	-semihosting-config enable=on,target=native -kernel $(IMAGE)

# The console follows the tree: runs of `make test` with one UART on the log
# and the other to null, "name|device tree|PL011's -serial|mini UART's
# -serial|command line ('+' for a space)|regex" (`.` stands for a space; the
# regex spans the whole log; `exit=semihosting` is added, and QEMU must end
# with status 0). Linux's tree names the mini UART, which must carry the boot
# report and the self-tests' summary; the second tree is it with stdout-path
# set to serial0 (the PL011); the third names the mini UART under a
# compatible the kernel has no driver for, so the console falls back to
# serial0 and the report says why. The last two check the boot report alone
# (the raspi4b suite runs the self-tests). Both trees are made at test time
# with fdtput (Linux's DTB is GPL and not committed).
RPI4_STDOUT_PL011_DTB     := $(BUILD)/rpi4-stdout-pl011.dtb
RPI4_STDOUT_NO_DRIVER_DTB := $(BUILD)/rpi4-stdout-no-driver.dtb
RPI4_CONSOLE_RUNS = \
	raspi4b-console-mini-uart|$(RPI4_DTB)|null|mon:stdio|selftest|console:.../soc/serial@7e215040.\(brcm,bcm2835-aux-uart\).*device:....console.\(mini.UART\).*selftest:.[0-9]+.passed,.0.failed \
	raspi4b-console-pl011|$(RPI4_STDOUT_PL011_DTB)|mon:stdio|null||console:.../soc/serial@7e201000.\(arm,pl011\).*device:....console.\(PL011\).*timer:.*seed: \
	raspi4b-console-fallback|$(RPI4_STDOUT_NO_DRIVER_DTB)|mon:stdio|null||console:.../soc/serial@7e201000.\(arm,pl011\).from.the.serial0.alias:.stdout-path.names./soc/serial@7e215040.\(snps,dw-apb-uart\),.which.has.no.driver.here.*device:....console.\(PL011\).*timer:.*seed:

$(RPI4_STDOUT_PL011_DTB): $(DTBS)/6.1/PACKAGE | fdtput
	@cp $(RPI4_DTB) $@.part && fdtput -t s $@.part /chosen stdout-path serial0:115200n8 && mv $@.part $@
$(RPI4_STDOUT_NO_DRIVER_DTB): $(DTBS)/6.1/PACKAGE | fdtput
	@cp $(RPI4_DTB) $@.part && fdtput -t s $@.part /soc/serial@7e215040 compatible snps,dw-apb-uart && mv $@.part $@

# fdtput comes with device-tree-compiler.
.PHONY: fdtput
fdtput:
	@command -v fdtput >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq --no-install-recommends device-tree-compiler >/dev/null; }

# The stamp names the kernel package the DTBs came from.
$(DTBS)/%/PACKAGE:
	@boards/fetch-debian dtbs $* $(DTBS)/$*
