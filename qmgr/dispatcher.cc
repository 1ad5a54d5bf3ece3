#include "qmgr/dispatcher.h"

#include <algorithm>
#include <csignal>

#include "common/log/log.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::qmgr {

namespace {

bool ValidEnhanced(std::string_view e) {
  // class.subject.detail: [245].d{1,3}.d{1,3}
  auto parts = util::Split(e, '.', false);
  if (parts.size() != 3 || parts[0].size() != 1 || (parts[0][0] != '2' && parts[0][0] != '4' && parts[0][0] != '5')) {
    return false;
  }
  for (size_t i = 1; i < 3; ++i) {
    if (parts[i].empty() || parts[i].size() > 3 || !util::ParseUint(parts[i])) return false;
  }
  return true;
}

}  // namespace

Dispatcher::Dispatcher(event_base* base, Queue* queue, Spool* spool, CommitTracker* commits,
                       const config::Config& cfg)
    : base_(base), queue_(queue), spool_(spool), commits_(commits), cfg_(cfg) {
  kick_ev_ = event_new(base_, -1, 0, &Dispatcher::OnKick, this);
  event_priority_set(kick_ev_, 2);
  timer_ev_ = event_new(base_, -1, 0, &Dispatcher::OnKick, this);
  Reconfigure(cfg);
}

Dispatcher::~Dispatcher() {
  event_free(kick_ev_);
  event_free(timer_ev_);
  if (listener_) evconnlistener_free(listener_);
}

void Dispatcher::Reconfigure(const config::Config& cfg) {
  cfg_ = cfg;
  for (config::Backend b : config::kAllBackends) rate_[b].Configure(cfg.Common(b).rate_limit);
  Kick();
}

util::Status Dispatcher::Listen(int fd) {
  listener_ = evconnlistener_new(base_, &Dispatcher::OnAccept, this, LEV_OPT_CLOSE_ON_FREE, -1, fd);
  if (!listener_) return util::Internal("evconnlistener_new for deliver.sock failed");
  return util::Status::Ok();
}

void Dispatcher::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<Dispatcher*>(arg);
  auto agent = std::make_unique<Agent>();
  agent->id = self->next_agent_++;
  agent->ch = std::make_unique<ipc::Channel>(self->base_, fd);
  Agent* raw = agent.get();
  uint64_t id = agent->id;
  self->agents_[id] = std::move(agent);
  raw->ch->Start([self, raw](ipc::Message& m) { self->OnMessage(*raw, m); },
                 [self, id](const std::string& why) { self->OnClose(id, why); });
  (void)raw->ch->Send(ipc::MakeHello("qmgr", "qmgr"));
}

void Dispatcher::Kick() { event_active(kick_ev_, EV_TIMEOUT, 0); }

void Dispatcher::OnKick(evutil_socket_t, short, void* arg) { static_cast<Dispatcher*>(arg)->Dispatch(); }

bool Dispatcher::HasAgent(config::Backend b) const {
  for (const auto& [id, a] : agents_) {
    if (a->hello && !a->draining && a->backend == b) return true;
  }
  return false;
}

size_t Dispatcher::InFlight(config::Backend b) const {
  size_t n = 0;
  for (const auto& [id, a] : agents_) {
    if (a->hello && a->backend == b) n += a->jobs.size();
  }
  return n;
}

Dispatcher::Agent* Dispatcher::PickAgent(config::Backend b) {
  Agent* best = nullptr;
  for (auto& [id, a] : agents_) {
    if (!a->hello || a->draining || a->backend != b || a->ch->closed()) continue;
    // The newest generation wins (after a reload), then the least busy.
    if (!best || a->generation > best->generation ||
        (a->generation == best->generation && a->jobs.size() < best->jobs.size())) {
      best = a.get();
    }
  }
  return best;
}

