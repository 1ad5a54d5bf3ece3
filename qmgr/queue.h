// The queue in memory: every message not yet finished, indexed per backend by when its
// next delivery is due. It decides what to dispatch, applies delivery results (delivered,
// deferred with backoff, fallback, expired, bounced with a DSN), and serves the operator's
// verbs. Every change is written to the spool in the same step (joining the group commit);
// if a commit fails, ReloadFromSpool() brings memory back in line with the disk.
// qmgr's loop thread only.
#pragma once

#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config/config.h"
#include "common/util/clock.h"
#include "qmgr/commit.h"
#include "qmgr/model.h"
#include "qmgr/queue_id.h"
#include "qmgr/router.h"
#include "qmgr/spool.h"

namespace mailrelay::qmgr {

struct Job {
  uint64_t id = 0;
  int64_t rowid = 0;
  config::Backend backend = config::Backend::kFile;
  std::vector<int> recipients;  // recipient idx values
  int64_t started = 0;          // unix seconds
};

struct Outcome {
  int idx = 0;
  int code = 0;  // 2xx delivered, 4xx deferred, 5xx bounced
  std::string enhanced;
  std::string text;
};

struct QueueStats {
  size_t messages = 0;
  size_t ready = 0, delivering = 0, deferred = 0, held = 0;
  int64_t oldest_arrival = 0;
};

class Queue {
 public:
  Queue(Spool* spool, CommitTracker* commits, const config::Config& cfg, const util::Clock& clock);

  void Reconfigure(const config::Config& cfg);
  // Loads every message from the spool. Recipients that were in flight when the previous
  // qmgr stopped become due after `grace` seconds, giving agents time to report results
  // they finished meanwhile (so a restart rarely delivers twice).
  util::Status Load(int64_t grace);
  util::Status ReloadFromSpool();

  // --- messages entering the queue ---
  std::string NewQueueId() { return ids_.Next(); }
  // Makes a committed message schedulable.
  void Add(Message m);
  // Queues a message built by qmgr itself (DSN, report): spool now, schedulable once durable.
  util::Status InjectInternal(Message m, const std::string& body, std::function<void(bool, const std::string&)> done);
  // Routes each recipient (sets Recipient::backend) and fills defaults for a new message.
  void PrepareNew(Message* m);

  size_t size() const { return entries_.size(); }
  bool accepting() const { return static_cast<int>(entries_.size()) < cfg_.queue.max_messages; }

  // Bodies of messages committed moments ago, so their first delivery needs no read from the
  // spool. Bounded (kBodyCacheBytes, oldest out first); a retry reads the spool.
  void CacheBody(int64_t rowid, std::shared_ptr<const std::string> body);
  std::shared_ptr<const std::string> TakeCachedBody(int64_t rowid);

  // --- dispatch ---
  // Jobs due for `backend` now, at most `max`. Their recipients are in flight until
  // Complete() or Fail().
  std::vector<Job> TakeDue(config::Backend backend, size_t max);
  // Seconds until the next delivery is due anywhere (-1: nothing waiting).
  int64_t SecondsUntilNextDue() const;
  const Message* MessageOf(const Job& job) const;
  const Job* FindJob(uint64_t id) const;

  // --- results ---
  void Complete(uint64_t job_id, const std::vector<Outcome>& outcomes, int64_t retry_after,
                const std::string& info);
  // A result for a job handed out by a previous qmgr (the agent kept it across our
  // restart): applied to recipients that were in flight then and are still pending.
  void CompleteOrphan(const std::string& queue_id, config::Backend backend, const std::vector<Outcome>& outcomes,
                      int64_t retry_after, const std::string& info);
  // The whole job failed without a per-recipient answer (agent died, timed out).
  void Fail(uint64_t job_id, const std::string& enhanced, const std::string& text);
  // The agent that had this message aboard crashed by itself (a fault signal, not a kill):
  // the second time, the message is held so one poison message cannot exhaust the restart
  // budget and stop the whole relay.
  void RecordAgentCrash(int64_t rowid);
  std::vector<uint64_t> JobIds() const;

  // --- janitor: expire what waited too long; prune the send log ---
  void Sweep();

  // --- operator verbs (relayctl); return how many messages were affected ---
  int Flush(const std::vector<std::string>& ids);  // empty = all deferred
  int Requeue(const std::vector<std::string>& ids, bool all);
  int Hold(const std::vector<std::string>& ids, bool hold);
  int Delete(const std::vector<std::string>& ids, bool all_deferred);
  std::vector<std::string> UnknownIds(const std::vector<std::string>& ids) const;

  const Message* Find(const std::string& queue_id) const;
  std::vector<const Message*> All() const;  // in arrival order
  bool InFlight(const Message& m, int idx) const;
  QueueStats Stats() const;
  std::string StateOf(const Message& m) const;  // ready | delivering | deferred | held

  // Counters for /metrics, per backend name.
  struct Counters {
    uint64_t delivered = 0, deferred = 0, bounced = 0;
  };
  const std::map<std::string, Counters>& counters() const { return counters_; }
  // Delivery latency (arrival to delivered) observations, for the histogram.
  std::function<void(const std::string& backend, double seconds)> on_delivered_latency;
  // Called when something becomes due (new message, flush) so the dispatcher can run.
  std::function<void()> on_work;

 private:
  struct Entry {
    Message msg;
    std::map<config::Backend, int64_t> indexed;  // backend -> due time in due_
    std::set<int> in_flight;
  };

  config::Backend BackendFor(const Message& m, const Recipient& r) const;
  void Reindex(Entry& e);
  void Unindex(Entry& e);
  void Persist(const Entry& e, const Recipient& r);
  void ApplyOutcome(Entry& e, Recipient& r, const Outcome& o, int64_t retry_after, const std::string& info,
                    const std::string& backend, std::vector<const Recipient*>* bounced);
  void Bounce(Entry& e, Recipient& r, const std::string& status, const std::string& text, const std::string& backend,
              const char* log_status, std::vector<const Recipient*>* bounced);
  // A DSN to the sender about `recipients`: "failed" (bounced) or "delayed" (still trying).
  void SendDsn(Entry& e, const std::vector<const Recipient*>& recipients, const char* action = "failed");
  void PersistState(const Entry& e);
  void FinishIfDone(int64_t rowid);
  void Remove(int64_t rowid);
  void LogSend(const Message& m, const Recipient& r, const std::string& backend, const std::string& status,
               const std::string& reply);
  Entry* FindEntry(const std::string& queue_id);

  Spool* spool_;
  CommitTracker* commits_;
  config::Config cfg_;
  Router router_;
  const util::Clock& clock_;
  QueueIdGenerator ids_;
  std::mt19937_64 rng_;

  std::unordered_map<int64_t, Entry> entries_;
  std::unordered_map<std::string, int64_t> by_id_;
  std::map<config::Backend, std::set<std::pair<int64_t, int64_t>>> due_;  // (due time, rowid)
  std::unordered_map<uint64_t, Job> jobs_;
  uint64_t next_job_id_;
  static constexpr size_t kBodyCacheBytes = 64 << 20;
  std::unordered_map<int64_t, std::shared_ptr<const std::string>> body_cache_;
  std::deque<int64_t> body_cache_order_;
  size_t body_cache_bytes_ = 0;
  std::map<std::string, Counters> counters_;
};

}  // namespace mailrelay::qmgr
