// deliver-smtp's agent::Backend: takes jobs from the shared driver, runs at most [smtp]
// concurrency of them at once, each on a pooled connection (a fresh one when none is idle),
// retries once on a fresh connection when a pooled one turns out to be dead, bounds each
// job by DeadlineSeconds(), and logs one line per recipient
// (to=<...> relay=host[ip]:port ... status=sent|deferred|bounced (the upstream's words)).
// Runs on the agent's loop. Construction fails on unreadable secrets or a bad TLS setup.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "common/agent/agent.h"
#include "common/config/config.h"
#include "common/http/http_client.h"
#include "common/http/token.h"
#include "common/proc/child.h"
#include "common/tls/tls.h"
#include "deliver-smtp/connection.h"
#include "deliver-smtp/connection_pool.h"
#include "deliver-smtp/resolver.h"

struct event;

namespace mailrelay::deliver_smtp {

struct Secrets {
  std::string password;       // [smtp] password_file
  std::string client_secret;  // [smtp] client_secret_file (XOAUTH2)
};

class SmtpBackend : public agent::Backend {
 public:
  SmtpBackend(event_base* base, const config::Config& config, RelayHost relay, Secrets secrets,
              tls::Context tls);
  ~SmtpBackend() override;

  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) override;
  void Cancel(uint64_t job_id) override;
  int64_t DeadlineSeconds() const override;
  void Shutdown() override;

 private:
  struct Job {
    SmtpBackend* backend = nullptr;
    std::shared_ptr<const agent::DeliveryJob> job;
    agent::DoneFn done;
    Connection* conn = nullptr;
    bool retried = false;
    event* deadline = nullptr;
    int64_t started_micros = 0;
  };

  void Pump();
  void Run(Job* j);
  void OnOutcome(uint64_t job_id, Outcome outcome);
  static void OnDeadline(int fd, short what, void* arg);
  void LogResults(const agent::DeliveryJob& job, const Outcome& outcome,
                  int64_t started_micros) const;

  event_base* base_;
  int concurrency_;
  int64_t deadline_seconds_;
  tls::Context tls_;
  std::unique_ptr<http::HttpClient> http_;
  std::unique_ptr<http::TokenSource> tokens_;
  Resolver resolver_;
  Settings settings_;
  ConnectionPool pool_;
  std::deque<std::unique_ptr<Job>> waiting_;
  std::map<uint64_t, std::unique_ptr<Job>> running_;
};

// The factory agent::Main runs while still root: reads the secret files, builds the TLS
// context, checks [smtp] host.
util::Result<std::unique_ptr<agent::Backend>> MakeBackend(proc::Child& child);

}  // namespace mailrelay::deliver_smtp
