#include "qmgr/queue.h"

#include <algorithm>

#include "common/log/log.h"
#include "common/util/crypto.h"
#include "qmgr/dsn.h"
#include "qmgr/retry.h"

namespace mailrelay::qmgr {

namespace {
std::string Reply(const Outcome& o) {
  std::string s = std::to_string(o.code);
  if (!o.enhanced.empty()) s += " " + o.enhanced;
  if (!o.text.empty()) s += " " + o.text;
  return s;
}
}  // namespace

Queue::Queue(Spool* spool, CommitTracker* commits, const config::Config& cfg, const util::Clock& clock)
    : spool_(spool),
      commits_(commits),
      cfg_(cfg),
      router_(cfg.route, cfg.queue),
      clock_(clock),
      ids_(clock),
      rng_(util::RandomU64()),
      // Agents outlive a qmgr restart and remember the job ids they answered; ids from this
      // incarnation must never repeat an earlier one's, so they start at the clock.
      next_job_id_(static_cast<uint64_t>(clock.NowMicros())) {}

void Queue::Reconfigure(const config::Config& cfg) {
  cfg_ = cfg;
  router_ = Router(cfg.route, cfg.queue);
  for (auto& [rowid, e] : entries_) Reindex(e);
  if (on_work) on_work();
}

config::Backend Queue::BackendFor(const Message& m, const Recipient& r) const {
  if (r.on_fallback && router_.Fallback()) return *router_.Fallback();
  return router_.Primary(m.sender, r.address);
}

void Queue::Unindex(Entry& e) {
  for (const auto& [b, t] : e.indexed) due_[b].erase({t, e.msg.rowid});
  e.indexed.clear();
}

void Queue::Reindex(Entry& e) {
  Unindex(e);
  if (e.msg.held) return;
  for (const auto& r : e.msg.recipients) {
    if (r.final() || e.in_flight.count(r.idx)) continue;
    config::Backend b = BackendFor(e.msg, r);
    auto it = e.indexed.find(b);
    if (it == e.indexed.end() || r.next_attempt < it->second) e.indexed[b] = r.next_attempt;
  }
  for (const auto& [b, t] : e.indexed) due_[b].insert({t, e.msg.rowid});
}

void Queue::PersistState(const Entry& e) {
  util::Status st = spool_->UpdateMessageState(e.msg);
  if (!st.ok()) log::Error().Id(e.msg.queue_id).Text("cannot record message state: " + st.message());
  commits_->Schedule();
}

void Queue::Persist(const Entry& e, const Recipient& r) {
  util::Status st = spool_->UpdateRecipient(e.msg.rowid, r);
  if (!st.ok()) log::Error().Id(e.msg.queue_id).Text("cannot record recipient state: " + st.message());
  commits_->Schedule();
}

util::Status Queue::Load(int64_t grace) {
  MR_ASSIGN_OR_RETURN(std::vector<Message> all, spool_->LoadAll());
  int64_t now = clock_.NowSeconds();
  size_t recovered = 0;
  for (auto& m : all) {
    for (auto& r : m.recipients) {
      if (!r.final() && r.dispatched_at != 0) {
        r.next_attempt = now + grace;
        ++recovered;
      }
    }
    int64_t rowid = m.rowid;
    by_id_[m.queue_id] = rowid;
    Entry& e = entries_[rowid];
    e.msg = std::move(m);
    Reindex(e);
  }
  log::Info().Kv("messages", static_cast<int64_t>(entries_.size())).Kv("in_flight_at_stop", static_cast<int64_t>(recovered))
      .Text("queue loaded");
  return util::Status::Ok();
}

util::Status Queue::ReloadFromSpool() {
  MR_ASSIGN_OR_RETURN(std::vector<Message> all, spool_->LoadAll());
  for (auto& [b, set] : due_) set.clear();
  entries_.clear();
  by_id_.clear();
  for (auto& m : all) {
    int64_t rowid = m.rowid;
    by_id_[m.queue_id] = rowid;
    Entry& e = entries_[rowid];
    e.msg = std::move(m);
  }
  for (const auto& [id, job] : jobs_) {
    auto it = entries_.find(job.rowid);
    if (it == entries_.end()) continue;
    for (int idx : job.recipients) it->second.in_flight.insert(idx);
  }
  for (auto& [rowid, e] : entries_) Reindex(e);
  return util::Status::Ok();
}

void Queue::PrepareNew(Message* m) {
  for (size_t i = 0; i < m->recipients.size(); ++i) {
    Recipient& r = m->recipients[i];
    r.idx = static_cast<int>(i);
    r.state = RcptState::kPending;
    r.next_attempt = m->arrival;
  }
  if (m->idempotency_key.empty()) m->idempotency_key = util::UuidV4();
}

void Queue::Add(Message m) {
  int64_t rowid = m.rowid;
  by_id_[m.queue_id] = rowid;
  Entry& e = entries_[rowid];
  e.msg = std::move(m);
  Reindex(e);
  if (on_work) on_work();
}

util::Status Queue::InjectInternal(Message m, const std::string& body,
                                   std::function<void(bool, const std::string&)> done) {
  m.queue_id = NewQueueId();
  m.arrival = clock_.NowSeconds();
  m.size = body.size();
  PrepareNew(&m);
  util::Status st = spool_->InsertMessage(&m, body);
  if (!st.ok()) {
    done(false, "");
    return st;
  }
  std::string id = m.queue_id;
  commits_->OnCommitted([this, msg = std::move(m), done = std::move(done)](bool ok) mutable {
    std::string qid = msg.queue_id;
    if (ok) Add(std::move(msg));
    done(ok, qid);
  });
  return util::Status::Ok();
}

void Queue::CacheBody(int64_t rowid, std::shared_ptr<const std::string> body) {
  if (!body || body->size() > kBodyCacheBytes / 4) return;
  body_cache_bytes_ += body->size();
  body_cache_[rowid] = std::move(body);
  body_cache_order_.push_back(rowid);
  while (body_cache_bytes_ > kBodyCacheBytes && !body_cache_order_.empty()) {
    auto it = body_cache_.find(body_cache_order_.front());
    body_cache_order_.pop_front();
    if (it == body_cache_.end()) continue;
    body_cache_bytes_ -= it->second->size();
    body_cache_.erase(it);
  }
  if (body_cache_.empty()) body_cache_order_.clear();
}

std::shared_ptr<const std::string> Queue::TakeCachedBody(int64_t rowid) {
  auto it = body_cache_.find(rowid);
  if (it == body_cache_.end()) return nullptr;
  std::shared_ptr<const std::string> body = std::move(it->second);
  body_cache_bytes_ -= body->size();
  body_cache_.erase(it);  // its id stays in the order list until it reaches the front
  if (body_cache_.empty()) body_cache_order_.clear();
  return body;
}

std::vector<Job> Queue::TakeDue(config::Backend backend, size_t max) {
  std::vector<Job> out;
  if (max == 0) return out;
  int64_t now = clock_.NowSeconds();
  std::vector<int64_t> rowids;
  for (const auto& [t, rowid] : due_[backend]) {
    if (t > now || rowids.size() >= max) break;
    rowids.push_back(rowid);
  }
  for (int64_t rowid : rowids) {
    Entry& e = entries_.at(rowid);
    Job job;
    job.id = next_job_id_++;
    job.rowid = rowid;
    job.backend = backend;
    job.started = now;
    for (auto& r : e.msg.recipients) {
      if (r.final() || e.in_flight.count(r.idx) || r.next_attempt > now) continue;
      if (BackendFor(e.msg, r) != backend) continue;
      job.recipients.push_back(r.idx);
      e.in_flight.insert(r.idx);
      r.dispatched_at = now;
      if (r.first_attempt == 0) r.first_attempt = now;
      r.backend = config::BackendName(backend);
      Persist(e, r);
    }
    Reindex(e);
    if (job.recipients.empty()) continue;
    jobs_[job.id] = job;
    out.push_back(std::move(job));
  }
  return out;
}

int64_t Queue::SecondsUntilNextDue() const {
  int64_t best = -1;
  for (const auto& [b, set] : due_) {
    if (set.empty()) continue;
    if (best < 0 || set.begin()->first < best) best = set.begin()->first;
  }
  if (best < 0) return -1;
  return std::max<int64_t>(0, best - clock_.NowSeconds());
}

const Message* Queue::MessageOf(const Job& job) const {
  auto it = entries_.find(job.rowid);
  return it == entries_.end() ? nullptr : &it->second.msg;
}

const Job* Queue::FindJob(uint64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> Queue::JobIds() const {
  std::vector<uint64_t> out;
  for (const auto& [id, job] : jobs_) out.push_back(id);
  return out;
}

void Queue::LogSend(const Message& m, const Recipient& r, const std::string& backend, const std::string& status,
                    const std::string& reply) {
  if (!cfg_.queue.send_log) return;
  SendLogEntry e;
  e.time = clock_.NowSeconds();
  e.queue_id = m.queue_id;
  e.sender = m.sender;
  e.recipient = r.address;
  e.subject = m.subject;
  e.backend = backend;
  e.status = status;
  e.reply = reply;
  util::Status st = spool_->AppendSendLog(e);
  if (!st.ok()) log::Warning().Id(m.queue_id).Text("send log: " + st.message());
}

void Queue::Bounce(Entry& e, Recipient& r, const std::string& status, const std::string& text,
                   const std::string& backend, const char* log_status, std::vector<const Recipient*>* bounced) {
  r.state = RcptState::kBounced;
  r.last_enhanced = status;
  r.last_text = text;
  r.dispatched_at = 0;
  ++counters_[backend].bounced;
  LogSend(e.msg, r, backend, log_status, text);
  double delay = static_cast<double>(clock_.NowMicros()) / 1e6 - static_cast<double>(e.msg.arrival);
  log::Info().Id(e.msg.queue_id).Kv("to", "<" + r.address + ">").Kv("backend", backend).Kv("delay", delay)
      .Kv("attempts", r.attempts).Kv("status", log_status).Text(text);
  bounced->push_back(&r);
}

void Queue::ApplyOutcome(Entry& e, Recipient& r, const Outcome& o, int64_t retry_after, const std::string& info,
                         const std::string& backend, std::vector<const Recipient*>* bounced) {
  int64_t now = clock_.NowSeconds();
  r.dispatched_at = 0;
  r.last_attempt = now;
  ++r.attempts;
  r.last_code = o.code;
  r.last_enhanced = o.enhanced;
  r.last_text = o.text;
  std::string reply = Reply(o);
  double delay = static_cast<double>(clock_.NowMicros()) / 1e6 - static_cast<double>(e.msg.arrival);
  if (o.code >= 200 && o.code < 300) {
    r.state = RcptState::kDelivered;
    r.info = info;
    ++counters_[backend].delivered;
    if (on_delivered_latency) on_delivered_latency(backend, delay);
    std::string text = info.empty() ? reply : reply + " " + info;
    LogSend(e.msg, r, backend, "sent", text);
    log::Info().Id(e.msg.queue_id).Kv("to", "<" + r.address + ">").Kv("backend", backend).Kv("delay", delay)
        .Kv("attempts", r.attempts).Kv("status", "sent").Text(text);
  } else if (o.code >= 500 && o.code < 600) {
    Bounce(e, r, o.enhanced.empty() ? "5.0.0" : o.enhanced, reply, backend, "bounced", bounced);
  } else {
    ++counters_[backend].deferred;
    auto fallback = router_.Fallback();
    bool primary_is_fallback = fallback && router_.Primary(e.msg.sender, r.address) == *fallback;
    if (!r.on_fallback && fallback && !primary_is_fallback) {
      ++r.primary_deferrals;
      if (r.primary_deferrals >= router_.FallbackAfter()) {
        r.on_fallback = true;
        r.next_attempt = now;
        LogSend(e.msg, r, backend, "deferred", reply);
        log::Info().Id(e.msg.queue_id).Kv("to", "<" + r.address + ">").Kv("backend", backend).Kv("delay", delay)
            .Kv("attempts", r.attempts).Kv("status", "deferred")
            .Text(reply + "; switching to fallback " + config::BackendName(*fallback));
        Persist(e, r);
        return;
      }
    }
    int attempts_here = r.on_fallback ? r.attempts - r.primary_deferrals : r.attempts;
    bool expired = now - e.msg.arrival >= cfg_.queue.max_age;
    bool exhausted = cfg_.queue.max_attempts > 0 && attempts_here >= cfg_.queue.max_attempts;
    if (expired || exhausted) {
      std::string why = expired ? "delivery time expired" : "too many delivery attempts (" + std::to_string(r.attempts) + ")";
      std::string status = !o.enhanced.empty() ? "5" + o.enhanced.substr(1) : "4.4.7";
      if (expired && o.enhanced.empty()) status = "4.4.7";
      Bounce(e, r, status, why + "; last error: " + reply, backend, "expired", bounced);
    } else {
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      int64_t wait = RetryDelay(r.attempts, cfg_.queue.retry_delay, cfg_.queue.max_retry_delay, retry_after, unit(rng_));
      r.next_attempt = now + wait;
      LogSend(e.msg, r, backend, "deferred", reply);
      log::Info().Id(e.msg.queue_id).Kv("to", "<" + r.address + ">").Kv("backend", backend).Kv("delay", delay)
          .Kv("attempts", r.attempts).Kv("status", "deferred").Text(reply + "; next attempt in " +
                                                                      config::FormatDuration(wait));
    }
  }
  Persist(e, r);
}

void Queue::SendDsn(Entry& e, const std::vector<const Recipient*>& bounced, const char* action) {
  if (bounced.empty()) return;
  const Message& m = e.msg;
  bool delayed = std::string(action) == "delayed";
  for (const Recipient* r : bounced) Persist(e, *r);
  if (delayed && (m.sender.empty() || m.kind != MessageKind::kNormal)) return;  // only people get "still trying"
  if (m.kind == MessageKind::kPostmasterNotice) {
    log::Warning().Id(m.queue_id).Kv("to", "<" + (m.recipients.empty() ? std::string() : m.recipients[0].address) + ">")
        .Text("postmaster notice about a failed bounce could not be delivered; dropped");
    return;
  }
  std::string to;
  MessageKind kind;
  if (m.sender.empty()) {
    if (m.kind != MessageKind::kBounce) {
      log::Info().Id(m.queue_id).Text("not sending a bounce: the envelope sender is null");
      return;
    }
    to = cfg_.server.postmaster;
    kind = MessageKind::kPostmasterNotice;
  } else {
    to = m.sender;
    kind = MessageKind::kBounce;
  }
  auto body = spool_->LoadBody(m.rowid);
  DsnInput in;
  in.hostname = cfg_.server.hostname;
  in.queue_id = m.queue_id;
  in.original_sender = m.sender;
  in.arrival = m.arrival;
  in.now = clock_.NowSeconds();
  in.original_headers = body.ok() ? HeaderSection(*body) : "";
  in.postmaster_copy = kind == MessageKind::kPostmasterNotice;
  in.postmaster = cfg_.server.postmaster;
  constexpr size_t kMaxReturnedBounce = 256 * 1024;  // a DSN carries headers only; this is generous
  if (in.postmaster_copy && body.ok() && body->size() <= kMaxReturnedBounce) in.original_message = *body;
  for (const Recipient* r : bounced) {
    DsnRecipient d;
    d.address = r->address;
    d.action = action;
    d.status = r->last_enhanced.empty() ? (delayed ? "4.0.0" : "5.0.0") : r->last_enhanced;
    if (delayed && d.status[0] != '4') d.status = "4" + d.status.substr(1);
    d.diagnostic = r->last_text;
    d.diagnostic_type = r->backend == "smtp" || r->backend.empty() ? "smtp" : "x-mailrelay-" + r->backend;
    in.recipients.push_back(std::move(d));
  }
  std::string message_id = "<" + util::UuidV4() + "@" + cfg_.server.hostname + ">";
  Message dsn;
  dsn.sender = "";
  dsn.kind = kind;
  dsn.client = "qmgr";
  dsn.protocol = "local";
  dsn.message_id = message_id;
  dsn.subject = kind == MessageKind::kPostmasterNotice ? "Postmaster notice: undeliverable bounce"
                : delayed                                ? "Delayed Mail (still being retried)"
                                                         : "Undelivered Mail Returned to Sender";
  Recipient rcpt;
  rcpt.address = to;
  dsn.recipients.push_back(rcpt);
  std::string original = m.queue_id;
  std::string what = kind == MessageKind::kPostmasterNotice ? "postmaster notice of an undeliverable bounce"
                     : delayed                              ? "sender delay notification"
                                                            : "sender non-delivery notification";
  util::Status st = InjectInternal(std::move(dsn), BuildDsn(in, message_id), [original, to, what](bool ok, const std::string& id) {
    if (ok) {
      log::Info().Id(original).Kv("dsn", id).Kv("to", "<" + to + ">").Text(what);
    } else {
      log::Error().Id(original).Text("could not queue the non-delivery notification to <" + to + ">");
    }
  });
  if (!st.ok()) log::Error().Id(m.queue_id).Text("cannot queue DSN: " + st.message());
}

void Queue::Remove(int64_t rowid) {
  (void)TakeCachedBody(rowid);
  auto it = entries_.find(rowid);
  if (it == entries_.end()) return;
  Unindex(it->second);
  by_id_.erase(it->second.msg.queue_id);
  entries_.erase(it);
}

void Queue::FinishIfDone(int64_t rowid) {
  auto it = entries_.find(rowid);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.msg.PendingCount() > 0 || !e.in_flight.empty()) return;
  util::Status st = spool_->DeleteMessage(rowid);
  if (!st.ok()) {
    log::Error().Id(e.msg.queue_id).Text("cannot remove finished message: " + st.message());
    return;
  }
  commits_->Schedule();
  log::Info().Id(e.msg.queue_id).Text("removed");
  Remove(rowid);
}

void Queue::Complete(uint64_t job_id, const std::vector<Outcome>& outcomes, int64_t retry_after,
                     const std::string& info) {
  auto jit = jobs_.find(job_id);
  if (jit == jobs_.end()) return;
  Job job = std::move(jit->second);
  jobs_.erase(jit);
  auto eit = entries_.find(job.rowid);
  if (eit == entries_.end()) return;  // deleted while in flight
  Entry& e = eit->second;
  std::string backend = config::BackendName(job.backend);
  std::vector<const Recipient*> bounced;
  std::set<int> answered;
  for (const auto& o : outcomes) {
    if (std::find(job.recipients.begin(), job.recipients.end(), o.idx) == job.recipients.end() ||
        answered.count(o.idx)) {
      log::Warning().Id(e.msg.queue_id).Kv("backend", backend).Text("agent answered for recipient " +
                                                                     std::to_string(o.idx) + " not in the job; ignored");
      continue;
    }
    answered.insert(o.idx);
    e.in_flight.erase(o.idx);
    for (auto& r : e.msg.recipients) {
      if (r.idx == o.idx && !r.final()) ApplyOutcome(e, r, o, retry_after, info, backend, &bounced);
    }
  }
  for (int idx : job.recipients) {
    if (answered.count(idx)) continue;
    e.in_flight.erase(idx);
    for (auto& r : e.msg.recipients) {
      if (r.idx == idx && !r.final()) {
        ApplyOutcome(e, r, Outcome{idx, 451, "4.3.0", "the delivery agent gave no result for this recipient"}, 0, "",
                     backend, &bounced);
      }
    }
  }
  SendDsn(e, bounced);
  Reindex(e);
  FinishIfDone(job.rowid);
  if (on_work) on_work();
}

void Queue::CompleteOrphan(const std::string& queue_id, config::Backend backend,
                           const std::vector<Outcome>& outcomes, int64_t retry_after, const std::string& info) {
  Entry* e = FindEntry(queue_id);
  if (!e) return;
  Job job;
  job.id = next_job_id_++;
  job.rowid = e->msg.rowid;
  job.backend = backend;
  job.started = clock_.NowSeconds();
  std::vector<Outcome> applicable;
  for (const auto& o : outcomes) {
    for (auto& r : e->msg.recipients) {
      if (r.idx != o.idx || r.final() || e->in_flight.count(r.idx) || r.dispatched_at == 0) continue;
      job.recipients.push_back(r.idx);
      e->in_flight.insert(r.idx);
      applicable.push_back(o);
    }
  }
  if (job.recipients.empty()) return;
  log::Info().Id(queue_id).Kv("recipients", static_cast<int64_t>(job.recipients.size()))
      .Text("result of a delivery started before qmgr restarted");
  jobs_[job.id] = job;
  Complete(job.id, applicable, retry_after, info);
}

void Queue::Fail(uint64_t job_id, const std::string& enhanced, const std::string& text) {
  auto jit = jobs_.find(job_id);
  if (jit == jobs_.end()) return;
  std::vector<Outcome> outcomes;
  for (int idx : jit->second.recipients) outcomes.push_back(Outcome{idx, 451, enhanced, text});
  Complete(job_id, outcomes, 0, "");
}

void Queue::RecordAgentCrash(int64_t rowid) {
  auto eit = entries_.find(rowid);
  if (eit == entries_.end()) return;
  Entry& e = eit->second;
  ++e.msg.agent_crashes;
  if (e.msg.agent_crashes >= 2 && !e.msg.held) {
    e.msg.held = true;
    e.msg.hold_reason = "the delivery agent crashed twice while delivering this message";
    Reindex(e);
    log::Error().Id(e.msg.queue_id).Text("held: " + e.msg.hold_reason +
                                         "; inspect it with relayctl show, then release or delete it");
  }
  PersistState(e);
}

void Queue::Sweep() {
  int64_t now = clock_.NowSeconds();
  std::vector<int64_t> touched;
  if (cfg_.queue.delay_warning > 0) {
    for (auto& [rowid, e] : entries_) {
      if (e.msg.held || e.msg.sender.empty() || e.msg.kind != MessageKind::kNormal) continue;
      if (now - e.msg.arrival < cfg_.queue.delay_warning) continue;
      std::vector<const Recipient*> late;
      for (auto& r : e.msg.recipients) {
        if (r.final() || r.delay_warned || r.attempts == 0 || e.in_flight.count(r.idx)) continue;
        r.delay_warned = true;
        late.push_back(&r);
      }
      SendDsn(e, late, "delayed");
    }
  }
  for (auto& [rowid, e] : entries_) {
    if (e.msg.held || now - e.msg.arrival < cfg_.queue.max_age) continue;
    std::vector<const Recipient*> bounced;
    for (auto& r : e.msg.recipients) {
      if (r.final() || e.in_flight.count(r.idx)) continue;
      std::string last = r.last_code ? std::to_string(r.last_code) + " " + r.last_enhanced + " " + r.last_text
                                     : std::string("no delivery attempt succeeded");
      Bounce(e, r, r.last_enhanced.empty() ? "4.4.7" : "5" + r.last_enhanced.substr(1),
             "delivery time expired; last error: " + last, r.backend.empty() ? "none" : r.backend, "expired", &bounced);
    }
    if (!bounced.empty()) {
      SendDsn(e, bounced);
      touched.push_back(rowid);
    }
  }
  for (int64_t rowid : touched) {
    auto it = entries_.find(rowid);
    if (it != entries_.end()) Reindex(it->second);
    FinishIfDone(rowid);
  }
  if (cfg_.queue.send_log) {
    util::Status st = spool_->PruneSendLog(now - int64_t{cfg_.queue.send_log_days} * 86400);
    if (!st.ok()) log::Warning().Text("send log prune: " + st.message());
    commits_->Schedule();
  }
}

Queue::Entry* Queue::FindEntry(const std::string& queue_id) {
  auto it = by_id_.find(queue_id);
  if (it == by_id_.end()) return nullptr;
  auto e = entries_.find(it->second);
  return e == entries_.end() ? nullptr : &e->second;
}

const Message* Queue::Find(const std::string& queue_id) const {
  auto it = by_id_.find(queue_id);
  if (it == by_id_.end()) return nullptr;
  auto e = entries_.find(it->second);
  return e == entries_.end() ? nullptr : &e->second.msg;
}

std::vector<std::string> Queue::UnknownIds(const std::vector<std::string>& ids) const {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    if (!by_id_.count(id)) out.push_back(id);
  }
  return out;
}

