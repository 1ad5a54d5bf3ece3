// The configured smarthost ([smtp] host and port): a name to resolve or an [address
// literal] to use as is, the name TLS checks the certificate against, and the
// "host[ip]:port" labels used in logs and results (Postfix's relay= form).
// Pure values, any thread. Parsing fails with kInvalidArgument on a malformed literal.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::deliver_smtp {

struct RelayHost {
  std::string name;      // host name, or the address of a literal without brackets/"IPv6:"
  bool literal = false;  // [192.0.2.1] or [IPv6:2001:db8::1]: no lookup
  int port = 25;
  std::string configured;  // as written in [smtp] host: what TLS verifies ("[...]" = IP check)

  // "smtp.example.com[192.0.2.1]"
  std::string Peer(std::string_view ip) const;
  // "smtp.example.com[192.0.2.1]:587"
  std::string Relay(std::string_view ip) const;
};

util::Result<RelayHost> ParseRelayHost(std::string_view host, int port);

}  // namespace mailrelay::deliver_smtp
