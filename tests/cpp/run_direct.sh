#!/bin/sh
# Builds and runs the C++ wrapper tests without CMake: each C++ compiler found
# (g++, clang++) against target/debug/libmicroroute.a (built by cargo first),
# as C++17 and C++20, plus the chain example through run_chain.py.
#
#   tests/cpp/run_direct.sh              everything
#   tests/cpp/run_direct.sh --valgrind   the same, plus the g++ C++17 build and
#                                        the example under memcheck
#   tests/cpp/run_direct.sh seed_chain   only the named test cases
#
# Environment: CXXS (default "g++ clang++"), OUT (default a temp dir).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CXXS=${CXXS:-"g++ clang++"}
OUT=${OUT:-$(mktemp -d /tmp/microroute-cpptests.XXXXXX)}
valgrind=0
only=""
for arg in "$@"; do
    case $arg in
        --valgrind) valgrind=1 ;;
        *) only="$only $arg" ;;
    esac
done

(cd "$root" && cargo build --lib) || exit 1
lib="$root/target/debug/libmicroroute.a"
libs="$lib -lpthread -ldl -lm"
flags="-Wall -Wextra -Wpedantic -Werror -g -I$root/include -I$here"
srcs="$here/main.cpp $here/test_wrapper.cpp $here/test_json_templates.cpp $here/tu2.cpp"
vg="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no -q"

failed=""
pass=0
run() { # name command...
    name=$1
    shift
    echo "== $name"
    if "$@"; then
        pass=$((pass + 1))
    else
        failed="$failed $name"
    fi
}

first=""
for cxx in $CXXS; do
    command -v "$cxx" >/dev/null 2>&1 || { echo "($cxx not found: skipped)"; continue; }
    for std in c++17 c++20; do
        exe="$OUT/mrcpp_tests_${cxx}_$std"
        if $cxx -std=$std $flags -o "$exe" $srcs $libs; then
            # shellcheck disable=SC2086
            run "$cxx/$std" env MRCPP_TIMEOUT=110 "$exe" $only
            [ -z "$first" ] && first=$exe
        else
            failed="$failed $cxx/$std(build)"
        fi
    done
done

if [ $valgrind = 1 ] && [ -n "$first" ]; then
    # shellcheck disable=SC2086
    run "valgrind" env MRCPP_TIMEOUT=290 $vg "$first" $only
fi

if [ -z "$only" ]; then
    cxx=$(for c in $CXXS; do command -v "$c" >/dev/null 2>&1 && echo "$c" && break; done)
    if [ -n "$cxx" ] && $cxx -std=c++17 $flags -DCHAIN_TEMPLATES_DIR="\"$root/c_examples/templates\"" \
        -o "$OUT/chain" "$root/c_examples/chain.cpp" $libs; then
        run example_chain python3 "$here/run_chain.py" "$OUT/chain"
        # shellcheck disable=SC2086
        [ $valgrind = 1 ] && run example_chain/valgrind python3 "$here/run_chain.py" \
            --start-timeout 60 $vg "$OUT/chain"
    else
        failed="$failed chain(build)"
    fi
fi

echo
echo "binaries in $OUT"
if [ -n "$failed" ]; then
    echo "passed: $pass; FAILED:$failed"
    exit 1
fi
echo "passed: $pass; all passed"
