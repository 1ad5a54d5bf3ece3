// The failure report mailrelayd mails to [server] restart_email after restarting a process
// (DESIGN.md): which process, how it ended, restarts in the last hour, its last log lines.
// Pure text building.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace mailrelay::master {

struct ReportInput {
  std::string hostname;
  std::string from;  // [server] postmaster
  std::string to;    // [server] restart_email
  std::string process;
  std::string how;   // "killed by SIGKILL"
  int restarts_last_hour = 0;
  int restart_limit = 0;
  int64_t now = 0;
  std::deque<std::string> last_lines;
};

std::string BuildReport(const ReportInput& in);

}  // namespace mailrelay::master
