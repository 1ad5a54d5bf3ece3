#include "smtpd/session.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <sodium.h>

#include "common/auth/passthrough_user.h"
#include "common/log/log.h"
#include "common/smtp/envelope_command.h"
#include "common/smtp/errors.h"
#include "common/smtp/limits.h"
#include "common/tls/tls.h"
#include "common/util/clock.h"
#include "common/util/strings.h"
#include "smtpd/graph_auth_client.h"
#include "smtpd/proxy_protocol.h"
#include "smtpd/server.h"

namespace mailrelay::smtpd {

namespace {
constexpr size_t kReadHighWater = 256 * 1024;  // bytes buffered per session before pausing reads
constexpr int kMaxErrors = 20;                 // Postfix's smtpd_hard_error_limit
constexpr int kMaxAuthFailures = 3;

std::string Sanitize(std::string_view s, size_t max) { return util::Printable(s, max); }
}  // namespace

Session::Session(Server* server, int fd, const net::Endpoint& peer, bool implicit_tls)
    : server_(server),
      fd_(fd),
      peer_(peer),
      client_key_(peer.Key()),
      client_(peer.ToString()),
      implicit_tls_(implicit_tls) {
  timer_ = evtimer_new(server_->base(), &Session::OnTimer, this);
}

Session::~Session() {
  if (injection_) server_->queue().Abandon(injection_);
  if (graph_check_ && server_->graph_auth()) server_->graph_auth()->Cancel(graph_check_);
  if (!sealed_secret_.empty()) sodium_memzero(sealed_secret_.data(), sealed_secret_.size());
  if (timer_) event_free(timer_);
  if (bev_) bufferevent_free(bev_);
  if (counted_) server_->Release(client_key_);
}

void Session::Attach(bufferevent* bev) {
  bev_ = bev;
  bufferevent_setcb(bev_, &Session::ReadCb, &Session::WriteCb, &Session::EventCb, this);
  bufferevent_setwatermark(bev_, EV_READ, 0, kReadHighWater);
  // Fewer, larger read(2) calls for message data (libevent's default is 4 KiB).
  bufferevent_set_max_single_read(bev_, 64 * 1024);
  timeval idle{static_cast<time_t>(server_->config().smtpd.timeout), 0};
  bufferevent_set_timeouts(bev_, &idle, &idle);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

void Session::Start() {
  Attach(bufferevent_socket_new(server_->base(), fd_, BEV_OPT_CLOSE_ON_FREE));
  if (server_->config().smtpd.proxy_protocol) {
    phase_ = Phase::kProxy;
    return;  // the greeting waits for the real client address
  }
  network_trusted_ = server_->policy().InNetworks(peer_);
  if (!server_->Admit(client_key_)) {
    Send(smtp::FormatReply(421, "4.7.0", server_->config().server.hostname + " Error: too many connections from your address"));
    CloseAfterFlush("too many connections from this address");
    return;
  }
  counted_ = true;
  if (implicit_tls_) {
    StartTls();
    return;
  }
  Greet();
}

void Session::Greet() {
  log::Info().Kv("client", client_).Text(std::string("connect") + (implicit_tls_ ? " (implicit TLS)" : ""));
  const auto& c = server_->config();
  Reply(220, "", c.server.hostname + " ESMTP " + c.smtpd.greeting);
  phase_ = Phase::kCommand;
}

void Session::Send(const std::string& wire) {
  if (bev_ && !closed_) bufferevent_write(bev_, wire.data(), wire.size());
}

void Session::Reply(int code, const std::string& enhanced, const std::string& text) {
  Send(smtp::FormatReply(code, enhanced, text));
}

void Session::Reply(const smtp::Reply& r) { Send(r.Format()); }

void Session::Close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (injection_) {
    server_->queue().Abort(injection_, "client session ended: " + why);
    injection_ = 0;
  }
  evtimer_del(timer_);
  log::Info().Kv("client", client_).Kv("mail", n_mail_).Kv("rcpt", n_rcpt_).Kv("data", n_data_)
      .Kv("commands", n_commands_).Text("disconnect: " + why);
  if (bev_) bufferevent_disable(bev_, EV_READ | EV_WRITE);
  server_->Remove(this);
}

size_t Session::PendingOutput() const {
  size_t n = evbuffer_get_length(bufferevent_get_output(bev_));
  // Under TLS the filter hands bytes to the socket bufferevent, which still has to send them.
  if (bufferevent* under = bufferevent_get_underlying(bev_)) n += evbuffer_get_length(bufferevent_get_output(under));
  return n;
}

void Session::CloseAfterFlush(const std::string& why) {
  if (closing_ || closed_) return;
  closing_ = true;
  paused_ = true;
  close_reason_ = why;
  bufferevent_disable(bev_, EV_READ);
  if (PendingOutput() == 0) {
    Close(why);
    return;
  }
  // WriteCb closes once the goodbye is on the wire; the timer covers the TLS layer below.
  timeval tick{0, 20000};
  evtimer_add(timer_, &tick);
}

void Session::Drain() {
  draining_ = true;
  if (phase_ == Phase::kCommand && (state_ == State::kConnected || state_ == State::kReady) && !paused_) {
    Reply(421, "4.3.2", server_->config().server.hostname + " Service shutting down, closing transmission channel");
    CloseAfterFlush("server shutting down");
  }
}

void Session::ReadCb(bufferevent*, void* arg) { static_cast<Session*>(arg)->ProcessInput(); }

void Session::WriteCb(bufferevent*, void* arg) {
  auto* self = static_cast<Session*>(arg);
  if (self->closing_ && self->PendingOutput() == 0) self->Close(self->close_reason_);
}

void Session::EventCb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<Session*>(arg);
  if (self->closed_) return;
  if (what & BEV_EVENT_CONNECTED) {  // TLS handshake done
    self->tls_info_ = tls::Describe(self->ssl_);
    log::Info().Kv("client", self->client_).Text("TLS established: " + self->tls_info_);
    self->phase_ = Phase::kCommand;
    if (self->implicit_tls_ && self->state_ == State::kConnected && self->helo_.empty()) {
      self->Greet();
    }
    self->ProcessInput();
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if (self->closing_) {
      self->Close("timeout while sending the last reply");
      return;
    }
    self->Reply(421, "4.4.2", self->server_->config().server.hostname + " Error: timeout exceeded");
    self->CloseAfterFlush("idle timeout");
    return;
  }
  if (what & BEV_EVENT_ERROR) {
    std::string why = "connection error";
    if (self->ssl_) {
      unsigned long e = bufferevent_get_openssl_error(self->bev_);
      if (e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        why = std::string(self->phase_ == Phase::kTlsHandshake ? "TLS handshake failed: " : "TLS error: ") + buf;
      }
    }
    self->Close(why);
    return;
  }
  if (what & BEV_EVENT_EOF) {
    self->Close(self->phase_ == Phase::kData ? "lost connection during DATA" : "client closed the connection");
  }
}

