#include "deliver-ses/ses_backend.h"

#include <algorithm>

#include "common/log/log.h"
#include "common/util/base64.h"
#include "common/util/strings.h"
#include "deliver-ses/message_prep.h"
#include "deliver-ses/request_builder.h"
#include "deliver-ses/result_mapping.h"

namespace mailrelay::ses {

struct SesBackend::JobState {
  std::shared_ptr<const agent::DeliveryJob> job;
  agent::DoneFn done;
  SendEmailFields fields;
  std::string raw_base64;
  std::vector<Batch> batches;
  size_t pending = 0;
  std::vector<agent::RecipientResult> results;
  std::vector<std::string> message_ids;
  bool throttled = false;
  int64_t retry_after = 0;
};

SesBackend::SesBackend(event_base* base, SesSettings settings, const ProviderFactory& make_provider,
                       const util::Clock* clock, CachePolicy policy)
    : settings_(std::move(settings)), clock_(clock ? clock : &util::Clock::System()) {
  http::ClientOptions options;
  // Jobs of more than 50 recipients send several requests; credential fetches need room too.
  options.max_concurrent = static_cast<size_t>(settings_.concurrency) * 2 + 4;
  options.clock = clock_;
  client_ = std::make_unique<http::HttpClient>(base, options);
  credentials_ =
      std::make_unique<CredentialCache>(base, make_provider(client_.get()), clock_, policy);
}

SesBackend::~SesBackend() {
  credentials_.reset();  // its providers cancel their requests on client_
  client_.reset();
}

int64_t SesBackend::DeadlineSeconds() const {
  const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(settings_.timeout).count();
  return 2 * t + 30;
}

void SesBackend::Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) {
  PrepOptions prep;
  if (settings_.rewrite_from) prep.rewrite_from_to = settings_.sender;
  util::Result<PreparedMessage> message = PrepareRawMessage(job->body, prep);
  if (!message.ok()) {
    const bool too_big = message.status().code() == util::Code::kResourceExhausted;
    log::Warning().Id(job->queue_id).Text("not sent to SES: " + message.status().message());
    done(agent::JobResult::ForAll(*job, too_big ? 552 : 554, too_big ? "5.3.4" : "5.6.0",
                                  message.status().message()));
    return;
  }
  if (!message->dropped.empty()) {
    log::Info()
        .Id(job->queue_id)
        .Kv("removed", util::Join(message->dropped, ","))
        .Text("header fields SES would refuse (Bcc, second copies of single fields) removed");
  }

  auto state = std::make_shared<JobState>();
  state->job = job;
  state->done = std::move(done);
  state->fields.configuration_set = settings_.configuration_set;
  state->fields.tags = settings_.tags;
  if (!settings_.sender.empty()) {
    state->fields.from_email_address = settings_.sender;
  } else if (!job->sender.empty()) {
    util::Result<std::string> from = SesAddress(job->sender);
    if (!from.ok()) {
      state->done(agent::JobResult::ForAll(
          *job, 550, "5.6.7",
          "sender <" + util::Printable(job->sender, 200) +
              "> cannot be used with SES: " + from.status().message() + "; set [ses] sender"));
      return;
    }
    state->fields.from_email_address = *from;
  }

  RecipientPlan plan = PlanRecipients(job->recipients, *message);
  state->results = std::move(plan.refused);
  state->batches = std::move(plan.batches);
  if (state->batches.empty()) {
    Finish(state);
    return;
  }
  state->raw_base64 = util::Base64Encode(message->raw);
  credentials_->Get(
      [this, state](util::Result<AwsCredentials> c) { OnCredentials(state, std::move(c)); });
}

void SesBackend::AddBatchResults(JobState& state, size_t batch, int code, const std::string& enhanced,
                           const std::string& text) {
  for (int index : state.batches[batch].indexes)
    state.results.push_back({index, code, enhanced, text});
}

