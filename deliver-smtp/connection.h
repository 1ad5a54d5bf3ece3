// One SMTP session with the smarthost, event-driven on the agent's loop (libevent
// bufferevents; OpenSSL through bufferevent_openssl): look the host up, connect to each of
// its addresses in turn, greeting, EHLO (HELO when refused), STARTTLS or implicit TLS with
// verification, AUTH, then any number of messages (RSET between them), QUIT. Every phase
// has its own timeout (RFC 5321 4.5.3.2: connect, greeting, each command, each data block,
// the final dot). Failures become per-recipient results through Transaction; a session that
// breaks before the final 2xx never reports delivered.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/agent/agent.h"
#include "common/config/config.h"
#include "common/smtp/dot_stuff.h"
#include "common/smtp/ehlo.h"
#include "common/smtp/reply_parser.h"
#include "deliver-smtp/auth.h"
#include "deliver-smtp/relay_host.h"
#include "deliver-smtp/resolver.h"
#include "deliver-smtp/transaction.h"

struct bufferevent;
struct event;
struct event_base;

namespace mailrelay::http {
class TokenSource;
}

namespace mailrelay::deliver_smtp {

// What every connection of the agent shares; read-only, outlives them all.
struct Settings {
  event_base* base = nullptr;
  RelayHost relay;
  config::SmtpTls tls = config::SmtpTls::kStartTls;
  bool tls_verify = true;
  SSL_CTX* tls_ctx = nullptr;  // nullptr when tls = none
  std::string helo_name;
  config::SmtpAuthMechanism auth_mechanism = config::SmtpAuthMechanism::kAuto;
  std::string username;
  std::string password;                 // secret: never logged
  http::TokenSource* tokens = nullptr;  // XOAUTH2 only
  Resolver* resolver = nullptr;
  int64_t connect_timeout = 30;
  int64_t timeout = 300;       // greeting, each command, each data block
  int64_t data_timeout = 600;  // the reply to the final dot
  int64_t quit_timeout = 5;    // how long QUIT waits for 221
};

struct Outcome {
  agent::JobResult result;
  // A connection kept from an earlier message broke before this one got anywhere (nothing
  // was sent): deliver it again on a fresh connection.
  bool retry = false;
  std::string relay;  // "host[ip]:port", or "" when no session was established
};

class Connection {
 public:
  using DoneFn = std::function<void(Outcome)>;
  using ClosedFn = std::function<void(Connection*)>;

  // `on_closed` runs once when the connection is finished with (any reason); the owner
  // deletes it later, never from inside the call.
  Connection(const Settings* settings, uint64_t id, ClosedFn on_closed);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one message, opening the session first if this connection is new. `done` runs
  // exactly once (possibly before Deliver returns). Only on a new or usable() connection.
  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, DoneFn done);
  // Between messages: stays open `idle_seconds`, closes earlier if the server goes away.
  void Park(int64_t idle_seconds);
  // Polite end: QUIT, wait briefly for 221, close. Closes at once when not in a session.
  void Quit();
  // Gives up on the message in progress (the agent's deadline): its recipients are
  // deferred with `why`, the connection closes.
  void Abort(const std::string& why);

  bool usable() const { return state_ == State::kReady && !job_ && !broken_; }
  bool closed() const { return state_ == State::kClosed; }
  int messages() const { return messages_; }
  uint64_t id() const { return id_; }
  const std::string& relay() const { return relay_; }

 private:
  enum class State {
    kNew,
    kResolving,
    kConnecting,
    kTlsConnecting,  // implicit TLS handshake before the greeting
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,
    kTlsHandshake,  // after STARTTLS
    kEhloTls,
    kAuthToken,  // waiting for an Entra ID token
    kAuth,
    kReady,
    kEnvelope,
    kData,
    kBody,
    kDot,
    kQuit,
    kClosed,
  };
  struct Failure {
    int code = 451;
    std::string enhanced = "4.4.2";
    std::string text;
    bool throttled = false;  // pause the whole backend (throttling reply, credentials refused)
    bool timeout = false;    // the server went quiet (as opposed to closing the connection)
  };

  static void OnReadCb(bufferevent* bev, void* arg);
  static void OnWriteCb(bufferevent* bev, void* arg);
  static void OnEventCb(bufferevent* bev, short what, void* arg);
  static void OnTimerCb(int fd, short what, void* arg);

  // Session set-up.
  void Lookup();
  void ConnectNext();
  void OnConnected();
  void StartTls(State handshake_state);
  void OnTlsUp();
  void OnTlsFailed();
  void SendEhlo();
  void AfterEhlo();
  void StartAuth();
  void FetchTokenThenAuth();  // XOAUTH2: the Entra token first (cached), then SendAuth
  void SendAuth();
  void OnAuthReply(const smtp::Reply& reply);
  void OnReady();
  // Transactions.
  void StartTransaction();
  void FlushEnvelope();
  void OnEnvelopeReply(const smtp::Reply& reply);
  void StartBody();
  void FeedBody();
  void Finish();
  // Input, output, time.
  void OnRead();
  void OnReply(const smtp::Reply& reply);
  void OnWrite();
  void OnEvent(short what);
  void OnTimeout();
  void Write(const std::string& line, bool secret = false);
  void Arm(int64_t seconds, const char* phase);
  // Endings.
  void Fail(Failure f);
  void Lost(const std::string& detail);
  void SetupFailed(Failure f, bool try_next);
  void CloseSocket();
  void Close();

  std::string Peer() const;
  bool InSetup() const;

  const Settings* s_;
  uint64_t id_;
  ClosedFn on_closed_;
  State state_ = State::kNew;
  event* timer_ = nullptr;
  const char* phase_ = "";
  bufferevent* bev_ = nullptr;
  bufferevent* socket_bev_ = nullptr;  // the TCP bufferevent under a TLS filter
  SSL* ssl_ = nullptr;                 // owned by the TLS bufferevent
  uint64_t bev_gen_ = 0;               // changes whenever bev_ does
  smtp::ReplyParser parser_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  uint64_t resolve_id_ = 0;
  std::vector<Endpoint> endpoints_;
  size_t next_endpoint_ = 0;
  std::string ip_;
  std::string relay_;
  std::optional<Failure> last_setup_failure_;
  bool plaintext_retry_ = false;  // tls = may and the handshake failed: this address again, no TLS
  bool tls_active_ = false;
  std::string tls_info_;
  smtp::EhloExtensions ext_;
  Mechanism mechanism_ = Mechanism::kNone;
  int auth_step_ = 0;
  bool auth_retried_ = false;
  std::string token_;  // XOAUTH2 bearer token in use: never logged

  std::shared_ptr<const agent::DeliveryJob> job_;
  DoneFn done_;
  std::unique_ptr<Transaction> txn_;
  std::deque<size_t> unsent_;    // envelope commands not written yet
  std::deque<size_t> awaiting_;  // written, reply not in yet
  bool reused_ = false;          // this session carried a message before this one
  bool got_reply_ = false;       // some reply for the current message arrived
  bool used_ = false;
  bool broken_ = false;  // out of step with the server: close after this message
  size_t body_pos_ = 0;
  bool dot_queued_ = false;
  bool dot_flushed_ = false;
  smtp::DotStuffer stuffer_;
  int messages_ = 0;
};

}  // namespace mailrelay::deliver_smtp
