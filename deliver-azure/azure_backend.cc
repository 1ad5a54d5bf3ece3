#include "deliver-azure/azure_backend.h"

#include <event2/event.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/http/url.h"
#include "common/log/log.h"
#include "common/mime/parser.h"
#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"

namespace mailrelay::azure {

namespace {

int64_t Now() { return util::Clock::System().NowSeconds(); }

// Seconds before the next status poll: what ACS asked for, within reason.
int64_t PollDelay(const http::Response& r) {
  return std::clamp<int64_t>(r.retry_after_seconds.value_or(2), 1, 10);
}

bool SameOrigin(std::string_view a, std::string_view b) {
  auto pa = http::ParseUrl(a);
  auto pb = http::ParseUrl(b);
  return pa.ok() && pb.ok() && pa->scheme == pb->scheme && util::EqualsIgnoreCase(pa->host, pb->host) &&
         pa->port == pb->port;
}

}  // namespace

struct AzureBackend::Send {
  AzureBackend* owner = nullptr;
  uint64_t job_id = 0;
  size_t index = 0;
  RecipientBatch batch;
  std::string body;
  RequestIds ids;
  int64_t first_sent = 0;
  bool resent_after_412 = false;
  bool retried_after_401 = false;
  std::string authorization;  // of the request in flight (to forget a refused token)
  http::HttpClient::RequestId request_id = 0;
  // Status polling after a 202.
  SendOutcome accepted;
  std::string poll_url;
  int64_t poll_until = 0;
  int polls = 0;
  event* timer = nullptr;
  std::optional<SendOutcome> outcome;

  ~Send() {
    if (timer) event_free(timer);
  }
};

struct AzureBackend::Job {
  std::shared_ptr<const agent::DeliveryJob> job;
  agent::DoneFn done;
  std::vector<std::unique_ptr<Send>> sends;
  size_t pending = 0;
};

AzureSettings AzureSettings::FromConfig(const config::AzureConfig& azure) {
  AzureSettings s;
  s.endpoint = azure.endpoint;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.api_version = azure.api_version;
  s.sender = azure.sender;
  s.engagement_tracking = azure.engagement_tracking;
  s.poll_status = azure.poll_status;
  s.timeout = std::max<int64_t>(azure.timeout, 1);
  s.ca_file = azure.ca_file;
  s.concurrency = std::max(azure.concurrency, 1);
  return s;
}

int64_t FirstSentFor(int64_t first_attempt, int64_t now) {
  if (first_attempt <= 0 || now - first_attempt > kRepeatabilityWindowSeconds) return now;
  return first_attempt;
}

RequestIds MakeRequestIds(std::string_view key, std::string_view batch_key, std::string_view body) {
  std::string name = std::string(key) + "\n" + std::string(batch_key) + "\n" +
                     util::HexEncode(util::Sha256(body));
  return {util::UuidFromName("mailrelay acs repeatability\n" + name),
          util::UuidFromName("mailrelay acs operation\n" + name)};
}

AzureBackend::AzureBackend(event_base* base, AzureSettings settings, Credentials credentials)
    : base_(base), settings_(std::move(settings)) {
  options_.sender = settings_.sender;
  options_.api_version = settings_.api_version;
  options_.engagement_tracking = settings_.engagement_tracking;
  http::ClientOptions copt;
  // One slot per job qmgr may hand us, plus one so a token fetch never waits behind them.
  copt.max_concurrent = static_cast<size_t>(settings_.concurrency) + 1;
  client_ = std::make_unique<http::HttpClient>(base_, copt);
  if (credentials.entra) {
    auth_ = MakeEntraAuthorizer(client_.get(), std::move(*credentials.entra));
  } else {
    auth_ = MakeAccessKeyAuthorizer(std::move(credentials.access_key));
  }
}

AzureBackend::~AzureBackend() {
  auth_.reset();
  client_.reset();
}

int64_t AzureBackend::DeadlineSeconds() const {
  // Per batch, at worst: token fetch + send, then once more after a 401 or 412; plus polling.
  return settings_.timeout * (settings_.poll_status ? 6 : 5) + 10;
}

std::string AzureBackend::SendUrl() const {
  return settings_.endpoint + "/emails:send?api-version=" + http::PercentEncode(settings_.api_version);
}

void AzureBackend::Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) {
  const std::string& qid = job->queue_id;
  mime::ParsedMessage message = mime::ParseMessage(job->body);
  for (const std::string& defect : message.tree.defects) {
    log::Debug().Id(qid).Text("MIME: " + util::Printable(defect, 300));
  }
  std::vector<AcsRecipient> recipients = ClassifyRecipients(message.to, message.cc, job->recipients);
  if (recipients.empty()) {
    done(agent::JobResult::ForAll(*job, 451, "4.3.0", "job without recipients"));
    return;
  }
  RequestOptions options = options_;
  options.envelope_sender = job->sender;
  MessageParts parts = BuildMessageParts(message, options);
  for (const std::string& note : parts.notes) log::Debug().Id(qid).Text("ACS: " + note);

  auto state = std::make_unique<Job>();
  state->job = job;
  state->done = std::move(done);
  const std::string key = job->idempotency_key.empty() ? qid : job->idempotency_key;
  const int64_t first_sent = FirstSentFor(job->first_attempt, Now());
  if (first_sent != job->first_attempt && job->first_attempt > 0) {
    log::Info().Id(qid).Kv("first_attempt", util::HttpDate(job->first_attempt))
        .Text("the first attempt is past ACS's 5-minute repeatability window: this send is new to ACS "
              "and cannot be matched with earlier ones");
  }
  std::vector<RecipientBatch> batches = SplitIntoBatches(recipients);
  for (size_t i = 0; i < batches.size(); ++i) {
    auto send = std::make_unique<Send>();
    send->owner = this;
    send->job_id = job->id;
    send->index = i;
    send->body = BuildRequestBody(parts, batches[i], options);
    if (send->body.size() > kMaxRequestBytes) {
      // Attachments make the size; fewer recipients per request would not help.
      std::string text = "message too large for ACS: the request would be " +
                         std::to_string(send->body.size()) + " bytes, over its limit of " +
                         std::to_string(kMaxRequestBytes);
      log::Info().Id(qid).Kv("size", static_cast<int64_t>(send->body.size())).Text(text);
      state->done(agent::JobResult::ForAll(*job, 552, "5.3.4", text));
      return;
    }
    send->ids = MakeRequestIds(key, batches[i].Key(), send->body);
    send->first_sent = first_sent;
    send->batch = std::move(batches[i]);
    state->sends.push_back(std::move(send));
  }
  state->pending = state->sends.size();
  const uint64_t id = job->id;
  const size_t n = state->sends.size();
  jobs_[id] = std::move(state);
  // A send may finish (and the job with it) before StartSend returns: look the job up each time.
  for (size_t i = 0; i < n; ++i) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    StartSend(*it->second, *it->second->sends[i]);
  }
}

