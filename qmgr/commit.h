// Group commit. Everything qmgr writes joins the spool's open transaction; a lowest-priority
// event commits it once the loop has handled every frame that was readable (or after at most
// 10 ms of continuous input), so concurrent injections share one fsync. Acknowledgements (250 to smtpd, job
// acks to agents) wait here until their data is durable. qmgr's loop thread only.
#pragma once

#include <event2/event.h>

#include <functional>
#include <vector>

#include "qmgr/spool.h"

namespace mailrelay::qmgr {

class CommitTracker {
 public:
  using Callback = std::function<void(bool durable)>;
  CommitTracker(event_base* base, Spool* spool);
  ~CommitTracker();

  // Runs `cb` after the next commit (durable = true) or after it failed (false).
  void OnCommitted(Callback cb);
  // Arms the commit for the end of this loop iteration (idempotent).
  void Schedule();
  // Called after a failed commit, after the callbacks; qmgr resyncs from disk.
  void SetFailureHandler(std::function<void(const util::Status&)> fn) { on_failure_ = std::move(fn); }
  // Called after every successful commit (dispatch runs here).
  void SetAfterCommit(std::function<void()> fn) { after_commit_ = std::move(fn); }

  uint64_t commits() const { return commits_; }
  uint64_t batched() const { return batched_; }  // callbacks served, for the scaling curve
  void CommitNow();

 private:
  static void OnEvent(evutil_socket_t, short, void* arg);

  Spool* spool_;
  event* ev_;
  // Under sustained input the idle-priority commit could wait for a lull; this caps how long
  // an acknowledgement waits (libevent runs only the highest busy priority per iteration).
  event* deadline_ev_;
  std::vector<Callback> waiting_;
  std::function<void(const util::Status&)> on_failure_;
  std::function<void()> after_commit_;
  uint64_t commits_ = 0;
  uint64_t batched_ = 0;
};

}  // namespace mailrelay::qmgr
