#include "qmgr/commit.h"

#include "common/log/log.h"

namespace mailrelay::qmgr {

CommitTracker::CommitTracker(event_base* base, Spool* spool) : spool_(spool) {
  ev_ = event_new(base, -1, 0, &CommitTracker::OnEvent, this);
  // Priority 2 (proc::kIdlePriority) runs only when nothing else is active.
  event_priority_set(ev_, 2);
  deadline_ev_ = event_new(base, -1, 0, &CommitTracker::OnEvent, this);
}

CommitTracker::~CommitTracker() {
  event_free(ev_);
  event_free(deadline_ev_);
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
  util::Status st = spool_->Commit();
  std::vector<Callback> cbs;
  cbs.swap(waiting_);
  if (st.ok()) {
    ++commits_;
    batched_ += cbs.size();
  } else {
    log::Error().Kv("spool", spool_->path()).Text("commit failed: " + st.message());
  }
  for (auto& cb : cbs) cb(st.ok());
  if (!st.ok() && on_failure_) on_failure_(st);
  if (st.ok() && after_commit_) after_commit_();
  // Whatever the callbacks or the dispatcher wrote goes out with the next iteration.
  if (spool_->in_transaction() || !waiting_.empty()) Schedule();
}

}  // namespace mailrelay::qmgr
