# Raspberry Pi 4 under QEMU (`-M raspi4b`). QEMU needs the board's device tree,
# which is Linux's: it comes from Debian's arm64 kernel package (fetched once into
# build/, not committed). QEMU offers only 2 GiB and always four cores.
RPI4_DTB := $(BUILD)/rpi4/bcm2711-rpi-4-b.dtb

raspi4b_machine = -M raspi4b -m 2G -dtb $(RPI4_DTB)
raspi4b_args = $(raspi4b_machine) -nographic -nic none \
	-semihosting-config enable=on,target=native -kernel $(IMAGE)

# Debian's arm64 linux-image package, downloaded with a private apt state so the
# host's own package lists and architecture stay untouched.
$(RPI4_DTB):
	@echo "fetching $(notdir $@) from Debian's arm64 kernel package"
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	  opts="-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o APT::Sandbox::User=root \
	    -o Dir::State::Lists=$$dir/lists -o Dir::Cache=$$dir/cache \
	    -o Dir::Etc::SourceList=$$dir/sources.list -o Dir::Etc::SourceParts=/dev/null"; \
	  mkdir -p $$dir/lists/partial $$dir/cache/archives/partial; \
	  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
	    > $$dir/sources.list; \
	  apt-get $$opts update -qq; \
	  package=$$(apt-cache $$opts depends linux-image-arm64 | sed -n 's/.*Depends: \(linux-image-[^ ]*-arm64\)$$/\1/p' | head -1); \
	  (cd $$dir && apt-get $$opts download -qq $$package); \
	  dpkg -x $$dir/*.deb $$dir/root; \
	  mkdir -p $(dir $@); \
	  cp "$$(find $$dir/root -name $(notdir $@) | head -1)" $@
