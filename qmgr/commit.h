// Group commit. Everything qmgr writes joins the spool's open transaction. A lowest-priority
// event COMMITs it once the loop has handled every readable frame (or after at most 10 ms of
// continuous input); the commit only writes the WAL. A syncer thread then fdatasyncs the
// WAL, and only when an fsync that started after a commit has finished are that commit's
// acknowledgements (250 to smtpd, job acks, relayctl changes) released on the loop. While
// one fsync runs the next batch forms, and one fsync covers every commit made before it.
// API: qmgr's loop thread only; the syncer thread touches only the spool's WAL file.
#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "qmgr/spool.h"

namespace mailrelay::qmgr {

class CommitTracker {
 public:
  using Callback = std::function<void(bool durable)>;
  CommitTracker(event_base* base, Spool* spool);
  ~CommitTracker();

  // Runs `cb` once the next commit is durable (true) or failed (false).
  void OnCommitted(Callback cb);
  // Arms the commit for the end of this loop iteration (idempotent).
  void Schedule();
  // COMMIT now; callbacks run when the syncer's fsync covers it.
  void CommitNow();
  // COMMIT and fsync here, and run every pending callback (shutdown, tests).
  void CommitAndWait();

  // A failed COMMIT: memory may hold what the disk does not (qmgr resyncs from disk).
  void SetFailureHandler(std::function<void(const util::Status&)> fn) { on_failure_ = std::move(fn); }
  // A failed fsync: what was committed may not be on disk; qmgr must stop and recover.
  void SetSyncFailureHandler(std::function<void(const util::Status&)> fn) { on_sync_failure_ = std::move(fn); }
  // Called after every successful COMMIT (dispatch and status updates run here).
  void SetAfterCommit(std::function<void()> fn) { after_commit_ = std::move(fn); }

  bool healthy() const { return last_ok_; }       // the last COMMIT and fsync succeeded
  uint64_t commits() const { return commits_; }   // transactions
  uint64_t syncs() const { return syncs_; }       // fdatasyncs that released something
  uint64_t batched() const { return batched_; }   // acknowledgements released

 private:
  struct Batch {
    uint64_t seq;
    std::vector<Callback> callbacks;
  };
  static void OnEvent(evutil_socket_t, short, void* arg);
  static void OnWake(evutil_socket_t, short, void* arg);
  void SyncerLoop();
  void Release(uint64_t synced);

  Spool* spool_;
  event* ev_;
  // Under sustained input the idle-priority commit could wait for a lull; this caps how long
  // an acknowledgement waits (libevent runs only the highest busy priority per iteration).
  event* deadline_ev_;
  std::vector<Callback> waiting_;  // for the next COMMIT
  std::deque<Batch> unsynced_;     // committed, waiting for an fsync
  uint64_t committed_seq_ = 0;
  std::function<void(const util::Status&)> on_failure_;
  std::function<void(const util::Status&)> on_sync_failure_;
  std::function<void()> after_commit_;
  uint64_t commits_ = 0;
  bool last_ok_ = true;
  uint64_t syncs_ = 0;
  uint64_t batched_ = 0;

  // Shared with the syncer thread.
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t want_ = 0;    // sync up to this commit
  uint64_t synced_ = 0;  // synced up to this commit
  util::Status sync_error_;
  bool stop_ = false;
  int wake_fd_ = -1;
  event* wake_ev_ = nullptr;
  std::thread syncer_;
};

}  // namespace mailrelay::qmgr