int Queue::Flush(const std::vector<std::string>& ids) {
  int64_t now = clock_.NowSeconds();
  int n = 0;
  auto flush = [&](Entry& e) {
    bool any = false;
    for (auto& r : e.msg.recipients) {
      if (r.final() || e.in_flight.count(r.idx) || r.next_attempt <= now) continue;
      r.next_attempt = now;
      Persist(e, r);
      any = true;
    }
    if (any) {
      ++n;
      Reindex(e);
    }
  };
  if (ids.empty()) {
    for (auto& [rowid, e] : entries_) flush(e);
  } else {
    for (const auto& id : ids) {
      if (Entry* e = FindEntry(id)) flush(*e);
    }
  }
  if (on_work) on_work();
  return n;
}

int Queue::Requeue(const std::vector<std::string>& ids, bool all) {
  int64_t now = clock_.NowSeconds();
  int n = 0;
  auto requeue = [&](Entry& e) {
    ++n;
    e.msg.held = false;
    e.msg.agent_crashes = 0;
    e.msg.hold_reason.clear();
    PersistState(e);
    for (auto& r : e.msg.recipients) {
      if (r.final() || e.in_flight.count(r.idx)) continue;
      r.attempts = 0;
      r.primary_deferrals = 0;
      r.on_fallback = false;
      r.next_attempt = now;
      Persist(e, r);
    }
    Reindex(e);
    log::Info().Id(e.msg.queue_id).Text("requeued by the operator");
  };
  if (all) {
    for (auto& [rowid, e] : entries_) requeue(e);
  } else {
    for (const auto& id : ids) {
      if (Entry* e = FindEntry(id)) requeue(*e);
    }
  }
  commits_->Schedule();
  if (on_work) on_work();
  return n;
}

