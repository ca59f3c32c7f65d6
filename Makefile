# The kernel's front door. `make qemu-virt` and `make test` install what is
# missing (the pinned nightly, QEMU 10 from bookworm-backports) and are quick
# when everything is present. See README.md; x86_64: boards/x86_64/README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD     := build
ELF       := $(BUILD)/aarch64/kernel.elf
IMAGE     := $(BUILD)/kernel8.img
CARGO_ELF := target/aarch64-kernel/release/kernel
TOOLCHAIN := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
QEMU      := qemu-system-aarch64
QEMU_TIMEOUT ?= 300
# How long a checked run that must halt (status `halt`) is left running
# before it counts as halted: its boot takes under a second.
HALT_SECONDS ?= 10

include boards/qemu-virt/board.mk
include boards/raspberry-pi-4/board.mk
include boards/x86_64/board.mk

QEMU_SUITES = $(VIRT_SUITES) $(RASPI4B_SUITES)
space := $(subst ,, )

.PHONY: build all toolchain qemu qemu-virt qemu-raspi4b qemu-x86_64 test host-test qemu-test \
	qemu-test-x86_64 qemu-test-pen gdb clippy clean dtc \
	inspect corpus bootcost miri asan fuzz bench

all: build

## Installation (idempotent) ##########################################

# Installs the Debian packages $(2) unless the command $(1) is there, as root
# or with sudo, with the apt-get options $(3); the package lists are refreshed
# first (a fresh Debian has none).
apt_install = command -v $(1) >/dev/null || { echo "installing $(2)" >&2; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $(3) $(2) >/dev/null; }

# The pinned nightly with rust-src and llvm-tools (rust-toolchain.toml).
# Messages go to stderr so that `make inspect FORMAT=json` keeps stdout clean.
toolchain:
	@rustup run $(TOOLCHAIN) rustc --version >/dev/null 2>&1 && \
	  rustup component list --toolchain $(TOOLCHAIN) --installed 2>/dev/null | grep -q '^rust-src' || \
	  { echo "installing toolchain $(TOOLCHAIN)" >&2; rustup toolchain install >&2; }

# QEMU 10 from Debian bookworm-backports (Debian's own 7.2 has no raspi4b),
# for both CPUs. qemu-system-x86 brings the firmware a PVH boot runs through
# (SeaBIOS, and QEMU's pvh.bin option ROM in qemu-system-data) as dependencies.
qemu:
	@if ! { $(QEMU) --version && $(QEMU_X86_64) --version; } 2>/dev/null | grep -cE 'version (9|[1-9][0-9])\.' | grep -qx 2; then \
	  echo "installing QEMU from bookworm-backports"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then \
	    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	      | $$SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null; \
	  fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-arm qemu-system-x86 >/dev/null; \
	fi
	@# From backports too: the backports QEMU brings libelf1 0.192, which
	@# bookworm's own libdw1 and libdebuginfod1 (gdb's) refuse.
	@[ "$(MAKECMDGOALS)" != gdb ] || $(call apt_install,gdb-multiarch,gdb-multiarch,-t bookworm-backports)

## Build ###############################################################

# Cargo decides what to rebuild; the image is regenerated only when the ELF changed.
build: toolchain
	@cargo kernel-build
	@mkdir -p $(dir $(ELF))
	@cmp -s $(CARGO_ELF) $(ELF) || cp $(CARGO_ELF) $(ELF)
	@[ $(IMAGE) -nt $(ELF) ] || "$$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-objcopy" -O binary $(ELF) $(IMAGE)
	@echo "built $(IMAGE) ($$(stat -c %s $(IMAGE)) bytes) and $(ELF)"
	@cargo kernel-build-x86_64
	@mkdir -p $(dir $(X86_64_ELF))
	@cmp -s $(X86_64_CARGO_ELF) $(X86_64_ELF) || cp $(X86_64_CARGO_ELF) $(X86_64_ELF)
	@echo "built $(X86_64_ELF) ($$(stat -c %s $(X86_64_ELF)) bytes)"

## Run #################################################################

