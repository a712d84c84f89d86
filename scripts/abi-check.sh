#!/usr/bin/env bash
# abi-check.sh: is the current tree's C ABI compatible with a released one?
#
# Usage: scripts/abi-check.sh [--allow-no-base] [--jobs N] [BASE_REF]
#
# Builds libmicroroute.so from BASE_REF (default: the newest v* tag reachable
# from HEAD) and from the current working tree (uncommitted changes included),
# each with CMake the way users build it, then compares the two. Additions are
# fine; anything that breaks a program built against BASE_REF, or a C source
# written for it, is not.
#
# Exit status: 0 compatible (additions allowed), 1 incompatible change,
#              2 usage or setup error (no base tag, build failure, tool error).
#
# Environment:
#   ABI_CACHE   builds, sources and reports (default: <repo>/target/abi-check).
#               Kept between runs so that repeat runs are incremental: each tree
#               has its own CMake build dir and CARGO_TARGET_DIR there, so this
#               never touches (or waits for the lock of) the repo's target/.
#   ABI_JOBS    parallel jobs for make and cargo (default 1, same as --jobs).
#
# What is compared, and why these tools
# -------------------------------------
# C programs see the ABI through include/microroute.h: function signatures,
# typedefs (handler and callback types), struct layouts and enum values, and
# #define constants; and through the ELF exports of the .so: symbol names,
# symbol versions (MICROROUTE_0.1, ...) and the soname. Five checks, in the
# order they run; any one failing fails the whole:
#
# 1. The soname: a change means a new major version, i.e. a break by design.
# 2. Exported symbols with their versions (nm -D): a removed symbol, or one
#    whose version node changed (mr_x@MICROROUTE_0.1 becoming
#    mr_x@MICROROUTE_0.2), breaks programs linked against the base; new ones
#    are additions. abi-compliance-checker reports both too; this check is
#    exact and gives a plain list. A symbol added to a node the base already
#    had is a warning (cmake/microroute.map: additions get a new node).
# 3. MR_* constants from `gcc -dM -E` of both headers: a changed or removed
#    value breaks callers (they are compiled into programs, so the .so cannot
#    tell). MR_VERSION_* are left out: they change with every release.
#    abi-compliance-checker rates a changed constant a Low-severity warning
#    and passes (tried: MR_COOKIE_SAMESITE_NONE 16 -> 32 gives exit 0), and
#    it would warn about every MR_VERSION_* bump, so its own constants check
#    is turned off (-disable-constants-check).
# 4. C declarations, by the C compiler: both headers in one translation unit,
#    where a function or typedef may be declared twice only with compatible
#    types. abi-compliance-checker rates a changed callback typedef (mr_log_fn
#    taking int64_t instead of int) a Low-severity warning and passes; GCC
#    calls it "conflicting types". A released declaration must not change.
# 5. abi-compliance-checker (Debian package of that name), in its header + .so
#    mode: the main tool. It compiles each tree's own microroute.h with GCC,
#    so the types it compares are the C types a C compiler sees (an
#    `unsigned int` parameter that became `uint64_t`, a struct field, an enum
#    value), restricted to the symbols the .so really exports, and it writes
#    a binary (ABI) and a source (API) report with the effect of each change.
#    Not used: abidiff and abi-dumper (abigail-tools, abi-dumper). They read
#    DWARF, and ours is rustc's: Rust types declared in .rs files, not the
#    header's C types. The release profile keeps line tables only, so they
#    see no types unless built with debug=2 (slower; the .so grows from 19
#    to 49 MB). Tried with debug=2: plain abidiff sees a changed parameter in
#    Rust terms (u32 -> u64; Option<unsafe extern "C" fn(.., i32, ..)> ->
#    i64), but it also follows `mr_server *`, opaque to C, into the Rust
#    struct behind it: a private field added to the server's internal state
#    made it report server_free changed (exit 4), a false break on most
#    internal changes. With --headers-dir1/2 that is filtered out, and so is
#    the changed callback (Option<fn> is declared in core, not the header):
#    exit 0, a missed break. What C sees is the header, so the header is
#    what gets compared.
#    (That the header matches the Rust definitions is the header-freshness
#    check's job, in .ci/run.)
#
# Reports: $ABI_CACHE/report/ (summary.txt, the checker's HTML reports, the
# symbol and constant lists of both sides); the script prints the paths.
set -euo pipefail

