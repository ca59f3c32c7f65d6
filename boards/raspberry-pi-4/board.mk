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
# The raspi4b machine booting the device tree $(1): the one place that says
# how QEMU's raspi4b is started, for `make qemu-raspi4b` and the suites.
raspi4b_machine = -M raspi4b -m 2G -dtb $(1) $(raspi4b_serials)
raspi4b_args = $(call raspi4b_machine,$(RPI4_DTB)) -nographic -nic none \
	-semihosting-config enable=on,target=native -kernel $(IMAGE)

# The raspi4b suites `make test` runs, in the format of VIRT_SUITES: the Pi 4's
# tree from both kernel packages, and the Pi 400's (QEMU has no machine of its
# own for it; the board differs from a Pi 4 only in its tree).
raspi4b_suite = $(1)|$(subst $(space),+,$(strip $(call raspi4b_machine,$(DTBS)/$(2))))
RASPI4B_SUITES = \
	$(call raspi4b_suite,raspi4b-6.1,6.1/broadcom/bcm2711-rpi-4-b.dtb) \
	$(call raspi4b_suite,raspi4b-6.12,6.12/broadcom/bcm2711-rpi-4-b.dtb) \
	$(call raspi4b_suite,raspi400-6.1,6.1/broadcom/bcm2711-rpi-400.dtb)

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

$(RPI4_STDOUT_PL011_DTB): $(DTBS)/6.1/PACKAGE | dtc
	@cp $(RPI4_DTB) $@.part && fdtput -t s $@.part /chosen stdout-path serial0:115200n8 && mv $@.part $@
$(RPI4_STDOUT_NO_DRIVER_DTB): $(DTBS)/6.1/PACKAGE | dtc
	@cp $(RPI4_DTB) $@.part && fdtput -t s $@.part /soc/serial@7e215040 compatible snps,dw-apb-uart && mv $@.part $@

# The stamp names the kernel package the DTBs came from.
$(DTBS)/%/PACKAGE:
	@boards/fetch-debian dtbs $* $(DTBS)/$*

## SD card #############################################################

.PHONY: sdcard sdcard-tools sdcard-test

# What `make sdcard` puts in the root of the card's FAT32 partition: the boot
# firmware from Debian's raspi-firmware (non-free-firmware), the Linux 6.1
# trees of the boards this image boots (the firmware picks the Pi 4's or the
# Pi 400's by its board; on a CM4 config.txt names the CM4 IO board's tree,
# as the firmware would look for bcm2711-rpi-cm4.dtb), the firmware's
# configuration and the kernel.
RPI_FIRMWARE := $(BUILD)/raspi-firmware
SDCARD       := $(BUILD)/sdcard.img
SDCARD_DTBS  := $(addprefix $(DTBS)/6.1/broadcom/bcm2711-,rpi-4-b.dtb rpi-400.dtb rpi-cm4-io.dtb)
SDCARD_FILES := $(RPI_FIRMWARE)/start4.elf $(RPI_FIRMWARE)/fixup4.dat $(SDCARD_DTBS) \
	boards/raspberry-pi-4/config.txt boards/raspberry-pi-4/cmdline.txt $(IMAGE)

$(RPI_FIRMWARE)/start4.elf $(RPI_FIRMWARE)/fixup4.dat &:
	@boards/fetch-debian raspi-firmware $(RPI_FIRMWARE)

$(SDCARD_DTBS): $(DTBS)/6.1/PACKAGE ;

# sfdisk (fdisk), mkfs.fat (dosfstools) and mtools, from Debian.
sdcard-tools:
	@PATH=$$PATH:/usr/sbin:/sbin; { $(call apt_install,sfdisk,fdisk); } && \
	  { $(call apt_install,mkfs.fat,dosfstools); } && { $(call apt_install,mcopy,mtools); }

# 64 MiB: the files take under 3 MiB, but FAT32 needs at least 65,525
# clusters (32 MiB of 512-byte ones); 64 MiB leaves room to grow and is
# written in seconds. Rebuilt every time (well under a second): the kernel
# comes from `make build`, which cargo decides.
sdcard: build sdcard-tools $(SDCARD_FILES)
	@boards/raspberry-pi-4/sdcard build $(SDCARD) 64 $(SDCARD_FILES)
	@echo "built $(SDCARD) ($$(( $$(stat -c %s $(SDCARD)) >> 20 )) MiB): dd it to an SD card, see boards/raspberry-pi-4/README.md"

# A second build from the same files gives the same bytes, and the card's FAT
# holds every file byte for byte (and the check catches a missing and a
# truncated file).
sdcard-test: sdcard
	@boards/raspberry-pi-4/sdcard test $(SDCARD) 64 $(SDCARD_FILES)
