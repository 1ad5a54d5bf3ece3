#include "smtpd/server.h"

#include <unistd.h>

#include "common/log/log.h"
#include "common/smtp/reply.h"
#include "smtpd/session.h"

namespace mailrelay::smtpd {

Server::Server(event_base* base, const config::Config& cfg, QueueClient* queue, Authenticator* auth, SSL_CTX* tls)
    : base_(base), cfg_(cfg), policy_(cfg), queue_(queue), auth_(auth), tls_(tls) {
  reap_ev_ = event_new(base_, -1, 0, &Server::OnReap, this);
}

Server::~Server() {
  for (auto& l : listeners_) evconnlistener_free(l.ev);
  sessions_.clear();
  graveyard_.clear();
  event_free(reap_ev_);
}

util::Status Server::Listen(int fd, bool tls, const std::string& address) {
  if (tls && !tls_) return util::FailedPrecondition("listen_tls " + address + " needs tls_cert_file and tls_key_file");
  struct Ctx {
    Server* self;
    bool tls;
  };
  auto* ctx = new Ctx{this, tls};  // lives as long as the process
  evconnlistener* ev = evconnlistener_new(
      base_,
      [](evconnlistener*, evutil_socket_t s, sockaddr* sa, int len, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        c->self->Accept(s, sa, len, c->tls);
      },
      ctx, LEV_OPT_CLOSE_ON_FREE, -1, fd);
  if (!ev) return util::Internal("cannot listen on inherited socket for " + address);
  listeners_.push_back({ev, tls, address});
  log::Info().Kv("tls", tls).Text("serving " + address);
  return util::Status::Ok();
}

void Server::Accept(int fd, sockaddr* sa, int len, bool tls) {
  evutil_make_socket_nonblocking(fd);
  net::Endpoint peer = net::FromSockaddr(sa, static_cast<socklen_t>(len));
  if (draining_) {
    close(fd);
    return;
  }
  if (static_cast<int>(sessions_.size()) >= cfg_.smtpd.max_connections) {
    // Told once, without TLS or a session: the cheapest possible refusal.
    std::string msg = smtp::FormatReply(421, "4.7.0", cfg_.server.hostname + " Error: too many connections");
    ssize_t w = write(fd, msg.data(), msg.size());
    (void)w;
    close(fd);
    log::Warning().Kv("client", peer.ToString()).Text("refused: max_connections reached");
    return;
  }
  auto session = std::make_unique<Session>(this, fd, peer, tls);
  Session* raw = session.get();
  sessions_[raw] = std::move(session);
  raw->Start();
}

bool Server::Admit(const std::string& key) {
  int& n = per_ip_[key];
  if (n >= cfg_.smtpd.max_connections_per_ip) {
    if (n == 0) per_ip_.erase(key);
    log::Warning().Kv("client", key).Text("refused: max_connections_per_ip reached");
    return false;
  }
  ++n;
  return true;
}

void Server::Release(const std::string& key) {
  auto it = per_ip_.find(key);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
}

void Server::Remove(Session* s) {
  auto it = sessions_.find(s);
  if (it == sessions_.end()) return;
  graveyard_.push_back(std::move(it->second));
  sessions_.erase(it);
  event_active(reap_ev_, EV_TIMEOUT, 0);
}

void Server::OnReap(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Server*>(arg);
  self->graveyard_.clear();
  if (self->draining_ && self->sessions_.empty() && self->drained_) {
    auto fn = std::move(self->drained_);
    self->drained_ = nullptr;
    fn();
  }
}

void Server::Drain(std::function<void()> done) {
  draining_ = true;
  drained_ = std::move(done);
  for (auto& l : listeners_) evconnlistener_free(l.ev);
  listeners_.clear();
  std::vector<Session*> all;
  for (auto& [s, owned] : sessions_) all.push_back(s);
  for (Session* s : all) s->Drain();
  event_active(reap_ev_, EV_TIMEOUT, 0);
}

}  // namespace mailrelay::smtpd