void Dispatcher::Dispatch() {
  const util::Clock& clock = util::Clock::System();
  int64_t now_us = clock.NowMicros();
  int64_t next_wake_us = -1;
  auto wake_in = [&](int64_t us) {
    if (us >= 0 && (next_wake_us < 0 || us < next_wake_us)) next_wake_us = us;
  };
  for (config::Backend b : config::kAllBackends) {
    if (!HasAgent(b)) continue;
    auto paused = paused_until_us_.find(b);
    if (paused != paused_until_us_.end() && paused->second > now_us) {
      wake_in(paused->second - now_us);
      continue;
    }
    size_t limit = static_cast<size_t>(cfg_.Common(b).concurrency);
    size_t busy = InFlight(b);
    if (busy >= limit) continue;  // a result will kick us
    size_t room = std::min(limit - busy, rate_[b].Available(now_us));
    if (room == 0) {
      wake_in(rate_[b].WaitUs(now_us));
      continue;
    }
    std::vector<Job> jobs = queue_->TakeDue(b, room);
    for (const Job& job : jobs) {
      Agent* a = PickAgent(b);
      if (!a || !SendJob(*a, job)) {
        queue_->Fail(job.id, "4.3.0", "no delivery agent could take the job");
        continue;
      }
      rate_[b].Record(now_us);
    }
    if (jobs.size() == room && rate_[b].Available(now_us) == 0) wake_in(rate_[b].WaitUs(now_us));
  }
  int64_t due = queue_->SecondsUntilNextDue();
  if (due >= 0) wake_in(std::max<int64_t>(due * 1000000, 50000));
  if (next_wake_us >= 0) {
    timeval tv{static_cast<time_t>(next_wake_us / 1000000), static_cast<suseconds_t>(next_wake_us % 1000000)};
    event_add(timer_ev_, &tv);
  }
}

bool Dispatcher::SendJob(Agent& a, const Job& job) {
  const Message* m = queue_->MessageOf(job);
  if (!m) return false;
  std::shared_ptr<const std::string> body = queue_->TakeCachedBody(m->rowid);
  if (!body) {
    auto loaded = spool_->LoadBody(m->rowid);
    if (!loaded.ok()) {
      log::Error().Id(m->queue_id).Text("cannot read the message body: " + loaded.status().message());
      return false;
    }
    body = std::make_shared<const std::string>(std::move(loaded).value());
  }
  ipc::Message begin(ipc::Type::kJobBegin);
  begin.Add(ipc::Tag::kJobId, job.id).Add(ipc::Tag::kQueueId, m->queue_id).Add(ipc::Tag::kSender, m->sender);
  int64_t first_attempt = 0;
  for (int idx : job.recipients) {
    for (const auto& r : m->recipients) {
      if (r.idx != idx) continue;
      ipc::Fields g;
      g.Add(ipc::Tag::kIndex, static_cast<uint64_t>(idx)).Add(ipc::Tag::kAddress, r.address);
      begin.AddGroup(ipc::Tag::kRecipient, g);
      if (first_attempt == 0 || (r.first_attempt && r.first_attempt < first_attempt)) first_attempt = r.first_attempt;
    }
  }
  int attempt = 1;
  for (const auto& r : m->recipients) {
    if (std::find(job.recipients.begin(), job.recipients.end(), r.idx) != job.recipients.end()) {
      attempt = std::max(attempt, r.attempts + 1);
    }
  }
  begin.Add(ipc::Tag::kAttempt, static_cast<uint64_t>(attempt)).Add(ipc::Tag::kSize, static_cast<uint64_t>(body->size()));
  begin.Add(ipc::Tag::kArrival, static_cast<uint64_t>(m->arrival));
  if (first_attempt) begin.Add(ipc::Tag::kFirstAttempt, static_cast<uint64_t>(first_attempt));
  if (!m->idempotency_key.empty()) begin.Add(ipc::Tag::kIdempotencyKey, m->idempotency_key);
  if (!m->auth_user.empty()) begin.Add(ipc::Tag::kAuthUser, m->auth_user);
  if (!m->sealed_secret.empty()) begin.Add(ipc::Tag::kSealedSecret, m->sealed_secret);
  begin.Add(ipc::Tag::kSmtpUtf8, static_cast<uint64_t>(m->smtputf8));
  if (!m->body_type.empty()) begin.Add(ipc::Tag::kBodyType, m->body_type);
  if (!a.ch->Send(begin).ok()) return false;
  for (size_t off = 0; off < body->size(); off += ipc::kMaxChunk) {
    ipc::Message chunk(ipc::Type::kJobChunk);
    chunk.Add(ipc::Tag::kJobId, job.id);
    if (!a.ch->SendWithData(chunk, ipc::Tag::kData, std::string_view(*body).substr(off, ipc::kMaxChunk), body).ok()) {
      return false;
    }
  }
  ipc::Message end(ipc::Type::kJobEnd);
  end.Add(ipc::Tag::kJobId, job.id).Add(ipc::Tag::kSize, static_cast<uint64_t>(body->size()))
      .Add(ipc::Tag::kDigest, util::Sha256(*body));
  if (!a.ch->Send(end).ok()) return false;
  a.jobs.insert(job.id);
  job_agent_[job.id] = a.id;
  return true;
}

