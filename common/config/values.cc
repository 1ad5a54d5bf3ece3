#include "common/config/values.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/util/strings.h"

namespace mailrelay::config {

using util::InvalidArgument;

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {
bool MatchPrefix(const uint8_t* a, const uint8_t* b, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}
}  // namespace

bool Cidr::ContainsAddress(int fam, const uint8_t* a) const {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (fam == AF_INET6 && family == AF_INET && std::memcmp(a, kMapped, 12) == 0) {
    return MatchPrefix(a + 12, addr.data(), prefix);
  }
  if (fam != family) return false;
  return MatchPrefix(a, addr.data(), prefix);
}

bool Cidr::Contains(const sockaddr* sa) const {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return ContainsAddress(AF_INET, reinterpret_cast<const uint8_t*>(&in->sin_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return ContainsAddress(AF_INET6, in6->sin6_addr.s6_addr);
  }
  return false;
}

std::string Cidr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::string Rate::ToString() const {
  const char* unit = period_seconds == 1 ? "s" : period_seconds == 60 ? "m"
                     : period_seconds == 3600 ? "h" : "d";
  return std::to_string(count) + "/" + unit;
}

util::Result<uint64_t> ParseSize(std::string_view s) {
  s = util::Trim(s);
  uint64_t mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': mult = 1024; break;
      case 'm': case 'M': mult = 1024 * 1024; break;
      case 'g': case 'G': mult = 1024ull * 1024 * 1024; break;
      default: break;
    }
    if (mult != 1) s.remove_suffix(1);
    if (mult == 1 && !s.empty() && (s.back() == 'b' || s.back() == 'B')) s.remove_suffix(1);
  }
  auto v = util::ParseUint(s);
  if (!v || *v > (1ull << 50) / mult) {
    return InvalidArgument("expected a size like 35M (a number with an optional K, M or G suffix)");
  }
  return *v * mult;
}

util::Result<int64_t> ParseDuration(std::string_view s) {
  s = util::Trim(s);
  int64_t mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 's': mult = 1; s.remove_suffix(1); break;
      case 'm': mult = 60; s.remove_suffix(1); break;
      case 'h': mult = 3600; s.remove_suffix(1); break;
      case 'd': mult = 86400; s.remove_suffix(1); break;
      default: break;
    }
  }
  auto v = util::ParseUint(s);
  if (!v || *v > 100ull * 365 * 86400 / static_cast<uint64_t>(mult)) {
    return InvalidArgument("expected a duration like 30s, 5m, 1h or 2d (bare number = seconds)");
  }
  return static_cast<int64_t>(*v) * mult;
}

util::Result<bool> ParseBool(std::string_view s) {
  s = util::Trim(s);
  for (const char* t : {"yes", "true", "on", "1"}) {
    if (util::EqualsIgnoreCase(s, t)) return true;
  }
  for (const char* f : {"no", "false", "off", "0"}) {
    if (util::EqualsIgnoreCase(s, f)) return false;
  }
  return InvalidArgument("expected yes or no (also true/false, on/off, 1/0)");
}

namespace {
bool IsHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}
bool IsIpLiteral(const std::string& h) {
  uint8_t buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}
}  // namespace

util::Result<HostPort> ParseHostPort(std::string_view s, bool require_ip) {
  s = util::Trim(s);
  const char* expected = require_ip ? "expected ADDRESS:PORT like 127.0.0.1:25 or [::1]:25"
                                    : "expected HOST:PORT like smtp.example.com:587 or [::1]:25";
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == s.npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return InvalidArgument(expected);
    }
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
    uint8_t buf[16];
    if (inet_pton(AF_INET6, hp.host.c_str(), buf) != 1) {
      return InvalidArgument(std::string(expected) + " (bad IPv6 address in brackets)");
    }
  } else {
    size_t colon = s.rfind(':');
    if (colon == s.npos || s.find(':') != colon) return InvalidArgument(expected);
    hp.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (hp.host == "*") hp.host = "0.0.0.0";
    if (hp.host.empty()) return InvalidArgument(expected);
    for (char c : hp.host) {
      if (!IsHostnameChar(c)) return InvalidArgument(expected);
    }
  }
  if (require_ip && !IsIpLiteral(hp.host) && hp.host != "localhost") {
    return InvalidArgument(std::string(expected) + " (listen on an IP address, not a name)");
  }
  auto p = util::ParseUint(port);
  if (!p || *p > 65535) return InvalidArgument(std::string(expected) + " (port 0-65535)");
  hp.port = static_cast<uint16_t>(*p);
  return hp;
}

util::Result<std::vector<HostPort>> ParseHostPortList(std::string_view s, bool require_ip) {
  std::vector<HostPort> out;
  for (const auto& item : util::Split(s, ',')) {
    MR_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(item, require_ip));
    out.push_back(hp);
  }
  return out;
}

