#include "common/agent/agent.h"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>

#include "common/ipc/channel.h"
#include "common/log/log.h"
#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::agent {

JobResult JobResult::ForAll(const DeliveryJob& job, int code, const std::string& enhanced, const std::string& text) {
  JobResult r;
  for (const auto& rc : job.recipients) r.results.push_back({rc.index, code, enhanced, text});
  return r;
}

namespace {

class Driver {
 public:
  Driver(proc::Child* child, config::Backend backend, std::unique_ptr<Backend> impl)
      : child_(child), backend_(backend), impl_(std::move(impl)), alive_(std::make_shared<bool>(true)) {
    reconnect_ev_ = evtimer_new(child_->base(), &Driver::OnTimer, this);
    deadline_ev_ = event_new(child_->base(), -1, EV_PERSIST, &Driver::OnDeadlines, this);
    timeval one{1, 0};
    event_add(deadline_ev_, &one);
    const char* gen = std::getenv("MAILRELAY_GENERATION");
    generation_ = gen ? util::ParseUint(gen).value_or(0) : 0;
  }
  ~Driver() {
    *alive_ = false;
    event_free(reconnect_ev_);
    event_free(deadline_ev_);
  }

  void Connect() {
    std::string path = child_->config().server.run_dir + "/deliver.sock";
    auto fd = ipc::ConnectUnix(path);
    if (!fd.ok()) {
      if (++connect_failures_ % 20 == 1) log::Warning().Text("cannot reach qmgr yet: " + fd.status().message());
      timeval half{0, 500000};
      evtimer_add(reconnect_ev_, &half);
      return;
    }
    connect_failures_ = 0;
    ch_ = std::make_unique<ipc::Channel>(child_->base(), *fd);
    ch_->Start([this](ipc::Message& m) { OnMessage(m); },
               [this](const std::string& why) { OnClose(why); });
  }

  void BeginShutdown() {
    shutting_down_ = true;
    impl_->Shutdown();
    if (ch_ && hello_) {
      ipc::Message m(ipc::Type::kAgentDrain);
      m.Add(ipc::Tag::kText, "shutting down");
      (void)ch_->Send(m);
    }
    int64_t limit = child_->config().server.shutdown_timeout;
    shutdown_deadline_ = util::Clock::System().NowSeconds() + limit;
    MaybeExit();
  }

 private:
  struct Assembly {
    std::shared_ptr<DeliveryJob> job;
    util::Sha256Stream sha;
    uint64_t expected = 0;
  };
  struct Running {
    int64_t deadline = 0;
    std::string queue_id;
    std::vector<int> indexes;
  };

  static void OnTimer(evutil_socket_t, short, void* arg) { static_cast<Driver*>(arg)->Connect(); }
  static void OnDeadlines(evutil_socket_t, short, void* arg) { static_cast<Driver*>(arg)->CheckDeadlines(); }

  void OnClose(const std::string& why) {
    hello_ = false;
    assembling_.clear();  // qmgr hands those out again
    ch_.reset();
    if (!shutting_down_ || !running_.empty() || !unacked_.empty()) {
      log::Warning().Text("lost qmgr (" + why + "); reconnecting, " + std::to_string(running_.size()) +
                          " deliveries continue");
      timeval soon{0, 200000};
      evtimer_add(reconnect_ev_, &soon);
    }
    MaybeExit();
  }

  void Send(const ipc::Message& m) {
    if (ch_ && hello_ && !ch_->closed()) (void)ch_->Send(m);
  }