void Session::Resume() {
  paused_ = false;
  if (!closed_ && !closing_) ProcessInput();
}

void Session::ProcessInput() {
  if (in_callback_) return;  // re-entered from a synchronous reply path; the loop continues
  in_callback_ = true;
  while (!closed_ && !closing_ && !paused_ && bev_) {
    evbuffer* in = bufferevent_get_input(bev_);
    if (evbuffer_get_length(in) == 0) break;
    bool progressed = false;
    switch (phase_) {
      case Phase::kProxy: progressed = ProcessProxy(in); break;
      case Phase::kCommand:
      case Phase::kAuth: progressed = ProcessLines(in); break;
      case Phase::kData: progressed = ProcessData(in); break;
      case Phase::kWait:
      case Phase::kAuthDelay:
      case Phase::kTlsHandshake: progressed = false; break;
    }
    if (!progressed) break;
  }
  in_callback_ = false;
}

bool Session::ProcessProxy(evbuffer* in) {
  size_t avail = std::min<size_t>(evbuffer_get_length(in), 600);
  auto* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(avail)));
  auto h = ParseProxyHeader(std::string_view(p, avail));
  if (!h.ok()) {
    log::Warning().Kv("client", client_).Text("refused: " + h.status().message() + " (proxy_protocol = yes)");
    Close("no valid PROXY header");
    return false;
  }
  if (h->length == 0) return false;  // need more
  evbuffer_drain(in, h->length);
  if (!h->local) {
    peer_ = h->source;
    client_key_ = peer_.Key();
    client_ = peer_.ToString();
  }
  network_trusted_ = server_->policy().InNetworks(peer_);
  if (!server_->Admit(client_key_)) {
    Send(smtp::FormatReply(421, "4.7.0", server_->config().server.hostname + " Error: too many connections from your address"));
    CloseAfterFlush("too many connections from this address");
    return false;
  }
  counted_ = true;
  if (implicit_tls_) {
    StartTls();
    return true;
  }
  Greet();
  return true;
}

