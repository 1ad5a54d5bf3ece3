#include "deliver-graph/graph_backend.h"

#include <algorithm>
#include <chrono>

#include "common/http/url.h"
#include "common/log/log.h"
#include "common/mime/address_list.h"
#include "common/mime/header.h"
#include "common/mime/parser.h"
#include "common/proc/privileges.h"
#include "common/util/base64.h"
#include "common/util/clock.h"
#include "common/util/crypto.h"
#include "common/util/strings.h"
#include "deliver-graph/json_request.h"
#include "deliver-graph/recipients.h"

namespace mailrelay::graph {

struct GraphBackend::Job {
  std::shared_ptr<const agent::DeliveryJob> job;
  agent::DoneFn done;
  Credentials credentials;
  bool passthrough = false;  // credentials came sealed with the message
  std::string mailbox;
  std::string body;
  std::string content_type;
  bool refreshed = false;  // a 401 already made us fetch a new token once
  std::string token;       // of the request in flight (to forget it after a 401)
  http::HttpClient::RequestId request_id = 0;
};

std::string ChooseMailbox(const std::string& configured, const std::string& envelope_sender,
                          std::string_view message) {
  if (!configured.empty()) return configured;
  if (!envelope_sender.empty()) return envelope_sender;
  // A null reverse path (a DSN, a report): the From address is the best we know.
  mime::MessageSections sections = mime::SplitMessage(message);
  mime::HeaderList headers = mime::ParseHeaderSection(sections.header, 1000);
  if (auto from = headers.Get("From")) {
    auto list = mime::ParseAddressList(*from);
    if (!list.mailboxes.empty()) return list.mailboxes.front().address;
  }
  return "";
}

bool UsableMailbox(std::string_view mailbox) {
  if (mailbox.empty() || mailbox.size() > 320) return false;
  size_t at = mailbox.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == mailbox.size()) return false;
  for (char c : mailbox) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#') return false;
  }
  return true;
}

std::string SendMailUrl(std::string_view endpoint, std::string_view mailbox) {
  std::string encoded;
  for (char c : mailbox) {
    if (c == '@') {
      encoded.push_back('@');  // a pchar (RFC 3986), and how Graph's own examples write a UPN
    } else {
      encoded += http::PercentEncode(std::string_view(&c, 1));
    }
  }
  return std::string(endpoint) + "/v1.0/users/" + encoded + "/sendMail";
}

GraphBackend::GraphBackend(event_base* base, GraphSettings settings, std::optional<Credentials> app,
                           std::optional<auth::BoxKeyPair> keys)
    : base_(base), settings_(std::move(settings)), app_(std::move(app)), keys_(std::move(keys)) {
  http::ClientOptions copt;
  // A slot per job qmgr may hand us, plus a few so token fetches (deliveries and passthrough
  // AUTH checks) never wait behind sends.
  copt.max_concurrent = static_cast<size_t>(settings_.concurrency) + 8;
  client_ = std::make_unique<http::HttpClient>(base_, copt);
  tokens_ = std::make_unique<http::TokenCache>(client_.get());
}

GraphBackend::~GraphBackend() {
  *alive_ = false;
  auth_server_.reset();
  tokens_.reset();
  client_.reset();
}

util::Status GraphBackend::StartAuthServer() {
  if (!keys_) return util::FailedPrecondition("passthrough AUTH needs the key pair");
  AuthServer::Options o;
  o.authority = settings_.authority;
  o.ca_file = settings_.ca_file;
  o.timeout = settings_.timeout;
  o.delimiter = settings_.delimiter;
  auth_server_ = std::make_unique<AuthServer>(base_, tokens_.get(), o, keys_->public_key);
  const bool as_root = settings_.privsep && proc::IsRoot();
  return auth_server_->Listen(settings_.run_dir + "/" + kAuthSocketName, as_root);
}

std::string GraphBackend::Describe() const {
  std::string s = settings_.save_to_sent_items ? "MIME form" : "JSON form, saveToSentItems false";
  if (app_) s += "; application " + app_->client_id + " in tenant " + app_->tenant_id;
  if (settings_.passthrough)
    s += "; passthrough AUTH on " + settings_.run_dir + "/" + kAuthSocketName;
  return s;
}

int64_t GraphBackend::DeadlineSeconds() const {
  // Token fetch + send, and once more after a 401, plus slack.
  return settings_.timeout * 4 + 10;
}

void GraphBackend::Shutdown() {
  if (auth_server_) auth_server_->StopListening();
}

