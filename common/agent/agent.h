// The one driver every delivery agent shares (STYLE.md): talks to qmgr on deliver.sock,
// assembles jobs and checks their digest, runs them on the backend, sends one result per
// recipient and keeps it until qmgr acknowledges it (so a qmgr restart between delivery and
// commit does not deliver twice), reconnects, drains on SIGTERM. A backend implements only
// Deliver(). Runs on the agent's single libevent loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/proc/child.h"
#include "common/util/status.h"

namespace mailrelay::agent {

struct JobRecipient {
  int index = 0;
  std::string address;
};

struct DeliveryJob {
  uint64_t id = 0;
  std::string queue_id;
  std::string sender;  // "" = null reverse path
  std::vector<JobRecipient> recipients;
  int attempt = 1;
  int64_t arrival = 0;
  int64_t first_attempt = 0;
  std::string idempotency_key;
  std::string auth_user;
  std::string sealed_secret;
  bool smtputf8 = false;
  std::string body_type;  // 7BIT | 8BITMIME | BINARYMIME
  std::string body;       // the message as queued, CRLF
};

struct RecipientResult {
  int index = 0;
  int code = 0;  // 2xx delivered, 4xx deferred, 5xx bounced
  std::string enhanced;
  std::string text;  // the upstream's own words
};

struct JobResult {
  std::vector<RecipientResult> results;
  int64_t retry_after = 0;  // seconds
  bool throttled = false;   // pause the whole backend for retry_after
  std::string info;         // e.g. "operation-id=..."; logged and shown by relayctl show
  // The same answer for every recipient of the job.
  static JobResult ForAll(const DeliveryJob& job, int code, const std::string& enhanced, const std::string& text);
};

using DoneFn = std::function<void(JobResult)>;

class Backend {
 public:
  virtual ~Backend() = default;
  // Called on the loop; must call done exactly once, possibly before returning.
  virtual void Deliver(std::shared_ptr<const DeliveryJob> job, DoneFn done) = 0;
  // The message was deleted meanwhile; stop if cheap. done may still be called.
  virtual void Cancel(uint64_t /*job_id*/) {}
  // Longest a job may take before the driver answers "deferred" on its behalf.
  virtual int64_t DeadlineSeconds() const = 0;
  // Graceful stop: close idle connections etc.
  virtual void Shutdown() {}
};

// Builds the backend while the process may still be root (secrets are read here), before
// privileges are dropped.
using Factory = std::function<util::Result<std::unique_ptr<Backend>>(proc::Child& child)>;

// The whole main() of an agent: deliver-<backend>.
int Main(config::Backend backend, const Factory& factory);

}  // namespace mailrelay::agent
