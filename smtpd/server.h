// smtpd's listeners and its set of sessions: connection limits (max_connections at accept,
// max_connections_per_ip once the real client address is known, which with the PROXY
// protocol is after its header), deferred deletion of closed sessions, and draining on
// shutdown. smtpd's loop only.
#pragma once

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config/config.h"
#include "smtpd/authenticator.h"
#include "smtpd/policy.h"
#include "smtpd/queue_client.h"

namespace mailrelay::smtpd {

class GraphAuthClient;
class Session;

class Server {
 public:
  Server(event_base* base, const config::Config& cfg, QueueClient* queue, Authenticator* auth, SSL_CTX* tls);
  ~Server();

  // fd: an inherited listening socket; tls: implicit TLS on it.
  util::Status Listen(int fd, bool tls, const std::string& address);
  // Stops accepting; sessions finish their transaction and are told goodbye; `done` runs
  // when the last one is gone.
  void Drain(std::function<void()> done);

  event_base* base() const { return base_; }
  const config::Config& config() const { return cfg_; }
  const Policy& policy() const { return policy_; }
  QueueClient& queue() { return *queue_; }
  Authenticator& auth() { return *auth_; }
  // Graph passthrough AUTH ([graph] passthrough_auth); nullptr when off.
  GraphAuthClient* graph_auth() const { return graph_auth_; }
  void set_graph_auth(GraphAuthClient* client) { graph_auth_ = client; }
  SSL_CTX* tls() const { return tls_; }
  size_t sessions() const { return sessions_.size(); }

  // Per-address accounting; false (and nothing counted) when the address is over its limit.
  bool Admit(const std::string& client_key);
  void Release(const std::string& client_key);
  // The session ended; it is deleted once the loop is out of its callbacks.
  void Remove(Session* s);

 private:
  struct Listener {
    evconnlistener* ev;
    bool tls;
    std::string address;
  };
  static void OnAccept(evconnlistener* l, evutil_socket_t fd, sockaddr* sa, int len, void* arg);
  static void OnReap(evutil_socket_t, short, void* arg);
  void Accept(int fd, sockaddr* sa, int len, bool tls);

  event_base* base_;
  config::Config cfg_;
  Policy policy_;
  QueueClient* queue_;
  Authenticator* auth_;
  GraphAuthClient* graph_auth_ = nullptr;
  SSL_CTX* tls_;
  std::vector<Listener> listeners_;
  std::unordered_map<Session*, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> graveyard_;
  std::unordered_map<std::string, int> per_ip_;
  event* reap_ev_;
  std::function<void()> drained_;
  bool draining_ = false;
};

}  // namespace mailrelay::smtpd