void Dispatcher::OnMessage(Agent& a, ipc::Message& m) {
  if (!a.hello) {
    util::Status st = ipc::CheckHello(m, "agent");
    auto backend = config::ParseBackend(m.Str(ipc::Tag::kName));
    if (!st.ok() || !backend) {
      log::Warning().Text("refusing delivery agent: " + (st.ok() ? "unknown backend" : st.message()));
      a.ch->CloseAfterFlush();
      return;
    }
    a.hello = true;
    a.backend = *backend;
    a.pid = m.U64(ipc::Tag::kPid);
    a.generation = m.U64(ipc::Tag::kGeneration);
    log::Info().Kv("backend", config::BackendName(a.backend)).Kv("pid", static_cast<int64_t>(a.pid))
        .Text("delivery agent connected");
    Kick();
    return;
  }
  switch (m.type()) {
    case ipc::Type::kJobResult:
      OnResult(a, m);
      return;
    case ipc::Type::kAgentDrain:
      a.draining = true;
      log::Info().Kv("backend", config::BackendName(a.backend)).Kv("pid", static_cast<int64_t>(a.pid))
          .Kv("jobs", static_cast<int64_t>(a.jobs.size())).Text("delivery agent is draining");
      Kick();
      return;
    default:
      break;
  }
  log::Warning().Kv("backend", config::BackendName(a.backend))
      .Text(std::string("agent sent an unexpected ") + ipc::TypeName(m.type()) + "; closing it");
  a.ch->CloseAfterFlush();
  OnClose(a.id, "protocol error");
}

void Dispatcher::OnResult(Agent& a, const ipc::Message& m) {
  uint64_t job_id = m.U64(ipc::Tag::kJobId);
  std::vector<Outcome> outcomes;
  bool any_deferral = false;
  for (const auto& g : m.Groups(ipc::Tag::kResult)) {
    Outcome o;
    o.idx = static_cast<int>(g.U64(ipc::Tag::kIndex));
    uint64_t code = g.U64(ipc::Tag::kCode);
    o.code = (code >= 200 && code < 600) ? static_cast<int>(code) : 451;
    std::string enhanced(g.Str(ipc::Tag::kEnhanced));
    o.enhanced = ValidEnhanced(enhanced) && enhanced[0] == std::to_string(o.code)[0] ? enhanced : "";
    o.text = util::Printable(g.Str(ipc::Tag::kText), 1000);
    any_deferral |= o.code >= 400 && o.code < 500;
    outcomes.push_back(std::move(o));
  }
  int64_t retry_after = static_cast<int64_t>(std::min<uint64_t>(m.U64(ipc::Tag::kRetryAfter), 86400));
  std::string info = util::Printable(m.Str(ipc::Tag::kInfo), 500);
  if (a.jobs.count(job_id)) {
    a.jobs.erase(job_id);
    job_agent_.erase(job_id);
    queue_->Complete(job_id, outcomes, retry_after, info);
  } else {
    // Kept by the agent across a qmgr restart; matched by queue id.
    queue_->CompleteOrphan(std::string(m.Str(ipc::Tag::kQueueId)), a.backend, outcomes, retry_after, info);
  }
  if (m.U64(ipc::Tag::kThrottled) && any_deferral && retry_after > 0) {
    int64_t until = util::Clock::System().NowMicros() + std::min<int64_t>(retry_after, 600) * 1000000;
    paused_until_us_[a.backend] = std::max(paused_until_us_[a.backend], until);
    log::Warning().Kv("backend", config::BackendName(a.backend)).Kv("retry_after", retry_after)
        .Text("backend is throttling; pausing deliveries to it");
  }
  uint64_t agent_id = a.id;
  commits_->OnCommitted([this, agent_id, job_id](bool durable) {
    if (!durable) return;  // the agent will send it again
    auto it = agents_.find(agent_id);
    if (it == agents_.end() || it->second->ch->closed()) return;
    ipc::Message ack(ipc::Type::kJobAck);
    ack.Add(ipc::Tag::kJobId, job_id);
    (void)it->second->ch->Send(ack);
  });
  Kick();
}