void AzureBackend::StartSend(Job& job, Send& send) {
  http::Request req;
  req.method = "POST";
  req.url = SendUrl();
  req.headers = {{"Content-Type", "application/json"},
                 {"Accept", "application/json"},
                 {"Repeatability-Request-Id", send.ids.repeatability_id},
                 {"Repeatability-First-Sent", util::HttpDate(send.first_sent)},
                 {"Operation-Id", send.ids.operation_id},
                 {"x-ms-client-request-id", util::UuidV4()}};
  req.body = send.body;
  req.timeout = std::chrono::seconds(settings_.timeout);
  req.connect_timeout = std::chrono::seconds(std::min<int64_t>(settings_.timeout, 10));
  req.ca_file = settings_.ca_file;
  req.max_response_size = 1 << 20;
  log::Debug().Id(job.job->queue_id).Kv("request", static_cast<int64_t>(send.index + 1))
      .Kv("recipients", static_cast<int64_t>(send.batch.recipients.size()))
      .Kv("bytes", static_cast<int64_t>(send.body.size())).Kv("repeatability_id", send.ids.repeatability_id)
      .Kv("operation_id", send.ids.operation_id).Text("sending to ACS");
  const uint64_t job_id = send.job_id;
  const size_t index = send.index;
  auth_->Authorize(std::move(req), [this, job_id, index](util::Result<http::Request> r) {
    Authorized(job_id, index, /*poll=*/false, std::move(r));
  });
}