void SesBackend::OnCredentials(std::shared_ptr<JobState> state,
                               util::Result<AwsCredentials> credentials) {
  const std::string& qid = state->job->queue_id;
  if (!credentials.ok()) {
    log::Error().Id(qid).Text("no usable AWS credentials, deferring: " +
                              credentials.status().message());
    for (size_t i = 0; i < state->batches.size(); ++i) {
      AddBatchResults(*state, i, 451, "4.7.0",
                "no usable AWS credentials: " + credentials.status().message());
    }
    Finish(state);
    return;
  }
  const AwsCredentials creds = *credentials;
  state->pending = state->batches.size();
  const int64_t now = clock_->NowSeconds();
  for (size_t i = 0; i < state->batches.size(); ++i) {
    std::string body = SendEmailBody(state->fields, state->batches[i], state->raw_base64);
    if (i + 1 == state->batches.size())
      state->raw_base64 = std::string();  // every body has its copy
    util::Result<http::Request> req = SignedSendEmailRequest(settings_.endpoint, settings_.region,
                                                             std::move(body), creds.keys, now);
    if (!req.ok()) {
      log::Error().Id(qid).Text("cannot sign the SES request: " + req.status().message());
      AddBatchResults(*state, i, 451, "4.7.0", "cannot sign the SES request: " + req.status().message());
      if (--state->pending == 0) Finish(state);
      continue;
    }
    req->timeout = settings_.timeout;
    req->connect_timeout =
        std::min<std::chrono::milliseconds>(settings_.timeout, std::chrono::seconds(10));
    req->ca_file = settings_.ca_file;
    req->max_response_size = 1 << 20;
    client_->Send(std::move(req).value(),
                  [this, state, i, akid = creds.keys.access_key_id, source = creds.source](
                      http::Response r) { OnResponse(state, i, akid, source, r); });
  }
}

void SesBackend::OnResponse(std::shared_ptr<JobState> state, size_t batch,
                            const std::string& access_key_id, const std::string& source,
                            const http::Response& response) {
  SesOutcome o = MapSendEmailResponse(response);
  const std::string& qid = state->job->queue_id;
  AddBatchResults(*state, batch, o.code, o.enhanced, o.text);
  if (!o.message_id.empty()) {
    state->message_ids.push_back(o.message_id);
    log::Debug()
        .Id(qid)
        .Kv("ses_message_id", o.message_id)
        .Kv("recipients", static_cast<int64_t>(state->batches[batch].indexes.size()))
        .Text("sent");
  }
  if (o.throttled) {
    state->throttled = true;
    state->retry_after = std::max(state->retry_after, o.retry_after);
  } else if (o.retry_after > 0) {
    state->retry_after = std::max(state->retry_after, o.retry_after);
  }
  if (o.credentials_rejected) credentials_->Invalidate(access_key_id);
  if (o.alert) {
    std::string hint;
    if (o.credentials_rejected)
      hint = "; check the AWS credentials from " + source;
    else if (o.code == 451 && o.enhanced == "4.7.0")
      hint = "; the IAM identity from " + source + " needs ses:SendEmail and ses:SendRawEmail";
    log::Error()
        .Id(qid)
        .Kv("ses_error", o.error_code.empty() ? std::string("none") : o.error_code)
        .Text("SES needs an operator: " + o.text + hint);
  } else if (o.throttled) {
    log::Warning()
        .Id(qid)
        .Kv("ses_error", o.error_code)
        .Kv("retry_after", o.retry_after)
        .Text(o.text);
  }
  if (--state->pending == 0) Finish(state);
}

void SesBackend::Finish(std::shared_ptr<JobState> state) {
  agent::JobResult r;
  r.results = std::move(state->results);
  std::sort(r.results.begin(), r.results.end(),
            [](const agent::RecipientResult& a, const agent::RecipientResult& b) {
              return a.index < b.index;
            });
  r.throttled = state->throttled;
  r.retry_after = state->retry_after;
  if (!state->message_ids.empty()) r.info = "ses-message-id=" + util::Join(state->message_ids, ",");
  agent::DoneFn done = std::move(state->done);
  done(std::move(r));
}

}  // namespace mailrelay::ses