prog=abi-check
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 2; }
note() { printf '%s: %s\n' "$prog" "$*"; }
usage() { sed -n '2,/^# What is compared/{/^# What is compared/d;s/^# \{0,1\}//;p}' "$0"; }

allow_no_base=0
jobs="${ABI_JOBS:-1}"
base_ref=""
while [ $# -gt 0 ]; do
    case "$1" in
        --allow-no-base) allow_no_base=1 ;;
        --jobs) [ $# -ge 2 ] || die "--jobs needs a number"; jobs="$2"; shift ;;
        --jobs=*) jobs="${1#--jobs=}" ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ -z "$base_ref" ] || die "only one BASE_REF, got '$base_ref' and '$1'"; base_ref="$1" ;;
    esac
    shift
done
if [ $# -gt 0 ]; then
    [ -z "$base_ref" ] && [ $# -eq 1 ] || die "only one BASE_REF"
    base_ref="$1"
fi
case "$jobs" in ''|*[!0-9]*|0) die "--jobs wants a positive number, got '$jobs'" ;; esac

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null) || die "not inside a git checkout: $script_dir"
cd "$top"
[ -f CMakeLists.txt ] && [ -f Cargo.toml ] || die "$top has no CMakeLists.txt / Cargo.toml"

# ---------------------------------------------------------------------------
# The base
# ---------------------------------------------------------------------------
# abi/released records each release as "TAG COMMIT": a clone without tags
# (a CI checkout of one branch) still finds the last release's commit.
released_base() {
    [ -f abi/released ] || return 1
    local tag sha
    read -r tag sha < <(grep -v '^#' abi/released | awk 'NF == 2' | tail -n 1) || return 1
    [ -n "$sha" ] && git cat-file -e "${sha}^{commit}" 2>/dev/null || return 1
    note "base: $tag from abi/released (commit $sha)" >&2
    echo "$sha"
}
if [ -z "$base_ref" ]; then
    if ! base_ref=$(git describe --tags --abbrev=0 --match 'v*' HEAD 2>/dev/null) &&
        ! base_ref=$(released_base); then
        if [ "$allow_no_base" -eq 1 ]; then
            note "no v* tag reachable from HEAD: no released ABI to check against yet; nothing to do (--allow-no-base)."
            exit 0
        fi
        die "no v* tag reachable from HEAD, so there is no released ABI to compare with.
  Tag the first release (git tag v0.1.0), name a base (scripts/abi-check.sh REF),
  or pass --allow-no-base to accept this (exit 0)."
    fi
fi
base_sha=$(git rev-parse --verify --quiet "${base_ref}^{commit}") || die "BASE_REF '$base_ref' is not a commit in $top"
git rev-parse --verify --quiet HEAD >/dev/null || die "the repository has no HEAD commit"
current_desc="working tree at $(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    current_desc="$current_desc + uncommitted changes"
fi
base_desc="$base_ref ($(git rev-parse --short "$base_sha"))"

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
need=()
for pair in cmake:cmake gcc:gcc nm:binutils readelf:binutils abi-compliance-checker:abi-compliance-checker; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]}, and no apt-get to install them with"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    note "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || die "apt-get update failed"
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
command -v cargo >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ] || die "cargo not found (install Rust)"

# ---------------------------------------------------------------------------
# Cache, lock, cleanup
# ---------------------------------------------------------------------------
cache="${ABI_CACHE:-$top/target/abi-check}"
mkdir -p "$cache" || die "cannot create $cache"
cache=$(cd "$cache" && pwd)
exec 9>"$cache/lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    note "waiting for another abi-check using $cache"
    flock 9
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/abi-check.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