  void OnMessage(ipc::Message& m) {
    if (!hello_) {
      util::Status st = ipc::CheckHello(m, "qmgr");
      if (!st.ok()) {
        log::Error().Text("qmgr speaks another protocol: " + st.message());
        ch_->CloseAfterFlush();
        return;
      }
      hello_ = true;
      (void)ch_->Send(ipc::MakeHello("agent", config::BackendName(backend_), generation_,
                                     static_cast<uint64_t>(child_->config().Common(backend_).concurrency)));
      // Results qmgr has not confirmed yet go again: it may have restarted before committing.
      for (const auto& [id, frame] : unacked_) (void)ch_->Send(*frame);
      if (shutting_down_) {
        ipc::Message d(ipc::Type::kAgentDrain);
        d.Add(ipc::Tag::kText, "shutting down");
        (void)ch_->Send(d);
      }
      return;
    }
    uint64_t job_id = m.U64(ipc::Tag::kJobId);
    switch (m.type()) {
      case ipc::Type::kJobBegin: {
        auto job = std::make_shared<DeliveryJob>();
        job->id = job_id;
        job->queue_id = std::string(m.Str(ipc::Tag::kQueueId));
        job->sender = std::string(m.Str(ipc::Tag::kSender));
        for (const auto& g : m.Groups(ipc::Tag::kRecipient)) {
          job->recipients.push_back({static_cast<int>(g.U64(ipc::Tag::kIndex)), std::string(g.Str(ipc::Tag::kAddress))});
        }
        job->attempt = static_cast<int>(m.U64(ipc::Tag::kAttempt, 1));
        job->arrival = static_cast<int64_t>(m.U64(ipc::Tag::kArrival));
        job->first_attempt = static_cast<int64_t>(m.U64(ipc::Tag::kFirstAttempt));
        job->idempotency_key = std::string(m.Str(ipc::Tag::kIdempotencyKey));
        job->auth_user = std::string(m.Str(ipc::Tag::kAuthUser));
        job->sealed_secret = std::string(m.Str(ipc::Tag::kSealedSecret));
        job->smtputf8 = m.U64(ipc::Tag::kSmtpUtf8) != 0;
        job->body_type = std::string(m.Str(ipc::Tag::kBodyType));
        Assembly a;
        a.expected = m.U64(ipc::Tag::kSize);
        if (a.expected > (4ull << 30)) {
          log::Error().Id(job->queue_id).Text("job larger than 4 GiB refused");
          return;
        }
        job->body.reserve(static_cast<size_t>(a.expected));
        a.job = std::move(job);
        assembling_[job_id] = std::move(a);
        return;
      }
      case ipc::Type::kJobChunk: {
        auto it = assembling_.find(job_id);
        if (it == assembling_.end()) return;
        std::string_view data = m.Str(ipc::Tag::kData);
        if (it->second.job->body.size() + data.size() > it->second.expected) {
          log::Error().Id(it->second.job->queue_id).Text("job body longer than announced; dropped");
          assembling_.erase(it);
          return;
        }
        it->second.job->body.append(data);
        it->second.sha.Update(data);
        return;
      }
      case ipc::Type::kJobEnd: {
        auto it = assembling_.find(job_id);
        if (it == assembling_.end()) return;
        Assembly a = std::move(it->second);
        assembling_.erase(it);
        if (a.job->body.size() != m.U64(ipc::Tag::kSize) || a.sha.Finish() != m.Str(ipc::Tag::kDigest)) {
          log::Error().Id(a.job->queue_id).Text("job damaged between qmgr and agent; deferring it");
          Finish(a.job, JobResult::ForAll(*a.job, 451, "4.3.0", "message damaged in transit inside the relay"));
          return;
        }
        Start(std::move(a.job));
        return;
      }
      case ipc::Type::kJobAck:
        unacked_.erase(job_id);
        MaybeExit();
        return;
      case ipc::Type::kJobCancel:
        impl_->Cancel(job_id);
        return;
      default:
        log::Warning().Text(std::string("unexpected ") + ipc::TypeName(m.type()) + " from qmgr");
    }
  }

  void Start(std::shared_ptr<DeliveryJob> job) {
    Running r;
    r.deadline = util::Clock::System().NowSeconds() + impl_->DeadlineSeconds();
    r.queue_id = job->queue_id;
    for (const auto& rc : job->recipients) r.indexes.push_back(rc.index);
    running_[job->id] = r;
    std::shared_ptr<bool> alive = alive_;
    std::shared_ptr<const DeliveryJob> cjob = job;
    impl_->Deliver(cjob, [this, alive, cjob](JobResult result) {
      if (!*alive) return;
      Finish(cjob, std::move(result));
    });
  }

