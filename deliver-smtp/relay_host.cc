#include "deliver-smtp/relay_host.h"

#include <arpa/inet.h>

#include "common/util/strings.h"

namespace mailrelay::deliver_smtp {

std::string RelayHost::Peer(std::string_view ip) const {
  return name + "[" + std::string(ip) + "]";
}

std::string RelayHost::Relay(std::string_view ip) const {
  return Peer(ip) + ":" + std::to_string(port);
}

util::Result<RelayHost> ParseRelayHost(std::string_view host, int port) {
  std::string h(util::Trim(host));
  if (h.empty()) return util::InvalidArgument("[smtp] host is empty");
  if (port < 1 || port > 65535) return util::InvalidArgument("[smtp] port out of range");
  RelayHost r;
  r.port = port;
  r.configured = h;
  if (h.front() != '[') {
    if (h.back() == ']') return util::InvalidArgument("[smtp] host: unbalanced ']' in " + h);
    r.name = util::ToLower(h);
    return r;
  }
  if (h.back() != ']' || h.size() < 3)
    return util::InvalidArgument("[smtp] host: expected [address], got " + h);
  std::string inner = h.substr(1, h.size() - 2);
  bool v6_tag = util::StartsWithIgnoreCase(inner, "IPv6:");
  if (v6_tag) inner = inner.substr(5);
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, inner.c_str(), buf) == 1;
  bool v6 = inet_pton(AF_INET6, inner.c_str(), buf) == 1;
  if (!v4 && !v6)
    return util::InvalidArgument("[smtp] host: " + h + " is not an IP address literal");
  if (v4 && v6_tag)
    return util::InvalidArgument("[smtp] host: " + h + " has IPv6: before an IPv4 address");
  r.name = inner;
  r.literal = true;
  return r;
}

}  // namespace mailrelay::deliver_smtp
