#include "deliver-smtp/smtp_backend.h"

#include <event2/event.h>

#include <algorithm>

#include "common/log/log.h"
#include "common/util/clock.h"
#include "common/util/file.h"
#include "common/util/strings.h"

namespace mailrelay::deliver_smtp {

SmtpBackend::SmtpBackend(event_base* base, const config::Config& config, RelayHost relay,
                         Secrets secrets, tls::Context tls)
    : base_(base),
      tls_(std::move(tls)),
      resolver_(base),
      pool_(base, &settings_, config.smtp.idle_timeout, config.smtp.max_messages_per_connection) {
  const config::SmtpBackendConfig& c = config.smtp;
  concurrency_ = std::max(1, c.concurrency);
  // qmgr declares an smtp agent hung after 3 * (data_timeout + timeout) + 120 s with a job;
  // the driver answers "deferred" for us after DeadlineSeconds(); we give up ourselves 10 s
  // before that, so the answer is always ours and the session is closed when it is given
  // (a message the driver gave up on must not be delivered afterwards).
  deadline_seconds_ = 3 * (c.data_timeout + c.timeout) + 60;

  settings_.base = base_;
  settings_.relay = std::move(relay);
  settings_.tls = c.tls;
  settings_.tls_verify = c.tls_verify;
  settings_.tls_ctx = tls_.get();
  settings_.helo_name = c.helo_name.empty() ? config.server.hostname : c.helo_name;
  settings_.auth_mechanism = c.auth_mechanism;
  settings_.username = c.username;
  settings_.password = std::move(secrets.password);
  settings_.resolver = &resolver_;
  settings_.connect_timeout = c.connect_timeout;
  settings_.timeout = c.timeout;
  settings_.data_timeout = c.data_timeout;
  if (c.auth_mechanism == config::SmtpAuthMechanism::kXoauth2) {
    http_ = std::make_unique<http::HttpClient>(base_);
    http::TokenConfig tc;
    tc.authority = c.authority;
    tc.tenant = c.tenant_id;
    tc.client_id = c.client_id;
    tc.client_secret = std::move(secrets.client_secret);
    tc.scope = http::kOutlookScope;
    tc.ca_file = c.ca_file;
    tokens_ = std::make_unique<http::TokenSource>(http_.get(), std::move(tc));
    settings_.tokens = tokens_.get();
  }
}

SmtpBackend::~SmtpBackend() {
  for (auto& [id, j] : running_) {
    if (j->deadline) event_free(j->deadline);
  }
  for (auto& j : waiting_) {
    if (j->deadline) event_free(j->deadline);
  }
}

int64_t SmtpBackend::DeadlineSeconds() const { return deadline_seconds_; }

void SmtpBackend::Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) {
  auto j = std::make_unique<Job>();
  j->backend = this;
  j->job = std::move(job);
  j->done = std::move(done);
  j->started_micros = util::Clock::System().MonotonicMicros();
  // Our own deadline comes a little before the driver's, so the answer is always ours.
  j->deadline = evtimer_new(base_, &SmtpBackend::OnDeadline, j.get());
  timeval tv{static_cast<time_t>(std::max<int64_t>(deadline_seconds_ - 10, 1)), 0};
  evtimer_add(j->deadline, &tv);
  waiting_.push_back(std::move(j));
  Pump();
}

void SmtpBackend::Cancel(uint64_t job_id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->job->id != job_id) continue;
    std::unique_ptr<Job> j = std::move(*it);
    waiting_.erase(it);
    event_free(j->deadline);
    j->done(
        agent::JobResult::ForAll(*j->job, 451, "4.3.0", "delivery cancelled before it started"));
    return;
  }
  // Running: let it finish; the message is at most delivered once.
}

void SmtpBackend::Shutdown() { pool_.Shutdown(); }

void SmtpBackend::Pump() {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < concurrency_) {
    std::unique_ptr<Job> j = std::move(waiting_.front());
    waiting_.pop_front();
    Job* raw = j.get();
    running_[raw->job->id] = std::move(j);
    Run(raw);
  }
}

void SmtpBackend::Run(Job* j) {
  Connection* c = j->retried ? nullptr : pool_.TakeIdle();
  if (!c) c = pool_.Open();
  j->conn = c;
  uint64_t id = j->job->id;
  c->Deliver(j->job, [this, id](Outcome o) { OnOutcome(id, std::move(o)); });
}

