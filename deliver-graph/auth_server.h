// Passthrough AUTH for smtpd ([graph] passthrough_auth): serves run_dir/graph-auth.sock.
// smtpd sends auth_check (user name, password = client secret); we parse the user name as
// tenant<delimiter>client[.x], get a Graph token for it through the shared TokenCache (so a
// burst of sessions with the same credentials makes one token request, a wrong secret is
// remembered as wrong for a minute and never as good), and answer auth_result: ok = 1 with the
// credentials sealed to our own public key (smtpd passes them to qmgr, which stores them with
// the message; only we can open them), 0 = refused, 2 = try again later. Runs on the agent's
// loop; a broken peer only loses its own connection. Secrets are never logged.
#pragma once

#include <event2/event.h>
#include <event2/listener.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/http/token.h"
#include "common/ipc/channel.h"
#include "common/util/status.h"

namespace mailrelay::graph {

// auth_result "ok" values (docs/ipc.md).
inline constexpr uint64_t kAuthRefused = 0;
inline constexpr uint64_t kAuthAccepted = 1;
inline constexpr uint64_t kAuthTryLater = 2;

class AuthServer {
 public:
  struct Options {
    std::string authority;
    std::string ca_file;
    int64_t timeout = 30;  // seconds, for the token request
    char delimiter = '@';
    size_t max_pending_per_connection = 256;  // more checks at once: "try later"
  };

  // `tokens` must outlive the server; `public_key` is the passthrough key pair's.
  AuthServer(event_base* base, http::TokenCache* tokens, Options options, std::string public_key);
  ~AuthServer();
  AuthServer(const AuthServer&) = delete;
  AuthServer& operator=(const AuthServer&) = delete;

  // Creates the socket (replacing a stale one), mode 0660. for_smtpd_group: running as root
  // with privilege separation, so it is chowned to the delivery user and smtpd's group.
  util::Status Listen(const std::string& path, bool for_smtpd_group);
  void StopListening();

  uint64_t checks() const { return checks_; }

 private:
  struct Conn {
    uint64_t id = 0;
    std::unique_ptr<ipc::Channel> ch;
    bool hello = false;
    size_t pending = 0;
  };
  static void OnAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* sa, int len,
                       void* arg);
  void OnMessage(uint64_t conn_id, ipc::Message& m);
  void Check(Conn& conn, const ipc::Message& m);
  void Answer(uint64_t conn_id, uint32_t request_id, uint64_t ok, const std::string& text,
              const std::string& sealed = "");
  void Close(uint64_t conn_id, const std::string& why);

  event_base* base_;
  http::TokenCache* tokens_;
  Options options_;
  std::string public_key_;
  evconnlistener* listener_ = nullptr;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_ = 1;
  uint64_t checks_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mailrelay::graph
