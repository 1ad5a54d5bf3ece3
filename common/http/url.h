// URL helpers for the HTTP backends: percent/form encoding and the rule that plain http:// is
// allowed only to loopback hosts (tests, local fakes). Pure functions, any thread.
// Errors are kInvalidArgument and never quote a query string or URL credentials.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::http {

struct UrlParts {
  std::string scheme;  // "http" or "https", lowercase
  std::string host;    // as in the URL; IPv6 literals keep their brackets ("[::1]")
  int port = 0;        // explicit or the scheme's default
  std::string path;    // at least "/"; without the query
  bool loopback = false;
};

// Parses an absolute http(s) URL. Refuses other schemes, user:password@ parts and anything
// libcurl's URL parser refuses.
util::Result<UrlParts> ParseUrl(std::string_view url);

// OK for https:// URLs and for http:// URLs whose host is loopback; an error saying so
// otherwise.
util::Status CheckUrlAllowed(std::string_view url);

// "localhost" (any case), 127.0.0.0/8, ::1 (with or without brackets).
bool IsLoopbackHost(std::string_view host);

// scheme://host:port/path: what may appear in logs and error messages (no query string, which
// can carry signatures or tokens). Falls back to "<invalid URL>".
std::string UrlForLog(std::string_view url);

// RFC 3986 percent-encoding: unreserved characters (ALPHA DIGIT - . _ ~) stay, every other
// byte becomes %XX. Safe for one path segment or one query value.
std::string PercentEncode(std::string_view s);

// application/x-www-form-urlencoded body: name=value pairs joined by '&', each encoded like
// PercentEncode except that space becomes '+'.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace mailrelay::http
