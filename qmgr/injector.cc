#include "qmgr/injector.h"

#include <sys/statvfs.h>

#include "common/log/log.h"
#include "common/util/strings.h"

namespace mailrelay::qmgr {

namespace {
constexpr size_t kSpillThreshold = 1 << 20;
// smtpd adds trace headers to what the client sent; the limit applies to the client's part.
constexpr uint64_t kHeaderSlack = 64 * 1024;
}  // namespace

bool ValidEnvelopeAddress(std::string_view a, bool smtputf8, bool allow_empty) {
  if (a.empty()) return allow_empty;
  if (a.size() > 512) return false;
  for (char c : a) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>') return false;
    if (u >= 0x80 && !smtputf8) return false;
  }
  return true;
}

Injector::Injector(event_base* base, Queue* queue, Spool* spool, CommitTracker* commits, const config::Config& cfg)
    : base_(base), queue_(queue), spool_(spool), commits_(commits), cfg_(cfg) {}

Injector::~Injector() {
  if (listener_) evconnlistener_free(listener_);
}

util::Status Injector::Listen(int fd) {
  listener_ = evconnlistener_new(base_, &Injector::OnAccept, this, LEV_OPT_CLOSE_ON_FREE, -1, fd);
  if (!listener_) return util::Internal("evconnlistener_new for qmgr.sock failed");
  return util::Status::Ok();
}

void Injector::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<Injector*>(arg);
  auto conn = std::make_unique<Conn>();
  conn->id = self->next_conn_++;
  conn->ch = std::make_unique<ipc::Channel>(self->base_, fd);
  uint64_t id = conn->id;
  Conn* raw = conn.get();
  self->conns_[id] = std::move(conn);
  raw->ch->Start([self, raw](ipc::Message& m) { self->OnMessage(*raw, m); },
                 [self, id](const std::string& why) { self->Close(id, why); });
  (void)raw->ch->Send(ipc::MakeHello("qmgr", "qmgr"));
}

void Injector::Close(uint64_t conn_id, const std::string& why) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  if (!it->second->pending.empty() || why.find("protocol error") != std::string::npos) {
    log::Warning().Kv("pending", static_cast<int64_t>(it->second->pending.size()))
        .Text("smtpd connection closed: " + why);
  }
  for (auto& [req, p] : it->second->pending) Discard(*p);
  conns_.erase(it);
}

void Injector::Discard(Pending& p) {
  if (p.spilled && p.msg.rowid) {
    util::Status st = spool_->DeleteMessage(p.msg.rowid);
    if (!st.ok()) log::Warning().Id(p.msg.queue_id).Text("discard: " + st.message());
    commits_->Schedule();
    p.msg.rowid = 0;
  }
}

void Injector::Reply(uint64_t conn_id, uint32_t req, int code, const std::string& enhanced, const std::string& text,
                     const std::string& queue_id) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  ipc::Message r(ipc::Type::kInjectResult, req);
  r.Add(ipc::Tag::kCode, static_cast<uint64_t>(code));
  if (!enhanced.empty()) r.Add(ipc::Tag::kEnhanced, enhanced);
  if (!text.empty()) r.Add(ipc::Tag::kText, text);
  if (!queue_id.empty()) r.Add(ipc::Tag::kQueueId, queue_id);
  (void)it->second->ch->Send(r);
}

void Injector::Refuse(Conn& c, uint32_t req, Pending& p, int code, const std::string& enhanced,
                      const std::string& text) {
  Discard(p);
  p.failed = true;
  p.buf.clear();
  p.buf.shrink_to_fit();
  Reply(c.id, req, code, enhanced, text);
}

