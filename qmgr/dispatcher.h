// Delivery agents on run_dir/deliver.sock and the hand-out of jobs to them: per backend at
// most `concurrency` jobs in flight and `rate_limit` starts per window, a pause when a
// backend says it is throttled, a deadline per job. An agent that dies or hangs gets its
// jobs requeued (deferred), never lost. qmgr's loop thread only.
#pragma once

#include <event2/event.h>
#include <event2/listener.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/ipc/channel.h"
#include "qmgr/commit.h"
#include "qmgr/queue.h"
#include "qmgr/rate_window.h"

namespace mailrelay::qmgr {

struct AgentInfo {
  std::string backend;
  uint64_t pid = 0;
  uint64_t generation = 0;
  size_t jobs = 0;
  bool draining = false;
};

class Dispatcher {
 public:
  Dispatcher(event_base* base, Queue* queue, Spool* spool, CommitTracker* commits, const config::Config& cfg);
  ~Dispatcher();
  util::Status Listen(int fd);
  void Reconfigure(const config::Config& cfg);
  // Runs a dispatch pass at the end of this loop iteration.
  void Kick();
  void CheckDeadlines();
  // mailrelayd says how an agent ended; a fault signal counts against what it had aboard.
  void OnAgentExit(uint64_t pid, int signal);
  std::vector<AgentInfo> Agents() const;
  size_t InFlight(config::Backend b) const;
  bool HasAgent(config::Backend b) const;

 private:
  struct Agent {
    uint64_t id = 0;
    std::unique_ptr<ipc::Channel> ch;
    bool hello = false;
    config::Backend backend = config::Backend::kFile;
    uint64_t pid = 0;
    uint64_t generation = 0;
    bool draining = false;
    std::set<uint64_t> jobs;
  };

  static void OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg);
  static void OnKick(evutil_socket_t, short, void* arg);
  void OnMessage(Agent& a, ipc::Message& m);
  void OnResult(Agent& a, const ipc::Message& m);
  void OnClose(uint64_t agent_id, const std::string& why);
  void Dispatch();
  bool SendJob(Agent& a, const Job& job);
  Agent* PickAgent(config::Backend b);

  event_base* base_;
  Queue* queue_;
  Spool* spool_;
  CommitTracker* commits_;
  config::Config cfg_;
  evconnlistener* listener_ = nullptr;
  event* kick_ev_;
  event* timer_ev_;
  std::map<uint64_t, std::unique_ptr<Agent>> agents_;
  uint64_t next_agent_ = 1;
  std::map<config::Backend, RateWindow> rate_;
  std::map<config::Backend, int64_t> paused_until_us_;
  std::map<uint64_t, uint64_t> job_agent_;  // job id -> agent id
  struct Aboard {
    int64_t when;
    std::vector<int64_t> rowids;
  };
  std::map<uint64_t, Aboard> aboard_at_exit_;  // agent pid -> messages in flight when it went
};

}  // namespace mailrelay::qmgr
