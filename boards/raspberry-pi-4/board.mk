# Raspberry Pi 4 under QEMU (`-M raspi4b`). QEMU needs the board's device tree,
# which is Linux's: it comes from Debian's arm64 kernel packages, every DTB of
# Linux 6.1 and of 6.12 (fetched once into build/dtbs/ by boards/fetch-debian,
# not committed: they are GPL). QEMU offers only 2 GiB and always four cores.
DTBS      := $(BUILD)/dtbs
RPI4_DTBS := $(DTBS)/6.1/PACKAGE $(DTBS)/6.12/PACKAGE
RPI4_DTB  := $(DTBS)/6.1/broadcom/bcm2711-rpi-4-b.dtb

raspi4b_machine = -M raspi4b -m 2G -dtb $(RPI4_DTB)
raspi4b_args = $(raspi4b_machine) -nographic -nic none \
	-semihosting-config enable=on,target=native -kernel $(IMAGE)

# The stamp names the kernel package the DTBs came from.
$(DTBS)/%/PACKAGE:
	@boards/fetch-debian dtbs $* $(DTBS)/$*
