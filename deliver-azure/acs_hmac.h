// Azure Communication Services access-key (HMAC-SHA256) auth for deliver-azure.
// Pure functions on any thread; the caller supplies the time.
// Failures are InvalidArgument Statuses that never contain the access key.
//
// As the Azure SDKs' HMAC credential policy does it:
//   string to sign = METHOD "\n" path-and-query "\n" x-ms-date ";" host ";" x-ms-content-sha256
//   Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<b64>
// with the HMAC key = base64-decode(access key), x-ms-content-sha256 = base64(SHA-256(body)),
// x-ms-date an RFC 1123 GMT date (util::HttpDate).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::azure {

// "endpoint=https://NAME.communication.azure.com/;accesskey=BASE64": keys are matched
// case-insensitively and in any order, each part is split on its first '=' (the key itself
// may end in '='), blanks around parts are ignored, and so are empty parts (a trailing ';')
// and keys other than these two. The endpoint loses its trailing '/'.
struct ConnectionString {
  std::string endpoint;    // "https://NAME.communication.azure.com"
  std::string access_key;  // base64, as given
};
util::Result<ConnectionString> ParseConnectionString(std::string_view text);

// The two things signing needs from a URL.
struct AcsTarget {
  std::string host;            // host[:port], no scheme; no port when it is the default one
  std::string path_and_query;  // "/emails:send?api-version=2025-09-01", exactly as sent
};
// Splits "http(s)://host[:port]/path?query" (no user info, no fragment).
util::Result<AcsTarget> ParseUrl(std::string_view url);

// base64(SHA-256(body)): the x-ms-content-sha256 header.
std::string ContentSha256(std::string_view body);

// base64(HMAC-SHA256(base64-decode(access_key_b64), message)). InvalidArgument if the key is
// not base64 or is empty.
util::Result<std::string> ComputeSignature(std::string_view access_key_b64,
                                           std::string_view message);

struct AcsSignature {
  std::string x_ms_date;            // header x-ms-date
  std::string x_ms_content_sha256;  // header x-ms-content-sha256
  std::string host;                 // header Host (the value that was signed)
  std::string string_to_sign;
  std::string signature;      // base64
  std::string authorization;  // header Authorization
};

// Signs one request. `method` is upper-cased; `body` must be the exact bytes sent.
util::Result<AcsSignature> SignRequest(std::string_view method, const AcsTarget& target,
                                       std::string_view body, int64_t unix_seconds,
                                       std::string_view access_key_b64);
// The same, from a full URL.
util::Result<AcsSignature> SignRequest(std::string_view method, std::string_view url,
                                       std::string_view body, int64_t unix_seconds,
                                       std::string_view access_key_b64);

}  // namespace mailrelay::azure