report="$cache/report"
rm -rf "$report"
mkdir -p "$report"

# ---------------------------------------------------------------------------
# Sources and builds
# ---------------------------------------------------------------------------
# The base is exported with `git archive` into a fixed folder that is kept
# while the base commit stays the same: the repository gets no extra worktree
# to clean up, and a repeat run reuses the CMake build and cargo's artifacts
# (a fresh folder each time would rebuild the crate: cargo keys on paths and
# mtimes); a new base is exported over it with fresh mtimes, so the crate is
# rebuilt, its dependencies not. An interrupted export is redone, since the
# stamp is written last.
base_root="$cache/base"
base_src="$base_root/src"
mkdir -p "$base_root"
if [ "$(cat "$base_root/commit" 2>/dev/null || true)" != "$base_sha" ] || [ ! -f "$base_src/CMakeLists.txt" ]; then
    rm -f "$base_root/commit"
    rm -rf "$base_src"
    mkdir -p "$base_src"
    # -m: files get the current time, not the commit's. Cargo and make judge
    # staleness by mtime, and going back to an older base must not look
    # older than the build of a newer one still in the folder.
    git archive --format=tar "$base_sha" | tar -x -m -C "$base_src" || die "git archive $base_ref failed"
    printf '%s\n' "$base_sha" >"$base_root/commit"
fi
[ -f "$base_src/CMakeLists.txt" ] || die "$base_desc has no CMakeLists.txt: nothing to build the shared library with"

# build_tree NAME SRC ROOT: builds microroute::shared from SRC in ROOT/build
# with CARGO_TARGET_DIR ROOT/cargo; sets built_so to the library's real file.
built_so=""
build_tree() {
    local name=$1 src=$2 root=$3 log="$3/build.log" start=$SECONDS
    mkdir -p "$root"
    note "building $name (log: $log)"
    : >"$log"
    # CARGO_BUILD_JOBS also reaches the configure step, which compiles the
    # crate once to ask rustc for the staticlib's system libraries.
    if ! CARGO_BUILD_JOBS="$jobs" CARGO_TERM_COLOR=never cmake -S "$src" -B "$root/build" \
            -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DMICROROUTE_CARGO_TARGET_DIR="$root/cargo" \
            -DMICROROUTE_BUILD_SHARED=ON \
            -DMICROROUTE_BUILD_EXAMPLES=OFF \
            -DMICROROUTE_BUILD_TESTS=OFF \
            -DMICROROUTE_INSTALL=OFF >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "configuring $name failed (full log: $log)"
    fi
    if ! CARGO_BUILD_JOBS="$jobs" CARGO_TERM_COLOR=never \
            cmake --build "$root/build" --target microroute_shared --parallel "$jobs" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "building $name failed (full log: $log)"
    fi
    # The target's real file is named by the project version (VERSION
    # property): older builds in the same folder may have left other ones.
    local ver
    ver=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$root/build/CMakeCache.txt")
    built_so="$root/build/libmicroroute.so.$ver"
    [ -n "$ver" ] && [ -f "$built_so" ] || built_so=$(readlink -f "$root/build/libmicroroute.so" || true)
    [ -n "$built_so" ] && [ -f "$built_so" ] || die "building $name gave no libmicroroute.so.* in $root/build"
    note "built $name in $((SECONDS - start)) s: $built_so"
}

# generated_header ROOT: the header build.rs wrote to OUT_DIR in ROOT's cargo
# target dir, from the newest build-script run (there is one run folder per
# feature set and profile; the build uses one).
generated_header() {
    local out newest=""
    for out in "$1"/cargo/*/build/microroute-*/output; do
        [ -f "$out" ] && [ -f "${out%/output}/out/microroute.h" ] || continue
        if [ -z "$newest" ] || [ "$out" -nt "$newest" ]; then newest=$out; fi
    done
    [ -z "$newest" ] || printf '%s\n' "${newest%/output}/out/microroute.h"
}