util::Result<Cidr> ParseCidr(std::string_view s) {
  s = util::Trim(s);
  Cidr c;
  std::string addr(s.substr(0, s.find('/')));
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  int max_prefix;
  if (inet_pton(AF_INET, addr.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET;
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET6;
    max_prefix = 128;
  } else {
    return InvalidArgument("expected a network like 10.0.0.0/8 or fd00::/8 (bad address '" +
                           util::Printable(addr, 60) + "')");
  }
  c.prefix = max_prefix;
  size_t slash = s.find('/');
  if (slash != s.npos) {
    auto p = util::ParseUint(s.substr(slash + 1));
    if (!p || *p > static_cast<uint64_t>(max_prefix)) {
      return InvalidArgument("expected a network like 10.0.0.0/8 (prefix length 0-" +
                             std::to_string(max_prefix) + ")");
    }
    c.prefix = static_cast<int>(*p);
  }
  // Host bits set ("10.1.2.3/8") almost always mean a typo; refuse rather than guess.
  int bytes = c.family == AF_INET ? 4 : 16;
  for (int bit = c.prefix; bit < bytes * 8; ++bit) {
    if (c.addr[static_cast<size_t>(bit / 8)] & (0x80 >> (bit % 8))) {
      return InvalidArgument("network " + std::string(s) + " has host bits set; did you mean " +
                             [&] {
                               Cidr fixed = c;
                               for (int b = c.prefix; b < bytes * 8; ++b) {
                                 fixed.addr[static_cast<size_t>(b / 8)] &=
                                     static_cast<uint8_t>(~(0x80 >> (b % 8)));
                               }
                               return fixed.ToString();
                             }() + "?");
    }
  }
  return c;
}

util::Result<std::vector<Cidr>> ParseCidrList(std::string_view s) {
  std::vector<Cidr> out;
  // Postfix's mynetworks separates with spaces; accept both.
  std::string norm(s);
  for (char& ch : norm) {
    if (ch == ' ' || ch == '\t') ch = ',';
  }
  for (const auto& item : util::Split(norm, ',')) {
    MR_ASSIGN_OR_RETURN(Cidr c, ParseCidr(item));
    out.push_back(c);
  }
  return out;
}

util::Result<Rate> ParseRate(std::string_view s) {
  s = util::Trim(s);
  size_t slash = s.find('/');
  const char* expected = "expected a rate like 30/m (count per s, m, h or d)";
  if (slash == s.npos) return InvalidArgument(expected);
  auto n = util::ParseUint(util::Trim(s.substr(0, slash)));
  std::string_view unit = util::Trim(s.substr(slash + 1));
  Rate r;
  if (!n || *n == 0 || *n > 1000000) return InvalidArgument(expected);
  r.count = static_cast<uint32_t>(*n);
  if (unit == "s" || unit == "sec" || unit == "second") r.period_seconds = 1;
  else if (unit == "m" || unit == "min" || unit == "minute") r.period_seconds = 60;
  else if (unit == "h" || unit == "hour") r.period_seconds = 3600;
  else if (unit == "d" || unit == "day") r.period_seconds = 86400;
  else return InvalidArgument(expected);
  return r;
}

util::Result<std::string> ParseDomain(std::string_view s, bool allow_wildcard) {
  s = util::Trim(s);
  std::string prefix;
  if (allow_wildcard && s.substr(0, 2) == "*.") {
    prefix = ".";
    s.remove_prefix(2);
  } else if (allow_wildcard && !s.empty() && s.front() == '.') {
    prefix = ".";
    s.remove_prefix(1);
  }
  std::string d = util::ToLower(s);
  const std::string expected =
      "expected a domain like example.com (ASCII; write internationalized names as xn--...)";
  if (d.empty() || d.size() > 253 || d.back() == '.') return InvalidArgument(expected);
  for (const auto& label : util::Split(d, '.', false)) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return InvalidArgument(expected);
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return InvalidArgument(expected);
      }
    }
  }
  return prefix + d;
}

util::Result<std::vector<std::string>> ParseDomainList(std::string_view s) {
  std::vector<std::string> out;
  std::string norm(s);
  for (char& ch : norm) {
    if (ch == ' ' || ch == '\t') ch = ',';
  }
  for (const auto& item : util::Split(norm, ',')) {
    MR_ASSIGN_OR_RETURN(std::string d, ParseDomain(item, true));
    out.push_back(d);
  }
  return out;
}

util::Result<std::string> ParseEmail(std::string_view s) {
  s = util::Trim(s);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  size_t at = s.rfind('@');
  const char* expected = "expected an address like postmaster@example.com";
  if (at == s.npos || at == 0 || at > 64) return InvalidArgument(expected);
  for (char c : s.substr(0, at)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == ':' || c == '"' || c == '\\' || c == '[' || c == ']') {
      return InvalidArgument(expected);
    }
  }
  auto domain = ParseDomain(s.substr(at + 1), false);
  if (!domain.ok()) return InvalidArgument(expected);
  return std::string(s.substr(0, at)) + "@" + *domain;
}

std::string FormatSize(uint64_t bytes) {
  if (bytes && bytes % (1024ull * 1024 * 1024) == 0) return std::to_string(bytes >> 30) + "G";
  if (bytes && bytes % (1024 * 1024) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

std::string FormatDuration(int64_t s) {
  if (s && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

}  // namespace mailrelay::config
