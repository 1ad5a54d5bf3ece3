// deliver-azure's Backend: a job's message is parsed once, its envelope recipients are split
// into to/cc/bcc and cut into batches of 50, and each batch becomes one repeatable
// POST {endpoint}/emails:send (all in flight at once on one HttpClient, connections reused);
// ACS's answers become one result per recipient. Runs on the agent's libevent loop and never
// blocks it. Every failure ends as a per-recipient result: nothing here can lose a message.
//
// Idempotency: each request carries Repeatability-Request-Id and Operation-Id, UUIDs derived
// from the message's idempotency key and the exact request bytes (so every retry of the same
// request repeats them, and a changed request never collides with an old one), and
// Repeatability-First-Sent = the delivery's first attempt as qmgr stored it before sending, for
// as long as that is inside ACS's 5-minute window (then the current time). A 412 (outside the
// window by ACS's clock) is sent once more with a fresh first-sent and logged; a 409 (the same
// request still running at ACS) defers; a repeat of a finished request gets its first answer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/agent/agent.h"
#include "common/agent/config_error_log.h"
#include "common/http/http_client.h"
#include "deliver-azure/acs_auth.h"
#include "deliver-azure/credentials.h"
#include "deliver-azure/request_builder.h"
#include "deliver-azure/result_mapping.h"

struct event_base;

namespace mailrelay::azure {

struct AzureSettings {
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  std::string api_version = "2025-09-01";
  std::string sender;
  bool engagement_tracking = false;
  bool poll_status = false;  // poll the operation for up to `timeout`; Failed bounces
  int64_t timeout = 30;      // seconds per HTTP exchange
  std::string ca_file;
  int concurrency = 8;

  static AzureSettings FromConfig(const config::AzureConfig& azure);
};

// The ids that make a request repeatable. `key` is the message's idempotency key, `batch_key`
// the batch's sorted recipients, `body` the exact request bytes.
struct RequestIds {
  std::string repeatability_id;
  std::string operation_id;
};
RequestIds MakeRequestIds(std::string_view key, std::string_view batch_key, std::string_view body);

// ACS tracks repeatable requests for 5 minutes after their first-sent time
// (learn.microsoft.com/rest/api/communication/repeatable-requests); older ones earn a 412.
inline constexpr int64_t kRepeatabilityWindowSeconds = 300;
// Repeatability-First-Sent for a delivery whose first attempt (qmgr's, unix seconds; 0 =
// unknown) was at `first_attempt`: that time while it is inside ACS's window, `now` after.
int64_t FirstSentFor(int64_t first_attempt, int64_t now);

class AzureBackend : public agent::Backend {
 public:
  // `base` must outlive the backend.
  AzureBackend(event_base* base, AzureSettings settings, Credentials credentials);
  ~AzureBackend() override;

  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) override;
  void Cancel(uint64_t job_id) override;
  int64_t DeadlineSeconds() const override;

  std::string DescribeAuth() const { return auth_->Describe(); }

 private:
  struct Send;
  struct Job;

  std::string SendUrl() const;
  void StartSend(Job& job, Send& send);
  void OnSendResponse(uint64_t job_id, size_t index, http::Response response);
  void SchedulePoll(Send& send, int64_t seconds);
  static void OnPollTimer(int fd, short events, void* arg);
  void StartPoll(uint64_t job_id, size_t index);
  void OnPollResponse(uint64_t job_id, size_t index, http::Response response);
  void Authorized(uint64_t job_id, size_t index, bool poll, util::Result<http::Request> request);
  void FinishSend(uint64_t job_id, size_t index, SendOutcome outcome);
  void FinishJob(uint64_t job_id);
  Send* Find(uint64_t job_id, size_t index);

  event_base* base_;
  AzureSettings settings_;
  RequestOptions options_;
  std::map<uint64_t, std::unique_ptr<Job>> jobs_;
  // Destroyed in reverse order: the authorizer (its token source uses the client) first, then
  // the client (dropping callbacks into this object), then the jobs.
  std::unique_ptr<http::HttpClient> client_;
  std::unique_ptr<Authorizer> auth_;
  agent::ConfigErrorLog config_errors_{"ACS"};  // CONFIGURATION ERROR lines, rate-limited
};

}  // namespace mailrelay::azure