warnings=()
build_tree "base $base_desc" "$base_src" "$base_root"
old_so=$built_so
old_gen_h=$(generated_header "$base_root")
build_tree "current ($current_desc)" "$top" "$cache/current"
new_so=$built_so
new_gen_h=$(generated_header "$cache/current")

# Which headers to compare. The base: its committed header, which is what the
# release shipped. The current tree: the header build.rs generates from
# src/ffi, which is what the .so implements and what the next commit must
# contain. build.rs copies it into include/ when it runs, but cargo reruns it
# only when src/ffi changes, so include/microroute.h can be stale (after a
# checkout, say); such a difference is reported as a warning.
old_h="$base_src/include/microroute.h"
[ -f "$old_h" ] || die "$base_desc has no include/microroute.h"
if [ -n "$old_gen_h" ] && ! cmp -s "$old_h" "$old_gen_h"; then
    warnings+=("$base_ref's committed include/microroute.h differs from the header its build generates; checked the committed one (what the release shipped)")
fi
new_h="$top/include/microroute.h"
if [ -n "$new_gen_h" ]; then
    if [ ! -f "$new_h" ] || ! cmp -s "$new_h" "$new_gen_h"; then
        warnings+=("include/microroute.h is stale: it differs from the header build.rs generates from src/ffi; checked the generated one ($new_gen_h). Run cargo build and commit include/microroute.h")
        new_h=$new_gen_h
    fi
else
    warnings+=("found no header generated by build.rs under $cache/current/cargo; checked include/microroute.h as it is")
fi
[ -f "$new_h" ] || die "missing header $new_h"

# Snapshot what is compared into the report folder: the current tree may keep
# changing while we look at it, and the report should show what was checked.
mkdir -p "$report/old" "$report/new"
cp "$old_h" "$report/old/microroute.h"
cp "$new_h" "$report/new/microroute.h"
cp "$old_so" "$report/old/"
cp "$new_so" "$report/new/"
old_so="$report/old/$(basename "$old_so")"
new_so="$report/new/$(basename "$new_so")"
old_h="$report/old/microroute.h"
new_h="$report/new/microroute.h"

# ---------------------------------------------------------------------------
# Checks. Each appends one summary line; any break sets broken=1.
# ---------------------------------------------------------------------------
broken=0
summary=()
add_line() { summary+=("$(printf '  %-24s %-6s %s' "$1" "$2" "$3")"); }

# 1. soname
soname() { readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p'; }
old_soname=$(soname "$old_so"); new_soname=$(soname "$new_so")
if [ "$old_soname" = "$new_soname" ]; then
    add_line "soname" ok "$new_soname"
else
    broken=1
    add_line "soname" BREAK "$old_soname -> $new_soname (a new major version)"
fi

# 2. exported symbols with versions. nm prints name@@VERSION for the default
# version of a symbol and name@VERSION for an older one; both count. Version
# nodes themselves show up as absolute (A) symbols: listed apart.
exports() {
    nm -D --defined-only --with-symbol-versions "$1" |
        awk '$2 != "A" && NF >= 3 { s = $3; sub(/@@/, "@", s); print s }' | LC_ALL=C sort -u
}
exports "$old_so" >"$report/old/symbols.txt"
exports "$new_so" >"$report/new/symbols.txt"
LC_ALL=C comm -23 "$report/old/symbols.txt" "$report/new/symbols.txt" >"$report/symbols-removed.txt"
LC_ALL=C comm -13 "$report/old/symbols.txt" "$report/new/symbols.txt" >"$report/symbols-added.txt"
n_old=$(wc -l <"$report/old/symbols.txt"); n_new=$(wc -l <"$report/new/symbols.txt")
n_rm=$(wc -l <"$report/symbols-removed.txt"); n_add=$(wc -l <"$report/symbols-added.txt")
[ "$n_old" -gt 0 ] || die "no exported symbols found in $old_so"
if [ "$n_rm" -eq 0 ]; then
    add_line "exported symbols" ok "$n_old -> $n_new ($n_add added)"
else
    broken=1
    add_line "exported symbols" BREAK "$n_rm removed or re-versioned, $n_add added"
fi

# 3. MR_* constants (not MR_VERSION_*), as the preprocessor defines them.
constants() {
    gcc -dM -E -x c "$1" |
        awk '$1 == "#define" && $2 ~ /^MR_/ && $2 !~ /^MR_VERSION_/ {
                 name = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); print name " " $0 }' |
        LC_ALL=C sort
}
constants "$old_h" >"$report/old/constants.txt" || die "cannot preprocess $old_h"
constants "$new_h" >"$report/new/constants.txt" || die "cannot preprocess $new_h"
: >"$report/constants-changed.txt"
n_const_add=0
while read -r name value; do
    new_value=$(awk -v n="$name" '$1 == n { $1 = ""; sub(/^ +/, ""); print; exit }' "$report/new/constants.txt")
    if ! grep -q "^$name\( \|\$\)" "$report/new/constants.txt"; then
        printf '%s: removed (was %s)\n' "$name" "$value" >>"$report/constants-changed.txt"
    elif [ "$new_value" != "$value" ]; then
        printf '%s: %s -> %s\n' "$name" "$value" "$new_value" >>"$report/constants-changed.txt"
    fi