void AzureBackend::Authorized(uint64_t job_id, size_t index, bool poll, util::Result<http::Request> request) {
  Send* send = Find(job_id, index);
  if (!send) return;  // cancelled meanwhile
  if (!request.ok()) {
    const util::Status& st = request.status();
    if (poll) {
      SendOutcome o = send->accepted;
      o.text += ", status unknown (" + util::Printable(st.message(), 200) + ")";
      FinishSend(job_id, index, o);
      return;
    }
    const bool config = http::IsPermanentTokenError(st);
    SendOutcome o = Deferred(config ? "4.7.0" : "4.4.1", util::Printable(st.message(), 500), config);
    if (config) config_errors_.Report(jobs_[job_id]->job->queue_id, o.text);
    FinishSend(job_id, index, std::move(o));
    return;
  }
  send->authorization.clear();
  for (const auto& [name, value] : request->headers) {
    if (util::EqualsIgnoreCase(name, "authorization")) send->authorization = value;
  }
  if (poll) {
    send->request_id = client_->Send(std::move(request).value(), [this, job_id, index](http::Response r) {
      OnPollResponse(job_id, index, std::move(r));
    });
  } else {
    send->request_id = client_->Send(std::move(request).value(), [this, job_id, index](http::Response r) {
      OnSendResponse(job_id, index, std::move(r));
    });
  }
}

void AzureBackend::OnSendResponse(uint64_t job_id, size_t index, http::Response response) {
  Send* send = Find(job_id, index);
  if (!send) return;
  send->request_id = 0;
  const std::string& qid = jobs_[job_id]->job->queue_id;
  SendOutcome o = MapSendResponse(response, send->ids.operation_id);
  log::Debug().Id(qid).Kv("request", static_cast<int64_t>(index + 1)).Kv("status", response.status)
      .Kv("elapsed_ms", response.elapsed_micros / 1000).Text(o.text);

  if (o.window_passed && !send->resent_after_412) {
    log::Warning().Id(qid).Kv("repeatability_id", send->ids.repeatability_id)
        .Kv("first_sent", util::HttpDate(send->first_sent))
        .Text("ACS answered 412: the first attempt is outside its repeatability window, so ACS can no "
              "longer tell a repeat from a new send; sending again with a fresh Repeatability-First-Sent");
    send->resent_after_412 = true;
    send->first_sent = Now();
    StartSend(*jobs_[job_id], *send);
    return;
  }
  if (o.unauthorized && !send->retried_after_401 && auth_->RefreshAfter401(send->authorization)) {
    log::Info().Id(qid).Text("ACS refused the access token (401); fetching a new one and sending again");
    send->retried_after_401 = true;
    StartSend(*jobs_[job_id], *send);
    return;
  }
  if (o.config_error) config_errors_.Report(qid, o.text);
  if (o.disposition == Disposition::kDelivered && settings_.poll_status) {
    send->accepted = o;
    std::string fallback = settings_.endpoint + "/emails/operations/" + http::PercentEncode(o.operation_id) +
                           "?api-version=" + http::PercentEncode(settings_.api_version);
    const std::string* location = response.Header("operation-location");
    // Follow the URL ACS gives, but never send our credentials to another host.
    if (location && SameOrigin(*location, settings_.endpoint)) {
      send->poll_url = *location;
      if (send->poll_url.find("api-version=") == std::string::npos) {
        send->poll_url += (send->poll_url.find('?') == std::string::npos ? "?" : "&");
        send->poll_url += "api-version=" + http::PercentEncode(settings_.api_version);
      }
    } else {
      send->poll_url = fallback;
    }
    send->poll_until = Now() + settings_.timeout;
    SchedulePoll(*send, PollDelay(response));
    return;
  }
  FinishSend(job_id, index, std::move(o));
}

void AzureBackend::SchedulePoll(Send& send, int64_t seconds) {
  if (!send.timer) send.timer = evtimer_new(base_, &AzureBackend::OnPollTimer, &send);
  timeval tv{static_cast<time_t>(seconds), 0};
  evtimer_add(send.timer, &tv);
}

void AzureBackend::OnPollTimer(int, short, void* arg) {
  auto* send = static_cast<Send*>(arg);
  send->owner->StartPoll(send->job_id, send->index);
}

void AzureBackend::StartPoll(uint64_t job_id, size_t index) {
  Send* send = Find(job_id, index);
  if (!send) return;
  ++send->polls;
  http::Request req;
  req.method = "GET";
  req.url = send->poll_url;
  req.headers = {{"Accept", "application/json"}, {"x-ms-client-request-id", util::UuidV4()}};
  req.timeout = std::chrono::seconds(std::min<int64_t>(settings_.timeout, 10));
  req.connect_timeout = std::chrono::seconds(std::min<int64_t>(settings_.timeout, 10));
  req.ca_file = settings_.ca_file;
  req.max_response_size = 1 << 20;
  auth_->Authorize(std::move(req), [this, job_id, index](util::Result<http::Request> r) {
    Authorized(job_id, index, /*poll=*/true, std::move(r));
  });
}