qemu-virt: build qemu
	@echo "QEMU virt: $(VIRT_MACHINE), $(CPU), $(MEM), $(SMP) core(s). Quit with Ctrl-A X."
	$(QEMU) $(qemu_virt_args) $(if $(APPEND),-append "$(APPEND)")

qemu-raspi4b: build qemu $(RPI4_DTBS)
	@echo "QEMU raspi4b: 2 GiB, 4 cores (parked), both UARTs (PL011 and mini UART) on this terminal. Quit with Ctrl-A X."
	$(QEMU) $(raspi4b_args) $(if $(APPEND),-append "$(APPEND)")

# Ends with QEMU's status; 33 (the kernel's "done" through isa-debug-exit,
# with APPEND=exit=isa-debug-exit) counts as success.
qemu-x86_64: build qemu
	@echo "QEMU x86_64: $(MACHINE), $(MEM), $(SMP) CPU(s), COM1 on this terminal. Quit with Ctrl-C."
	$(QEMU_X86_64) $(qemu_x86_64_args) $(if $(APPEND),-append "$(APPEND)"); \
	  status=$$?; [ $$status = 33 ] && echo "QEMU x86_64: the kernel exited with success (status 33)"; \
	  [ $$status = 33 ] || exit $$status

# QEMU halted with a gdb server on :1234, and gdb-multiarch on the ELF.
gdb: build qemu
	@echo "QEMU waits for gdb; in gdb: 'continue', breakpoints like 'hbreak kernel_entry'."
	$(QEMU) $(qemu_virt_args) $(if $(APPEND),-append "$(APPEND)") -s -S & \
	  trap "kill $$! 2>/dev/null" EXIT; \
	  gdb-multiarch -q -ex "file $(ELF)" -ex "target remote :1234"

## Test ################################################################

# KASLR: the boot logs $(1) and $(2), of two runs with different seeds (whose
# self-tests the suites checked), must both say the windows were placed at
# random, and put each of the heap, vmap and frame-stack windows at another
# base. Counts as one more suite in the caller's `passed`/`failed`.
kaslr_check = moved=0; \
	for window in heap vmap 'frame stack'; do \
	  a=$$(grep -a -m1 "^  $$window " $(1)); b=$$(grep -a -m1 "^  $$window " $(2)); \
	  [ -n "$$a" ] && [ "$$a" != "$$b" ] && moved=$$((moved+1)); \
	done; \
	if [ $$moved = 3 ] && grep -aq '^kaslr: *on' $(1) && grep -aq '^kaslr: *on' $(2); then passed=$$((passed+1)); \
	  echo "qemu suite kaslr: ok: $(notdir $(1)) and $(notdir $(2)) place the heap, vmap and frame stack apart"; \
	else failed=$$((failed+1)); echo "qemu suite kaslr: FAILED: $$moved of 3 windows moved between $(1) and $(2), or KASLR was off"; fi

test: host-test corpus sdcard-test qemu-test qemu-test-pen qemu-test-x86_64

# The Raspberry Pi 4 tests read the fetched Debian DTBs ($(RPI4_DTBS)) and
# make the 8 GB firmware-like tree from one of them with dtc.
host-test: toolchain dtc $(RPI4_DTBS)
	cargo fmt --all -- --check
	cargo host-test

# dtc, from Debian's device-tree-compiler, when it is missing.
dtc:
	@$(call apt_install,dtc,device-tree-compiler)

