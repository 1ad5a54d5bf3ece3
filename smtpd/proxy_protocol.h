// HAProxy PROXY protocol v1 (text) and v2 (binary) headers, as a load balancer sends them
// before the SMTP session (proxy_protocol = yes): the real client address then drives policy
// and logs. Pure and incremental; anything malformed is an error (the connection is closed).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/net/address.h"
#include "common/util/status.h"

namespace mailrelay::smtpd {

struct ProxyHeader {
  bool local = false;  // v2 LOCAL (health check) or v1 UNKNOWN: keep the socket's addresses
  net::Endpoint source;
  net::Endpoint destination;
  size_t length = 0;  // bytes the header took
};

// Returns the header when complete, 0-length "need more" (length == 0) when `data` is a
// valid prefix, an error when it can no longer become a valid header.
util::Result<ProxyHeader> ParseProxyHeader(std::string_view data);

}  // namespace mailrelay::smtpd
