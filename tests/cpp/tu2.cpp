// A second translation unit including the header: the inline functions and
// the trampolines must link once (no ODR clash) and work from either unit.
#include "microroute.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

void tu2_register_routes(mr::Server &srv, std::atomic<int> &calls) {
    srv.route("GET", "/tu2", [&calls](mr::Request &, mr::Response &resp) {
        resp.set_text("tu2 call " + std::to_string(++calls));
    });
}

// Which values Response::json takes (checked at compile time, not called).
namespace {
template <class T, class = void>
struct can_json : std::false_type {};
template <class T>
struct can_json<T, std::void_t<decltype(std::declval<mr::Response &>().json(
                       "p", std::declval<T>()))>> : std::true_type {};

static_assert(can_json<const char *>::value);
static_assert(can_json<const char (&)[3]>::value);
static_assert(can_json<std::string>::value);
static_assert(can_json<const std::string &>::value);
static_assert(can_json<std::string_view>::value);
static_assert(can_json<std::nullptr_t>::value);
static_assert(can_json<bool>::value);
static_assert(can_json<int>::value);
static_assert(can_json<unsigned>::value);
static_assert(can_json<long long>::value);
static_assert(can_json<std::uint64_t>::value);
static_assert(can_json<std::int8_t>::value);
static_assert(can_json<std::uint8_t>::value);
static_assert(can_json<short>::value);
static_assert(can_json<double>::value);
static_assert(can_json<float>::value);
static_assert(can_json<long double>::value);
// Pointers other than strings do not silently become bool, nor characters numbers.
static_assert(!can_json<int *>::value);
static_assert(!can_json<void *>::value);
static_assert(!can_json<char>::value);
static_assert(!can_json<wchar_t>::value);
}  // namespace
