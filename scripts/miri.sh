#!/usr/bin/env bash
# Runs the pure unit tests (parsing, chunked decoding, read buffer, dates,
# router, util, files helpers, JSON paths, the response state machine and
# the connection table) under Miri, which checks them for undefined
# behaviour, out-of-bounds access and leaks of the std/unsafe kind.
#
# Not run here: http::robustness_tests (2 x 20,000 mutated inputs: hours
# under Miri; the fuzz targets cover the same ground natively) and anything
# needing sockets, the executor's reactor, or the C ABI (integration tests).
# Isolation is off only so `SystemTime::now` works (the Date header).
#
# Usage: scripts/miri.sh [extra libtest args]
set -euo pipefail
cd "$(dirname "$0")/.."

rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    rustup component add miri rust-src --toolchain nightly
fi

export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
# A target dir of its own: Miri's artefacts do not mix with normal builds.
export CARGO_TARGET_DIR="${MIRI_TARGET_DIR:-target/miri}"
cargo +nightly miri setup
cargo +nightly miri test --lib -- \
    http::parse:: http::chunked:: http::io:: http::date:: \
    router:: util:: files::tests:: json:: response::tests:: server::conns:: \
    --skip robustness_tests "$@"