bool Session::ProcessLines(evbuffer* in) {
  evbuffer_iovec vec;
  if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) return false;
  std::string_view data(static_cast<const char*>(vec.iov_base), vec.iov_len);
  auto step = lines_.Feed(data);
  // The line view lives in the reader; draining the input first is safe.
  evbuffer_drain(in, step.consumed);
  switch (step.event) {
    case smtp::LineReader::Event::kNeedMore:
      return step.consumed > 0;
    case smtp::LineReader::Event::kLine: {
      std::string line(lines_.line());
      if (phase_ == Phase::kAuth) {
        AuthStep(line);
      } else {
        HandleLine(line);
      }
      return true;
    }
    case smtp::LineReader::Event::kLineTooLong:
      if (phase_ == Phase::kAuth) {
        phase_ = Phase::kCommand;
        lines_.set_max_line(smtp::kMaxCommandLine);
        login_.reset();
        Reply(smtp::ErrorReply(smtp::Error::kAuthLineTooLong));
      } else {
        Reply(smtp::ErrorReply(smtp::Error::kLineTooLong));
      }
      return !CountError();
    case smtp::LineReader::Event::kBareNewline:
      log::Warning().Kv("client", client_).Text("bare <CR> or <LF> in a command line; closing (SMTP smuggling defence)");
      Reply(smtp::ErrorReply(smtp::Error::kBareNewline));
      CloseAfterFlush("bare newline in command");
      return false;
  }
  return false;
}

bool Session::CountError() {
  if (++errors_ < kMaxErrors) return false;
  Reply(421, "4.7.0", server_->config().server.hostname + " Error: too many errors");
  CloseAfterFlush("too many errors");
  return true;
}

void Session::Reject(const smtp::Reply& reply, const std::string& stage, const std::string& extra) {
  log::Info().Id("NOQUEUE").Kv("stage", stage).Kv("client", client_)
      .Kv("from", "<" + sender_ + ">").Kv("helo", "<" + helo_ + ">")
      .Text("reject: " + std::to_string(reply.code) + (reply.enhanced.empty() ? "" : " " + reply.enhanced) + " " +
            reply.Text() + extra);
  Reply(reply);
}

void Session::HandleLine(std::string_view line) {
  ++n_commands_;
  auto cmd = smtp::ParseCommand(line);
  if (!cmd.ok()) {
    Reply(cmd.reply());
    CountError();
    return;
  }
  HandleCommand(*cmd);
}

bool Session::AuthOffered() const {
  const auto& c = server_->config();
  if (c.smtpd.auth == config::AuthMode::kNone) return false;
  if (c.smtpd.users_file.empty() && !c.graph.passthrough_auth) return false;
  if (ssl_ && !tls_info_.empty()) return true;
  switch (c.smtpd.allow_plaintext_auth) {
    case config::PlaintextAuth::kYes: return true;
    case config::PlaintextAuth::kLoopback: return peer_.IsLoopback();
    case config::PlaintextAuth::kNo: return false;
  }
  return false;
}

void Session::HandleCommand(const smtp::Command& cmd) {
  using smtp::Verb;
  const auto& host = server_->config().server.hostname;
  switch (cmd.verb) {
    case Verb::kEhlo:
      OnEhlo(cmd.argument, true);
      return;
    case Verb::kHelo:
      OnEhlo(cmd.argument, false);
      return;
    case Verb::kMail:
      OnMail(cmd.argument);
      return;
    case Verb::kRcpt:
      OnRcpt(cmd.argument);
      return;
    case Verb::kData:
      OnData();
      return;
    case Verb::kRset:
      ResetTransaction();
      if (state_ != State::kConnected) state_ = State::kReady;
      Reply(250, "2.0.0", "Ok");
      if (draining_) Drain();
      return;
    case Verb::kNoop:
      Reply(250, "2.0.0", "Ok");
      return;
    case Verb::kQuit:
      Reply(221, "2.0.0", "Bye");
      CloseAfterFlush("QUIT");
      return;
    case Verb::kVrfy:
      Reply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
      return;
    case Verb::kExpn:
      Reply(502, "5.5.1", "Error: command not implemented");
      return;
    case Verb::kHelp:
      Reply(214, "2.0.0", "mailrelay: see RFC 5321; commands EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH");
      return;
    case Verb::kStarttls:
      OnStartTls();
      return;
    case Verb::kAuth:
      OnAuth(cmd.argument);
      return;
    case Verb::kBdat:
      Reply(502, "5.5.1", "Error: command not implemented (CHUNKING is not offered)");
      return;
    case Verb::kUnknown:
      break;
  }
  (void)host;
  Reply(smtp::ErrorReply(smtp::Error::kUnknownCommand));
  CountError();
}