void Injector::OnMessage(Conn& c, ipc::Message& m) {
  if (!c.hello) {
    util::Status st = ipc::CheckHello(m, "smtpd");
    if (!st.ok()) {
      log::Warning().Text("refusing injection peer: " + st.message());
      c.ch->CloseAfterFlush();
      return;
    }
    c.hello = true;
    ipc::Message s(ipc::Type::kQueueStatus);
    s.Add(ipc::Tag::kAccepting, static_cast<uint64_t>(accepting_))
        .Add(ipc::Tag::kQueued, static_cast<uint64_t>(queue_->size()))
        .Add(ipc::Tag::kMaxMessages, static_cast<uint64_t>(cfg_.queue.max_messages));
    (void)c.ch->Send(s);
    return;
  }
  uint32_t req = m.request_id();
  switch (m.type()) {
    case ipc::Type::kInjectBegin:
      Begin(c, m);
      return;
    case ipc::Type::kInjectChunk: {
      auto it = c.pending.find(req);
      if (it == c.pending.end()) break;
      if (!it->second->failed) Chunk(c, *it->second, m);
      return;
    }
    case ipc::Type::kInjectEnd:
      if (!c.pending.count(req)) break;
      End(c, req, m);
      return;
    case ipc::Type::kInjectAbort: {
      auto it = c.pending.find(req);
      if (it == c.pending.end()) return;  // already refused and forgotten
      Discard(*it->second);
      c.pending.erase(it);
      return;
    }
    default:
      break;
  }
  log::Warning().Text(std::string("smtpd sent an unexpected ") + ipc::TypeName(m.type()) + "; closing it");
  uint64_t id = c.id;
  Close(id, "protocol error: unexpected frame");
}

void Injector::Begin(Conn& c, const ipc::Message& m) {
  uint32_t req = m.request_id();
  if (c.pending.count(req)) {
    Close(c.id, "protocol error: request id reused");
    return;
  }
  auto p = std::make_unique<Pending>();
  Message& msg = p->msg;
  msg.smtputf8 = m.U64(ipc::Tag::kSmtpUtf8) != 0;
  msg.sender = std::string(m.Str(ipc::Tag::kSender));
  if (!ValidEnvelopeAddress(msg.sender, msg.smtputf8, true)) {
    c.pending[req] = std::move(p);
    Refuse(c, req, *c.pending[req], 501, "5.1.7", "bad sender address");
    return;
  }
  auto rcpts = m.All(ipc::Tag::kRcpt);
  bool bad = rcpts.size() > 100000;
  for (auto r : rcpts) {
    bad |= !ValidEnvelopeAddress(r, msg.smtputf8, false);
    Recipient rc;
    rc.address = std::string(r);
    msg.recipients.push_back(std::move(rc));
  }
  msg.client = util::Printable(m.Str(ipc::Tag::kClient), 128);
  msg.helo = util::Printable(m.Str(ipc::Tag::kHelo), 255);
  msg.auth_user = util::Printable(m.Str(ipc::Tag::kAuthUser), 255);
  msg.protocol = util::Printable(m.Str(ipc::Tag::kProtocolUsed), 16);
  msg.tls = util::Printable(m.Str(ipc::Tag::kTls), 255);
  std::string body_type = util::ToUpper(m.Str(ipc::Tag::kBodyType));
  msg.body_type = (body_type == "8BITMIME" || body_type == "BINARYMIME") ? body_type : "7BIT";
  msg.sealed_secret = std::string(m.Str(ipc::Tag::kSealedSecret));
  msg.arrival = util::Clock::System().NowSeconds();
  Pending& ref = *p;
  c.pending[req] = std::move(p);
  if (bad) {
    Refuse(c, req, ref, 501, "5.1.3", "bad recipient address");
  } else if (!accepting_ || !queue_->accepting()) {
    Refuse(c, req, ref, 452, "4.3.1", "Insufficient system storage: the queue is full");
  }
}

void Injector::Chunk(Conn& c, Pending& p, const ipc::Message& m) {
  std::string_view data = m.Str(ipc::Tag::kData);
  p.size += data.size();
  p.sha.Update(data);
  if (p.size > cfg_.smtpd.max_message_size + kHeaderSlack) {
    Refuse(c, m.request_id(), p, 552, "5.3.4", "Message size exceeds fixed limit");
    return;
  }
  p.buf.append(data);
  if (p.buf.size() < kSpillThreshold) return;
  util::Status st;
  if (!p.spilled) {
    p.msg.queue_id = queue_->NewQueueId();
    queue_->PrepareNew(&p.msg);
    st = spool_->InsertIncomplete(&p.msg);
    p.spilled = st.ok();
  }
  if (st.ok()) st = spool_->AppendBody(p.msg.rowid, p.seq++, p.buf);
  commits_->Schedule();
  if (!st.ok()) {
    log::Error().Text("spool write failed: " + st.message());
    bool full = st.code() == util::Code::kResourceExhausted;
    Refuse(c, m.request_id(), p, full ? 452 : 451, full ? "4.3.1" : "4.3.0",
           full ? "Insufficient system storage" : "Local error in processing: queue write failed");
    return;
  }
  p.buf.clear();
}

