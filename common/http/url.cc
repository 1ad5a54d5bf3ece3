#include "common/http/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <memory>

#include "common/util/strings.h"

namespace mailrelay::http {

namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

bool GetPart(CURLU* u, CURLUPart part, std::string* out, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, flags) != CURLUE_OK) return false;
  CurlString owned(raw);
  *out = raw ? raw : "";
  return true;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendEncoded(std::string* out, std::string_view s, bool space_as_plus) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (IsUnreserved(c)) {
      out->push_back(static_cast<char>(c));
    } else if (c == ' ' && space_as_plus) {
      out->push_back('+');
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (util::EqualsIgnoreCase(host, "localhost")) return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

util::Result<UrlParts> ParseUrl(std::string_view url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u) return util::Internal("out of memory parsing a URL");
  std::string text(url);
  if (text.find_first_of(" \t\r\n", 0) != std::string::npos ||
      curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return util::InvalidArgument("not a valid absolute URL: " + UrlForLog(url));
  }
  UrlParts parts;
  std::string port, user;
  if (!GetPart(u.get(), CURLUPART_SCHEME, &parts.scheme) ||
      !GetPart(u.get(), CURLUPART_HOST, &parts.host) ||
      !GetPart(u.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
      !GetPart(u.get(), CURLUPART_PATH, &parts.path)) {
    return util::InvalidArgument("not a valid absolute URL: " + UrlForLog(url));
  }
  parts.scheme = util::ToLower(parts.scheme);
  if (parts.scheme != "http" && parts.scheme != "https") {
    return util::InvalidArgument("only http:// and https:// URLs are supported, not " +
                                 util::Printable(parts.scheme, 20) + "://");
  }
  if (GetPart(u.get(), CURLUPART_USER, &user)) {
    return util::InvalidArgument("credentials in the URL are not allowed (" + parts.scheme + "://" +
                                 parts.host + ")");
  }
  std::optional<uint64_t> p = util::ParseUint(port);
  if (!p || *p == 0 || *p > 65535) return util::InvalidArgument("bad port in URL");
  parts.port = static_cast<int>(*p);
  if (parts.path.empty()) parts.path = "/";
  parts.loopback = IsLoopbackHost(parts.host);
  return parts;
}

util::Status CheckUrlAllowed(std::string_view url) {
  MR_ASSIGN_OR_RETURN(UrlParts parts, ParseUrl(url));
  if (parts.scheme == "http" && !parts.loopback) {
    return util::InvalidArgument(
        "plain http:// is only allowed to loopback hosts; use https:// for " + parts.host);
  }
  return util::Status::Ok();
}

std::string UrlForLog(std::string_view url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  std::string text(url);
  std::string scheme, host, port, path;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK ||
      !GetPart(u.get(), CURLUPART_SCHEME, &scheme) || !GetPart(u.get(), CURLUPART_HOST, &host) ||
      !GetPart(u.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
    return "<invalid URL>";
  }
  if (!GetPart(u.get(), CURLUPART_PATH, &path)) path = "/";
  return util::Printable(scheme + "://" + host + ":" + port + path, 300);
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3 / 2);
  AppendEncoded(&out, s, false);
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    AppendEncoded(&out, name, true);
    out.push_back('=');
    AppendEncoded(&out, value, true);
  }
  return out;
}

}  // namespace mailrelay::http
