// The Unix sockets qmgr serves, created while still root so each can belong to the group of
// the process that connects to it: qmgr.sock for smtpd, deliver.sock for the agents,
// control.sock for relayctl (group mailrelay). Start-up code.
#pragma once

#include <string>

#include "common/util/status.h"

namespace mailrelay::qmgr {

struct Sockets {
  int inject = -1;
  int deliver = -1;
  int control = -1;
};

util::Result<Sockets> CreateSockets(const std::string& run_dir, bool privilege_separation);

}  // namespace mailrelay::qmgr