void Session::OnEhlo(const std::string& arg, bool extended) {
  const auto& c = server_->config();
  helo_ = Sanitize(arg, 255);
  esmtp_ = extended;
  ResetTransaction();
  state_ = State::kReady;
  if (!extended) {
    Reply(250, "", c.server.hostname);
    return;
  }
  std::vector<std::string> lines = {c.server.hostname, "PIPELINING", "SIZE " + std::to_string(c.smtpd.max_message_size),
                                    "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"};
  if (server_->tls() && !ssl_) lines.push_back("STARTTLS");
  if (AuthOffered()) lines.push_back("AUTH PLAIN LOGIN");
  Send(smtp::FormatReply(250, "", lines));
}

void Session::ResetTransaction() {
  if (injection_) {
    server_->queue().Abort(injection_, "transaction reset");
    injection_ = 0;
  }
  sender_.clear();
  null_sender_ = false;
  smtputf8_ = false;
  body_type_.clear();
  recipients_.clear();
  data_.reset();
  writer_.reset();
  early_code_.reset();
  if (state_ == State::kMail || state_ == State::kRcpt) state_ = State::kReady;
}

void Session::OnMail(const std::string& arg) {
  const auto& c = server_->config();
  if (state_ == State::kConnected) {
    Reply(503, "5.5.1", "Error: send HELO/EHLO first");
    CountError();
    return;
  }
  if (state_ == State::kMail || state_ == State::kRcpt) {
    Reply(503, "5.5.1", "Error: nested MAIL command");
    CountError();
    return;
  }
  if (c.smtpd.require_tls && tls_info_.empty()) {
    Reply(530, "5.7.0", "Must issue a STARTTLS command first");
    return;
  }
  if (c.smtpd.auth == config::AuthMode::kRequired && auth_user_.empty()) {
    Reply(530, "5.7.0", "Authentication required");
    return;
  }
  smtp::EnvelopeOptions opts;
  opts.allow_missing_brackets = true;  // old appliances send MAIL FROM:user@domain
  auto mail = smtp::ParseMailFrom(arg, opts);
  if (!mail.ok()) {
    Reply(mail.reply());
    CountError();
    return;
  }
  if (mail->params.smtputf8 && !esmtp_) {
    Reply(555, "5.5.4", "SMTPUTF8 needs EHLO");
    return;
  }
  if (mail->params.size && *mail->params.size > c.smtpd.max_message_size) {
    Reply(smtp::ErrorReply(smtp::Error::kSizeExceedsLimit));
    return;
  }
  if (!server_->queue().connected()) {
    Reply(451, "4.3.0", "Local error in processing: queue manager unavailable, try again later");
    return;
  }
  if (!server_->queue().accepting()) {
    Reject(smtp::Reply{452, "4.3.1", {"Insufficient system storage"}}, "MAIL");
    return;
  }
  ClientTrust trust{network_trusted_, !auth_user_.empty()};
  Decision d = server_->policy().CheckSender(trust, mail->sender);
  if (!d.ok) {
    Reject(d.reply, "MAIL", " (" + d.reason + ")");
    return;
  }
  sender_ = mail->sender.Mailbox();
  null_sender_ = mail->sender.null_path;
  smtputf8_ = mail->params.smtputf8;
  switch (mail->params.body) {
    case smtp::BodyType::k8BitMime: body_type_ = "8BITMIME"; break;
    case smtp::BodyType::kBinaryMime: body_type_ = "BINARYMIME"; break;
    default: body_type_ = "7BIT"; break;
  }
  state_ = State::kMail;
  ++n_mail_;
  Reply(250, "2.1.0", "Ok");
}

