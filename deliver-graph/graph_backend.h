// deliver-graph's Backend: each job becomes one POST {endpoint}/v1.0/users/{mailbox}/sendMail
// with a token for the job's credentials (the [graph] application, or the passthrough
// credentials sealed into the message), all jobs in flight at once on one HttpClient with one
// TokenCache (per tenant/client/secret), shared with the passthrough AUTH server. Graph's
// answer becomes one result for every recipient of the job (result_mapping.h). Runs on the
// agent's libevent loop and never blocks it; every failure ends as a result, never a loss.
//
// The mailbox is [graph] sender, else the envelope sender, else (a null reverse path, e.g. a
// DSN) the From address. The body is the MIME form (base64 of the message with To/Cc/Bcc
// rewritten to the envelope, recipients.h) or, with save_to_sent_items = no, the JSON form
// (json_request.h). A request over kMaxRequestBytes bounces 552 5.3.4 before sending.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/agent/agent.h"
#include "common/agent/config_error_log.h"
#include "common/auth/sealed_box.h"
#include "common/http/http_client.h"
#include "common/http/token.h"
#include "deliver-graph/auth_server.h"
#include "deliver-graph/credentials.h"
#include "deliver-graph/result_mapping.h"
#include "deliver-graph/settings.h"

struct event_base;

namespace mailrelay::graph {

// The mailbox a job sends as (see above); "" when there is none.
std::string ChooseMailbox(const std::string& configured, const std::string& envelope_sender,
                          std::string_view message);
// A mailbox we are willing to put into the URL: an address with one '@', printable, no spaces.
bool UsableMailbox(std::string_view mailbox);
// {endpoint}/v1.0/users/{mailbox}/sendMail, the mailbox percent-encoded except its '@'.
std::string SendMailUrl(std::string_view endpoint, std::string_view mailbox);

class GraphBackend : public agent::Backend {
 public:
  // `base` must outlive the backend. `app`: the [graph] application, if configured. `keys`:
  // the passthrough key pair, if there is one.
  GraphBackend(event_base* base, GraphSettings settings, std::optional<Credentials> app,
               std::optional<auth::BoxKeyPair> keys);
  ~GraphBackend() override;

  // Opens graph-auth.sock (as root, before privileges are dropped). Needs the key pair.
  util::Status StartAuthServer();

  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) override;
  void Cancel(uint64_t job_id) override;
  int64_t DeadlineSeconds() const override;
  void Shutdown() override;

  std::string Describe() const;
  const http::TokenCache& tokens() const { return *tokens_; }

 private:
  struct Job;

  util::Result<Credentials> CredentialsFor(const agent::DeliveryJob& job, SendOutcome* why);
  http::TokenConfig TokenConfigFor(const Credentials& c) const;
  void FetchToken(uint64_t job_id);
  void OnToken(uint64_t job_id, util::Result<http::AccessToken> token);
  void OnResponse(uint64_t job_id, http::Response response);
  void Finish(uint64_t job_id, SendOutcome outcome);

  event_base* base_;
  GraphSettings settings_;
  std::optional<Credentials> app_;
  std::optional<auth::BoxKeyPair> keys_;
  // Destroyed in reverse order: the AUTH server and the token cache (whose callbacks point
  // here) before the client they use, then the jobs.
  std::map<uint64_t, std::unique_ptr<Job>> jobs_;
  std::unique_ptr<http::HttpClient> client_;
  std::unique_ptr<http::TokenCache> tokens_;
  std::unique_ptr<AuthServer> auth_server_;
  agent::ConfigErrorLog config_errors_{"Graph"};  // CONFIGURATION ERROR lines, rate-limited
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mailrelay::graph
