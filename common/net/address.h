// Socket addresses as mailrelay prints and compares them: "[192.0.2.1]:25" in logs and
// Received: headers, the bare address for policy. Pure functions.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "common/config/values.h"
#include "common/util/status.h"

namespace mailrelay::net {

struct Endpoint {
  sockaddr_storage sa{};
  socklen_t len = 0;
  int family() const { return sa.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&sa); }
  std::string Ip() const;            // "192.0.2.1", "2001:db8::1"; IPv4-mapped shown as IPv4
  uint16_t Port() const;
  std::string ToString() const;      // "[192.0.2.1]:51234"
  bool IsLoopback() const;
  // Key for per-client accounting: the address without port (IPv4-mapped folded to IPv4).
  std::string Key() const { return Ip(); }
};

Endpoint FromSockaddr(const sockaddr* sa, socklen_t len);
util::Result<Endpoint> Resolve(const config::HostPort& hp);  // numeric hosts and "localhost"
util::Result<Endpoint> PeerOf(int fd);
util::Result<Endpoint> LocalOf(int fd);

}  // namespace mailrelay::net
