#!/bin/sh
# A stand-in for cargo in the stub ESP-IDF build (check_component.cmake):
# records its arguments and the environment the component gives it in
# $FAKE_CARGO_LOG, then "builds" the staticlib by linking to $FAKE_CARGO_LIB (the
# host libmicroroute.a) to where cargo would write it:
# $CARGO_TARGET_DIR/<--target>/<--profile>/libmicroroute.a.
set -eu
: "${FAKE_CARGO_LOG:?}" "${FAKE_CARGO_LIB:?}" "${CARGO_TARGET_DIR:?}"
target=""
profile=""
prev=""
{
    for arg in "$@"; do
        printf 'ARG %s\n' "$arg"
        case "$prev" in
            --target) target=$arg ;;
            --profile) profile=$arg ;;
        esac
        prev=$arg
    done
    for name in RUSTUP_TOOLCHAIN CARGO_TARGET_DIR RUSTFLAGS CARGO_PROFILE_RELEASE_SMALL_PANIC; do
        eval "value=\${$name-<unset>}"
        printf 'ENV %s=%s\n' "$name" "$value"
    done
    printf 'CWD %s\n' "$(pwd)"
} >"$FAKE_CARGO_LOG"
[ -n "$target" ] && [ -n "$profile" ] || { echo "fake cargo: no --target or --profile" >&2; exit 2; }
mkdir -p "$CARGO_TARGET_DIR/$target/$profile"
ln -sf "$FAKE_CARGO_LIB" "$CARGO_TARGET_DIR/$target/$profile/libmicroroute.a"