void Session::OnRcpt(const std::string& arg) {
  const auto& c = server_->config();
  if (state_ != State::kMail && state_ != State::kRcpt) {
    Reply(503, "5.5.1", "Error: need MAIL command");
    CountError();
    return;
  }
  smtp::EnvelopeOptions opts;
  opts.allow_missing_brackets = true;
  auto rcpt = smtp::ParseRcptTo(arg, smtputf8_, opts);
  if (!rcpt.ok()) {
    Reply(rcpt.reply());
    CountError();
    return;
  }
  if (static_cast<int>(recipients_.size()) >= c.smtpd.max_recipients) {
    Reject(smtp::Reply{452, "4.5.3", {"Error: too many recipients"}}, "RCPT");
    return;
  }
  ClientTrust trust{network_trusted_, !auth_user_.empty()};
  Decision d = server_->policy().CheckRecipient(trust, rcpt->recipient);
  if (!d.ok) {
    Reject(d.reply, "RCPT", " to=<" + rcpt->recipient.Mailbox() + "> (" + d.reason + ")");
    CountError();
    return;
  }
  // <Postmaster> without a domain is ours: it goes to [server] postmaster.
  recipients_.push_back(rcpt->recipient.postmaster ? c.server.postmaster : rcpt->recipient.Mailbox());
  state_ = State::kRcpt;
  ++n_rcpt_;
  Reply(250, "2.1.5", "Ok");
}

std::string Session::Protocol() const {
  std::string p = smtputf8_ ? "UTF8SMTP" : (esmtp_ ? "ESMTP" : "SMTP");
  if (!tls_info_.empty()) p += "S";
  if (!auth_user_.empty()) p += "A";
  return p;
}

std::string Session::ReceivedHeader() const {
  const auto& c = server_->config();
  std::string r = "Received: from " + (helo_.empty() ? std::string("unknown") : Sanitize(helo_, 200)) + " (" +
                  client_.substr(0, client_.rfind(':')) + ")\r\n\tby " + c.server.hostname + " (mailrelay) with " +
                  Protocol();
  if (!tls_info_.empty()) r += "\r\n\t(using " + tls_info_ + ")";
  if (recipients_.size() == 1 && util::IsAscii(recipients_[0])) r += "\r\n\tfor <" + recipients_[0] + ">";
  r += ";\r\n\t" + util::Rfc5322Date(util::Clock::System().NowSeconds()) + "\r\n";
  return r;
}

void Session::OnData() {
  const auto& c = server_->config();
  if (state_ != State::kRcpt) {
    Reply(503, "5.5.1", state_ == State::kMail ? "Error: need RCPT command" : "Error: need MAIL command");
    CountError();
    return;
  }
  Envelope env;
  env.sender = null_sender_ ? "" : sender_;
  env.recipients = recipients_;
  env.client = client_;
  env.helo = helo_;
  env.auth_user = auth_user_;
  env.sealed_secret = sealed_secret_;  // passthrough AUTH: only deliver-graph can open it
  env.protocol = Protocol();
  env.tls = tls_info_;
  env.smtputf8 = smtputf8_;
  env.body_type = body_type_;
  early_code_.reset();
  injection_ = server_->queue().Begin(env, [this](const InjectResult& r) {
    OnCommitted(r.code, r.enhanced, r.text, r.queue_id);
  });
  if (!injection_) {
    return;  // OnCommitted already answered (queue unavailable)
  }
  data_.emplace(c.smtpd.max_message_size);
  uint32_t id = injection_;
  QueueClient* q = &server_->queue();
  writer_ = std::make_unique<MessageWriter>(ReceivedHeader(), c.server.hostname, util::Clock::System().NowSeconds(),
                                            [q, id](std::string_view chunk) { q->Chunk(id, chunk); });
  phase_ = Phase::kData;
  ++n_data_;
  Reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

bool Session::ProcessData(evbuffer* in) {
  if (server_->queue().congested()) {
    // qmgr is behind: stop reading this client until the socket to qmgr drains.
    Pause();
    server_->queue().OnDrained([this] { Resume(); });
    return false;
  }
  evbuffer_iovec vec;
  if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) return false;
  std::string_view data(static_cast<const char*>(vec.iov_base), vec.iov_len);
  scratch_.clear();
  auto step = data_->Feed(data, &scratch_);
  if (!data_->error() && !early_code_ && writer_ && step.event != smtp::DataReader::Event::kBareNewline) {
    writer_->Append(scratch_);
  }
  evbuffer_drain(in, step.consumed);
  switch (step.event) {
    case smtp::DataReader::Event::kNeedMore:
      return true;
    case smtp::DataReader::Event::kEnd:
      FinishData();
      return true;
    case smtp::DataReader::Event::kBareNewline:
      log::Warning().Kv("client", client_).Kv("from", "<" + sender_ + ">")
          .Text("bare <CR> or <LF> in DATA; message refused and connection closed (SMTP smuggling defence)");
      server_->queue().Abort(injection_, "bare newline in DATA");
      injection_ = 0;
      Reply(smtp::ErrorReply(smtp::Error::kBareNewline));
      CloseAfterFlush("bare newline in DATA");
      return false;
  }
  return false;
}

