// qmgr's side of the channel to mailrelayd: the process table (for relayctl status and
// /healthz), failure reports to queue durably, and reload requests from relayctl.
// qmgr's loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/ipc/frame.h"
#include "common/proc/child.h"
#include "qmgr/queue.h"

namespace mailrelay::qmgr {

struct ProcessInfo {
  std::string name;
  uint64_t pid = 0;
  std::string state;  // running | starting | restarting | stopped
  uint64_t restarts = 0;
  uint64_t started = 0;
};

class MasterLink {
 public:
  MasterLink(proc::Child* child, Queue* queue) : child_(child), queue_(queue) {}
  void OnMessage(ipc::Message& m);
  const std::vector<ProcessInfo>& processes() const { return processes_; }
  bool AllRunning() const;
  void RequestReload(std::function<void(bool ok, const std::string& text)> done);
  std::function<void(uint64_t pid, int signal)> on_agent_exit;
  std::function<void(const std::string& config_json)> on_config;

 private:
  void QueueReport(const ipc::Message& m);

  proc::Child* child_;
  Queue* queue_;
  std::vector<ProcessInfo> processes_;
  std::vector<std::function<void(bool, const std::string&)>> reload_waiters_;
};

// The unfolded value of the first header `name` in a raw message ("" if absent).
std::string HeaderValue(const std::string& message, const std::string& name);

}  // namespace mailrelay::qmgr
