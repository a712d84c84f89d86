#!/bin/sh
# Builds and runs the C tests and the C examples without CMake: gcc against
# target/debug/libmicroroute.a (built by `cargo build` first).
#
#   tests/c/run_direct.sh              all tests and examples
#   tests/c/run_direct.sh --valgrind   the same, each also under memcheck
#   tests/c/run_direct.sh test_request only the named programs
#
# Environment: CC (default gcc), CXX (default g++), OUT (default a temp dir).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CC=${CC:-gcc}
CXX=${CXX:-g++}
OUT=${OUT:-$(mktemp -d /tmp/microroute-ctests.XXXXXX)}
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
inc="-I$root/include -I$here"
# --show-possibly-lost=no only hides the thread-stack records of std (display only)
vg="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no -q"

tests="test_lifecycle test_request test_response test_api_misuse test_limits test_concurrency test_streaming test_files"
[ -n "$only" ] && tests=$only
failed=""
pass=0

run() { # name command...
    name=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        failed="$failed $name"
    fi
}

for t in $tests; do
    case $t in test_*) ;; *) continue ;; esac
    $CC -std=c99 -Wall -Wextra -pedantic -g $inc -o "$OUT/$t" "$here/$t.c" "$here/testlib.c" $libs || {
        failed="$failed $t(build)"
        continue
    }
    run "$t" env TL_TIMEOUT=50 "$OUT/$t"
    [ $valgrind = 1 ] && run "$t/valgrind" env TL_QUICK=1 TL_TIMEOUT=110 $vg "$OUT/$t"
done

if [ -z "$only" ]; then
    # the header alone: strict C99 in two translation units, and C++17
    if $CC -std=c99 -Wall -Wextra -pedantic -Werror -I"$root/include" -o "$OUT/header_c99" \
        "$here/header_c99_a.c" "$here/header_c99_b.c" $libs; then
        run header_c99 "$OUT/header_c99"
    else
        failed="$failed header_c99(build)"
    fi
    if command -v "$CXX" >/dev/null 2>&1; then
        if $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror -I"$root/include" -o "$OUT/header_cpp" \
            "$here/header_cpp.cpp" $libs; then
            run header_cpp "$OUT/header_cpp"
        else
            failed="$failed header_cpp(build)"
        fi
    fi
    # the examples, run by their driver
    for ex in hello demo; do
        # the demo serves c_examples/sse.html and the folder c_examples/www
        $CC -std=c11 -Wall -Wextra -pedantic -g -I"$root/include" -o "$OUT/$ex" \
            -DDEMO_SSE_HTML="\"$root/c_examples/sse.html\"" \
            -DDEMO_WWW_DIR="\"$root/c_examples/www\"" \
            "$root/c_examples/$ex.c" $libs || {
            failed="$failed $ex(build)"
            continue
        }
        run "example_$ex" python3 "$root/c_examples/run_example.py" "$ex" "$OUT/$ex"
        [ $valgrind = 1 ] && run "example_$ex/valgrind" python3 "$root/c_examples/run_example.py" \
            --start-timeout 60 --exit-timeout 60 "$ex" $vg "$OUT/$ex"
    done
fi

echo
echo "binaries in $OUT"
if [ -n "$failed" ]; then
    echo "passed: $pass; FAILED:$failed"
    exit 1
fi
echo "passed: $pass; all passed"