void Session::FinishData() {
  phase_ = Phase::kCommand;
  if (early_code_) {
    // qmgr refused it while it was arriving (queue full, too big).
    Reject(smtp::Reply{*early_code_, early_enhanced_, {early_text_}}, "DATA");
    ResetTransaction();
    return;
  }
  if (auto err = data_->error()) {
    server_->queue().Abort(injection_, "refused at end of DATA");
    injection_ = 0;
    Reject(smtp::ErrorReply(*err), "END-OF-MESSAGE",
           *err == smtp::Error::kMessageTooBig ? " size=" + std::to_string(data_->size()) : "");
    ResetTransaction();
    return;
  }
  writer_->Finish();
  server_->queue().End(injection_, writer_->size(), writer_->Digest(), writer_->message_id(), writer_->subject());
  // Nothing more is read until qmgr says the message is on disk, or the wait runs out.
  phase_ = Phase::kWait;
  Pause();
  timeval wait{static_cast<time_t>(server_->config().smtpd.commit_timeout), 0};
  evtimer_add(timer_, &wait);
}

void Session::OnTimer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Session*>(arg);
  if (self->closing_) {
    if (self->PendingOutput() == 0) {
      self->Close(self->close_reason_);
    } else {
      timeval tick{0, 20000};
      evtimer_add(self->timer_, &tick);  // the bufferevent write timeout bounds this
    }
    return;
  }
  if (self->phase_ == Phase::kWait && self->injection_) {
    log::Warning().Kv("client", self->client_).Kv("from", "<" + self->sender_ + ">")
        .Text("the queue did not confirm the message in time; answering 451 (the client will retry)");
    self->server_->queue().Abandon(self->injection_);
    self->injection_ = 0;
    self->phase_ = Phase::kCommand;
    self->Reply(451, "4.3.0", "Local error in processing: the queue did not answer in time, try again later");
    self->ResetTransaction();
    self->Resume();
    return;
  }
  if (self->phase_ != Phase::kAuthDelay) return;
  // The delayed answer to a failed AUTH.
  self->Reply(535, "5.7.8", "Error: authentication failed");
  if (self->auth_failures_ >= kMaxAuthFailures) {
    self->Reply(421, "4.7.0", self->server_->config().server.hostname + " Error: too many failed authentications");
    self->CloseAfterFlush("too many failed authentications");
    return;
  }
  self->phase_ = Phase::kCommand;
  self->Resume();
}

void Session::OnCommitted(int code, const std::string& enhanced, const std::string& text, const std::string& queue_id) {
  if (closed_) return;
  if (phase_ == Phase::kData) {
    // An early refusal: remember it, keep reading to the end of DATA, answer then.
    injection_ = 0;
    early_code_ = code;
    early_enhanced_ = enhanced;
    early_text_ = text;
    return;
  }
  injection_ = 0;
  if (phase_ != Phase::kWait) {
    // No DATA started (Begin() failed synchronously): answer the DATA command itself.
    Reply(code, enhanced, text);
    ResetTransaction();
    return;
  }
  evtimer_del(timer_);
  phase_ = Phase::kCommand;
  if (code == 250) {
    log::Info().Id(queue_id).Kv("client", client_).Kv("from", "<" + sender_ + ">")
        .Kv("size", static_cast<int64_t>(writer_ ? writer_->size() : 0)).Kv("nrcpt", static_cast<int64_t>(recipients_.size()))
        .Kv("message_id", writer_ ? writer_->message_id() : "").Text("");
    Reply(250, "2.0.0", "Ok: queued as " + queue_id);
  } else {
    Reject(smtp::Reply{code, enhanced, {text}}, "END-OF-MESSAGE");
  }
  ResetTransaction();
  if (draining_) Drain();
  Resume();
}