void SmtpBackend::OnOutcome(uint64_t job_id, Outcome o) {
  auto it = running_.find(job_id);
  if (it == running_.end()) return;
  Job* j = it->second.get();
  Connection* c = j->conn;
  j->conn = nullptr;
  if (o.retry && !j->retried) {
    log::Info()
        .Id(j->job->queue_id)
        .Kv("relay", o.relay)
        .Kv("conn", c ? c->id() : 0)
        .Text(
            "a kept connection was gone before the message was sent; retrying on a new connection");
    j->retried = true;
    if (c) pool_.Release(c);
    Run(j);
    return;
  }
  std::unique_ptr<Job> done = std::move(it->second);
  running_.erase(it);
  event_free(done->deadline);
  done->deadline = nullptr;
  if (c) pool_.Release(c);
  LogResults(*done->job, o, done->started_micros);
  done->done(std::move(o.result));
  Pump();
}

void SmtpBackend::OnDeadline(int, short, void* arg) {
  auto* j = static_cast<Job*>(arg);
  SmtpBackend* self = j->backend;
  std::string why =
      "delivery did not finish within " + std::to_string(self->deadline_seconds_ - 10) + " s";
  if (j->conn) {
    j->conn->Abort(why);  // answers through OnOutcome
    return;
  }
  for (auto it = self->waiting_.begin(); it != self->waiting_.end(); ++it) {
    if (it->get() != j) continue;
    std::unique_ptr<Job> w = std::move(*it);
    self->waiting_.erase(it);
    event_free(w->deadline);
    w->done(
        agent::JobResult::ForAll(*w->job, 451, "4.4.2", why + " (still waiting for a connection)"));
    return;
  }
}

void SmtpBackend::LogResults(const agent::DeliveryJob& job, const Outcome& o,
                             int64_t started_micros) const {
  double took = static_cast<double>(util::Clock::System().MonotonicMicros() - started_micros) / 1e6;
  for (const auto& r : o.result.results) {
    std::string to;
    for (const auto& rc : job.recipients) {
      if (rc.index == r.index) to = rc.address;
    }
    const char* status = r.code < 300 ? "sent" : r.code < 500 ? "deferred" : "bounced";
    std::string text =
        r.code < 300 ? std::to_string(r.code) + " " + r.enhanced + " " + r.text : r.text;
    log::Info()
        .Id(job.queue_id)
        .Kv("to", "<" + to + ">")
        .Kv("relay", o.relay.empty() ? "none" : o.relay)
        .Kv("delay", took)
        .Kv("attempt", job.attempt)
        .Kv("dsn", r.enhanced)
        .Kv("status", status)
        .Text(text);
  }
  if (o.result.throttled) {
    std::string why;
    for (const auto& r : o.result.results) {
      if (r.code >= 400 && r.code < 500) why = r.text;
    }
    log::Warning()
        .Id(job.queue_id)
        .Kv("relay", o.relay.empty() ? "none" : o.relay)
        .Kv("retry_after", o.result.retry_after)
        .Text("asking qmgr to pause the smtp backend (throttled, or our credentials refused): " +
              why);
  }
}

util::Result<std::unique_ptr<agent::Backend>> MakeBackend(proc::Child& child) {
  const config::Config& cfg = child.config();
  const config::SmtpBackendConfig& c = cfg.smtp;
  auto relay = ParseRelayHost(c.host, c.port);
  if (!relay.ok()) return relay.status();
  Secrets secrets;
  bool xoauth2 = c.auth_mechanism == config::SmtpAuthMechanism::kXoauth2;
  if (!xoauth2 && !c.password_file.empty()) {
    auto p = util::ReadSecretFile(c.password_file);
    if (!p.ok()) return util::InvalidArgument("[smtp] password_file: " + p.status().message());
    secrets.password = std::move(p).value();
  }
  if (xoauth2) {
    auto s = util::ReadSecretFile(c.client_secret_file);
    if (!s.ok()) return util::InvalidArgument("[smtp] client_secret_file: " + s.status().message());
    secrets.client_secret = std::move(s).value();
  }
  tls::Context ctx;
  if (c.tls != config::SmtpTls::kNone) {
    tls::ClientOptions o;
    o.verify = c.tls_verify;
    o.ca_file = c.ca_file;
    auto made = tls::MakeClientContext(o);
    if (!made.ok()) return util::InvalidArgument("[smtp] " + made.status().message());
    ctx = std::move(made).value();
  }
  if (c.tls == config::SmtpTls::kNone && !c.username.empty()) {
    log::Warning()
        .Kv("relay", relay->configured)
        .Text("[smtp] tls = none with a username: credentials will cross the network UNENCRYPTED");
  }
  if (c.tls != config::SmtpTls::kNone && !c.tls_verify) {
    log::Warning()
        .Kv("relay", relay->configured)
        .Text(
            "[smtp] tls_verify = no: the smarthost's certificate is not checked (encrypted, not "
            "authenticated)");
  }
  return std::unique_ptr<agent::Backend>(new SmtpBackend(
      child.base(), cfg, std::move(relay).value(), std::move(secrets), std::move(ctx)));
}

}  // namespace mailrelay::deliver_smtp
