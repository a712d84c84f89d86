#!/usr/bin/env bash
# Compiles the library for ESP-IDF's RISC-V targets the way the ESP-IDF
# component does (esp-idf/microroute/microroute.cmake): nightly cargo,
# -Zbuild-std, profile release-small with panic=abort. This checks that
# the crate and its dependencies compile for the chip; it does not link a
# firmware (that needs ESP-IDF itself) and cannot cover the Xtensa chips
# (their toolchain, espup's `esp`, is not on this machine).
#
# Usage: scripts/esp-check.sh [TARGET...]
#   default targets: riscv32imc-esp-espidf (esp32c2/c3, no 64-bit atomics)
#                    riscv32imac-esp-espidf (esp32c6/h2)
# Needs a nightly toolchain with rust-src; without one it says so and
# exits 0 unless ESP_CHECK_REQUIRED=1.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(riscv32imc-esp-espidf riscv32imac-esp-espidf)

if ! cargo +nightly --version >/dev/null 2>&1 ||
    ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    msg="esp-check: SKIPPED: needs a nightly toolchain with rust-src (rustup toolchain install nightly --component rust-src)"
    if [ "${ESP_CHECK_REQUIRED:-0}" = 1 ]; then
        echo "$msg" >&2
        exit 1
    fi
    echo "$msg"
    exit 0
fi

export CARGO_TARGET_DIR="${ESP_CHECK_TARGET_DIR:-target/esp-check}"
# As the component builds it: panics abort on ESP-IDF (no unwinder there).
export CARGO_PROFILE_RELEASE_SMALL_PANIC=abort
export RUSTFLAGS="--cfg espidf_time64"

for t in "${targets[@]}"; do
    # The firmware default (no templates) and with every feature.
    for features in "--no-default-features" ""; do
        echo "==> $t ${features:-(default features)}"
        # shellcheck disable=SC2086
        cargo +nightly build --locked -Zbuild-std=std,panic_abort --target "$t" \
            --profile release-small --lib $features
    done
    ls -l "$CARGO_TARGET_DIR/$t/release-small/libmicroroute.a"
done
echo "esp-check: the library compiles for: ${targets[*]}"
