// One child process of mailrelayd: how it is started (fds 0-2 to /dev/null and a log pipe,
// fd 3 the master channel, fds 4.. listeners; parent-death signal; exec of the helper by
// name) and what mailrelayd tracks about it. Master's loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/ipc/channel.h"
#include "common/util/status.h"

namespace mailrelay::master {

enum class Role { kQmgr, kSmtpd, kAgent };

struct PassedFd {
  int fd;
  std::string kind;     // plain | tls | metrics
  std::string address;  // for the child's logs
};

class Supervisor;

struct Process {
  Supervisor* owner = nullptr;
  std::string name;  // program name: qmgr, smtpd, deliver-file ...
  Role role = Role::kAgent;
  uint64_t generation = 0;
  pid_t pid = 0;
  int64_t started_us = 0;
  bool ready = false;
  bool retiring = false;  // replaced by a newer generation; drains then exits
  bool stopping = false;  // SIGTERM sent
  std::unique_ptr<ipc::Channel> channel;
  int log_fd = -1;
  struct event* log_ev = nullptr;
  std::string log_partial;
};

// Where the helper programs live: next to mailrelayd first, then /usr/lib/mailrelay.
std::string HelperPath(const std::string& name);

// Forks and execs `name`; returns the pid and, through the out parameters, the parent's
// ends of the master channel and of the log pipe.
util::Result<pid_t> Spawn(const std::string& name, const std::vector<PassedFd>& fds, uint64_t generation,
                          int* channel_fd, int* log_fd);

std::string DescribeExit(int status);  // "exited with status 1", "killed by SIGKILL"

}  // namespace mailrelay::master