void Dispatcher::OnClose(uint64_t agent_id, const std::string& why) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return;
  std::unique_ptr<Agent> a = std::move(it->second);
  agents_.erase(it);
  if (!a->jobs.empty()) {
    log::Warning().Kv("backend", config::BackendName(a->backend)).Kv("pid", static_cast<int64_t>(a->pid))
        .Kv("jobs", static_cast<int64_t>(a->jobs.size())).Text("delivery agent went away mid-job (" + why +
                                                               "); its jobs are deferred");
  } else if (a->hello) {
    log::Info().Kv("backend", config::BackendName(a->backend)).Kv("pid", static_cast<int64_t>(a->pid))
        .Text("delivery agent disconnected");
  }
  Aboard aboard{util::Clock::System().NowSeconds(), {}};
  for (uint64_t job_id : a->jobs) {
    job_agent_.erase(job_id);
    if (const Job* job = queue_->FindJob(job_id)) aboard.rowids.push_back(job->rowid);
    queue_->Fail(job_id, "4.3.0", std::string("delivery agent deliver-") + config::BackendName(a->backend) +
                                      " went away during the delivery");
  }
  if (!aboard.rowids.empty() && a->pid) aboard_at_exit_[a->pid] = std::move(aboard);
  Kick();
}

void Dispatcher::OnAgentExit(uint64_t pid, int signal) {
  int64_t now = util::Clock::System().NowSeconds();
  for (auto it = aboard_at_exit_.begin(); it != aboard_at_exit_.end();) {
    it = now - it->second.when > 60 ? aboard_at_exit_.erase(it) : std::next(it);
  }
  auto it = aboard_at_exit_.find(pid);
  if (it == aboard_at_exit_.end()) return;
  // Faults of the agent itself, not a kill from outside (operator, OOM killer, shutdown).
  bool fault = signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE || signal == SIGABRT;
  if (fault) {
    for (int64_t rowid : it->second.rowids) queue_->RecordAgentCrash(rowid);
  }
  aboard_at_exit_.erase(it);
}

void Dispatcher::CheckDeadlines() {
  int64_t now = util::Clock::System().NowSeconds();
  std::vector<uint64_t> hung;
  for (auto& [id, a] : agents_) {
    if (!a->hello) continue;
    const auto& common = cfg_.Common(a->backend);
    int64_t limit = 3 * common.timeout + 120;
    if (a->backend == config::Backend::kSmtp) limit = 3 * (cfg_.smtp.data_timeout + cfg_.smtp.timeout) + 120;
    for (uint64_t job_id : a->jobs) {
      const Job* job = queue_->FindJob(job_id);
      if (job && now - job->started > limit) {
        hung.push_back(id);
        break;
      }
    }
  }
  for (uint64_t id : hung) {
    auto it = agents_.find(id);
    if (it == agents_.end()) continue;
    it->second->pid = 0;  // a hang is not attributed to the messages aboard
    log::Error().Kv("backend", config::BackendName(it->second->backend)).Kv("pid", static_cast<int64_t>(it->second->pid))
        .Text("delivery agent holds a job far past its deadline; disconnecting it (mailrelayd restarts it)");
    OnClose(id, "job deadline exceeded");
  }
}

std::vector<AgentInfo> Dispatcher::Agents() const {
  std::vector<AgentInfo> out;
  for (const auto& [id, a] : agents_) {
    if (!a->hello) continue;
    out.push_back({config::BackendName(a->backend), a->pid, a->generation, a->jobs.size(), a->draining});
  }
  return out;
}

}  // namespace mailrelay::qmgr
