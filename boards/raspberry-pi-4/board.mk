# Raspberry Pi 4 under QEMU (`-M raspi4b`). QEMU needs the board's device tree,
# which is Linux's: it comes from Debian's arm64 kernel packages, every DTB of
# Linux 6.1 and of 6.12 (fetched once into build/dtbs/ by boards/fetch-debian,
# not committed: they are GPL). QEMU offers only 2 GiB and always four cores.
DTBS      := $(BUILD)/dtbs
RPI4_DTBS := $(DTBS)/6.1/PACKAGE $(DTBS)/6.12/PACKAGE
RPI4_DTB  := $(DTBS)/6.1/broadcom/bcm2711-rpi-4-b.dtb

# The raspi4b machine booting the device tree $(1): the one place that says
# how QEMU's raspi4b is started, for `make qemu-raspi4b` and the suites.
raspi4b_machine = -M raspi4b -m 2G -dtb $(1)
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

# The stamp names the kernel package the DTBs came from.
$(DTBS)/%/PACKAGE:
	@boards/fetch-debian dtbs $* $(DTBS)/$*

