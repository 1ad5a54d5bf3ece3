#include "qmgr/commit.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log/log.h"

namespace mailrelay::qmgr {

CommitTracker::CommitTracker(event_base* base, Spool* spool) : spool_(spool) {
  ev_ = event_new(base, -1, 0, &CommitTracker::OnEvent, this);
  // Priority 2 (proc::kIdlePriority) runs only when nothing else is active.
  event_priority_set(ev_, 2);
  deadline_ev_ = event_new(base, -1, 0, &CommitTracker::OnEvent, this);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  wake_ev_ = event_new(base, wake_fd_, EV_READ | EV_PERSIST, &CommitTracker::OnWake, this);
  event_add(wake_ev_, nullptr);
  syncer_ = std::thread([this] { SyncerLoop(); });
}

CommitTracker::~CommitTracker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  syncer_.join();
  event_free(ev_);
  event_free(deadline_ev_);
  event_free(wake_ev_);
  close(wake_fd_);
}

void CommitTracker::OnCommitted(Callback cb) {
  if (waiting_.empty()) {
    timeval cap{0, 10000};
    event_add(deadline_ev_, &cap);
  }
  waiting_.push_back(std::move(cb));
  Schedule();
}

void CommitTracker::Schedule() {
  event_active(ev_, EV_TIMEOUT, 0);  // a no-op when already active
}

void CommitTracker::OnEvent(evutil_socket_t, short, void* arg) { static_cast<CommitTracker*>(arg)->CommitNow(); }

void CommitTracker::CommitNow() {
  event_del(deadline_ev_);
  event_del(ev_);  // clears a pending activation too, when the deadline got here first
  if (!spool_->in_transaction() && waiting_.empty()) return;
  util::Status st = spool_->Commit();
  std::vector<Callback> cbs;
  cbs.swap(waiting_);
  last_ok_ = st.ok();
  if (!st.ok()) {
    log::Error().Kv("spool", spool_->path()).Text("commit failed: " + st.message());
    for (auto& cb : cbs) cb(false);
    if (on_failure_) on_failure_(st);
    if (spool_->in_transaction() || !waiting_.empty()) Schedule();
    return;
  }
  ++commits_;
  uint64_t seq = ++committed_seq_;
  if (!cbs.empty()) {
    unsynced_.push_back({seq, std::move(cbs)});
    {
      std::lock_guard<std::mutex> lock(mu_);
      want_ = seq;
    }
    cv_.notify_one();
  }
  if (after_commit_) after_commit_();
  // Whatever the dispatcher wrote just now goes out with the next iteration.
  if (spool_->in_transaction() || !waiting_.empty()) Schedule();
}

void CommitTracker::CommitAndWait() {
  CommitNow();
  util::Status st = spool_->SyncWal();
  if (!st.ok()) {
    log::Error().Text("final WAL sync failed: " + st.message());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (synced_ < committed_seq_) synced_ = committed_seq_;
  }
  Release(committed_seq_);
}

void CommitTracker::SyncerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || want_ > synced_; });
    if (stop_) return;
    uint64_t target = want_;
    lock.unlock();
    // Every commit up to `target` was written before this call, so this covers them all.
    util::Status st = spool_->SyncWal();
    lock.lock();
    if (st.ok()) {
      if (synced_ < target) synced_ = target;
    } else {
      sync_error_ = st;
    }
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof one);
    (void)w;
    if (!st.ok()) return;  // nothing more can be promised
  }
}

void CommitTracker::OnWake(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<CommitTracker*>(arg);
  uint64_t n;
  ssize_t r = read(fd, &n, sizeof n);
  (void)r;
  uint64_t synced;
  util::Status error;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    synced = self->synced_;
    error = self->sync_error_;
  }
  self->Release(synced);
  if (!error.ok()) {
    self->last_ok_ = false;
    log::Fatal().Kv("spool", self->spool_->path()).Text("fsync of the WAL failed: " + error.message());
    for (auto& b : self->unsynced_) {
      for (auto& cb : b.callbacks) cb(false);
    }
    self->unsynced_.clear();
    if (self->on_sync_failure_) self->on_sync_failure_(error);
  }
}

void CommitTracker::Release(uint64_t synced) {
  bool released = false;
  while (!unsynced_.empty() && unsynced_.front().seq <= synced) {
    Batch b = std::move(unsynced_.front());
    unsynced_.pop_front();
    batched_ += b.callbacks.size();
    released = true;
    for (auto& cb : b.callbacks) cb(true);
  }
  if (released) ++syncs_;
}

}  // namespace mailrelay::qmgr
