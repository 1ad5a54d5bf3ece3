// One SMTP session (RFC 5321, with 3207 STARTTLS, 4954 AUTH, 1870 SIZE, 6152 8BITMIME,
// 2920 PIPELINING, 6531 SMTPUTF8, 2034 ENHANCEDSTATUSCODES). Commands are handled strictly in
// order: a command that has to wait (the queue commit after DATA, a password check, the TLS
// handshake) stops input processing until its reply is written, so pipelined replies can
// never be reordered. Every exit goes through Close(), which logs why. smtpd's loop only.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net/address.h"
#include "common/smtp/address.h"
#include "common/smtp/command.h"
#include "common/smtp/data_reader.h"
#include "common/smtp/line_reader.h"
#include "common/smtp/reply.h"
#include "common/smtp/sasl.h"
#include "smtpd/authenticator.h"
#include "smtpd/message_writer.h"

namespace mailrelay::smtpd {

class Server;

class Session {
 public:
  Session(Server* server, int fd, const net::Endpoint& peer, bool implicit_tls);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start();
  // The server is stopping: finish the current transaction, then say goodbye.
  void Drain();
  bool closed() const { return closed_; }
  const std::string& client_key() const { return client_key_; }
  bool counted() const { return counted_; }

 private:
  enum class Phase { kProxy, kCommand, kAuth, kData, kWait, kAuthDelay, kTlsHandshake };
  enum class State { kConnected, kReady, kMail, kRcpt };
  enum class AuthMech { kNone, kPlain, kLogin };

  static void ReadCb(bufferevent* bev, void* arg);
  static void WriteCb(bufferevent* bev, void* arg);
  static void EventCb(bufferevent* bev, short what, void* arg);
  static void OnTimer(evutil_socket_t, short, void* arg);

  void Attach(bufferevent* bev);
  void ProcessInput();
  bool ProcessProxy(evbuffer* in);
  bool ProcessLines(evbuffer* in);
  bool ProcessData(evbuffer* in);
  void Greet();
  void HandleLine(std::string_view line);
  void HandleCommand(const smtp::Command& cmd);
  void OnEhlo(const std::string& arg, bool extended);
  void OnMail(const std::string& arg);
  void OnRcpt(const std::string& arg);
  void OnData();
  void OnStartTls();
  void OnAuth(const std::string& arg);
  void AuthStep(std::string_view line);
  void CheckCredentials(std::string user, std::string password);
  void OnAuthOutcome(AuthOutcome outcome, const std::string& shown, const std::string& reason);
  void FinishData();
  void OnCommitted(int code, const std::string& enhanced, const std::string& text, const std::string& queue_id);
  void StartTls();
  void ResetTransaction();
  std::string Protocol() const;
  std::string ReceivedHeader() const;
  bool AuthOffered() const;
  void Reject(const smtp::Reply& reply, const std::string& stage, const std::string& extra = "");
  bool CountError();

  void Send(const std::string& wire);
  void Reply(int code, const std::string& enhanced, const std::string& text);
  void Reply(const smtp::Reply& r);
  void Close(const std::string& why);
  void CloseAfterFlush(const std::string& why);
  size_t PendingOutput() const;
  void Pause() { paused_ = true; }
  void Resume();

  Server* server_;
  int fd_;
  net::Endpoint peer_;
  std::string client_key_;
  std::string client_;  // "[ip]:port" for logs
  bool implicit_tls_;
  bufferevent* bev_ = nullptr;
  SSL* ssl_ = nullptr;  // owned by the TLS bufferevent
  std::string tls_info_;
  Phase phase_ = Phase::kCommand;
  State state_ = State::kConnected;
  bool closed_ = false;
  bool closing_ = false;
  bool paused_ = false;
  bool draining_ = false;
  bool counted_ = false;
  bool in_callback_ = false;
  smtp::LineReader lines_;
  std::optional<smtp::DataReader> data_;
  std::unique_ptr<MessageWriter> writer_;
  std::string scratch_;       // DATA output before it goes to the writer
  std::string close_reason_;
  event* timer_ = nullptr;  // commit wait and auth failure delay

  // Session facts.
  std::string helo_;
  bool esmtp_ = false;
  bool network_trusted_ = false;
  std::string auth_user_;
  std::string sealed_secret_;  // passthrough AUTH: the client secret sealed to deliver-graph
  uint32_t graph_check_ = 0;   // passthrough AUTH check in flight
  AuthMech auth_mech_ = AuthMech::kNone;
  std::optional<smtp::LoginExchange> login_;
  int auth_failures_ = 0;
  int errors_ = 0;
  // Transaction.
  std::string sender_;
  bool null_sender_ = false;
  bool smtputf8_ = false;
  std::string body_type_;
  std::vector<std::string> recipients_;
  uint32_t injection_ = 0;
  std::optional<int> early_code_;  // qmgr refused before the end of DATA
  std::string early_enhanced_, early_text_;
  // Counters for the disconnect line.
  int n_mail_ = 0, n_rcpt_ = 0, n_data_ = 0, n_commands_ = 0;
};

}  // namespace mailrelay::smtpd
