#include "deliver-ses/sigv4.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <utility>

#include "common/util/base64.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::ses {

namespace {

using util::InvalidArgument;
using util::Result;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Undoes %XX escapes; a '%' not followed by two hex digits is kept as a literal '%'. '+' is
// a plus sign (AWS does not read it as a space).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = util::HexDigitValue(s[i + 1]);
      int lo = util::HexDigitValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// RFC 3986 section 5.2.4 on a path, plus what AWS also wants: empty segments ("//")
// dropped. Mirrors botocore's remove_dot_segments.
std::string RemoveDotSegments(std::string_view path) {
  if (path.empty()) return "";
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    pos = slash + 1;
  }
  std::string result = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) result += '/';
    result += out[i];
  }
  if (path.back() == '/' && !out.empty()) result += '/';
  return result;
}

bool IsTokenChar(unsigned char c) {
  // RFC 9110 tchar.
  return IsUnreserved(c) ||
         std::string_view("!#$%&'*+^`|").find(static_cast<char>(c)) != std::string_view::npos;
}

// Trims and collapses runs of blanks to one space (botocore: ' '.join(value.split())).
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool IsUnsignedHeader(std::string_view lower_name) {
  // botocore's SIGNED_HEADERS_BLACKLIST, plus Authorization (it carries the signature).
  return lower_name == "authorization" || lower_name == "expect" || lower_name == "user-agent" ||
         lower_name == "x-amzn-trace-id";
}

bool IsAmzDate(std::string_view d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}

bool IsScopeComponent(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsUnreserved(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

SigningKeys DeriveSigningKeys(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service) {
  SigningKeys k;
  k.k_date = util::HmacSha256("AWS4" + std::string(secret_access_key), date);
  k.k_region = util::HmacSha256(k.k_date, region);
  k.k_service = util::HmacSha256(k.k_region, service);
  k.k_signing = util::HmacSha256(k.k_service, "aws4_request");
  return k;
}

std::string AmzDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view path) {
  std::string normalized = RemoveDotSegments(path);
  if (normalized.empty()) normalized = "/";
  return UriEncode(normalized, /*keep_slash=*/true);
}

std::string CanonicalQueryString(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& piece : util::Split(query, '&', /*trim=*/false)) {
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::string_view p(piece);
    std::string_view key = p.substr(0, eq);
    std::string_view value = eq == std::string::npos ? std::string_view() : p.substr(eq + 1);
    // Decode first so that raw and already-encoded queries canonicalise the same way.
    pairs.emplace_back(UriEncode(PercentDecode(key), false),
                       UriEncode(PercentDecode(value), false));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

Result<SigV4Signature> SignV4(const SigV4Request& request, const Credentials& credentials,
                              const SigV4Scope& scope) {
  if (request.method.empty() || !std::all_of(request.method.begin(), request.method.end(),
                                             [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return InvalidArgument("SigV4: bad HTTP method");
  }
  if (!IsAmzDate(scope.amz_date)) {
    return InvalidArgument("SigV4: date must look like 20240115T120000Z");
  }
  if (!IsScopeComponent(scope.region) || !IsScopeComponent(scope.service)) {
    return InvalidArgument("SigV4: bad region or service name");
  }
  if (!IsScopeComponent(credentials.access_key_id)) {
    return InvalidArgument("SigV4: missing or malformed access key id");
  }
  if (credentials.secret_access_key.empty()) return InvalidArgument("SigV4: no secret access key");
  if (!request.payload_sha256_hex.empty() && !IsLowerHex64(request.payload_sha256_hex)) {
    return InvalidArgument("SigV4: payload hash must be 64 lowercase hex digits");
  }

  SigV4Signature sig;
  sig.headers = request.headers;
  bool has_date = false;
  bool has_token = false;
  for (const Header& h : request.headers) {
    if (h.name.empty() || !std::all_of(h.name.begin(), h.name.end(), [](char c) {
          return IsTokenChar(static_cast<unsigned char>(c));
        })) {
      return InvalidArgument("SigV4: bad header name '" + util::Printable(h.name) + "'");
    }
    if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return InvalidArgument("SigV4: header " + h.name + " contains CR, LF or NUL");
    }
    std::string lower = util::ToLower(h.name);
    if (lower == "authorization") {
      return InvalidArgument("SigV4: the request is already signed (has Authorization)");
    }
    if (lower == "x-amz-date") {
      if (util::Trim(h.value) != scope.amz_date) {
        return InvalidArgument("SigV4: X-Amz-Date header differs from the signing date");
      }
      has_date = true;
    }
    if (lower == "x-amz-security-token") {
      if (!credentials.session_token.empty() && util::Trim(h.value) != credentials.session_token) {
        return InvalidArgument("SigV4: X-Amz-Security-Token header differs from the credentials");
      }
      has_token = true;
    }
  }
  if (!has_date) sig.headers.push_back({"X-Amz-Date", scope.amz_date});
  if (!credentials.session_token.empty() && !has_token) {
    if (credentials.session_token.find_first_of(std::string_view("\r\n\0", 3)) !=
        std::string::npos) {
      return InvalidArgument("SigV4: session token contains CR, LF or NUL");
    }
    sig.headers.push_back({"X-Amz-Security-Token", credentials.session_token});
  }

  // Canonical headers: lowercase names, sorted; repeated names joined with ',' in order.
  std::map<std::string, std::string> canonical;
  for (const Header& h : sig.headers) {
    std::string lower = util::ToLower(h.name);
    if (IsUnsignedHeader(lower)) continue;
    auto [it, inserted] = canonical.try_emplace(lower, CanonicalHeaderValue(h.value));
    if (!inserted) {
      it->second += ',';
      it->second += CanonicalHeaderValue(h.value);
    }
  }
  if (canonical.find("host") == canonical.end()) {
    return InvalidArgument("SigV4: the request has no Host header");
  }
  std::string canonical_headers;
  for (const auto& [name, value] : canonical) {
    canonical_headers += name + ":" + value + "\n";
    if (!sig.signed_headers.empty()) sig.signed_headers += ';';
    sig.signed_headers += name;
  }

  std::string payload_hash = request.payload_sha256_hex.empty()
                                 ? util::HexEncode(util::Sha256(request.payload))
                                 : request.payload_sha256_hex;
  sig.canonical_request = request.method + "\n" + CanonicalUri(request.path) + "\n" +
                          CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" +
                          sig.signed_headers + "\n" + payload_hash;

  std::string_view date = std::string_view(scope.amz_date).substr(0, 8);
  sig.credential_scope =
      std::string(date) + "/" + scope.region + "/" + scope.service + "/aws4_request";
  sig.string_to_sign = std::string(kAlgorithm) + "\n" + scope.amz_date + "\n" +
                       sig.credential_scope + "\n" +
                       util::HexEncode(util::Sha256(sig.canonical_request));

  SigningKeys keys =
      DeriveSigningKeys(credentials.secret_access_key, date, scope.region, scope.service);
  sig.signature = util::HexEncode(util::HmacSha256(keys.k_signing, sig.string_to_sign));
  sig.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      sig.credential_scope + ", SignedHeaders=" + sig.signed_headers +
                      ", Signature=" + sig.signature;
  sig.headers.push_back({"Authorization", sig.authorization});
  return sig;
}

}  // namespace mailrelay::ses