# Boots the one image under each suite's machine with `selftest exit=semihosting`;
# the exit status is the result. A hang fails through the timeout.
# -mem-prealloc: QEMU otherwise backs guest RAM lazily, and the first write to
# each 2 MiB of RAM then costs the host a page fault (seconds in all at 4 GiB).
# The boot itself touches almost nothing (RAM stays in fresh ranges), but the
# self-tests drain every frame and refill the stack, which writes into all RAM.
qemu-test: build qemu $(RPI4_DTBS) $(RPI4_STDOUT_PL011_DTB) $(RPI4_STDOUT_NO_DRIVER_DTB)
	@failed=0; passed=0; \
	for suite in $(foreach suite,$(QEMU_SUITES),'$(suite)'); do \
	  IFS='|' read -r name arguments <<< "$$suite"; \
	  log=$(BUILD)/selftest-$$name.log; \
	  start=$$(date +%s); \
	  timeout $(QEMU_TIMEOUT) $(QEMU) $${arguments//+/ } -nographic -nic none -mem-prealloc \
	    -semihosting-config enable=on,target=native -kernel $(IMAGE) \
	    -append "selftest exit=semihosting" </dev/null >$$log 2>&1; \
	  status=$$?; \
	  summary=$$(grep -a 'selftest: [0-9]* passed' $$log | tail -1); \
	  grep -a -E 'selftest: (FAIL|ok)|FATAL|PANIC' $$log | sed "s/^/  [$$name] /"; \
	  if [ $$status = 0 ] && grep -q ' 0 failed' <<< "$$summary"; then passed=$$((passed+1)); verdict=ok; \
	  else failed=$$((failed+1)); verdict="FAILED (exit $$status$$( [ $$status = 124 ] && echo ', timeout'))"; fi; \
	  echo "qemu suite $$name: $$verdict: $${summary:-no summary} ($$(( $$(date +%s) - start )) s, log $$log)"; \
	done; \
	for crash in $(foreach crash,$(CHECKED_RUNS),'$(crash)'); do \
	  IFS='|' read -r word expected pattern memory dtb machine <<< "$$crash"; \
	  name=$${dtb:+$$(basename $${dtb%.gz} .dtb)}; name=$${name:-$${word//+/-}}; word=$${word//+/ }; log=$(BUILD)/$$name.log; start=$$(date +%s); \
	  case $$dtb in *.gz) gunzip -c $$dtb > $(BUILD)/$$name.dtb; dtb=$(BUILD)/$$name.dtb;; esac; \
	  limit=$(QEMU_TIMEOUT); [ $$expected != halt ] || { limit=$(HALT_SECONDS); expected=124; }; \
	  timeout $$limit $(QEMU) -M virt$${machine:+,$$machine} -cpu cortex-a72 -m $${memory:-128M} -nographic -nic none \
	    -semihosting-config enable=on,target=native -kernel $(IMAGE) $${dtb:+-dtb $$dtb} \
	    -append "$$word exit=semihosting" </dev/null >$$log 2>&1; status=$$?; \
	  grep -a -E 'FATAL|PANIC|boot failed|^warning:|selftest: [0-9]+ passed|^memory:|^stress: [0-9]+ operations,' $$log | sed "s/^/  [$$name] /"; \
	  if [ $$status = $$expected ] && grep -a -z -q -E "$$pattern" $$log; then passed=$$((passed+1)); \
	    echo "qemu suite $$name: ok: reported, and QEMU ended with status $$status$$( [ $$status != 124 ] || echo ", halted") ($$(( $$(date +%s) - start )) s)"; \
	  else failed=$$((failed+1)); echo "qemu suite $$name: FAILED (exit $$status, expected $$expected; log $$log)"; fi; \
	done; \
	for run in $(foreach run,$(RPI4_CONSOLE_RUNS),'$(run)'); do \
	  IFS='|' read -r name dtb pl011 mini_uart words pattern <<< "$$run"; log=$(BUILD)/$$name.log; start=$$(date +%s); \
	  timeout $(QEMU_TIMEOUT) $(QEMU) -M raspi4b -m 2G -dtb $$dtb -nographic -nic none -serial $$pl011 -serial $$mini_uart \
	    -semihosting-config enable=on,target=native -kernel $(IMAGE) -append "$${words//+/ } exit=semihosting" </dev/null >$$log 2>&1; status=$$?; \
	  grep -a -E '^console:|selftest: [0-9]+ passed|FAIL' $$log | sed "s/^/  [$$name] /"; \
	  if [ $$status = 0 ] && grep -a -z -q -E "$$pattern" $$log; then passed=$$((passed+1)); \
	    echo "qemu suite $$name: ok: the report came through the UART stdout-path names ($$(( $$(date +%s) - start )) s)"; \
	  else failed=$$((failed+1)); echo "qemu suite $$name: FAILED (exit $$status; log $$log)"; fi; \
	done; \
	$(call kaslr_check,$(BUILD)/selftest-virt-gicv2-el1-128m.log,$(BUILD)/selftest-virt-gicv3-el2-1g.log); \
	echo "qemu: $$passed passed, $$failed failed"; \
	[ $$failed = 0 ]

# boot.s's boot-CPU election and holding pen when every core enters the image
# at once (QEMU raspi4b given an ELF), checked through QEMU's monitor, with one
# core released from the pen.
qemu-test-pen: build qemu
	@boards/raspberry-pi-4/holding-pen-test $(IMAGE) $(ELF)

# Boots the x86_64 ELF once per run of X86_64_RUNS (boards/x86_64/board.mk)
# with its words and `exit=isa-debug-exit`, on MACHINE with MEM (q35, 128M);
# QEMU's status and the log must match. A hang fails through the timeout.
qemu-test-x86_64: build qemu
	@failed=0; passed=0; \
	for run in $(foreach run,$(X86_64_RUNS),'$(run)'); do \
	  IFS='|' read -r words expected pattern machine memory more <<< "$$run"; \
	  machine=$${machine:-q35}; memory=$${memory:-128M}; \
	  words=$${words//+/ }; name=x86_64-$${words// /-}-$$machine-$$memory; log=$(BUILD)/$$name.log; start=$$(date +%s); \
	  timeout $(QEMU_TIMEOUT) $(QEMU_X86_64) -M $$machine -m $$memory $${more//+/ } $(qemu_x86_64_machine) \
	    -append "$$words exit=isa-debug-exit" </dev/null >$$log 2>&1; status=$$?; \
	  grep -a -E 'FATAL|PANIC|boot failed|selftest: [0-9]+ passed|^stress: [0-9]+ operations,' $$log | sed "s/^/  [$$name] /"; \
	  if [ $$status = $$expected ] && grep -a -z -q -E "$$pattern" $$log; then passed=$$((passed+1)); \
	    echo "qemu suite $$name: ok: QEMU ended with status $$status ($$(( $$(date +%s) - start )) s)"; \
	  else failed=$$((failed+1)); echo "qemu suite $$name: FAILED (exit $$status, expected $$expected; log $$log)"; fi; \
	done; \
	$(call kaslr_check,$(BUILD)/x86_64-selftest-q35-4G.log,$(BUILD)/x86_64-selftest-pc-4G.log); \
	echo "qemu-x86_64: $$passed passed, $$failed failed"; \
	[ $$failed = 0 ]

## Measure ###########################################################

# What the kernel would make of a device tree, on the host, with the kernel's
# own platform description: make inspect DTB=board.dtb [FORMAT=json|svg]
inspect: toolchain
	@test -n "$(DTB)" || { echo "usage: make inspect DTB=board.dtb [FORMAT=text|json|svg]" >&2; exit 2; }
	@cargo run -q --bin inspect -- "$(DTB)" $(or $(FORMAT),text)

# inspect against an independent reading of all 1,599 Debian arm64 DTBs
# (src/bin/inspect/corpus.rs says what agreeing means, fact by fact): the
# share that agrees, then each file that does not and the facts that differ.
# About 5 s, so `make test` runs it.
corpus: toolchain $(RPI4_DTBS)
	cargo test -q --bin inspect corpus -- --ignored --nocapture

# Boot cost against RAM size: virt under -icount shift=0 (one instruction per
# virtual nanosecond, so the counts are deterministic). The kernel prints the
# counter ticks since entry at each milestone; the table shows the ticks each
# phase took (platform: entry to "platform description done"; frames: to
# "frame stack ready"; heap: to "heap ready"; devices, report: likewise) and,
# last, described->heap: from "platform description done" to "heap ready",
# the span that must not grow with RAM.
BOOTCOST_MEMORY ?= 128M 1G 4G 8G
bootcost: build qemu
	@mkdir -p target/bench; json=target/bench/bootcost.json; \
	printf '%-6s %10s %10s %10s %10s %10s %15s\n' RAM platform frames heap devices report described-\>heap; \
	echo '{' > $$json; first=1; \
	for memory in $(BOOTCOST_MEMORY); do \
	  line=$$(timeout $(QEMU_TIMEOUT) $(QEMU) -M virt -cpu cortex-a72 -m $$memory -nographic -nic none -icount shift=0 \
	    -semihosting-config enable=on,target=native -kernel $(IMAGE) -append "bootcost exit=semihosting" </dev/null 2>&1 \
	    | grep -a '^bootcost:'); \
	  [ -n "$$line" ] || { echo "no bootcost line at $$memory" >&2; exit 1; }; \
	  set -- $$(sed -E 's/.*platform=([0-9]+) frames=([0-9]+) heap=([0-9]+) devices=([0-9]+) report=([0-9]+).*/\1 \2 \3 \4 \5/' <<< "$$line"); \
	  printf '%-6s %10s %10s %10s %10s %10s %15s\n' $$memory $$1 $$(($$2-$$1)) $$(($$3-$$2)) $$(($$4-$$3)) $$(($$5-$$4)) $$(($$3-$$1)); \
	  [ $$first = 1 ] || echo ',' >> $$json; first=0; \
	  printf '  "%s": {"platform": %s, "frames": %s, "heap": %s, "devices": %s, "report": %s, "described_to_heap": %s}' \
	    $$memory $$1 $$(($$2-$$1)) $$(($$3-$$2)) $$(($$4-$$3)) $$(($$5-$$4)) $$(($$3-$$1)) >> $$json; \
	done; \
	printf '\n}\n' >> $$json; \
	echo "(counter ticks per phase at 62.5 MHz, under -icount shift=0; devices include the wait for the boot's timer ticks; written to $$json)"

# Host benchmarks of the memory code over simulated RAM (src/bench/): every
# workload against every competitor on the same seeded trace. QUICK=1 for a
# reduced run, PARTS=ranges (or frames,heap ...) for some parts only. Table on
# stdout, figures in target/bench/summary.json.
bench: toolchain
	QUICK=$(QUICK) PARTS=$(PARTS) cargo bench --features bench --bench memory

# Fuzz the platform description and the x86_64 start-info and MADT readers:
# each cargo-fuzz target (src/fuzz/) for
# SECONDS seconds. libFuzzer needs a C++ compiler (g++ is on these machines).
SECONDS ?= 60
fuzz: toolchain
	@$(call apt_install,g++,g++)
	@bash src/fuzz/run.sh $(SECONDS)

# Every host library test under Miri (undefined behaviour, aliasing, leaks;
# about 50 minutes) but one that runs dtc, which Miri cannot spawn: a few
# property-test cases each, and smaller sizes where a test says `cfg!(miri)`. The frame stack's debug cross-check of its free map
# (an O(n) scan per free, which would make every drain hours long there) is
# left out under Miri wherever a free map answers (see `FrameStack::push`).
# Isolation is off because proptest looks for its configuration on disk;
# provenance is permissive because kernel addresses become pointers.
miri: toolchain
	@rustup component list --toolchain $(TOOLCHAIN) --installed | grep -q '^miri' || \
	  rustup component add miri --toolchain $(TOOLCHAIN)
	MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" PROPTEST_CASES=$(or $(CASES),4) \
	  cargo miri test --lib

# The host tests under AddressSanitizer (out-of-bounds accesses, use after
# free and leaks in the portable core's unsafe code, on the real heap), built
# apart in target/asan for the host triple, as the sanitizer needs.
asan: toolchain
	RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
	  cargo test --lib --target $$(rustc -vV | sed -n 's/^host: //p')

## Housekeeping ########################################################

clippy: toolchain
	cargo clippy --lib --tests --benches --bins --features bench
	cargo kernel-clippy
	cargo kernel-clippy-x86_64

clean:
	cargo clean
	rm -rf $(BUILD)