done <"$report/old/constants.txt"
n_const_add=$(awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' \
    "$report/old/constants.txt" "$report/new/constants.txt" | wc -l)
n_const_bad=$(wc -l <"$report/constants-changed.txt")
if [ "$n_const_bad" -eq 0 ]; then
    add_line "MR_* constants" ok "$(wc -l <"$report/old/constants.txt") unchanged, $n_const_add added"
else
    broken=1
    add_line "MR_* constants" BREAK "$n_const_bad changed or removed"
fi

# 4. Declarations: both headers in one C translation unit. C allows a function
# or typedef to be declared twice only with compatible types, so GCC's
# "conflicting types" errors list exactly the released functions and typedefs
# whose C type changed, callbacks included (abi-compliance-checker rates a
# changed callback typedef a Low "warning" only). Adding const to a pointee
# counts too: a released declaration does not change. Struct and enum
# definitions cannot appear twice in one TU: those errors are ignored here
# (abi-compliance-checker compares layouts and values). MR_* macros of the old
# header are #undef'd first: the constants check owns them.
guard=$(awk '/^#ifndef [A-Za-z_][A-Za-z0-9_]*$/ { g = $2; next }
             g != "" && $1 == "#define" && $2 == g { print g; exit }
             /^#/ { g = "" }' "$old_h")
if [ -n "$guard" ]; then
    sed "s/\<$guard\>/ABI_CHECK_OLD_HEADER_GUARD/g" "$old_h" >"$tmp/old.h"
else
    cp "$old_h" "$tmp/old.h"
fi
cp "$new_h" "$tmp/new.h"
{
    echo '#include "old.h"'
    sed -n 's/^#define \(MR_[A-Za-z0-9_]*\).*/#undef \1/p' "$tmp/old.h"
    echo '#include "new.h"'
} >"$tmp/both.c"
(cd "$tmp" && LC_ALL=C gcc -std=c11 -fsyntax-only -fmax-errors=0 -x c both.c) >"$report/declarations-gcc.txt" 2>&1 || true
{ grep -E "error: conflicting types for '" "$report/declarations-gcc.txt" || true; } |
    sed -E "s/.*conflicting types for '([^']*)'.*/\1/" | LC_ALL=C sort -u >"$report/declarations-changed.txt"
n_decl_bad=$(wc -l <"$report/declarations-changed.txt")
if [ "$n_decl_bad" -eq 0 ]; then
    add_line "C declarations" ok "no released function or typedef changed type"
else
    broken=1
    add_line "C declarations" BREAK "$n_decl_bad released function(s)/typedef(s) changed type"
fi
# The conflicts as GCC tells them (new type, then the old one), for the summary.
decl_details() {
    { grep -E "(error: conflicting types for|note: previous declaration of|note: previous definition of) '" \
        "$report/declarations-gcc.txt" || true; } |
        sed -E -e 's/^(new|old)\.h:[0-9]+:[0-9]+: (error|note): /\1.h: /' \
               -e 's/^new\.h: conflicting types for /now:  /' -e 's/^old\.h: previous (declaration|definition) of /was:  /'
}

# 5. abi-compliance-checker on each tree's header + .so.
old_ver=$(git describe --tags --always "$base_sha" 2>/dev/null || git rev-parse --short "$base_sha")
new_ver="current"
for side in old new; do
    if [ "$side" = old ]; then v=$old_ver h=$old_h so=$old_so; else v=$new_ver h=$new_h so=$new_so; fi
    cat >"$tmp/$side.xml" <<EOF
<version>$v</version>
<headers>$h</headers>
<libs>$so</libs>
EOF
done
acc_out="$report/abi-compliance-checker.txt"
acc_rc=0
(cd "$tmp" && abi-compliance-checker -lib microroute -lang C \
    -old "$tmp/old.xml" -new "$tmp/new.xml" -v1 "$old_ver" -v2 "$new_ver" \
    -disable-constants-check \
    -report-path "$report/compat_report.html" \
    -log1-path "$report/old/acc-log.txt" -log2-path "$report/new/acc-log.txt") >"$acc_out" 2>&1 || acc_rc=$?
# The HTML report as text (perl comes with abi-compliance-checker), and the
# detailed problem sections of its binary and source tabs for the summary.
perl -e '
    binmode STDOUT, ":encoding(UTF-8)";
    local $/; my $s = <STDIN>;
    $s =~ s/.*?<body[^>]*>//s;
    $s =~ s{<(script|style)\b.*?</\1>}{}gsi;
    $s =~ s{<br\s*/?>|</(?:tr|h1|h2|h3|div|table|p)>|<(?:tr|div|h2|table)\b[^>]*>}{\n}gi;
    $s =~ s{</t[dh]>}{ }gi;
    $s =~ s{<[^>]+>}{}g;
    my %e = (amp => "&", lt => "<", gt => ">", quot => "\"", nbsp => " ");
    $s =~ s{&(amp|lt|gt|quot|nbsp);}{$e{$1}}g;
    $s =~ s{&#(\d+);}{chr($1)}ge;
    $s =~ s{&#x([0-9a-f]+);}{chr(hex($1))}gie;
    $s =~ s/[ \t]+/ /g; $s =~ s/^ //mg; $s =~ s/ $//mg; $s =~ s/\n{2,}/\n/g;
    print $s;' <"$report/compat_report.html" >"$report/compat_report.txt" 2>/dev/null || true
acc_details() {
    awk '
        /^Subject Binary Compatibility$/ { tab = "binary (programs built against the base, run with the new .so)" }
        /^Subject Source Compatibility$/ { tab = "source (C code written for the base, compiled against the new header)" }
        /^(Removed Symbols|Problems with .*Severity) [0-9]+$/ { on = 1; if (tab != shown) { print tab ":"; shown = tab } }
        /^(Added Symbols [0-9]+|Header Files [0-9]+)$/ { on = 0 }
        on && !/^(to the top|Change|Effect|[0-9]+)$/ { print "  " $0 }
    ' "$report/compat_report.txt"
}
acc_checked=$(sed -n 's/^Total Symbols \/ Types \([0-9]*\) .*/\1/p' "$report/compat_report.txt" | head -n 1)
acc_bin=$(sed -n 's/^Binary compatibility: *//p' "$acc_out" | head -n 1)
acc_src=$(sed -n 's/^Source compatibility: *//p' "$acc_out" | head -n 1)
# Its warnings (Low severity: a renamed parameter, a changed typedef) do not
# fail it; they are counted here and shown in the summary.
acc_warn=$(sed -n 's/^Total \(binary\|source\) compatibility problems: [0-9]*, warnings: \([0-9]*\).*/\2/p' "$acc_out" |
    awk '{ n += $1 } END { print n + 0 }')
acc_msg="binary ${acc_bin:-?}, source ${acc_src:-?} compatible"
[ "$acc_warn" -eq 0 ] || acc_msg="$acc_msg, $acc_warn warning(s)"
case "$acc_rc" in
    0) add_line "abi-compliance-checker" ok "$acc_msg" ;;
    1) broken=1
       add_line "abi-compliance-checker" BREAK "$acc_msg" ;;
    *) cat "$acc_out" >&2
       die "abi-compliance-checker failed (exit $acc_rc); logs in $report/{old,new}/acc-log.txt" ;;
esac

# Warnings: they do not fail the check.
# The checker's "Total Symbols" counts the base's exported symbols that it
# found declared in the base header: fewer than exported means some were not
# checked for type changes (an export missing from the header).
if [ -n "${acc_checked:-}" ] && [ "$acc_checked" -lt "$n_old" ]; then
    warnings+=("abi-compliance-checker matched only $acc_checked of the base's $n_old exported symbols with declarations in its microroute.h: the others were not checked for type changes")
fi
# New symbols in a version node the base already had: not a break, but a
# program using them records the old node and, run against the base, fails
# with "undefined symbol" instead of "version MICROROUTE_x not found"
# (cmake/microroute.map says to put additions in a new node).
old_nodes=$(sed -n 's/.*@//p' "$report/old/symbols.txt" | sort -u)
n_old_node=0
while IFS= read -r sym; do
    [ -n "$sym" ] || continue
    case "$sym" in *@*) ;; *) continue ;; esac
    if printf '%s\n' "$old_nodes" | grep -qxF "${sym##*@}"; then n_old_node=$((n_old_node + 1)); fi
