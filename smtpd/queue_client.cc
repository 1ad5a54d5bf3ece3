#include "smtpd/queue_client.h"

#include "common/log/log.h"

namespace mailrelay::smtpd {

namespace {
constexpr size_t kCongestedBytes = 8 << 20;
}

QueueClient::QueueClient(event_base* base, std::string socket_path) : base_(base), path_(std::move(socket_path)) {
  retry_ev_ = evtimer_new(base_, &QueueClient::OnRetry, this);
}

QueueClient::~QueueClient() { event_free(retry_ev_); }

void QueueClient::OnRetry(evutil_socket_t, short, void* arg) { static_cast<QueueClient*>(arg)->Connect(); }

void QueueClient::Connect() {
  if (ch_) return;
  auto fd = ipc::ConnectUnix(path_);
  if (!fd.ok()) {
    if (failures_++ % 20 == 0) log::Warning().Text("cannot reach qmgr: " + fd.status().message());
    timeval half{0, 500000};
    evtimer_add(retry_ev_, &half);
    return;
  }
  failures_ = 0;
  ch_ = std::make_unique<ipc::Channel>(base_, *fd);
  ch_->Start([this](ipc::Message& m) { OnMessage(m); }, [this](const std::string& why) { OnClose(why); });
  ch_->SetDrainedCallback([this] {
    auto waiters = std::move(drained_waiters_);
    drained_waiters_.clear();
    for (auto& w : waiters) w();
  });
}

bool QueueClient::congested() const { return ch_ && ch_->OutputPending() > kCongestedBytes; }

void QueueClient::OnClose(const std::string& why) {
  log::Warning().Text("lost qmgr (" + why + "); new messages get 451 until it is back");
  ready_ = false;
  ch_.reset();
  FailAll("queue manager unavailable");
  timeval soon{0, 200000};
  evtimer_add(retry_ev_, &soon);
}

void QueueClient::FailAll(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  ended_.clear();
  InjectResult r;
  r.code = 451;
  r.enhanced = "4.3.0";
  r.text = "Local error in processing: " + why;
  for (auto& [id, fn] : pending) fn(r);
  auto waiters = std::move(drained_waiters_);
  drained_waiters_.clear();
  for (auto& w : waiters) w();
}

void QueueClient::OnMessage(ipc::Message& m) {
  if (!ready_) {
    util::Status st = ipc::CheckHello(m, "qmgr");
    if (!st.ok()) {
      log::Error().Text("qmgr.sock: " + st.message());
      ch_->CloseAfterFlush();
      return;
    }
    ready_ = true;
    (void)ch_->Send(ipc::MakeHello("smtpd", "smtpd"));
    log::Info().Text("connected to qmgr");
    return;
  }
  switch (m.type()) {
    case ipc::Type::kQueueStatus:
      accepting_ = m.U64(ipc::Tag::kAccepting) != 0;
      return;
    case ipc::Type::kInjectResult: {
      auto it = pending_.find(m.request_id());
      if (it == pending_.end()) return;  // abandoned
      ResultFn fn = std::move(it->second);
      pending_.erase(it);
      // Refused before the end (queue full, too big): tell qmgr we will send no more.
      if (!ended_.erase(m.request_id())) {
        ipc::Message abort(ipc::Type::kInjectAbort, m.request_id());
        abort.Add(ipc::Tag::kText, "refused early");
        (void)ch_->Send(abort);
      }
      InjectResult r;
      r.code = static_cast<int>(m.U64(ipc::Tag::kCode));
      r.enhanced = std::string(m.Str(ipc::Tag::kEnhanced));
      r.text = std::string(m.Str(ipc::Tag::kText));
      r.queue_id = std::string(m.Str(ipc::Tag::kQueueId));
      fn(r);
      return;
    }
    default:
      log::Warning().Text(std::string("unexpected ") + ipc::TypeName(m.type()) + " from qmgr");
  }
}

uint32_t QueueClient::Begin(const Envelope& env, ResultFn done) {
  uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  if (!connected()) {
    InjectResult r;
    r.text = "Local error in processing: queue manager unavailable";
    done(r);
    return 0;
  }
  ipc::Message m(ipc::Type::kInjectBegin, id);
  m.Add(ipc::Tag::kSender, env.sender);
  for (const auto& r : env.recipients) m.Add(ipc::Tag::kRcpt, r);
  m.Add(ipc::Tag::kClient, env.client);
  if (!env.helo.empty()) m.Add(ipc::Tag::kHelo, env.helo.substr(0, 500));
  if (!env.auth_user.empty()) m.Add(ipc::Tag::kAuthUser, env.auth_user.substr(0, 255));
  if (!env.protocol.empty()) m.Add(ipc::Tag::kProtocolUsed, env.protocol);
  if (!env.tls.empty()) m.Add(ipc::Tag::kTls, env.tls.substr(0, 255));
  if (env.smtputf8) m.Add(ipc::Tag::kSmtpUtf8, uint64_t{1});
  if (!env.body_type.empty()) m.Add(ipc::Tag::kBodyType, env.body_type);
  if (!env.sealed_secret.empty()) m.Add(ipc::Tag::kSealedSecret, env.sealed_secret);
  util::Status st = ch_->Send(m);
  if (!st.ok()) {
    log::Error().Text("cannot send to qmgr: " + st.message());
    InjectResult r;
    done(r);
    return 0;
  }
  pending_[id] = std::move(done);
  return id;
}

void QueueClient::Chunk(uint32_t id, std::string_view data) {
  if (!id || !pending_.count(id) || !ch_) return;
  ipc::Message m(ipc::Type::kInjectChunk, id);
  m.Add(ipc::Tag::kData, data);
  (void)ch_->Send(m);
}

void QueueClient::End(uint32_t id, uint64_t size, const std::string& digest, const std::string& message_id,
                      const std::string& subject) {
  if (!id || !pending_.count(id) || !ch_) return;
  ipc::Message m(ipc::Type::kInjectEnd, id);
  m.Add(ipc::Tag::kSize, size).Add(ipc::Tag::kDigest, digest);
  if (!message_id.empty()) m.Add(ipc::Tag::kMessageId, message_id.substr(0, 998));
  if (!subject.empty()) m.Add(ipc::Tag::kSubject, subject.substr(0, 998));
  ended_.insert(id);
  (void)ch_->Send(m);
}

void QueueClient::Abort(uint32_t id, const std::string& why) {
  if (!id) return;
  ended_.erase(id);
  if (!pending_.erase(id)) return;  // already answered (and aborted) or never started
  if (!ch_ || !ready_) return;
  ipc::Message m(ipc::Type::kInjectAbort, id);
  m.Add(ipc::Tag::kText, why.substr(0, 1000));
  (void)ch_->Send(m);
}

void QueueClient::Abandon(uint32_t id) {
  // The session stopped waiting for the commit; qmgr may still commit it (a duplicate if the
  // client sends again, never a loss).
  pending_.erase(id);
  ended_.erase(id);
}

}  // namespace mailrelay::smtpd