int Queue::Hold(const std::vector<std::string>& ids, bool hold) {
  int n = 0;
  for (const auto& id : ids) {
    Entry* e = FindEntry(id);
    if (!e || e->msg.held == hold) continue;
    e->msg.held = hold;
    e->msg.hold_reason = hold ? "held by the operator" : "";
    if (!hold) e->msg.agent_crashes = 0;
    PersistState(*e);
    Reindex(*e);
    ++n;
    log::Info().Id(id).Text(hold ? "held by the operator" : "released by the operator");
  }
  commits_->Schedule();
  if (!hold && on_work) on_work();
  return n;
}

int Queue::Delete(const std::vector<std::string>& ids, bool all_deferred) {
  std::vector<int64_t> victims;
  if (all_deferred) {
    for (const auto& [rowid, e] : entries_) {
      if (StateOf(e.msg) == "deferred") victims.push_back(rowid);
    }
  } else {
    for (const auto& id : ids) {
      auto it = by_id_.find(id);
      if (it != by_id_.end()) victims.push_back(it->second);
    }
  }
  for (int64_t rowid : victims) {
    auto it = entries_.find(rowid);
    if (it == entries_.end()) continue;
    util::Status st = spool_->DeleteMessage(rowid);
    if (!st.ok()) {
      log::Error().Id(it->second.msg.queue_id).Text("delete: " + st.message());
      continue;
    }
    log::Info().Id(it->second.msg.queue_id).Text("deleted by the operator");
    Remove(rowid);
  }
  commits_->Schedule();
  return static_cast<int>(victims.size());
}

