// TCP listening sockets. mailrelayd binds them (the only privileged step for port 25) and
// hands the fds to smtpd; binding retries briefly so a restarted mailrelayd can take over
// ports its previous incarnation's children are still releasing.
#pragma once

#include <string>

#include "common/config/values.h"
#include "common/util/status.h"

namespace mailrelay::net {

struct BoundListener {
  int fd = -1;
  std::string address;  // as bound, with the real port when 0 was asked for
};

util::Result<BoundListener> BindTcp(const config::HostPort& where, int backlog = 1024,
                                    int retry_seconds = 0);

}  // namespace mailrelay::net
