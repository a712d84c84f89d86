// Test harness for the C++ wrapper tests: CHECK macros, a test registry and a
// small blocking HTTP/1.1 client over loopback sockets (POSIX). Every socket
// has a receive/send timeout and main() arms an alarm, so a misbehaving
// server makes a test fail, never hang.
#ifndef MICROROUTE_TESTS_CPP_HARNESS_HPP
#define MICROROUTE_TESTS_CPP_HARNESS_HPP

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace th {

// ---- checks -----------------------------------------------------------------

inline std::atomic<int> &failures() {
    static std::atomic<int> n{0};
    return n;
}

inline std::string escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c >= 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else out += static_cast<char>(c);
    }
    return out;
}

inline void fail(const char *file, int line, const std::string &what) {
    static std::mutex m;
    std::lock_guard<std::mutex> g(m);
    failures()++;
    std::fprintf(stderr, "%s:%d: %s\n", file, line, what.c_str());
    std::fflush(stderr);
}

template <class T>
std::string show(const T &v) {
    std::ostringstream o;
    o << v;
    return o.str();
}
inline std::string show(const std::string &v) { return "\"" + escape(v) + "\""; }
inline std::string show(std::string_view v) { return "\"" + escape(v) + "\""; }
inline std::string show(const char *v) { return v ? "\"" + escape(v) + "\"" : "(null)"; }
inline std::string show(const std::optional<std::string> &v) {
    return v ? show(*v) : std::string("nullopt");
}
inline std::string show(const std::optional<std::string_view> &v) {
    return v ? show(*v) : std::string("nullopt");
}

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) th::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");   \
    } while (0)

#define CHECK_EQ(a, b)                                                          \
    do {                                                                        \
        const auto &th_a_ = (a);                                                \
        const auto &th_b_ = (b);                                                \
        if (!(th_a_ == th_b_))                                                  \
            th::fail(__FILE__, __LINE__,                                        \
                     "CHECK_EQ(" #a ", " #b ") failed: got " + th::show(th_a_) + \
                         ", expected " + th::show(th_b_));                      \
    } while (0)

// ---- test registry ----------------------------------------------------------

struct TestCase {
    const char *name;
    void (*fn)();
};

inline std::vector<TestCase> &registry() {
    static std::vector<TestCase> r;
    return r;
}

struct Register {
    Register(const char *name, void (*fn)()) {
        registry().push_back({name, fn});
    }
};

#define TEST_CASE(name)                                                         \
    static void name();                                                         \
    static th::Register th_reg_##name(#name, &name);                     \
    static void name()

// ---- client -----------------------------------------------------------------

constexpr int kIoTimeoutMs = 5000;

inline long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

struct Response {
    bool ok = false;        // a complete response was parsed
    bool complete = false;  // the body ended as framed (chunked: the last chunk came)
    std::string version;
    int status = 0;
    std::string reason;
    std::string head;  // status line to the blank line, included
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // decoded
    bool chunked = false;

    std::optional<std::string> header(std::string_view name) const {
        for (const auto &h : headers)
            if (iequal(h.first, name)) return h.second;
        return std::nullopt;
    }
    int count(std::string_view name) const {
        int n = 0;
        for (const auto &h : headers)
            if (iequal(h.first, name)) n++;
        return n;
    }
    // The head without its Date line (checked to be there exactly once).
    std::string head_without_date() const {
        std::string out;
        std::size_t p = 0;
        while (p < head.size()) {
            std::size_t e = head.find("\r\n", p);
            std::size_t l = (e == std::string::npos ? head.size() : e + 2) - p;
            std::string line = head.substr(p, l);
            if (!(line.size() >= 5 && iequal(std::string_view(line).substr(0, 5), "Date:")))
                out += line;
            p += l;
        }
        return out;
    }

    static bool iequal(std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i) {
            char x = a[i], y = b[i];
            if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
            if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
            if (x != y) return false;
        }
        return true;
    }
};

