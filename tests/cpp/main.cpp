// Runs the registered test cases (all, or those named on the command line)
// and prints "N passed, M failed". A watchdog alarm (MRCPP_TIMEOUT seconds,
// default 120) makes a hung test fail instead of hanging the run.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness.hpp"

namespace {
extern "C" void on_alarm(int) {
    const char msg[] = "mrcpp tests: watchdog timeout\n";
    ssize_t rc = ::write(2, msg, sizeof msg - 1);
    static_cast<void>(rc);
    std::_Exit(2);
}
}  // namespace

int main(int argc, char **argv) {
    unsigned timeout = 120;
    if (const char *t = std::getenv("MRCPP_TIMEOUT")) timeout = static_cast<unsigned>(std::atoi(t));
    std::signal(SIGALRM, on_alarm);
    ::alarm(timeout);
    std::signal(SIGPIPE, SIG_IGN);

    int passed = 0, failed = 0;
    for (const auto &tc : th::registry()) {
        if (argc > 1) {
            bool wanted = false;
            for (int i = 1; i < argc; ++i) wanted = wanted || std::strcmp(argv[i], tc.name) == 0;
            if (!wanted) continue;
        }
        const int before = th::failures();
        const long long t0 = th::now_ms();
        try {
            tc.fn();
        } catch (const std::exception &e) {
            th::fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
        } catch (...) {
            th::fail(__FILE__, __LINE__, "uncaught exception");
        }
        const bool ok = th::failures() == before;
        std::printf("%-32s %s (%lld ms)\n", tc.name, ok ? "ok" : "FAILED", th::now_ms() - t0);
        std::fflush(stdout);
        (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
