#include "smtpd/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "common/util/strings.h"

namespace mailrelay::smtpd {

namespace {

constexpr char kV2Sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV1Sig = "PROXY ";
constexpr size_t kV1Max = 107;  // the spec's maximum, CRLF included

util::Status Bad(const std::string& why) { return util::InvalidArgument("bad PROXY header: " + why); }

util::Result<net::Endpoint> MakeEndpoint(int family, const std::string& ip, const std::string& port_text) {
  auto port = util::ParseUint(port_text);
  if (!port || *port > 65535 || (port_text.size() > 1 && port_text[0] == '0')) return Bad("port");
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET, ip.c_str(), &in->sin_addr) != 1) return Bad("IPv4 address");
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr) != 1) return Bad("IPv6 address");
    len = sizeof(sockaddr_in6);
  }
  return net::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

util::Result<ProxyHeader> ParseV1(std::string_view data) {
  size_t crlf = data.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (data.size() >= kV1Max) return Bad("v1 line too long");
    for (size_t i = 0; i < data.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(data[i]);
      bool final_cr = c == '\r' && i + 1 == data.size();
      if ((c < 0x20 || c == 0x7f) && !final_cr) return Bad("control character in the v1 line");
    }
    return ProxyHeader{};
  }
  if (crlf + 2 > kV1Max) return Bad("v1 line too long");
  std::string line(data.substr(0, crlf));
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) {
      return Bad("control character in the v1 line");
    }
  }
  auto parts = util::Split(line, ' ', false);
  ProxyHeader h;
  h.length = crlf + 2;
  if (parts.size() >= 2 && parts[1] == "UNKNOWN") {
    h.local = true;
    return h;
  }
  if (parts.size() != 6) return Bad("v1 expects PROXY TCP4|TCP6 src dst sport dport");
  int family;
  if (parts[1] == "TCP4") family = AF_INET;
  else if (parts[1] == "TCP6") family = AF_INET6;
  else return Bad("v1 protocol " + util::Printable(parts[1], 10));
  MR_ASSIGN_OR_RETURN(h.source, MakeEndpoint(family, parts[2], parts[4]));
  MR_ASSIGN_OR_RETURN(h.destination, MakeEndpoint(family, parts[3], parts[5]));
  return h;
}

util::Result<ProxyHeader> ParseV2(std::string_view data) {
  if (data.size() < 16) return ProxyHeader{};
  auto b = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
  if ((b(12) >> 4) != 2) return Bad("v2 version");
  int command = b(12) & 0x0f;
  if (command > 1) return Bad("v2 command");
  size_t len = (static_cast<size_t>(b(14)) << 8) | b(15);
  if (data.size() < 16 + len) return ProxyHeader{};
  ProxyHeader h;
  h.length = 16 + len;
  if (command == 0) {  // LOCAL: health checks from the balancer itself
    h.local = true;
    return h;
  }
  int family = b(13) >> 4;
  int transport = b(13) & 0x0f;
  if (transport != 1 && family != 0) return Bad("v2 transport is not TCP");
  sockaddr_storage src{}, dst{};
  if (family == 1) {  // AF_INET
    if (len < 12) return Bad("v2 IPv4 block too short");
    auto* s = reinterpret_cast<sockaddr_in*>(&src);
    auto* d = reinterpret_cast<sockaddr_in*>(&dst);
    s->sin_family = d->sin_family = AF_INET;
    std::memcpy(&s->sin_addr, data.data() + 16, 4);
    std::memcpy(&d->sin_addr, data.data() + 20, 4);
    std::memcpy(&s->sin_port, data.data() + 24, 2);
    std::memcpy(&d->sin_port, data.data() + 26, 2);
    h.source = net::FromSockaddr(reinterpret_cast<sockaddr*>(&src), sizeof(sockaddr_in));
    h.destination = net::FromSockaddr(reinterpret_cast<sockaddr*>(&dst), sizeof(sockaddr_in));
  } else if (family == 2) {  // AF_INET6
    if (len < 36) return Bad("v2 IPv6 block too short");
    auto* s = reinterpret_cast<sockaddr_in6*>(&src);
    auto* d = reinterpret_cast<sockaddr_in6*>(&dst);
    s->sin6_family = d->sin6_family = AF_INET6;
    std::memcpy(&s->sin6_addr, data.data() + 16, 16);
    std::memcpy(&d->sin6_addr, data.data() + 32, 16);
    std::memcpy(&s->sin6_port, data.data() + 48, 2);
    std::memcpy(&d->sin6_port, data.data() + 50, 2);
    h.source = net::FromSockaddr(reinterpret_cast<sockaddr*>(&src), sizeof(sockaddr_in6));
    h.destination = net::FromSockaddr(reinterpret_cast<sockaddr*>(&dst), sizeof(sockaddr_in6));
  } else if (family == 0) {  // UNSPEC
    h.local = true;
  } else {
    return Bad("v2 address family (unix sockets are not supported)");
  }
  return h;  // TLVs after the addresses are skipped
}

}  // namespace

util::Result<ProxyHeader> ParseProxyHeader(std::string_view data) {
  if (data.empty()) return ProxyHeader{};
  if (data[0] == '\r') {
    size_t n = std::min(data.size(), sizeof kV2Sig);
    if (std::memcmp(data.data(), kV2Sig, n) != 0) return Bad("v2 signature");
    if (data.size() < sizeof kV2Sig) return ProxyHeader{};
    return ParseV2(data);
  }
  size_t n = std::min(data.size(), kV1Sig.size());
  if (data.substr(0, n) != kV1Sig.substr(0, n)) return Bad("the connection did not start with a PROXY header");
  if (data.size() < kV1Sig.size()) return ProxyHeader{};
  return ParseV1(data);
}

}  // namespace mailrelay::smtpd
