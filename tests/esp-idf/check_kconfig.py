#!/usr/bin/env python3
"""Checks of the ESP-IDF component's Kconfig, without ESP-IDF.

    check_kconfig.py structure <repo>
        Plain Python, always runs. The component's Kconfig (and the example's
        Kconfig.projbuild) are well formed for what they use: balanced
        menus, every option typed, prompted, with a default and help, a range
        on every int, names prefixed MICROROUTE_ (DEMO_ in the example).
        Every CONFIG_MICROROUTE_* the component's C and CMake files read is
        defined, and every option is read somewhere. The host-check stub
        tests/esp-idf/stubs/sdkconfig.h holds exactly the Kconfig defaults.

    check_kconfig.py parse <repo> [--cc <C compiler>]
        With kconfiglib (PyPI "kconfiglib", or ESP-IDF's "esp-idf-kconfig",
        which provides the same module): the files parse without warnings
        beside a stand-in for lwIP's LWIP_MAX_SOCKETS, the defaults evaluate
        to the stub's values, and MICROROUTE_MAX_CONNECTIONS is bounded by
        LWIP_MAX_SOCKETS. With --cc, the sdkconfig.h kconfiglib writes is
        used to compile the shim: accepted with the defaults, stopped by the
        shim's #error when connections + reserved sockets exceed
        LWIP_MAX_SOCKETS. Exits 77 (skipped) when kconfiglib is not installed.
"""

import os
import re
import subprocess
import sys
import tempfile

SKIP = 77


class Checks:
    def __init__(self):
        self.failures = 0

    def fail(self, msg):
        print("FAIL: " + msg)
        self.failures += 1

    def eq(self, what, got, want):
        if got != want:
            self.fail("%s: got %r, want %r" % (what, got, want))


# ---------------------------------------------------------------------------
# A small reader for the Kconfig subset the files use.
# ---------------------------------------------------------------------------

def read_kconfig(path, checks, prefix):
    """Returns {name: {"type", "prompt", "default", "range", "help"}}."""
    options = {}
    depth = 0
    current = None
    in_help = False
    help_indent = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, raw in enumerate(lines, 1):
        where = "%s:%d" % (os.path.basename(path), number)
        if "\t" in raw:
            checks.fail("%s: tab character (ESP-IDF's kconfcheck wants spaces)" % where)
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if in_help:
            if not line:
                continue
            if help_indent is None:
                help_indent = indent
            if indent >= help_indent and help_indent > 0:
                current["help"] += line + " "
                continue
            in_help = False
        if not line or line.startswith("#"):
            continue
        word = line.split()[0]
        if word in ("menu", "mainmenu"):
            depth += 1
            current = None
        elif word == "endmenu":
            depth -= 1
            current = None
            if depth < 0:
                checks.fail("%s: endmenu without menu" % where)
        elif word == "config":
            name = line.split()[1]
            if not name.startswith(prefix):
                checks.fail("%s: option %s lacks the prefix %s" % (where, name, prefix))
            if name in options:
                checks.fail("%s: option %s defined twice" % (where, name))
            current = {"type": None, "prompt": None, "default": None, "range": None, "help": ""}
            options[name] = current
        elif current is None:
            checks.fail("%s: '%s' outside an option" % (where, line))
        elif word in ("int", "bool", "string", "hex"):
            current["type"] = word
            m = re.match(r'^\w+\s+"(.*)"$', line)
            current["prompt"] = m.group(1) if m else None
        elif word == "default":
            value = line[len("default"):].strip()
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1]
            current["default"] = value
        elif word == "range":
            current["range"] = line.split()[1:]
        elif word == "help":
            in_help = True
            help_indent = None
        elif word in ("depends", "select", "imply"):
            pass
        else:
            checks.fail("%s: unexpected line '%s'" % (where, line))
    if depth != 0:
        checks.fail("%s: %d menu(s) not closed" % (os.path.basename(path), depth))
    for name, opt in options.items():
        if opt["type"] is None:
            checks.fail("%s: no type" % name)
        if not opt["prompt"]:
            checks.fail("%s: no prompt (not visible in menuconfig)" % name)
        if opt["default"] is None:
            checks.fail("%s: no default" % name)
        if not opt["help"].strip():
            checks.fail("%s: no help text" % name)
        if opt["type"] == "int" and not opt["range"]:
            checks.fail("%s: an int without a range" % name)
        if opt["type"] == "int" and opt["range"] and opt["default"] is not None:
            low, high = opt["range"]
            if low.isdigit() and int(opt["default"]) < int(low):
                checks.fail("%s: default below the range" % name)
            if high.isdigit() and int(opt["default"]) > int(high):
                checks.fail("%s: default above the range" % name)
    return options