util::Result<Credentials> GraphBackend::CredentialsFor(const agent::DeliveryJob& job,
                                                       SendOutcome* why) {
  if (!job.sealed_secret.empty()) {
    if (!keys_) {
      *why = Deferred("4.7.0",
                      "the message carries passthrough credentials but there is no key pair in " +
                          settings_.key_dir + " to open them (was it removed? restore it)",
                      true);
      return util::FailedPrecondition(why->text);
    }
    auto opened = OpenCredentials(job.sealed_secret, *keys_);
    if (!opened.ok()) {
      *why = Deferred("4.7.0",
                      "cannot open the passthrough credentials sealed with the message (" +
                          opened.status().message() + "); was the key pair in " +
                          settings_.key_dir + " replaced? restore the old one",
                      true);
      return opened.status();
    }
    return opened;
  }
  if (app_) return *app_;
  *why = Deferred("4.7.0",
                  "no Graph credentials for this message: it was not submitted with passthrough "
                  "AUTH and [graph] "
                  "has no tenant_id, client_id and client_secret_file",
                  true);
  return util::FailedPrecondition(why->text);
}

http::TokenConfig GraphBackend::TokenConfigFor(const Credentials& c) const {
  http::TokenConfig tc;
  tc.authority = settings_.authority;
  tc.tenant = c.tenant_id;
  tc.client_id = c.client_id;
  tc.client_secret = c.client_secret;
  tc.scope = http::kGraphScope;
  tc.ca_file = settings_.ca_file;
  tc.timeout = std::chrono::seconds(settings_.timeout);
  tc.connect_timeout = std::chrono::seconds(std::min<int64_t>(settings_.timeout, 10));
  return tc;
}

void GraphBackend::Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) {
  const std::string& qid = job->queue_id;
  if (job->recipients.empty()) {
    done(agent::JobResult::ForAll(*job, 451, "4.3.0", "job without recipients"));
    return;
  }
  SendOutcome refused;
  auto credentials = CredentialsFor(*job, &refused);
  if (!credentials.ok()) {
    if (refused.config_error) config_errors_.Report(qid, refused.text);
    done(agent::JobResult::ForAll(*job, refused.code, refused.enhanced, refused.text));
    return;
  }
  std::string mailbox = ChooseMailbox(settings_.sender, job->sender, job->body);
  if (!UsableMailbox(mailbox)) {
    std::string text = mailbox.empty()
                           ? "no mailbox to send as: the message has a null sender and no From "
                             "address, and [graph] sender is not set"
                           : "cannot send as \"" + util::Printable(mailbox, 100) +
                                 "\": not a mailbox address Graph can take";
    log::Warning().Id(qid).Text(text);
    done(agent::JobResult::ForAll(*job, 550, "5.1.7", text));
    return;
  }

  auto state = std::make_unique<Job>();
  state->job = job;
  state->done = std::move(done);
  state->passthrough = !job->sealed_secret.empty();
  state->credentials = std::move(credentials).value();
  state->mailbox = mailbox;
  size_t message_bytes = 0;
  size_t bcc = 0, header_only = 0;
  if (settings_.save_to_sent_items) {
    auto rewritten = RewriteRecipientHeaders(job->body, job->recipients);
    if (!rewritten.ok()) {
      std::string text = "cannot rewrite the recipient headers: " + rewritten.status().message();
      log::Error().Id(qid).Text(text);
      state->done(agent::JobResult::ForAll(*job, 451, "4.3.0", text));
      return;
    }
    message_bytes = rewritten->message.size();
    bcc = rewritten->recipients.bcc.size();
    header_only = rewritten->recipients.header_only;
    state->body = util::Base64Encode(rewritten->message);
    state->content_type = "text/plain";
  } else {
    mime::ParsedMessage parsed = mime::ParseMessage(job->body);
    RecipientSplit split = SplitRecipients(parsed.to, parsed.cc, job->recipients);
    bcc = split.bcc.size();
    header_only = split.header_only;
    std::vector<std::string> notes;
    state->body = BuildJsonRequest(parsed, split, &notes);
    for (const std::string& n : notes) log::Debug().Id(qid).Text(n);
    message_bytes = job->body.size();
    state->content_type = "application/json";
  }
  log::Debug()
      .Id(qid)
      .Kv("mailbox", mailbox)
      .Kv("tenant", state->credentials.tenant_id)
      .Kv("client_id", state->credentials.client_id)
      .Kv("passthrough", state->passthrough)
      .Kv("form", settings_.save_to_sent_items ? "mime" : "json")
      .Kv("bytes", static_cast<int64_t>(state->body.size()))
      .Kv("bcc", static_cast<int64_t>(bcc))
      .Kv("header_only", static_cast<int64_t>(header_only))
      .Text("sending to Graph");
  if (state->body.size() > kMaxRequestBytes) {
    std::string text =
        "message too large for Graph sendMail: the request would be " +
        std::to_string(state->body.size()) + " bytes (" + std::to_string(message_bytes) +
        " bytes of message), over its limit of " + std::to_string(kMaxRequestBytes) +
        " (4 MB); larger messages need drafts with upload sessions, which cannot carry a MIME "
        "message as sent";
    log::Info().Id(qid).Kv("size", static_cast<int64_t>(message_bytes)).Text(text);
    state->done(agent::JobResult::ForAll(*job, 552, "5.3.4", text));
    return;
  }
  const uint64_t id = job->id;
  jobs_[id] = std::move(state);
  FetchToken(id);
}

