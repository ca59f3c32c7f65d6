#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60), one after the
# other, and prints the executions and failures of each. Called by `make fuzz`.
#
#   src/fuzz/run.sh [SECONDS] [TARGET...]
#
# Builds, corpora and logs go to target/fuzz/ (ignored by git); the corpus
# grows from run to run. At every run, platform_mutated is seeded from the
# committed fixtures, src/platform/testdata/*.dtb, with QEMU's 1 MiB padding
# cut off; pvh_start_info from each machine of src/platform/testdata/x86/ as
# one input of region records (physical.rs), start info first; acpi_madt from
# those machines' MADT bodies. A crash, hang (over 10 s for one input) or out-of-memory (over
# 2 GiB) stops that target; its input is copied to src/fuzz/regressions/TARGET/
# for committing, and the script exits 1 after the other targets ran.
set -euo pipefail

seconds=${1:-60}
shift || true
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fuzz_dir=$root/src/fuzz
work=$root/target/fuzz
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")

# The big-endian header word number $2 of the blob $1.
header_word() { od -An -tu4 --endian=big -j $(($2 * 4)) -N4 "$1" | tr -d ' '; }

# Copies the fixtures into $1, each cut to the end of its strings block with
# `totalsize` set to match, so libFuzzer's inputs stay a few KiB long.
seed_fixtures() {
  local into=$1 fixture out length
  rm -rf "$into" && mkdir -p "$into"
  for fixture in "$root"/src/platform/testdata/*.dtb; do
    out=$into/$(basename "$fixture")
    length=$(( $(header_word "$fixture" 3) + $(header_word "$fixture" 8) ))
    (( length <= $(stat -c %s "$fixture") )) || length=$(stat -c %s "$fixture")
    head -c "$length" "$fixture" >"$out"
    printf "$(printf '\\%03o' $((length >> 24 & 255)) $((length >> 16 & 255)) $((length >> 8 & 255)) $((length & 255)))" |
      dd of="$out" bs=1 seek=4 count=4 conv=notrunc status=none
  done
}

# The little-endian bytes of the number $1, $2 bytes wide, on stdout.
little_endian() {
  local value=$1 width=$2 i
  for ((i = 0; i < width; i++)); do
    printf "$(printf '\\%03o' $(((value >> (8 * i)) & 255)))"
  done
}

# One input per QEMU machine of testdata/x86/ into $1, as physical.rs decodes
# it: a record (u64 base, u16 length, bytes) per dumped region, the start
# info first since the target reads it at the first region's base.
seed_x86_memory() {
  local into=$1 machine file
  rm -rf "$into" && mkdir -p "$into"
  for machine in "$root"/src/platform/testdata/x86/*/; do
    {
      for file in "$machine"*-start-info.bin; do record "$file"; done
      for file in "$machine"*.bin; do [[ $file == *-start-info.bin ]] || record "$file"; done
    } >"$into/$(basename "$machine")"
  done
}

# The region record of the fixture file $1, named <hex base>-<what>.bin.
# Its length must fit the record's u16: exit (not return, which set -e
# ignores where the caller tests the call) rather than write a wrapped one.
record() {
  local size
  size=$(stat -c %s "$1")
  if ((size > 65535)); then
    echo "$0: $1 is $size bytes, more than a region record's u16 length holds" >&2
    exit 1
  fi
  little_endian $((16#$(basename "$1" | cut -d- -f1))) 8
  little_endian "$size" 2
  cat "$1"
}

# The MADT bodies (past the 36-byte header) of the machines of testdata/x86/ into $1.
seed_x86_madts() {
  local into=$1 madt
  rm -rf "$into" && mkdir -p "$into"
  for madt in "$root"/src/platform/testdata/x86/*/*-apic.bin; do
    tail -c +37 "$madt" >"$into/$(basename "$(dirname "$madt")")"
  done
}

mkdir -p "$work/logs"
echo "building the fuzz targets (cargo fuzz, $(rustc --version))"
cargo fuzz build --fuzz-dir "$fuzz_dir" --target-dir "$work" >/dev/null 2>"$work/logs/build.log" ||
  { cat "$work/logs/build.log" >&2; exit 1; }

failed=0
summary=()
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target
  artifacts=$fuzz_dir/artifacts/$target
  regressions=$fuzz_dir/regressions/$target
  mkdir -p "$corpus" "$artifacts"
  inputs=("$corpus")
  case $target in
    platform_mutated) seed_fixtures "$work/seeds/$target" ;;
    pvh_start_info) seed_x86_memory "$work/seeds/$target" ;;
    acpi_madt) seed_x86_madts "$work/seeds/$target" ;;
  esac
  [[ ! -d $work/seeds/$target ]] || inputs+=("$work/seeds/$target")
  # The device-tree dictionary (magic, tokens, property names) serves only
  # the device-tree targets.
  dictionary=()
  [[ $target != platform_* ]] || dictionary=(-dict="$fuzz_dir/dtb.dict")
  log=$work/logs/$target.log
  stamp=$(mktemp)
  echo "fuzzing $target for $seconds s (log: ${log#"$root"/})"
  status=0
  cargo fuzz run --fuzz-dir "$fuzz_dir" --target-dir "$work" "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dictionary[@]}" >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  found=()
  while IFS= read -r -d '' artifact; do
    mkdir -p "$regressions"
    cp "$artifact" "$regressions/"
    found+=("${regressions#"$root"/}/$(basename "$artifact")")
  done < <(find "$artifacts" -maxdepth 1 -type f -newer "$stamp" \
             \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -print0)
  rm -f "$stamp"
  if (( status != 0 || ${#found[@]} > 0 )); then
    failed=1
    echo "FAILED $target (exit status $status); its report:" >&2
    # From the first report (a panic, a sanitizer error, a timeout or an
    # out-of-memory) on: the message and the stack trace.
    grep -v '^#[0-9]' "$log" |
      sed -n '/panicked at\|ERROR: \|ALARM: \|out-of-memory/,$p' | head -n 80 >&2 || true
  fi
  summary+=("$(printf '%-18s %12s executions, %d failing input(s) %s' "$target" "${executions:-?}" "${#found[@]}" "${found[*]}")")
done

echo "fuzz summary ($seconds s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
