// Typed configuration values and their parsers: sizes, durations, booleans, host:port
// lists (IPv6 in brackets), CIDR networks, rates, domains. Pure functions; each parser's
// error message says what was expected, so config errors can quote it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::config {

struct HostPort {
  std::string host;  // IP literal without brackets, or a host name
  uint16_t port = 0;
  std::string ToString() const;  // "1.2.3.4:25", "[::1]:25"
  bool operator==(const HostPort&) const = default;
};

// An IPv4 or IPv6 network. IPv4 clients arriving as IPv4-mapped IPv6 (::ffff:a.b.c.d) match
// IPv4 networks, so dual-stack listeners do not silently change who may relay.
struct Cidr {
  int family = AF_INET;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
  bool Contains(const sockaddr* sa) const;
  bool ContainsAddress(int family, const uint8_t* addr) const;
  std::string ToString() const;
};

struct Rate {
  uint32_t count = 0;
  uint32_t period_seconds = 0;  // 1 (s), 60 (m), 3600 (h), 86400 (d)
  bool enabled() const { return count > 0; }
  std::string ToString() const;
};

util::Result<uint64_t> ParseSize(std::string_view s);      // "35M", "512K", "1G", "1000"
util::Result<int64_t> ParseDuration(std::string_view s);   // seconds: "30s", "5m", "1h", "2d", "90"
util::Result<bool> ParseBool(std::string_view s);          // yes/no/true/false/on/off/1/0
util::Result<HostPort> ParseHostPort(std::string_view s, bool require_ip);
util::Result<std::vector<HostPort>> ParseHostPortList(std::string_view s, bool require_ip);
util::Result<Cidr> ParseCidr(std::string_view s);  // "10.0.0.0/8", "::1/128", "192.0.2.7"
util::Result<std::vector<Cidr>> ParseCidrList(std::string_view s);
util::Result<Rate> ParseRate(std::string_view s);  // "30/m", "1/s", "100/h", "2000/d"
// A DNS domain in ASCII (A-label) form, lowercased; "*.example.com" or ".example.com" match
// subdomains too (kept with the leading dot).
util::Result<std::string> ParseDomain(std::string_view s, bool allow_subdomain_wildcard);
util::Result<std::vector<std::string>> ParseDomainList(std::string_view s);
// An addr-spec for configuration (postmaster, restart_email, sender): local@domain, ASCII.
util::Result<std::string> ParseEmail(std::string_view s);

std::string FormatSize(uint64_t bytes);
std::string FormatDuration(int64_t seconds);

}  // namespace mailrelay::config