void Session::OnStartTls() {
  if (!server_->tls() || ssl_) {
    Reply(502, "5.5.1", ssl_ ? "Error: TLS already active" : "Error: command not implemented");
    return;
  }
  if (state_ == State::kMail || state_ == State::kRcpt) {
    Reply(503, "5.5.1", "Error: STARTTLS in the middle of a transaction");
    return;
  }
  Reply(220, "2.0.0", "Ready to start TLS");
  // Anything the client pipelined after STARTTLS was sent in the clear and must not be
  // taken as coming through TLS (CVE-2011-0411).
  evbuffer* in = bufferevent_get_input(bev_);
  size_t dropped = evbuffer_get_length(in);
  evbuffer_drain(in, dropped);
  if (dropped || lines_.has_partial()) {
    log::Warning().Kv("client", client_).Kv("bytes", static_cast<int64_t>(dropped))
        .Text("discarded plaintext pipelined after STARTTLS");
  }
  lines_.Reset();
  StartTls();
}

void Session::StartTls() {
  ssl_ = SSL_new(server_->tls());
  if (!ssl_) {
    Close("cannot create a TLS session: " + tls::LastError());
    return;
  }
  bufferevent* plain = bev_;
  bufferevent_disable(plain, EV_READ);
  bufferevent* tls = bufferevent_openssl_filter_new(server_->base(), plain, ssl_, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE);
  if (!tls) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    Close("cannot start TLS");
    return;
  }
  // RFC 3207: the session starts over; nothing learnt before the handshake survives.
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();
  sealed_secret_.clear();
  ResetTransaction();
  state_ = State::kConnected;
  phase_ = Phase::kTlsHandshake;
  Attach(tls);
}

void Session::OnAuth(const std::string& arg) {
  const auto& c = server_->config();
  if (c.smtpd.auth == config::AuthMode::kNone || (c.smtpd.users_file.empty() && !c.graph.passthrough_auth)) {
    Reply(503, "5.5.1", "Error: authentication not enabled");
    return;
  }
  if (state_ == State::kConnected) {
    Reply(503, "5.5.1", "Error: send EHLO first");
    return;
  }
  if (!auth_user_.empty()) {
    Reply(503, "5.5.1", "Error: already authenticated");
    return;
  }
  if (state_ == State::kMail || state_ == State::kRcpt) {
    Reply(503, "5.5.1", "Error: MAIL transaction in progress");
    return;
  }
  if (c.smtpd.require_tls && tls_info_.empty()) {
    Reply(530, "5.7.0", "Must issue a STARTTLS command first");
    return;
  }
  if (!AuthOffered()) {
    Reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    return;
  }
  auto parsed = smtp::ParseAuthArgument(arg);
  if (!parsed.ok()) {
    Reply(parsed.reply());
    CountError();
    return;
  }
  if (parsed->mechanism == "PLAIN") {
    if (parsed->initial_response) {
      auto creds = smtp::DecodeAuthPlain(*parsed->initial_response);
      if (!creds.ok()) {
        Reply(creds.reply());
        return;
      }
      if (!creds->authzid.empty() && creds->authzid != creds->authcid) {
        Reply(535, "5.7.8", "Error: authentication failed: acting as another user is not allowed");
        return;
      }
      CheckCredentials(creds->authcid, creds->password);
      return;
    }
    auth_mech_ = AuthMech::kPlain;
    phase_ = Phase::kAuth;
    lines_.set_max_line(smtp::kMaxAuthLine);
    Reply(334, "", "");
    return;
  }
  if (parsed->mechanism == "LOGIN") {
    std::optional<std::string_view> initial;
    if (parsed->initial_response) initial = *parsed->initial_response;
    auto start = smtp::LoginExchange::Start(initial);
    if (!start.ok()) {
      Reply(start.reply());
      return;
    }
    login_.emplace(std::move(start).value());
    auth_mech_ = AuthMech::kLogin;
    phase_ = Phase::kAuth;
    lines_.set_max_line(smtp::kMaxAuthLine);
    Reply(334, "", std::string(login_->challenge()));
    return;
  }
  Reply(smtp::ErrorReply(smtp::Error::kAuthUnknownMechanism));
}

