#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after the other, single-threaded. Seeds come from fuzz/seeds.py (the
# conformance rows and payloads); the corpus each run grows is kept in
# fuzz/corpus/<target>/ for the next run. Exits nonzero if any target finds
# a crash, panic, hang (>10 s per input) or OOM (>2 GiB); the input that did
# it is in fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run
# <target> fuzz/artifacts/<target>/<file>).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain; installs cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-60}
shift || true
case "$secs" in '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac

rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

python3 seeds.py
cargo +nightly fuzz build

failed=()
for t in "${targets[@]}"; do
    printf '\n==> fuzz %s for %ss\n' "$t" "$secs"
    mkdir -p "corpus/$t" "artifacts/$t"
    start=$(date +%s)
    if cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -dict=dict/http.dict -print_final_stats=1 2>"artifacts/$t/log.txt"; then
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "artifacts/$t/log.txt" || true
    else
        failed+=("$t")
        # The panic message and the input, not the whole log.
        grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "artifacts/$t/log.txt" | head -60 >&2 || true
        tail -5 "artifacts/$t/log.txt" >&2
    fi
    echo "    $(( $(date +%s) - start ))s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing: no crash in ${targets[*]} (${secs}s each)"