void AzureBackend::OnPollResponse(uint64_t job_id, size_t index, http::Response response) {
  Send* send = Find(job_id, index);
  if (!send) return;
  send->request_id = 0;
  const std::string& qid = jobs_[job_id]->job->queue_id;
  if (!response.transport_ok() || response.status != 200) {
    // The send itself was accepted; a failed poll does not make it fail.
    std::string why = response.transport_ok() ? "ACS answered " + std::to_string(response.status) + " " +
                                                    ServiceError(response)
                                              : response.error_message;
    log::Warning().Id(qid).Kv("operation_id", send->accepted.operation_id)
        .Text("cannot read the ACS operation status: " + util::Printable(why, 300));
    SendOutcome o = send->accepted;
    o.text += ", status unknown";
    FinishSend(job_id, index, std::move(o));
    return;
  }
  auto status = ParseOperationStatus(response.body);
  if (!status.ok()) {
    log::Warning().Id(qid).Text("ACS operation status: " + status.status().message());
    SendOutcome o = send->accepted;
    o.text += ", status unknown";
    FinishSend(job_id, index, std::move(o));
    return;
  }
  if (!status->terminal()) {
    if (Now() < send->poll_until) {
      SchedulePoll(*send, PollDelay(response));
      return;
    }
    SendOutcome o = send->accepted;
    o.text += ", still " + status->status + " after " + std::to_string(settings_.timeout) + " s";
    FinishSend(job_id, index, std::move(o));
    return;
  }
  SendOutcome o = MapOperationStatus(*status, send->accepted);
  if (o.disposition == Disposition::kBounced) {
    log::Warning().Id(qid).Kv("operation_id", send->accepted.operation_id).Text(o.text);
  }
  FinishSend(job_id, index, std::move(o));
}

AzureBackend::Send* AzureBackend::Find(uint64_t job_id, size_t index) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || index >= it->second->sends.size()) return nullptr;
  return it->second->sends[index].get();
}

void AzureBackend::FinishSend(uint64_t job_id, size_t index, SendOutcome outcome) {
  Send* send = Find(job_id, index);
  if (!send || send->outcome) return;
  send->outcome = std::move(outcome);
  Job& job = *jobs_[job_id];
  if (--job.pending == 0) FinishJob(job_id);
}

void AzureBackend::FinishJob(uint64_t job_id) {
  auto node = jobs_.extract(job_id);
  if (node.empty()) return;
  std::unique_ptr<Job> job = std::move(node.mapped());
  agent::JobResult result;
  // info goes with every delivered recipient of the job; when several requests delivered, each
  // recipient's text also names its own request's operation.
  std::vector<std::string> operations;
  for (const auto& send : job->sends) {
    if (send->outcome->disposition == Disposition::kDelivered) operations.push_back(send->outcome->operation_id);
  }
  const bool several = operations.size() > 1;
  for (const auto& send : job->sends) {
    const SendOutcome& o = *send->outcome;
    std::string text = o.text;
    if (o.disposition == Disposition::kDelivered) {
      if (several) text += " operation-id=" + o.operation_id;
    } else if (o.disposition == Disposition::kDeferred) {
      result.retry_after = std::max(result.retry_after, o.retry_after);
      result.throttled = result.throttled || o.throttled;
    }
    for (const AcsRecipient& r : send->batch.recipients) {
      for (int idx : r.indexes) result.results.push_back({idx, o.code, o.enhanced, text});
    }
  }
  if (!operations.empty()) result.info = "operation-id=" + util::Join(operations, ",");
  job->done(std::move(result));
}

void AzureBackend::Cancel(uint64_t job_id) {
  auto node = jobs_.extract(job_id);
  if (node.empty()) return;
  std::unique_ptr<Job> job = std::move(node.mapped());
  for (const auto& send : job->sends) {
    if (send->request_id) client_->Cancel(send->request_id);
  }
  job->done(agent::JobResult::ForAll(*job->job, 451, "4.3.0", "delivery cancelled: the message was deleted"));
}

}  // namespace mailrelay::azure
