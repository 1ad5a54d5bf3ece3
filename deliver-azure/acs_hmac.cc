#include "deliver-azure/acs_hmac.h"

#include <algorithm>

#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::azure {

namespace {

using util::InvalidArgument;
using util::Result;

constexpr std::string_view kSignedHeaders = "x-ms-date;host;x-ms-content-sha256";

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

}  // namespace

Result<ConnectionString> ParseConnectionString(std::string_view text) {
  ConnectionString cs;
  bool have_endpoint = false;
  bool have_key = false;
  for (const std::string& part : util::Split(text, ';', /*trim=*/true)) {
    size_t eq = part.find('=');
    // Parts are not echoed: one of them is the secret.
    if (eq == std::string::npos) return InvalidArgument("connection string: a part has no '='");
    std::string key = util::ToLower(util::Trim(std::string_view(part).substr(0, eq)));
    std::string value(util::Trim(std::string_view(part).substr(eq + 1)));
    if (key == "endpoint") {
      if (have_endpoint) return InvalidArgument("connection string: endpoint= given twice");
      while (!value.empty() && value.back() == '/') value.pop_back();
      auto target = ParseUrl(value);
      if (!target.ok()) return InvalidArgument("connection string: " + target.status().message());
      if (target->path_and_query != "/") {
        return InvalidArgument("connection string: endpoint must be scheme://host[:port]");
      }
      cs.endpoint = std::move(value);
      have_endpoint = true;
    } else if (key == "accesskey") {
      if (have_key) return InvalidArgument("connection string: accesskey= given twice");
      auto decoded = util::Base64Decode(value);
      if (!decoded || decoded->empty()) {
        return InvalidArgument("connection string: accesskey is not non-empty base64");
      }
      cs.access_key = std::move(value);
      have_key = true;
    }
    // Other keys are none of our business (future SDK additions).
  }
  if (!have_endpoint) return InvalidArgument("connection string: no endpoint=https://...");
  if (!have_key) return InvalidArgument("connection string: no accesskey=...");
  return cs;
}

Result<AcsTarget> ParseUrl(std::string_view url) {
  if (HasControlOrSpace(url)) return InvalidArgument("URL contains spaces or control characters");
  std::string_view rest;
  int default_port;
  if (util::StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
    default_port = 443;
  } else if (util::StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
    default_port = 80;
  } else {
    return InvalidArgument("URL " + util::Printable(url) + " is not http:// or https://");
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  tail = tail.substr(0, tail.find('#'));
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgument("URL with user info is not supported");
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("URL: unterminated [IPv6] host");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return InvalidArgument("URL: junk after [IPv6] host");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") return InvalidArgument("URL has no host");

  AcsTarget target;
  target.host = std::string(host);
  if (!port.empty() || authority.back() == ':') {
    auto n = util::ParseUint(port);
    if (!n || *n == 0 || *n > 65535) return InvalidArgument("URL: bad port");
    // Signed as the SDKs sign it: the default port is not part of the host.
    if (*n != static_cast<uint64_t>(default_port)) target.host += ":" + std::to_string(*n);
  }
  target.path_and_query = std::string(tail);
  if (target.path_and_query.empty() || target.path_and_query[0] != '/') {
    target.path_and_query.insert(0, "/");
  }
  return target;
}

std::string ContentSha256(std::string_view body) { return util::Base64Encode(util::Sha256(body)); }

Result<std::string> ComputeSignature(std::string_view access_key_b64, std::string_view message) {
  auto key = util::Base64Decode(access_key_b64);
  if (!key || key->empty()) return InvalidArgument("ACS access key is not non-empty base64");
  return util::Base64Encode(util::HmacSha256(*key, message));
}

Result<AcsSignature> SignRequest(std::string_view method, const AcsTarget& target,
                                 std::string_view body, int64_t unix_seconds,
                                 std::string_view access_key_b64) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      })) {
    return InvalidArgument("ACS signing: bad HTTP method");
  }
  if (target.host.empty() || HasControlOrSpace(target.host) ||
      HasControlOrSpace(target.path_and_query) || target.path_and_query.empty() ||
      target.path_and_query[0] != '/') {
    return InvalidArgument("ACS signing: bad host or path");
  }
  AcsSignature sig;
  sig.x_ms_date = util::HttpDate(unix_seconds);
  sig.x_ms_content_sha256 = ContentSha256(body);
  sig.host = target.host;
  sig.string_to_sign = util::ToUpper(method) + "\n" + target.path_and_query + "\n" + sig.x_ms_date +
                       ";" + target.host + ";" + sig.x_ms_content_sha256;
  MR_ASSIGN_OR_RETURN(sig.signature, ComputeSignature(access_key_b64, sig.string_to_sign));
  sig.authorization =
      "HMAC-SHA256 SignedHeaders=" + std::string(kSignedHeaders) + "&Signature=" + sig.signature;
  return sig;
}

Result<AcsSignature> SignRequest(std::string_view method, std::string_view url,
                                 std::string_view body, int64_t unix_seconds,
                                 std::string_view access_key_b64) {
  MR_ASSIGN_OR_RETURN(AcsTarget target, ParseUrl(url));
  return SignRequest(method, target, body, unix_seconds, access_key_b64);
}

}  // namespace mailrelay::azure
