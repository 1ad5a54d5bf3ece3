// relayctl's connection to qmgr's control.sock: one request, one reply. Blocking; relayctl
// is a short-lived command.
#pragma once

#include <string>
#include <vector>

#include "common/json/json.h"
#include "common/util/status.h"

namespace mailrelay::relayctl {

struct ControlResult {
  int exit_code = 0;
  json::Value body;
  std::string error;
};

util::Result<ControlResult> Call(const std::string& run_dir, const std::string& verb,
                                 const std::vector<std::string>& args, int timeout_seconds = 30);

}  // namespace mailrelay::relayctl