class Conn {
public:
    explicit Conn(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return;
        timeval tv{};
        tv.tv_sec = kIoTimeoutMs / 1000;
        tv.tv_usec = (kIoTimeoutMs % 1000) * 1000;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~Conn() {
        if (fd_ >= 0) ::close(fd_);
    }
    Conn(const Conn &) = delete;
    Conn &operator=(const Conn &) = delete;

    bool connected() const { return fd_ >= 0; }

    bool send(std::string_view data) {
        if (fd_ < 0) return false;
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one response ("HEAD" requests: pass head = true).
    Response read_response(bool head = false) {
        Response r;
        std::size_t hend;
        while ((hend = buf_.find("\r\n\r\n")) == std::string::npos)
            if (fill() <= 0) return r;
        r.head = buf_.substr(0, hend + 4);
        buf_.erase(0, hend + 4);

        std::size_t eol = r.head.find("\r\n");
        std::string status_line = r.head.substr(0, eol);
        std::size_t sp1 = status_line.find(' ');
        if (sp1 == std::string::npos) return r;
        r.version = status_line.substr(0, sp1);
        r.status = std::atoi(status_line.c_str() + sp1 + 1);
        std::size_t sp2 = status_line.find(' ', sp1 + 1);
        if (sp2 != std::string::npos) r.reason = status_line.substr(sp2 + 1);
        std::size_t p = eol + 2;
        while (p < r.head.size() - 2) {
            std::size_t e = r.head.find("\r\n", p);
            std::string line = r.head.substr(p, e - p);
            std::size_t colon = line.find(':');
            if (colon == std::string::npos) return r;
            std::size_t v = colon + 1;
            while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) v++;
            r.headers.emplace_back(line.substr(0, colon), line.substr(v));
            p = e + 2;
        }

        auto te = r.header("Transfer-Encoding");
        auto cl = r.header("Content-Length");
        if (head || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) {
            r.complete = true;
        } else if (te && *te == "chunked") {
            r.chunked = true;
            for (;;) {
                std::size_t e;
                while ((e = buf_.find("\r\n")) == std::string::npos)
                    if (fill() <= 0) return finish(r, false);
                std::size_t size = std::strtoul(buf_.substr(0, e).c_str(), nullptr, 16);
                buf_.erase(0, e + 2);
                while (buf_.size() < size + 2)
                    if (fill() <= 0) {
                        r.body += buf_.substr(0, size);
                        buf_.clear();
                        return finish(r, false);
                    }
                r.body += buf_.substr(0, size);
                buf_.erase(0, size + 2);
                if (size == 0) break;
            }
            return finish(r, true);
        } else if (cl) {
            std::size_t n = std::strtoul(cl->c_str(), nullptr, 10);
            while (buf_.size() < n)
                if (fill() <= 0) {
                    r.body = buf_;
                    buf_.clear();
                    return finish(r, false);
                }
            r.body = buf_.substr(0, n);
            buf_.erase(0, n);
            r.complete = true;
        } else {
            while (fill() > 0) {
            }
            r.body = buf_;
            buf_.clear();
            r.complete = true;  // close-delimited: the end is the close
        }
        r.ok = true;
        return r;
    }

    // 1 if the peer closed within `ms` (EOF or reset), 0 if still open with
    // nothing to read, -1 if bytes arrived instead.
    int wait_eof(int ms) {
        if (!buf_.empty()) return -1;
        long long end = now_ms() + ms;
        for (;;) {
            long long left = end - now_ms();
            if (left <= 0) return 0;
            pollfd p{fd_, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left));
            if (rc < 0 && errno == EINTR) continue;
            if (rc <= 0) return 0;
            char c;
            ssize_t n = ::recv(fd_, &c, 1, 0);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 1;
            if (n > 0) {
                buf_.push_back(c);
                return -1;
            }
        }
    }

    // Everything until the peer closes (or the timeout).
    std::string read_all() {
        while (fill() > 0) {
        }
        std::string out;
        out.swap(buf_);
        return out;
    }

private:
    static Response finish(Response &r, bool complete) {
        r.complete = complete;
        r.ok = complete;
        return r;
    }

    ssize_t fill() {
        if (fd_ < 0) return -1;
        char tmp[16384];
        for (;;) {
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n > 0) buf_.append(tmp, static_cast<std::size_t>(n));
            return n;
        }
    }

    int fd_ = -1;
    std::string buf_;
};

// One request on a fresh connection; HEAD detected from the request text.
inline Response request(int port, std::string_view raw) {
    Conn c(port);
    if (!c.connected() || !c.send(raw)) return Response{};
    return c.read_response(raw.substr(0, 5) == "HEAD ");
}

// GET `target` (keep-alive request, the connection is then dropped).
inline Response get(int port, std::string_view target, std::string_view extra_headers = "") {
    std::string raw = "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
                      std::string(extra_headers) + "\r\n";
    return request(port, raw);
}

// True if nothing accepts connections on 127.0.0.1:port.
inline bool refused(int port) {
    Conn c(port);
    return !c.connected();
}

}  // namespace th

#endif  // MICROROUTE_TESTS_CPP_HARNESS_HPP