done <"$report/symbols-added.txt"
if [ "$n_old_node" -gt 0 ]; then
    warnings+=("$n_old_node added symbol(s) sit in a version node $base_ref already had; new functions belong in a new node (see cmake/microroute.map)")
fi

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
{
    echo "ABI check: $base_desc -> $current_desc"
    printf '%s\n' "${summary[@]}"
    if [ -s "$report/symbols-removed.txt" ]; then
        echo "removed or re-versioned symbols (programs linked against $base_ref fail to load):"
        sed 's/^/    /' "$report/symbols-removed.txt"
    fi
    if [ -s "$report/symbols-added.txt" ]; then
        echo "added symbols:"
        sed 's/^/    /' "$report/symbols-added.txt"
    fi
    if [ -s "$report/constants-changed.txt" ]; then
        echo "changed MR_* constants (compiled into callers):"
        sed 's/^/    /' "$report/constants-changed.txt"
    fi
    if [ "$n_decl_bad" -gt 0 ]; then
        echo "changed C declarations (both headers in one C file; GCC's words):"
        decl_details | sed 's/^/    /'
    fi
    if [ "$acc_rc" -eq 1 ] || [ "$acc_warn" -gt 0 ]; then
        if [ "$acc_rc" -eq 1 ]; then echo "abi-compliance-checker problems:"
        else echo "abi-compliance-checker warnings (they do not fail the check):"; fi
        grep -E '^Total (binary|source)' "$acc_out" | sed 's/^/    /' || true
        acc_details | sed 's/^/    /'
    fi
    for w in ${warnings[@]+"${warnings[@]}"}; do echo "warning: $w"; done
    if [ "$broken" -eq 0 ]; then
        echo "verdict: COMPATIBLE with $base_ref$([ "$n_add" -gt 0 ] || [ "$n_const_add" -gt 0 ] && echo ' (additions only)')"
    else
        echo "verdict: INCOMPATIBLE with $base_ref"
    fi
    echo "reports: $report/"
    echo "    compat_report.html (abi-compliance-checker, binary and source tabs; as text: compat_report.txt)"
    echo "    summary.txt  symbols-{added,removed}.txt  constants-changed.txt  declarations-gcc.txt"
    echo "    old/ new/: the headers, libraries, symbol and constant lists compared"
} | tee "$report/summary.txt"

exit "$broken"