void Injector::End(Conn& c, uint32_t req, const ipc::Message& m) {
  std::unique_ptr<Pending> owned = std::move(c.pending[req]);
  c.pending.erase(req);
  Pending& p = *owned;
  if (p.failed) return;
  std::string digest = p.sha.Finish();
  if (m.U64(ipc::Tag::kSize) != p.size || m.Str(ipc::Tag::kDigest) != digest) {
    log::Error().Kv("expected_size", static_cast<int64_t>(m.U64(ipc::Tag::kSize)))
        .Kv("got_size", static_cast<int64_t>(p.size)).Text("message body damaged between smtpd and qmgr; refused");
    Discard(p);
    Reply(c.id, req, 451, "4.3.0", "Local error in processing: message damaged in transit");
    return;
  }
  Message& msg = p.msg;
  msg.size = p.size;
  msg.message_id = util::Printable(m.Str(ipc::Tag::kMessageId), 250);
  msg.subject = std::string(m.Str(ipc::Tag::kSubject).substr(0, 500));
  util::Status st;
  std::shared_ptr<const std::string> body;
  if (!p.spilled) {
    msg.queue_id = queue_->NewQueueId();
    queue_->PrepareNew(&msg);
    st = spool_->InsertMessage(&msg, p.buf);
    body = std::make_shared<const std::string>(std::move(p.buf));
  } else {
    if (!p.buf.empty()) st = spool_->AppendBody(msg.rowid, p.seq++, p.buf);
    if (st.ok()) st = spool_->CompleteMessage(msg);
  }
  if (!st.ok()) {
    log::Error().Text("spool write failed: " + st.message());
    Discard(p);
    bool full = st.code() == util::Code::kResourceExhausted;
    Reply(c.id, req, full ? 452 : 451, full ? "4.3.1" : "4.3.0",
          full ? "Insufficient system storage" : "Local error in processing: queue write failed");
    commits_->Schedule();
    return;
  }
  uint64_t conn_id = c.id;
  commits_->OnCommitted([this, conn_id, req, msg = std::move(msg), body = std::move(body)](bool durable) mutable {
    if (!durable) {
      Reply(conn_id, req, 451, "4.3.0", "Local error in processing: queue commit failed");
      return;
    }
    std::string qid = msg.queue_id;
    log::Info().Id(qid).Kv("from", "<" + msg.sender + ">").Kv("size", static_cast<int64_t>(msg.size))
        .Kv("nrcpt", static_cast<int64_t>(msg.recipients.size())).Kv("client", msg.client)
        .Text("queue active");
    ++accepted_;
    queue_->CacheBody(msg.rowid, std::move(body));
    queue_->Add(std::move(msg));
    Reply(conn_id, req, 250, "2.0.0", "Ok: queued as " + qid, qid);
  });
}

bool Injector::DiskHasRoom() const {
  struct statvfs vfs;
  if (statvfs(cfg_.server.spool_dir.c_str(), &vfs) != 0) return true;
  uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  // Room for one more message of the largest size plus SQLite's working space.
  return free_bytes >= cfg_.smtpd.max_message_size + (8u << 20);
}

void Injector::UpdateStatus() {
  bool now = queue_->accepting() && DiskHasRoom();
  if (now == accepting_) return;
  accepting_ = now;
  if (!now) {
    log::Warning().Kv("queued", static_cast<int64_t>(queue_->size()))
        .Text("not accepting new mail: the queue is full or the spool's disk is nearly full");
  } else {
    log::Info().Text("accepting new mail again");
  }
  ipc::Message s(ipc::Type::kQueueStatus);
  s.Add(ipc::Tag::kAccepting, static_cast<uint64_t>(now))
      .Add(ipc::Tag::kQueued, static_cast<uint64_t>(queue_->size()))
      .Add(ipc::Tag::kMaxMessages, static_cast<uint64_t>(cfg_.queue.max_messages));
  for (auto& [id, c] : conns_) {
    if (c->hello) (void)c->ch->Send(s);
  }
}

}  // namespace mailrelay::qmgr
