#include "common/net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace mailrelay::net {

namespace {
bool IsMapped(const in6_addr& a) { return IN6_IS_ADDR_V4MAPPED(&a); }
}  // namespace

std::string Endpoint::Ip() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr, buf, sizeof buf);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    if (IsMapped(in6->sin6_addr)) {
      inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    }
  } else if (sa.ss_family == AF_UNIX) {
    return "unix";
  }
  return buf;
}

uint16_t Endpoint::Port() const {
  if (sa.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&sa)->sin_port);
  if (sa.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_port);
  return 0;
}

std::string Endpoint::ToString() const { return "[" + Ip() + "]:" + std::to_string(Port()); }

bool Endpoint::IsLoopback() const {
  if (sa.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    if (IsMapped(in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return sa.ss_family == AF_UNIX;
}

Endpoint FromSockaddr(const sockaddr* sa, socklen_t len) {
  Endpoint e;
  if (len > sizeof e.sa) len = sizeof e.sa;
  std::memcpy(&e.sa, sa, len);
  e.len = len;
  return e;
}

util::Result<Endpoint> Resolve(const config::HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (hp.host == "localhost" ? 0 : AI_NUMERICHOST);
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) return util::InvalidArgument("cannot resolve " + hp.ToString() + ": " + gai_strerror(rc));
  Endpoint e = FromSockaddr(res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return e;
}

util::Result<Endpoint> PeerOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return util::ErrnoStatus("getpeername", errno);
  return FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

util::Result<Endpoint> LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return util::ErrnoStatus("getsockname", errno);
  return FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace mailrelay::net
