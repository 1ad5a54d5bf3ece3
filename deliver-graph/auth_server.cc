#include "deliver-graph/auth_server.h"

#include <unistd.h>

#include <cerrno>

#include "common/auth/passthrough_user.h"
#include "common/log/log.h"
#include "common/proc/privileges.h"
#include "common/util/strings.h"
#include "deliver-graph/credentials.h"

namespace mailrelay::graph {

AuthServer::AuthServer(event_base* base, http::TokenCache* tokens, Options options,
                       std::string public_key)
    : base_(base),
      tokens_(tokens),
      options_(std::move(options)),
      public_key_(std::move(public_key)) {}

AuthServer::~AuthServer() {
  *alive_ = false;
  StopListening();
}

util::Status AuthServer::Listen(const std::string& path, bool for_smtpd_group) {
  MR_ASSIGN_OR_RETURN(int fd, ipc::ListenUnix(path, 0660));
  if (for_smtpd_group) {
    auto owner = proc::LookupUser(proc::kDeliverUser);
    auto group = proc::LookupGroup(proc::kSmtpdUser);
    util::Status st = !owner.ok()   ? owner.status()
                      : !group.ok() ? group.status()
                                    : util::Status::Ok();
    if (st.ok() && ::chown(path.c_str(), owner->uid, *group) != 0)
      st = util::ErrnoStatus("chown " + path, errno);
    if (!st.ok()) {
      close(fd);
      return st;
    }
  }
  listener_ = evconnlistener_new(base_, &AuthServer::OnAccept, this, LEV_OPT_CLOSE_ON_FREE, -1, fd);
  if (!listener_) {
    close(fd);
    return util::Internal("evconnlistener_new for " + path + " failed");
  }
  return util::Status::Ok();
}

void AuthServer::StopListening() {
  // The path is left alone: a successor (after a reload) may already have bound it.
  if (listener_) evconnlistener_free(listener_);
  listener_ = nullptr;
}

void AuthServer::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<AuthServer*>(arg);
  auto conn = std::make_unique<Conn>();
  conn->id = self->next_conn_++;
  conn->ch = std::make_unique<ipc::Channel>(self->base_, fd);
  const uint64_t id = conn->id;
  ipc::Channel* ch = conn->ch.get();
  self->conns_[id] = std::move(conn);
  ch->Start([self, id](ipc::Message& m) { self->OnMessage(id, m); },
            [self, id](const std::string& why) { self->Close(id, why); });
  (void)ch->Send(ipc::MakeHello("deliver-graph", "graph-auth"));
}

void AuthServer::Close(uint64_t conn_id, const std::string& why) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  if (it->second->pending > 0 || why.find("protocol error") != std::string::npos) {
    log::Warning()
        .Kv("pending", static_cast<int64_t>(it->second->pending))
        .Text("passthrough AUTH peer went away: " + why);
  }
  conns_.erase(it);  // token fetches still running answer into the void (Answer checks)
}

void AuthServer::OnMessage(uint64_t conn_id, ipc::Message& m) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (!c.hello) {
    util::Status st = ipc::CheckHello(m, "smtpd");
    if (!st.ok()) {
      log::Warning().Text("refusing passthrough AUTH peer: " + st.message());
      Close(conn_id, "bad hello");
      return;
    }
    c.hello = true;
    return;
  }
  if (m.type() != ipc::Type::kAuthCheck) {
    log::Warning().Text(std::string("unexpected ") + ipc::TypeName(m.type()) +
                        " on graph-auth.sock; closing");
    Close(conn_id, "unexpected frame");
    return;
  }
  Check(c, m);
}

void AuthServer::Check(Conn& c, const ipc::Message& m) {
  ++checks_;
  const uint32_t req = m.request_id();
  const uint64_t conn_id = c.id;
  std::string user(m.Str(ipc::Tag::kAuthUser));
  std::string secret(m.Str(ipc::Tag::kSecret));
  const std::string client = util::Printable(m.Str(ipc::Tag::kClient), 80);
  auto parsed = auth::ParsePassthroughUser(user, options_.delimiter);
  if (!parsed.ok()) {
    WipeSecret(&secret);
    Answer(conn_id, req, kAuthRefused,
           std::string("user name is not tenant") + options_.delimiter +
               "client: " + parsed.status().message());
    return;
  }
  if (secret.empty()) {
    Answer(conn_id, req, kAuthRefused, "empty client secret");
    return;
  }
  if (c.pending >= options_.max_pending_per_connection) {
    WipeSecret(&secret);
    Answer(conn_id, req, kAuthTryLater, "too many passthrough AUTH checks in progress");
    return;
  }
  ++c.pending;
  http::TokenConfig tc;
  tc.authority = options_.authority;
  tc.tenant = parsed->tenant_id;
  tc.client_id = parsed->client_id;
  tc.client_secret = secret;
  tc.scope = http::kGraphScope;
  tc.ca_file = options_.ca_file;
  tc.timeout = std::chrono::seconds(options_.timeout);
  tc.connect_timeout = std::chrono::seconds(std::min<int64_t>(options_.timeout, 10));
  auto creds =
      std::make_shared<Credentials>(parsed->tenant_id, parsed->client_id, std::move(secret));
  WipeSecret(&secret);
  std::shared_ptr<bool> alive = alive_;
  tokens_->Get(
      tc, [this, alive, conn_id, req, creds, client](util::Result<http::AccessToken> token) {
        if (!*alive) return;
        auto it = conns_.find(conn_id);
        if (it != conns_.end() && it->second->pending > 0) --it->second->pending;
        log::Line line(token.ok() ? log::Level::kInfo : log::Level::kWarning);
        line.Kv("tenant", creds->tenant_id).Kv("client_id", creds->client_id);
        if (!client.empty()) line.Kv("client", client);
        if (!token.ok()) {
          const bool permanent = http::IsPermanentTokenError(token.status());
          line.Kv("result", permanent ? "refused" : "tempfail")
              .Text("passthrough AUTH: " + token.status().message());
          Answer(conn_id, req, permanent ? kAuthRefused : kAuthTryLater,
                 (permanent ? "Entra refused the credentials: " : "Entra unavailable: ") +
                     token.status().message());
          return;
        }
        auto sealed = SealCredentials(*creds, public_key_);
        if (!sealed.ok()) {
          line.Kv("result", "tempfail")
              .Text("passthrough AUTH: cannot seal the secret: " + sealed.status().message());
          Answer(conn_id, req, kAuthTryLater, "cannot seal the client secret");
          return;
        }
        line.Kv("result", "ok").Text("passthrough AUTH: Entra issued a Graph token");
        Answer(conn_id, req, kAuthAccepted, "Entra issued a Graph token", *sealed);
      });
}

void AuthServer::Answer(uint64_t conn_id, uint32_t request_id, uint64_t ok, const std::string& text,
                        const std::string& sealed) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  ipc::Message r(ipc::Type::kAuthResult, request_id);
  r.Add(ipc::Tag::kOk, ok).Add(ipc::Tag::kText, util::Printable(text, 1000));
  if (!sealed.empty()) r.Add(ipc::Tag::kSealedSecret, sealed);
  (void)it->second->ch->Send(r);
}

}  // namespace mailrelay::graph