std::vector<const Message*> Queue::All() const {
  std::vector<const Message*> out;
  out.reserve(entries_.size());
  for (const auto& [rowid, e] : entries_) out.push_back(&e.msg);
  std::sort(out.begin(), out.end(), [](const Message* a, const Message* b) { return a->rowid < b->rowid; });
  return out;
}

bool Queue::InFlight(const Message& m, int idx) const {
  auto it = entries_.find(m.rowid);
  return it != entries_.end() && it->second.in_flight.count(idx);
}

std::string Queue::StateOf(const Message& m) const {
  if (m.held) return "held";
  auto it = entries_.find(m.rowid);
  if (it != entries_.end() && !it->second.in_flight.empty()) return "delivering";
  int64_t now = clock_.NowSeconds();
  bool attempted = false;
  for (const auto& r : m.recipients) {
    if (r.final()) continue;
    if (r.next_attempt <= now) return "ready";
    attempted |= r.attempts > 0;
  }
  return attempted ? "deferred" : "ready";
}

QueueStats Queue::Stats() const {
  QueueStats s;
  s.messages = entries_.size();
  for (const auto& [rowid, e] : entries_) {
    std::string st = StateOf(e.msg);
    if (st == "ready") ++s.ready;
    else if (st == "delivering") ++s.delivering;
    else if (st == "deferred") ++s.deferred;
    else ++s.held;
    if (s.oldest_arrival == 0 || e.msg.arrival < s.oldest_arrival) s.oldest_arrival = e.msg.arrival;
  }
  return s;
}

}  // namespace mailrelay::qmgr