  void Finish(const std::shared_ptr<const DeliveryJob>& job, JobResult result) {
    running_.erase(job->id);
    if (finished_.count(job->id)) return;  // the deadline already answered for it
    finished_.insert(job->id);
    ipc::Message m(ipc::Type::kJobResult);
    m.Add(ipc::Tag::kJobId, job->id).Add(ipc::Tag::kQueueId, job->queue_id);
    for (const auto& r : result.results) {
      ipc::Fields g;
      g.Add(ipc::Tag::kIndex, static_cast<uint64_t>(r.index)).Add(ipc::Tag::kCode, static_cast<uint64_t>(r.code));
      if (!r.enhanced.empty()) g.Add(ipc::Tag::kEnhanced, r.enhanced.substr(0, 16));
      if (!r.text.empty()) g.Add(ipc::Tag::kText, util::Printable(r.text, 1000));
      m.AddGroup(ipc::Tag::kResult, g);
    }
    if (result.results.empty()) {
      for (const auto& rc : job->recipients) {
        ipc::Fields g;
        g.Add(ipc::Tag::kIndex, static_cast<uint64_t>(rc.index)).Add(ipc::Tag::kCode, uint64_t{451})
            .Add(ipc::Tag::kEnhanced, "4.3.0").Add(ipc::Tag::kText, "the backend returned no result");
        m.AddGroup(ipc::Tag::kResult, g);
      }
    }
    if (result.retry_after > 0) m.Add(ipc::Tag::kRetryAfter, static_cast<uint64_t>(result.retry_after));
    if (result.throttled) m.Add(ipc::Tag::kThrottled, uint64_t{1});
    if (!result.info.empty()) m.Add(ipc::Tag::kInfo, util::Printable(result.info, 1000));
    auto encoded = std::make_shared<ipc::Message>(std::move(m));
    unacked_[job->id] = encoded;
    Send(*encoded);
    MaybeExit();
  }

  void CheckDeadlines() {
    int64_t now = util::Clock::System().NowSeconds();
    std::vector<uint64_t> late;
    for (const auto& [id, r] : running_) {
      if (now > r.deadline) late.push_back(id);
    }
    for (uint64_t id : late) {
      Running r = running_[id];
      log::Error().Id(r.queue_id).Text("delivery did not finish within " + std::to_string(impl_->DeadlineSeconds()) +
                                       " s; reporting it deferred");
      auto job = std::make_shared<DeliveryJob>();
      job->id = id;
      job->queue_id = r.queue_id;
      for (int idx : r.indexes) job->recipients.push_back({idx, ""});
      Finish(job, JobResult::ForAll(*job, 451, "4.4.2", "delivery timed out inside the relay"));
    }
    if (finished_.size() > 100000) finished_.clear();
    if (shutting_down_) MaybeExit();
  }

  void MaybeExit() {
    if (!shutting_down_) return;
    bool idle = running_.empty() && assembling_.empty() && (unacked_.empty() || !ch_);
    if (idle || util::Clock::System().NowSeconds() >= shutdown_deadline_) {
      if (!running_.empty()) {
        log::Warning().Kv("jobs", static_cast<int64_t>(running_.size()))
            .Text("stopping with deliveries unfinished; qmgr will retry them");
      }
      child_->Stop(0);
    }
  }

  proc::Child* child_;
  config::Backend backend_;
  std::unique_ptr<Backend> impl_;
  std::shared_ptr<bool> alive_;
  std::unique_ptr<ipc::Channel> ch_;
  bool hello_ = false;
  uint64_t generation_ = 0;
  int connect_failures_ = 0;
  event* reconnect_ev_;
  event* deadline_ev_;
  std::map<uint64_t, Assembly> assembling_;
  std::map<uint64_t, Running> running_;
  std::set<uint64_t> finished_;
  std::map<uint64_t, std::shared_ptr<ipc::Message>> unacked_;
  bool shutting_down_ = false;
  int64_t shutdown_deadline_ = 0;
};

}  // namespace

int Main(config::Backend backend, const Factory& factory) {
  std::string prog = std::string("deliver-") + config::BackendName(backend);
  auto started = proc::Child::Start(prog);
  if (!started.ok()) {
    log::Fatal().Text(started.status().message());
    sleep(1);
    return 1;
  }
  std::unique_ptr<proc::Child> child = std::move(started).value();
  auto impl = factory(*child);
  if (!impl.ok()) {
    log::Fatal().Text(impl.status().message());
    sleep(1);
    return proc::kExitDoNotRestart;
  }
  util::Status st = child->DropPrivileges();
  if (!st.ok()) {
    log::Fatal().Text(st.message());
    sleep(1);
    return proc::kExitDoNotRestart;
  }
  Driver driver(child.get(), backend, std::move(impl).value());
  child->OnShutdown([&](const std::string&) { driver.BeginShutdown(); });
  driver.Connect();
  child->NotifyReady();
  log::Info().Text("ready");
  return child->Run();
}

}  // namespace mailrelay::agent
