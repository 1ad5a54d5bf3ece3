// A delivery agent's configuration errors (a wrong key, secret or endpoint): logged loudly at
// error level, but each distinct error at most once per 30 s with a count of the ones held
// back, so a wrong key does not log once per message. The mail itself is deferred by the
// caller, never bounced.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mailrelay::agent {

class ConfigErrorLog {
 public:
  // service: how the log line names the peer ("ACS", "Graph").
  explicit ConfigErrorLog(std::string service) : service_(std::move(service)) {}

  void Report(const std::string& queue_id, const std::string& text);

 private:
  struct Seen {
    int64_t logged_at = 0;  // monotonic seconds
    int64_t suppressed = 0;
  };
  std::string service_;
  std::map<std::string, Seen> seen_;  // by error text
};

}  // namespace mailrelay::agent