def stub_defines(path):
    """The #define CONFIG_X value pairs of the stub sdkconfig.h."""
    defines = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*#define\s+(CONFIG_\w+)\s+(.+?)\s*$", line)
            if m:
                value = m.group(2)
                if value.startswith('"') and value.endswith('"'):
                    value = value[1:-1]
                defines[m.group(1)] = value
    return defines


def used_symbols(paths, prefix):
    found = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            found |= set(re.findall(r"CONFIG_(%s\w+)" % prefix, f.read()))
    return found


def expected_stub_value(opt):
    """What ESP-IDF's sdkconfig.h holds for an option left at its default
    (None: not defined, as for a bool that is n)."""
    if opt["type"] == "bool":
        return "1" if opt["default"] == "y" else None
    return opt["default"]


def structure(repo):
    checks = Checks()
    component = os.path.join(repo, "esp-idf", "microroute")
    example = os.path.join(repo, "esp-idf", "example", "main")
    stub = stub_defines(os.path.join(repo, "tests", "esp-idf", "stubs", "sdkconfig.h"))

    for kconfig, prefix, readers in (
        (os.path.join(component, "Kconfig"), "MICROROUTE_",
         [os.path.join(component, n) for n in ("microroute_esp.c", "CMakeLists.txt")]
         + [os.path.join(component, "include", "microroute_esp.h")]),
        (os.path.join(example, "Kconfig.projbuild"), "DEMO_", [os.path.join(example, "main.c")]),
    ):
        options = read_kconfig(kconfig, checks, prefix)
        if not options:
            checks.fail("%s: no options found" % kconfig)
        used = used_symbols(readers, prefix)
        for name in sorted(used - set(options)):
            checks.fail("CONFIG_%s is read but not defined in %s" % (name, kconfig))
        for name in sorted(set(options) - used):
            checks.fail("%s is defined in %s but never read" % (name, kconfig))
        for name, opt in sorted(options.items()):
            want = expected_stub_value(opt)
            got = stub.get("CONFIG_" + name)
            if got != want:
                checks.fail("stubs/sdkconfig.h: CONFIG_%s is %r, the Kconfig default gives %r"
                            % (name, got, want))
        print("%s: %d options" % (os.path.relpath(kconfig, repo), len(options)))

    # MAX_CONNECTIONS must be bounded by lwIP's socket count in Kconfig.
    options = read_kconfig(os.path.join(component, "Kconfig"), Checks(), "MICROROUTE_")
    checks.eq("MICROROUTE_MAX_CONNECTIONS range", options["MICROROUTE_MAX_CONNECTIONS"]["range"],
              ["1", "LWIP_MAX_SOCKETS"])

    # The example's sdkconfig.defaults: CONFIG_ assignments only.
    with open(os.path.join(repo, "esp-idf", "example", "sdkconfig.defaults"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#") and not re.match(r"^CONFIG_\w+=\S+$", line):
                checks.fail("sdkconfig.defaults:%d: not a CONFIG_NAME=value line" % number)
    return checks.failures


# ---------------------------------------------------------------------------
# kconfiglib
# ---------------------------------------------------------------------------

WRAPPER = """\
mainmenu "microroute Kconfig check"

# Stand-in for lwIP's option (components/lwip/Kconfig): default 10.
config LWIP_MAX_SOCKETS
    int "Max number of open sockets"
    range 1 253
    default 10

source "{component}"
source "{example}"
"""


def load(kconfiglib, wrapper):
    try:
        return kconfiglib.Kconfig(wrapper, warn_to_stderr=False)
    except TypeError:  # a kconfiglib without that keyword
        return kconfiglib.Kconfig(wrapper)


def compile_shim(cc, repo, include_dir):
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-DESP_PLATFORM",
           "-fsyntax-only", "-I", include_dir,
           "-I", os.path.join(repo, "tests", "esp-idf", "stubs"),
           "-I", os.path.join(repo, "include"),
           "-I", os.path.join(repo, "esp-idf", "microroute", "include"),
           os.path.join(repo, "esp-idf", "microroute", "microroute_esp.c")]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    return result.returncode, result.stdout


def parse(repo, cc):
    try:
        import kconfiglib
    except ImportError:
        print("SKIP: kconfiglib is not installed (pip install kconfiglib, or esp-idf-kconfig)")
        return None
    checks = Checks()
    component = os.path.join(repo, "esp-idf", "microroute", "Kconfig")
    example = os.path.join(repo, "esp-idf", "example", "main", "Kconfig.projbuild")
    stub = stub_defines(os.path.join(repo, "tests", "esp-idf", "stubs", "sdkconfig.h"))

    with tempfile.TemporaryDirectory() as tmp:
        wrapper = os.path.join(tmp, "Kconfig")
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write(WRAPPER.format(component=component, example=example))
        kconf = load(kconfiglib, wrapper)
        for warning in getattr(kconf, "warnings", []):
            checks.fail("kconfiglib: " + warning)

        types = {}
        for path, prefix in ((component, "MICROROUTE_"), (example, "DEMO_")):
            for name, opt in read_kconfig(path, Checks(), prefix).items():
                types[name] = opt["type"]
        names = [n for n in kconf.syms if n.startswith(("MICROROUTE_", "DEMO_"))]
        checks.eq("options kconfiglib found", sorted(names), sorted(types))
        for name in sorted(names):
            sym = kconf.syms[name]
            value = sym.str_value
            if types.get(name) == "bool":
                want = stub.get("CONFIG_" + name)
                got = "1" if value == "y" else None
            else:
                want, got = stub.get("CONFIG_" + name), value
            if got != want:
                checks.fail("%s evaluates to %r, stubs/sdkconfig.h has %r" % (name, got, want))
        print("kconfiglib: %d options evaluated" % len(names))

        # The connection count cannot go above LWIP_MAX_SOCKETS.
        kconf.syms["LWIP_MAX_SOCKETS"].set_value("4")
        kconf.syms["MICROROUTE_MAX_CONNECTIONS"].set_value("6")
        checks.eq("MICROROUTE_MAX_CONNECTIONS with LWIP_MAX_SOCKETS=4 and a user value 6",
                  kconf.syms["MICROROUTE_MAX_CONNECTIONS"].str_value, "4")

        if cc:
            # The sdkconfig.h kconfiglib writes, fed to the shim.
            for lwip, connections, ok in (("10", "6", True), ("16", "14", True),
                                          ("7", "6", False), ("16", "15", False)):
                kconf = load(kconfiglib, wrapper)
                kconf.syms["LWIP_MAX_SOCKETS"].set_value(lwip)
                kconf.syms["MICROROUTE_MAX_CONNECTIONS"].set_value(connections)
                include = os.path.join(tmp, "lwip%s_conn%s" % (lwip, connections))
                os.makedirs(include)
                kconf.write_autoconf(os.path.join(include, "sdkconfig.h"))
                rc, out = compile_shim(cc, repo, include)
                what = "shim with LWIP_MAX_SOCKETS=%s, MAX_CONNECTIONS=%s" % (lwip, connections)
                if ok and rc != 0:
                    checks.fail("%s does not compile:\n%s" % (what, out))
                elif not ok and (rc == 0 or "exceeds CONFIG_LWIP_MAX_SOCKETS" not in out):
                    checks.fail("%s: the budget #error did not stop it:\n%s" % (what, out))
            print("kconfiglib: the generated sdkconfig.h drives the shim's socket check")
    return checks.failures


def main(argv):
    if len(argv) < 3 or argv[1] not in ("structure", "parse"):
        print(__doc__)
        return 2
    repo = os.path.abspath(argv[2])
    cc = None
    if "--cc" in argv:
        cc = argv[argv.index("--cc") + 1]
    failures = structure(repo) if argv[1] == "structure" else parse(repo, cc)
    if failures is None:
        return SKIP
    if failures:
        print("%d check(s) failed" % failures)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