void GraphBackend::FetchToken(uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  std::shared_ptr<bool> alive = alive_;
  tokens_->Get(TokenConfigFor(it->second->credentials),
               [this, alive, job_id](util::Result<http::AccessToken> t) {
                 if (!*alive) return;
                 OnToken(job_id, std::move(t));
               });
}

void GraphBackend::OnToken(uint64_t job_id, util::Result<http::AccessToken> token) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;  // cancelled meanwhile
  Job& j = *it->second;
  if (!token.ok()) {
    const util::Status& st = token.status();
    const bool permanent = http::IsPermanentTokenError(st);
    std::string who =
        "tenant " + j.credentials.tenant_id + " application " + j.credentials.client_id;
    SendOutcome o =
        permanent
            ? Deferred("4.7.0",
                       "Entra refused the token request for " + who + ": " +
                           util::Printable(st.message(), 500) +
                           (j.passthrough
                                ? " (the client secret given at AUTH time is no longer accepted)"
                                : ""),
                       true)
            : Deferred("4.4.1", "cannot get a Graph token for " + who + ": " +
                                    util::Printable(st.message(), 500));
    if (o.config_error) config_errors_.Report(j.job->queue_id, o.text);
    Finish(job_id, std::move(o));
    return;
  }
  j.token = token->value;
  http::Request req;
  req.method = "POST";
  req.url = SendMailUrl(settings_.endpoint, j.mailbox);
  req.headers = {{"Authorization", token->AuthorizationValue()},
                 {"Content-Type", j.content_type},
                 {"Accept", "application/json"},
                 {"client-request-id", util::UuidV4()}};
  req.body = j.body;
  req.timeout = std::chrono::seconds(settings_.timeout);
  req.connect_timeout = std::chrono::seconds(std::min<int64_t>(settings_.timeout, 10));
  req.ca_file = settings_.ca_file;
  req.max_response_size = 1 << 20;
  std::shared_ptr<bool> alive = alive_;
  j.request_id = client_->Send(std::move(req), [this, alive, job_id](http::Response r) {
    if (!*alive) return;
    OnResponse(job_id, std::move(r));
  });
}

void GraphBackend::OnResponse(uint64_t job_id, http::Response response) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& j = *it->second;
  j.request_id = 0;
  const std::string& qid = j.job->queue_id;
  SendOutcome o = MapSendResponse(response, j.mailbox);
  log::Debug()
      .Id(qid)
      .Kv("status", response.status)
      .Kv("elapsed_ms", response.elapsed_micros / 1000)
      .Text(o.text);
  if (o.unauthorized && !j.refreshed) {
    log::Info().Id(qid).Text(
        "Graph refused the access token (401); fetching a new one and sending again");
    j.refreshed = true;
    tokens_->Invalidate(TokenConfigFor(j.credentials), j.token);
    FetchToken(job_id);
    return;
  }
  if (o.unauthorized) {
    o.text += "; a freshly fetched token was refused too";
  }
  if (o.config_error) config_errors_.Report(qid, o.text);
  Finish(job_id, std::move(o));
}

void GraphBackend::Finish(uint64_t job_id, SendOutcome o) {
  auto node = jobs_.extract(job_id);
  if (node.empty()) return;
  std::unique_ptr<Job> j = std::move(node.mapped());
  agent::JobResult r = agent::JobResult::ForAll(*j->job, o.code, o.enhanced, o.text);
  if (o.disposition == Disposition::kDeferred) {
    r.retry_after = o.retry_after;
    r.throttled = o.throttled;
  }
  if (!o.request_id.empty()) r.info = "request-id=" + o.request_id;
  j->done(std::move(r));
}

void GraphBackend::Cancel(uint64_t job_id) {
  auto node = jobs_.extract(job_id);
  if (node.empty()) return;
  std::unique_ptr<Job> j = std::move(node.mapped());
  if (j->request_id) client_->Cancel(j->request_id);
  j->done(agent::JobResult::ForAll(*j->job, 451, "4.3.0",
                                   "delivery cancelled: the message was deleted"));
}

}  // namespace mailrelay::graph