void Session::AuthStep(std::string_view line) {
  auto finish_exchange = [this] {
    phase_ = Phase::kCommand;
    lines_.set_max_line(smtp::kMaxCommandLine);
  };
  if (auth_mech_ == AuthMech::kPlain) {
    finish_exchange();
    auto creds = smtp::DecodeAuthPlain(line);
    if (!creds.ok()) {
      Reply(creds.reply());
      return;
    }
    if (!creds->authzid.empty() && creds->authzid != creds->authcid) {
      Reply(535, "5.7.8", "Error: authentication failed: acting as another user is not allowed");
      return;
    }
    CheckCredentials(creds->authcid, creds->password);
    return;
  }
  auto step = login_->Step(line);
  if (!step.ok()) {
    finish_exchange();
    login_.reset();
    Reply(step.reply());
    return;
  }
  if (!*step) {
    Reply(334, "", std::string(login_->challenge()));
    return;
  }
  finish_exchange();
  std::string user = login_->username();
  std::string password = login_->password();
  login_.reset();
  CheckCredentials(std::move(user), std::move(password));
}

void Session::CheckCredentials(std::string user, std::string password) {
  phase_ = Phase::kWait;
  Pause();
  std::string shown = Sanitize(user, 100);
  // Graph passthrough: a tenant<d>client user name is deliver-graph's to judge (it gets a token
  // with the password as client secret); any other name is a local user.
  GraphAuthClient* graph = server_->graph_auth();
  if (graph && auth::ParsePassthroughUser(user, server_->config().graph.username_delimiter).ok()) {
    graph_check_ = graph->Check(user, std::move(password), client_, [this, shown](GraphAuthClient::Answer a) {
      graph_check_ = 0;
      if (closed_) return;
      AuthOutcome outcome = a.outcome == GraphAuthClient::Outcome::kAccepted  ? AuthOutcome::kOk
                            : a.outcome == GraphAuthClient::Outcome::kRefused ? AuthOutcome::kBadCredentials
                                                                              : AuthOutcome::kTempFail;
      if (outcome == AuthOutcome::kOk) sealed_secret_ = std::move(a.sealed_secret);
      OnAuthOutcome(outcome, shown, "passthrough: " + a.text);
    });
    return;
  }
  server_->auth().Verify(std::move(user), std::move(password), [this, shown](AuthOutcome outcome) {
    if (closed_) return;
    OnAuthOutcome(outcome, shown, "");
  });
}

void Session::OnAuthOutcome(AuthOutcome outcome, const std::string& shown, const std::string& reason) {
  switch (outcome) {
    case AuthOutcome::kOk:
      auth_user_ = shown;
      server_->auth().RecordSuccess(client_key_);
      log::Info().Kv("client", client_).Kv("sasl_username", shown).Text("authenticated");
      phase_ = Phase::kCommand;
      Reply(235, "2.7.0", "Authentication successful");
      Resume();
      return;
    case AuthOutcome::kTempFail:
      if (!reason.empty()) {
        log::Warning().Kv("client", client_).Kv("sasl_username", shown).Text("SASL temporary failure: " + reason);
      }
      phase_ = Phase::kCommand;
      Reply(454, "4.7.0", "Temporary authentication failure");
      Resume();
      return;
    case AuthOutcome::kBadCredentials: {
      ++auth_failures_;
      log::Warning().Kv("client", client_).Kv("sasl_username", shown)
          .Text("SASL authentication failed" + (reason.empty() ? std::string() : ": " + reason));
      int64_t delay = server_->auth().FailureDelayMs(client_key_);
      server_->auth().RecordFailure(client_key_);
      phase_ = Phase::kAuthDelay;
      // Answered later: guessing passwords gets slower per address.
      timeval tv{static_cast<time_t>(delay / 1000), static_cast<suseconds_t>((delay % 1000) * 1000)};
      if (delay < 100) tv = {0, 100000};
      evtimer_add(timer_, &tv);
      return;
    }
  }
}

}  // namespace mailrelay::smtpd
