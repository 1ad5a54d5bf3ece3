// HTTP response headers (lowercase multimap) and the back-off hints servers put in them:
// Retry-After, retry-after-ms, x-ms-retry-after-ms. Pure functions, any thread.
// Malformed values yield std::nullopt, never an error.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mailrelay::http {

// Header name (ASCII lowercase) -> value (surrounding whitespace trimmed).
using HeaderMap = std::multimap<std::string, std::string, std::less<>>;

// One line of a response head as libcurl's header callback hands it over (line end included).
// "HTTP/..." is a status line: a new response begins (the final one after a 100 Continue), so
// the map is cleared. "Name: value" is added with the name lowercased and both parts trimmed.
// Anything else (the blank line ending the head, a line without a name) is ignored.
void AddHeaderLine(HeaderMap& headers, std::string_view line);

// First value of `name` (any case), or nullptr.
const std::string* FindHeader(const HeaderMap& headers, std::string_view name);

// Longest wait we pass on: a server asking for more is treated as asking for this much.
inline constexpr int64_t kMaxRetryAfterSeconds = 24 * 3600;

// Unix time of an HTTP-date in any of the three forms RFC 9110 5.6.7 requires a recipient
// to accept: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", obsolete RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994".
std::optional<int64_t> ParseHttpDate(std::string_view text);

// Seconds to wait from a Retry-After value: delta-seconds as given, an HTTP-date relative to
// now_unix_seconds (0 if already past). Capped at kMaxRetryAfterSeconds.
std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_unix_seconds);

// The server's requested wait in whole seconds (milliseconds rounded up), looking at
// retry-after-ms, then x-ms-retry-after-ms, then Retry-After (the order Azure SDKs use).
std::optional<int64_t> RetryAfterFromHeaders(const HeaderMap& headers, int64_t now_unix_seconds);

}  // namespace mailrelay::http
