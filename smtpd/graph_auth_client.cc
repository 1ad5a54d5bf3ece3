#include "smtpd/graph_auth_client.h"

#include <sodium.h>

#include "common/log/log.h"
#include "common/util/strings.h"

namespace mailrelay::smtpd {

namespace {

void Wipe(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

constexpr timeval kTick{0, 200000};  // deadline resolution

}  // namespace

GraphAuthClient::GraphAuthClient(event_base* base, std::string socket_path,
                                 std::chrono::milliseconds timeout)
    : base_(base), path_(std::move(socket_path)), timeout_(timeout) {
  tick_ = event_new(base_, -1, EV_PERSIST, &GraphAuthClient::OnTick, this);
}

GraphAuthClient::~GraphAuthClient() {
  if (tick_) event_free(tick_);
  for (auto& [id, p] : pending_) Wipe(&p.secret);
  ch_.reset();
}

void GraphAuthClient::Arm() {
  if (!pending_.empty() && !event_pending(tick_, EV_TIMEOUT, nullptr)) event_add(tick_, &kTick);
  if (pending_.empty()) event_del(tick_);
}

uint32_t GraphAuthClient::Check(const std::string& user, std::string secret,
                                const std::string& client, DoneFn done) {
  uint32_t id = next_id_++;
  while (id == 0 || pending_.count(id)) id = next_id_++;
  Pending& p = pending_[id];
  p.done = std::move(done);
  p.deadline = std::chrono::steady_clock::now() + timeout_;
  p.user = user;
  p.secret = std::move(secret);
  Wipe(&secret);
  p.client = client;
  Arm();
  if (!EnsureConnected()) return id;  // already answered "try later"
  if (ready_) Flush();
  return id;
}

void GraphAuthClient::Cancel(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Wipe(&it->second.secret);
  pending_.erase(it);
  Arm();
}

bool GraphAuthClient::EnsureConnected() {
  if (ch_) return true;
  auto fd = ipc::ConnectUnix(path_);
  if (!fd.ok()) {
    FailAll("cannot reach deliver-graph: " + fd.status().message());
    return false;
  }
  ready_ = false;
  ch_ = std::make_unique<ipc::Channel>(base_, *fd);
  ch_->Start([this](ipc::Message& m) { OnMessage(m); },
             [this](const std::string& why) { OnClose(why); });
  return true;
}

void GraphAuthClient::Flush() {
  if (!ch_ || !ready_) return;
  for (auto& [id, p] : pending_) {
    if (p.sent) continue;
    ipc::Message m(ipc::Type::kAuthCheck, id);
    m.Add(ipc::Tag::kAuthUser, p.user).Add(ipc::Tag::kSecret, p.secret);
    if (!p.client.empty()) m.Add(ipc::Tag::kClient, p.client);
    Wipe(&p.secret);
    p.sent = true;
    if (!ch_->Send(m).ok()) {
      // Only a frame that does not fit the schema fails here (the caller checked the sizes).
      Complete(id, {Outcome::kRefused, "the credentials do not fit an auth_check frame", ""});
      return;  // pending_ changed under the loop; the others go on the next Flush
    }
  }
}

void GraphAuthClient::OnMessage(ipc::Message& m) {
  if (!ready_) {
    util::Status st = ipc::CheckHello(m, "deliver-graph");
    if (!st.ok()) {
      log::Warning().Text("graph-auth.sock: " + st.message());
      ch_.reset();
      FailAll("deliver-graph speaks another protocol");
      return;
    }
    ready_ = true;
    (void)ch_->Send(ipc::MakeHello("smtpd", "smtpd"));
    Flush();
    return;
  }
  if (m.type() != ipc::Type::kAuthResult) {
    log::Warning().Text(std::string("graph-auth.sock: unexpected ") + ipc::TypeName(m.type()));
    return;
  }
  Answer a;
  switch (m.U64(ipc::Tag::kOk)) {
    case 1:
      a.outcome = Outcome::kAccepted;
      break;
    case 0:
      a.outcome = Outcome::kRefused;
      break;
    default:
      a.outcome = Outcome::kTryLater;
      break;
  }
  a.text = util::Printable(m.Str(ipc::Tag::kText), 500);
  a.sealed_secret = std::string(m.Str(ipc::Tag::kSealedSecret));
  if (a.outcome == Outcome::kAccepted && a.sealed_secret.empty()) {
    a.outcome = Outcome::kTryLater;  // accepted without credentials to queue: not usable
    a.text = "deliver-graph accepted without sealed credentials";
  }
  Complete(m.request_id(), std::move(a));
}

void GraphAuthClient::OnClose(const std::string& why) {
  ready_ = false;
  ch_.reset();
  FailAll("deliver-graph closed the connection (" + why + ")");
}

void GraphAuthClient::FailAll(const std::string& why) {
  std::vector<uint32_t> ids;
  for (const auto& [id, p] : pending_) ids.push_back(id);
  if (!ids.empty())
    log::Warning().Kv("checks", static_cast<int64_t>(ids.size())).Text("passthrough AUTH: " + why);
  for (uint32_t id : ids) Complete(id, {Outcome::kTryLater, why, ""});
}

void GraphAuthClient::Complete(uint32_t id, Answer answer) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // cancelled or timed out before the answer came
  DoneFn done = std::move(it->second.done);
  Wipe(&it->second.secret);
  pending_.erase(it);
  Arm();
  done(std::move(answer));
}

void GraphAuthClient::OnTick(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<GraphAuthClient*>(arg);
  const auto now = std::chrono::steady_clock::now();
  std::vector<uint32_t> late;
  for (const auto& [id, p] : self->pending_) {
    if (now >= p.deadline) late.push_back(id);
  }
  for (uint32_t id : late) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(self->timeout_).count();
    self->Complete(id, {Outcome::kTryLater,
                        "no answer from deliver-graph within " + std::to_string(secs) + " s", ""});
  }
}

}  // namespace mailrelay::smtpd
