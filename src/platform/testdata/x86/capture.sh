#!/usr/bin/env bash
# Regenerates the PVH/ACPI fixtures in this directory from real QEMU runs:
# builds stub.elf (a PVH guest that only halts), boots it under each machine
# below and lets capture.py dump the start info and everything it points at
# into one directory per machine. Needs binutils (as, ld), python3 and
# qemu-system-x86_64 10 (`make qemu` in the repository shows how to get it).
# Run from anywhere; the host tests assert exact values, so check them after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

as --32 -o "$work/stub.o" "$here/stub.s"
ld -m elf_i386 -T "$here/stub.ld" -o "$work/stub.elf" "$work/stub.o"
printf 'initrd bytes for the module fixture\n' > "$work/initrd"

# name | QEMU arguments beyond the common ones
machines=(
  "pc-128m|-M pc -m 128M"
  "pc-4g|-M pc -m 4G"
  "q35-128m|-M q35 -m 128M"
  "q35-4g|-M q35 -m 4G"
  "q35-128m-smp2|-M q35 -m 128M -smp 2"
  "pc-128m-initrd|-M pc -m 128M -initrd $work/initrd"
)
for machine in "${machines[@]}"; do
  IFS='|' read -r name arguments <<< "$machine"
  rm -rf "${here:?}/$name"
  # shellcheck disable=SC2086 # the arguments are words on purpose
  timeout 60 qemu-system-x86_64 $arguments -nic none -display none -serial none \
    -kernel "$work/stub.elf" -append "some command line" \
    -qmp "unix:$work/qmp,server,wait=off" &
  qemu=$!
  python3 "$here/capture.py" "$work/qmp" "$here/$name"
  wait "$qemu"
  rm -f "$work/qmp"
  echo "$name: $(ls "$here/$name" | tr '\n' ' ')"
done
