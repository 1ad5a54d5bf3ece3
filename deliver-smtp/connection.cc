#include "deliver-smtp/connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>

#include "common/http/token.h"
#include "common/log/log.h"
#include "common/smtp/sasl.h"
#include "common/tls/tls.h"
#include "common/util/strings.h"
#include "deliver-smtp/results.h"

namespace mailrelay::deliver_smtp {

namespace {

// Credentials that do not work fail every message the same way; retrying each at once only
// piles up failed logins at the smarthost (Microsoft 365 locks accounts out). Such failures
// pause the whole backend, like throttling does.
constexpr bool kPauseBackend = true;

// Body streaming: refill our output below kLowWater, up to kHighWater; the TCP layer under
// a TLS filter holds at most kSocketHighWater, so a stalled server shows as no progress.
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kLowWater = 64 * 1024;
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kSocketLowWater = 64 * 1024;
constexpr size_t kSocketHighWater = 256 * 1024;

std::string SslErrors(bufferevent* bev) {
  std::string out;
  unsigned long e;
  while (bev && (e = bufferevent_get_openssl_error(bev)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

}  // namespace

Connection::Connection(const Settings* settings, uint64_t id, ClosedFn on_closed)
    : s_(settings), id_(id), on_closed_(std::move(on_closed)) {
  timer_ = evtimer_new(s_->base, &Connection::OnTimerCb, this);
}

Connection::~Connection() {
  *alive_ = false;
  if (resolve_id_) s_->resolver->Cancel(resolve_id_);
  if (bev_) bufferevent_free(bev_);
  if (timer_) event_free(timer_);
}

std::string Connection::Peer() const { return s_->relay.Peer(ip_.empty() ? "unknown" : ip_); }

bool Connection::InSetup() const { return state_ < State::kReady; }

// --- the public verbs ------------------------------------------------------------------

void Connection::Deliver(std::shared_ptr<const agent::DeliveryJob> job, DoneFn done) {
  job_ = std::move(job);
  done_ = std::move(done);
  if (state_ == State::kNew) {
    Lookup();
  } else if (state_ == State::kReady && !broken_) {
    evtimer_del(timer_);
    StartTransaction();
  } else {
    Failure f{451, "4.3.0", "internal error: message handed to a connection that is not ready"};
    Outcome o;
    o.result = agent::JobResult::ForAll(*job_, f.code, f.enhanced, f.text);
    o.retry = true;
    auto cb = std::move(done_);
    job_.reset();
    cb(std::move(o));
  }
}

void Connection::Park(int64_t idle_seconds) {
  if (state_ != State::kReady || job_) return;
  Arm(idle_seconds, "idle");
}

void Connection::Quit() {
  if (state_ == State::kClosed || state_ == State::kQuit) return;
  if (job_) {
    Abort("the relay is shutting down");
    return;
  }
  if (state_ != State::kReady || !bev_) {
    Close();
    return;
  }
  state_ = State::kQuit;
  Write("QUIT");
  Arm(s_->quit_timeout, "sending QUIT");
}

void Connection::Abort(const std::string& why) {
  if (state_ == State::kClosed) return;
  if (!job_) {
    Close();
    return;
  }
  log::Warning().Id(job_->queue_id).Kv("relay", relay_.empty() ? s_->relay.name : relay_).Text(why);
  Failure f{451, "4.4.2", why};
  if (InSetup()) {
    SetupFailed(f, false);
  } else {
    Fail(f);
  }
}

// --- session set-up ----------------------------------------------------------------------

void Connection::Lookup() {
  if (s_->relay.literal) {
    auto ep = LiteralEndpoint(s_->relay.name, s_->relay.port);
    if (!ep.ok()) {
      SetupFailed({451, "4.4.3", ep.status().message()}, false);
      return;
    }
    endpoints_ = {*ep};
    ConnectNext();
    return;
  }
  state_ = State::kResolving;
  Arm(s_->connect_timeout, "looking up the host name");
  std::shared_ptr<bool> alive = alive_;
  resolve_id_ = s_->resolver->Resolve(s_->relay.name, s_->relay.port,
                                      [this, alive](util::Result<std::vector<Endpoint>> r) {
                                        if (!*alive || state_ != State::kResolving) return;
                                        resolve_id_ = 0;
                                        if (!r.ok()) {
                                          SetupFailed({451, "4.4.3", r.status().message()}, false);
                                          return;
                                        }
                                        endpoints_ = std::move(r).value();
                                        ConnectNext();
                                      });
}

void Connection::ConnectNext() {
  CloseSocket();
  if (next_endpoint_ >= endpoints_.size()) {
    Failure f = last_setup_failure_
                    ? *last_setup_failure_
                    : Failure{451, "4.4.1", "no address to connect to for " + s_->relay.name};
    SetupFailed(f, false);
    return;
  }
  tls_active_ = false;
  tls_info_.clear();
  const Endpoint& ep = endpoints_[next_endpoint_++];
  ip_ = ep.ip;
  relay_ = s_->relay.Relay(ip_);
  ext_ = smtp::EhloExtensions();
  parser_ = smtp::ReplyParser();
  state_ = State::kConnecting;
  bev_ = bufferevent_socket_new(s_->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  ++bev_gen_;
  if (!bev_) {
    SetupFailed({451, "4.3.0", "cannot create a socket: out of memory"}, false);
    return;
  }
  bufferevent_setcb(bev_, &Connection::OnReadCb, &Connection::OnWriteCb, &Connection::OnEventCb,
                    this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  Arm(s_->connect_timeout, "connecting");
  if (bufferevent_socket_connect(bev_, reinterpret_cast<const sockaddr*>(&ep.addr),
                                 static_cast<int>(ep.len)) < 0) {
    int err = EVUTIL_SOCKET_ERROR();
    last_setup_failure_ =
        Failure{451, "4.4.1", "connect to " + relay_ + ": " + evutil_socket_error_to_string(err)};
    ConnectNext();
  }
}

void Connection::OnConnected() {
  log::Debug().Kv("relay", relay_).Kv("conn", id_).Text("connected");
  if (s_->tls == config::SmtpTls::kImplicit) {
    StartTls(State::kTlsConnecting);
    return;
  }
  state_ = State::kGreeting;
  Arm(s_->timeout, "receiving the initial server greeting");
}

void Connection::StartTls(State handshake_state) {
  if (!s_->tls_ctx) {
    SetupFailed({451, "4.7.5", "TLS is not set up in this agent"}, false);
    return;
  }
  // Whatever the server sent after its 220 came in the clear and must not be taken as
  // coming through TLS (the client side of CVE-2011-0411).
  evbuffer* in = bufferevent_get_input(bev_);
  if (size_t stray = evbuffer_get_length(in)) {
    log::Warning()
        .Kv("relay", relay_)
        .Kv("bytes", static_cast<int64_t>(stray))
        .Text("discarded plaintext the server sent after its STARTTLS reply");
    evbuffer_drain(in, stray);
  }
  parser_ = smtp::ReplyParser();
  SSL* ssl = SSL_new(s_->tls_ctx);
  if (!ssl) {
    SetupFailed({451, "4.7.5", "cannot create a TLS session: " + tls::LastError()}, false);
    return;
  }
  util::Status st = tls::SetupClientSsl(ssl, s_->relay.configured, s_->tls_verify);
  if (!st.ok()) {
    SSL_free(ssl);
    SetupFailed({451, "4.7.5", st.message()}, false);
    return;
  }
  bufferevent* plain = bev_;
  bufferevent_disable(plain, EV_READ);
  bufferevent_setwatermark(plain, EV_WRITE, kSocketLowWater, kSocketHighWater);
  bufferevent* tls =
      bufferevent_openssl_filter_new(s_->base, plain, ssl, BUFFEREVENT_SSL_CONNECTING,
                                     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!tls) {
    SSL_free(ssl);
    SetupFailed({451, "4.7.5", "cannot start TLS"}, false);
    return;
  }
  socket_bev_ = plain;
  bev_ = tls;
  ssl_ = ssl;
  ++bev_gen_;
  bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
  bufferevent_setcb(bev_, &Connection::OnReadCb, &Connection::OnWriteCb, &Connection::OnEventCb,
                    this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  state_ = handshake_state;
  Arm(s_->timeout, "performing the TLS handshake");
}

void Connection::OnTlsUp() {
  tls_active_ = true;
  tls_info_ = tls::Describe(ssl_);
  log::Info()
      .Kv("relay", relay_)
      .Kv("conn", id_)
      .Text(std::string(s_->tls_verify ? "Verified" : "Untrusted") +
            " TLS connection established: " + tls_info_);
  if (state_ == State::kTlsConnecting) {
    state_ = State::kGreeting;
    Arm(s_->timeout, "receiving the initial server greeting");
  } else {
    state_ = State::kEhloTls;
    SendEhlo();
  }
}

void Connection::OnTlsFailed() {
  std::string why;
  if (s_->tls_verify && ssl_) why = tls::VerifyError(ssl_);
  std::string ssl_errors = SslErrors(bev_);
  if (why.empty())
    why =
        !ssl_errors.empty() ? ssl_errors : "the server closed the connection during the handshake";
  std::string text = "TLS with host " + Peer() + " failed: " + why;
  if (s_->tls == config::SmtpTls::kMay && !plaintext_retry_) {
    // Opportunistic TLS, as Postfix's "may": a broken handshake is retried in the clear.
    log::Warning().Kv("relay", relay_).Text(text + "; trying again without TLS (tls = may)");
    plaintext_retry_ = true;
    --next_endpoint_;
    ConnectNext();
    return;
  }
  log::Warning().Kv("relay", relay_).Text(text);
  SetupFailed({451, "4.7.5", text}, true);
}

void Connection::SendEhlo() {
  if (state_ != State::kEhloTls) state_ = State::kEhlo;
  Write("EHLO " + s_->helo_name);
  Arm(s_->timeout, "performing the EHLO handshake");
}

void Connection::AfterEhlo() {
  if (!tls_active_ && !plaintext_retry_) {
    bool want = s_->tls == config::SmtpTls::kStartTls ||
                (s_->tls == config::SmtpTls::kMay && ext_.starttls);
    if (want) {
      if (!ext_.starttls) {
        SetupFailed({451, "4.7.4", "TLS is required, but was not offered by host " + Peer()}, true);
        return;
      }
      state_ = State::kStartTls;
      Write("STARTTLS");
      Arm(s_->timeout, "sending STARTTLS");
      return;
    }
  }
  StartAuth();
}

void Connection::StartAuth() {
  bool have_credentials = !s_->username.empty();
  AuthDecision d = ChooseAuth(s_->auth_mechanism, have_credentials, ext_, tls_active_,
                              s_->tls == config::SmtpTls::kNone, Peer());
  if (!d.refusal.empty()) {
    log::Error().Kv("relay", relay_).Text("not authenticating: " + d.refusal);
    SetupFailed({451, "4.7.0", d.refusal, kPauseBackend}, false);
    return;
  }
  mechanism_ = d.mechanism;
  if (mechanism_ == Mechanism::kNone) {
    OnReady();
    return;
  }
  if (!tls_active_) {
    log::Warning()
        .Kv("relay", relay_)
        .Kv("user", s_->username)
        .Text(std::string("sending AUTH ") + MechanismName(mechanism_) +
              " credentials over an UNENCRYPTED connection, because [smtp] tls = none");
  }
  auth_step_ = 0;
  if (mechanism_ == Mechanism::kXoauth2) {
    FetchTokenThenAuth();
    return;
  }
  SendAuth();
}

void Connection::FetchTokenThenAuth() {
  state_ = State::kAuthToken;
  Arm(s_->timeout, "waiting for an Entra ID access token");
  std::shared_ptr<bool> alive = alive_;
  s_->tokens->Get([this, alive](util::Result<http::AccessToken> t) {
    if (!*alive || state_ != State::kAuthToken) return;
    if (!t.ok()) {
      std::string text = "cannot get an Entra ID access token for XOAUTH2: " + t.status().message();
      log::Error()
          .Kv("relay", relay_)
          .Text(text + " (check [smtp] tenant_id, client_id, client_secret_file)");
      SetupFailed({451, "4.7.0", text, kPauseBackend}, false);
      return;
    }
    token_ = t->value;
    SendAuth();
  });
}

void Connection::SendAuth() {
  state_ = State::kAuth;
  Arm(s_->timeout, "performing the AUTH exchange");
  switch (mechanism_) {
    case Mechanism::kPlain: {
      auto r = smtp::EncodePlainResponse("", s_->username, s_->password);
      if (!r.ok()) {
        SetupFailed({451, "4.7.0", "cannot encode AUTH PLAIN: " + r.status().message()}, false);
        return;
      }
      Write("AUTH PLAIN " + *r, true);
      return;
    }
    case Mechanism::kLogin:
      Write("AUTH LOGIN");
      return;
    case Mechanism::kXoauth2: {
      auto r = smtp::EncodeXoauth2Response(s_->username, token_);
      if (!r.ok()) {
        SetupFailed({451, "4.7.0", "cannot encode AUTH XOAUTH2: " + r.status().message()}, false);
        return;
      }
      Write("AUTH XOAUTH2 " + *r, true);
      return;
    }
    case Mechanism::kNone:
      OnReady();
      return;
  }
}

void Connection::OnAuthReply(const smtp::Reply& reply) {
  if (reply.positive() && reply.code != 334) {
    log::Info()
        .Kv("relay", relay_)
        .Kv("conn", id_)
        .Kv("sasl_method", MechanismName(mechanism_))
        .Kv("sasl_username", s_->username)
        .Text("authenticated");
    token_.clear();
    OnReady();
    return;
  }
  if (reply.code == 334) {
    ++auth_step_;
    if (mechanism_ == Mechanism::kLogin && auth_step_ == 1) {
      Write(smtp::EncodeLoginResponse(s_->username), true);
    } else if (mechanism_ == Mechanism::kLogin && auth_step_ == 2) {
      Write(smtp::EncodeLoginResponse(s_->password), true);
    } else if (mechanism_ == Mechanism::kXoauth2 && auth_step_ == 1) {
      Write("", true);  // the 334 carries the server's JSON error; an empty line ends the exchange
    } else if (mechanism_ == Mechanism::kPlain && auth_step_ == 1) {
      // A server that ignored the initial response asks for it again.
      auto r = smtp::EncodePlainResponse("", s_->username, s_->password);
      Write(r.ok() ? *r : "*", true);
    } else {
      Write("*");
    }
    Arm(s_->timeout, "performing the AUTH exchange");
    return;
  }
  if (mechanism_ == Mechanism::kXoauth2 && !auth_retried_ && reply.code != 421) {
    // The token may have been revoked or rotated early: one more try with a fresh one.
    auth_retried_ = true;
    log::Warning()
        .Kv("relay", relay_)
        .Text("XOAUTH2 token refused (" + std::to_string(reply.code) + " " +
              util::Printable(reply.Text()) + "); retrying once with a fresh token");
    s_->tokens->Invalidate(token_);
    token_.clear();
    auth_step_ = 0;
    FetchTokenThenAuth();
    return;
  }
  std::string text = std::string("SASL ") + MechanismName(mechanism_) + " authentication failed; " +
                     SaidText(Peer(), reply, "");
  log::Error()
      .Kv("relay", relay_)
      .Kv("sasl_username", s_->username)
      .Text(text +
            " -- a configuration problem: check [smtp] username, password_file / the Entra client");
  token_.clear();
  SetupFailed(
      {reply.transient() ? reply.code : 454, AsTransient(EnhancedOf(reply)), text, kPauseBackend},
      false);
}

void Connection::OnReady() {
  state_ = State::kReady;
  evtimer_del(timer_);
  if (job_) StartTransaction();
}

// --- transactions ------------------------------------------------------------------------

void Connection::StartTransaction() {
  reused_ = used_;
  used_ = true;
  got_reply_ = false;
  unsent_.clear();
  awaiting_.clear();
  txn_ = std::make_unique<Transaction>(job_, ext_, Peer(), relay_, reused_);
  if (txn_->refused()) {
    Finish();
    return;
  }
  if (txn_->unannounced_eight_bit()) {
    log::Warning()
        .Id(job_->queue_id)
        .Kv("relay", relay_)
        .Text(
            "sending 8-bit content to a server that does not announce 8BITMIME (as Postfix does)");
  }
  for (size_t i = 0; i < txn_->envelope().size(); ++i) unsent_.push_back(i);
  state_ = State::kEnvelope;
  FlushEnvelope();
}

void Connection::FlushEnvelope() {
  bool all = ext_.pipelining;
  while (!unsent_.empty() && (all || awaiting_.empty())) {
    size_t i = unsent_.front();
    unsent_.pop_front();
    Write(txn_->envelope()[i].line);
    awaiting_.push_back(i);
  }
  if (!awaiting_.empty()) {
    Transaction::Kind k = txn_->envelope()[awaiting_.front()].kind;
    Arm(s_->timeout, k == Transaction::Kind::kRset   ? "sending RSET"
                     : k == Transaction::Kind::kMail ? "sending MAIL FROM"
                                                     : "sending RCPT TO");
  }
}

void Connection::OnEnvelopeReply(const smtp::Reply& reply) {
  if (awaiting_.empty()) {
    broken_ = true;  // a reply nobody asked for: out of step
    return;
  }
  size_t i = awaiting_.front();
  awaiting_.pop_front();
  got_reply_ = true;
  txn_->OnEnvelopeReply(i, reply);
  if (txn_->rset_failed()) {
    // The session is in no known state; nothing of this message was sent. A new connection
    // takes it.
    Outcome o;
    o.result =
        agent::JobResult::ForAll(*job_, reply.transient() ? reply.code : 451,
                                 AsTransient(EnhancedOf(reply)), SaidText(Peer(), reply, "RSET"));
    o.retry = true;
    o.relay = relay_;
    broken_ = true;
    auto done = std::move(done_);
    job_.reset();
    txn_.reset();
    Close();
    done(std::move(o));
    return;
  }
  if (txn_->finished()) unsent_.clear();  // MAIL refused: no RCPT for it
  if (!awaiting_.empty() || !unsent_.empty()) {
    FlushEnvelope();
    return;
  }
  if (!txn_->WantsData()) {
    Finish();  // every recipient refused (or MAIL was): the next message starts with RSET
    return;
  }
  state_ = State::kData;
  Write("DATA");
  Arm(s_->timeout, "sending DATA command");
}

void Connection::StartBody() {
  state_ = State::kBody;
  body_pos_ = 0;
  dot_queued_ = false;
  dot_flushed_ = false;
  stuffer_.Reset();
  bufferevent_setwatermark(bev_, EV_WRITE, kLowWater, 0);
  Arm(s_->timeout, "sending message body");
  FeedBody();
}

void Connection::FeedBody() {
  const std::string& body = job_->body;
  evbuffer* out = bufferevent_get_output(bev_);
  std::string wire;
  while (evbuffer_get_length(out) < kHighWater && body_pos_ < body.size()) {
    size_t n = std::min(kChunk, body.size() - body_pos_);
    wire.clear();
    stuffer_.Feed(std::string_view(body).substr(body_pos_, n), &wire);
    bufferevent_write(bev_, wire.data(), wire.size());
    body_pos_ += n;
  }
  if (body_pos_ >= body.size() && !dot_queued_) {
    wire.clear();
    stuffer_.Finish(&wire);
    bufferevent_write(bev_, wire.data(), wire.size());
    dot_queued_ = true;
    state_ = State::kDot;
    // Told once everything is handed to the kernel (or to TLS): then the wait for the
    // final reply starts.
    bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  }
}

void Connection::Finish() {
  if (state_ != State::kClosed) state_ = State::kReady;
  evtimer_del(timer_);
  Outcome o;
  o.result = txn_->Result();
  o.relay = relay_;
  txn_.reset();
  job_.reset();
  auto done = std::move(done_);
  done(std::move(o));
}

// --- input, output, time -------------------------------------------------------------------

void Connection::OnReadCb(bufferevent*, void* arg) { static_cast<Connection*>(arg)->OnRead(); }
void Connection::OnWriteCb(bufferevent*, void* arg) { static_cast<Connection*>(arg)->OnWrite(); }
void Connection::OnEventCb(bufferevent*, short what, void* arg) {
  static_cast<Connection*>(arg)->OnEvent(what);
}
void Connection::OnTimerCb(int, short, void* arg) { static_cast<Connection*>(arg)->OnTimeout(); }

void Connection::OnRead() {
  const uint64_t gen = bev_gen_;
  evbuffer* in = bufferevent_get_input(bev_);
  while (gen == bev_gen_ && state_ != State::kClosed && evbuffer_get_length(in) > 0) {
    evbuffer_iovec v;
    if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1) break;
    auto fed = parser_.Feed(std::string_view(static_cast<const char*>(v.iov_base), v.iov_len));
    if (!fed.ok()) {
      evbuffer_drain(in, evbuffer_get_length(in));
      Lost("protocol error: " + fed.status().message());
      return;
    }
    evbuffer_drain(in, *fed);
    if (parser_.has_reply()) {
      smtp::Reply reply = parser_.TakeReply();
      OnReply(reply);
    }
  }
}

void Connection::OnReply(const smtp::Reply& reply) {
  switch (state_) {
    case State::kGreeting:
      if (reply.code == 220) {
        SendEhlo();
      } else {
        SetupFailed({reply.transient() ? reply.code : 451, AsTransient(EnhancedOf(reply)),
                     "host " + Peer() + " refused to talk to me: " + std::to_string(reply.code) +
                         " " + util::Printable(reply.Text(), 400),
                     IsThrottling(reply)},
                    true);
      }
      return;
    case State::kEhlo:
    case State::kEhloTls: {
      auto ext = smtp::ParseEhloReply(reply);
      if (ext.ok()) {
        ext_ = std::move(ext).value();
        AfterEhlo();
      } else if (reply.permanent() && state_ == State::kEhlo) {
        state_ = State::kHelo;  // an old server: plain SMTP, no extensions
        Write("HELO " + s_->helo_name);
        Arm(s_->timeout, "performing the HELO handshake");
      } else {
        SetupFailed({reply.transient() ? reply.code : 451, AsTransient(EnhancedOf(reply)),
                     SaidText(Peer(), reply, "EHLO"), IsThrottling(reply)},
                    true);
      }
      return;
    }
    case State::kHelo:
      if (reply.positive()) {
        ext_ = smtp::EhloExtensions();
        AfterEhlo();
      } else {
        SetupFailed({reply.transient() ? reply.code : 451, AsTransient(EnhancedOf(reply)),
                     SaidText(Peer(), reply, "HELO"), IsThrottling(reply)},
                    true);
      }
      return;
    case State::kStartTls:
      if (reply.code == 220) {
        StartTls(State::kTlsHandshake);
      } else {
        SetupFailed(
            {reply.transient() ? reply.code : 451, "4.7.4",
             "cannot start TLS: " + SaidText(Peer(), reply, "STARTTLS"), IsThrottling(reply)},
            true);
      }
      return;
    case State::kAuth:
      OnAuthReply(reply);
      return;
    case State::kEnvelope:
      OnEnvelopeReply(reply);
      return;
    case State::kData:
      got_reply_ = true;
      if (txn_->OnDataReply(reply)) {
        StartBody();
      } else {
        Finish();
      }
      return;
    case State::kBody:
      // A reply before the whole message went out: the server gave up on it. The session is
      // out of step with what we are still sending, so it ends after this.
      broken_ = true;
      [[fallthrough]];
    case State::kDot:
      txn_->OnFinalReply(reply);
      if (reply.positive()) ++messages_;
      Finish();
      if (broken_) Close();
      return;
    case State::kReady:
      // Unsolicited while idle: a server closing an idle session ("421 4.4.2 timeout").
      log::Debug()
          .Kv("relay", relay_)
          .Kv("conn", id_)
          .Text("server said while idle: " + util::Printable(reply.Text()));
      Close();
      return;
    case State::kQuit:
      Close();
      return;
    default:
      broken_ = true;
      Lost("unexpected reply " + std::to_string(reply.code));
      return;
  }
}

void Connection::OnWrite() {
  if (state_ == State::kBody) {
    Arm(s_->timeout, "sending message body");  // a data block went out: progress
    FeedBody();
  } else if (state_ == State::kDot && !dot_flushed_ &&
             evbuffer_get_length(bufferevent_get_output(bev_)) == 0) {
    dot_flushed_ = true;
    Arm(s_->data_timeout, "sending end of data -- message may be sent more than once");
  }
}

void Connection::OnEvent(short what) {
  if (state_ == State::kConnecting) {
    if (what & BEV_EVENT_CONNECTED) {
      OnConnected();
      return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    last_setup_failure_ =
        Failure{451, "4.4.1", "connect to " + relay_ + ": " + evutil_socket_error_to_string(err)};
    log::Info().Kv("relay", relay_).Kv("conn", id_).Text(last_setup_failure_->text);
    ConnectNext();
    return;
  }
  if (state_ == State::kTlsConnecting || state_ == State::kTlsHandshake) {
    if (what & BEV_EVENT_CONNECTED) {
      OnTlsUp();
    } else {
      OnTlsFailed();
    }
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    if (state_ == State::kQuit || (state_ == State::kReady && !job_)) {
      Close();
      return;
    }
    std::string detail;
    if (what & BEV_EVENT_ERROR) {
      int err = EVUTIL_SOCKET_ERROR();
      std::string ssl = SslErrors(bev_);
      detail = !ssl.empty() ? ssl : (err ? evutil_socket_error_to_string(err) : "");
    }
    Lost(detail);
  }
}

void Connection::OnTimeout() {
  switch (state_) {
    case State::kReady:
      if (!job_) Quit();  // idle long enough
      return;
    case State::kQuit:
      Close();
      return;
    case State::kClosed:
      return;
    case State::kResolving:
      if (resolve_id_) s_->resolver->Cancel(resolve_id_);
      resolve_id_ = 0;
      SetupFailed({451, "4.4.3",
                   "Host or domain name not found. Name service error for name=" + s_->relay.name +
                       ": the lookup timed out"},
                  false);
      return;
    case State::kConnecting:
      last_setup_failure_ =
          Failure{451, "4.4.1", "connect to " + relay_ + ": Connection timed out"};
      log::Info().Kv("relay", relay_).Kv("conn", id_).Text(last_setup_failure_->text);
      ConnectNext();
      return;
    default: {
      Failure f{451, "4.4.2", "conversation with " + Peer() + " timed out while " + phase_};
      f.timeout = true;
      if (InSetup()) {
        SetupFailed(f, state_ < State::kAuthToken);
      } else {
        Fail(f);
      }
    }
  }
}

void Connection::Write(const std::string& line, bool secret) {
  if (!bev_) return;
  if (log::Enabled(log::Level::kDebug)) {
    log::Debug()
        .Kv("relay", relay_)
        .Kv("conn", id_)
        .Text("> " + (secret ? std::string("<AUTH data>") : line));
  }
  std::string wire = line + "\r\n";
  bufferevent_write(bev_, wire.data(), wire.size());
}

void Connection::Arm(int64_t seconds, const char* phase) {
  phase_ = phase;
  timeval tv{static_cast<time_t>(std::max<int64_t>(seconds, 1)), 0};
  evtimer_add(timer_, &tv);
}

// --- endings -----------------------------------------------------------------------------

void Connection::Lost(const std::string& detail) {
  std::string text = "lost connection with " + Peer() + " while " + phase_;
  if (!detail.empty()) text += " (" + util::Printable(detail, 200) + ")";
  Failure f{451, "4.4.2", text};
  if (InSetup()) {
    SetupFailed(f, state_ < State::kAuthToken);
  } else {
    Fail(f);
  }
}

void Connection::Fail(Failure f) {
  if (!job_ || !txn_) {
    Close();
    return;
  }
  Outcome o;
  o.relay = relay_;
  // A session kept from an earlier message that broke before this one got any answer:
  // the server dropped it while it sat idle. Nothing was sent; a fresh connection retries.
  if (reused_ && !got_reply_ && state_ == State::kEnvelope && !f.timeout) o.retry = true;
  txn_->Fail(f.code, f.enhanced, f.text, f.throttled);
  o.result = txn_->Result();
  txn_.reset();
  job_.reset();
  auto done = std::move(done_);
  Close();
  done(std::move(o));
}

void Connection::SetupFailed(Failure f, bool try_next) {
  if (try_next && next_endpoint_ < endpoints_.size()) {
    log::Info().Kv("relay", relay_).Kv("conn", id_).Text(f.text + "; trying the next address");
    last_setup_failure_ = f;
    ConnectNext();
    return;
  }
  Outcome o;
  if (job_) {
    o.result = agent::JobResult::ForAll(*job_, f.code, f.enhanced, f.text);
    if (f.throttled) {
      o.result.throttled = true;
      o.result.retry_after = kThrottleSeconds;
    }
  }
  auto done = std::move(done_);
  job_.reset();
  Close();
  if (done) done(std::move(o));
}

void Connection::CloseSocket() {
  if (bev_) {
    bufferevent_free(bev_);  // the TLS filter frees the socket and the SSL with it
    bev_ = nullptr;
    ++bev_gen_;
  }
  socket_bev_ = nullptr;
  ssl_ = nullptr;
}

void Connection::Close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  evtimer_del(timer_);
  if (resolve_id_) {
    s_->resolver->Cancel(resolve_id_);
    resolve_id_ = 0;
  }
  CloseSocket();
  token_.clear();
  if (job_) {
    // Not expected: every path that ends a message answers it first. Defer rather than lose it.
    Outcome o;
    o.result = agent::JobResult::ForAll(*job_, 451, "4.3.0",
                                        "connection to " + Peer() + " closed unexpectedly");
    auto done = std::move(done_);
    job_.reset();
    txn_.reset();
    if (done) done(std::move(o));
  }
  if (on_closed_) {
    ClosedFn cb = std::move(on_closed_);
    on_closed_ = nullptr;
    cb(this);
  }
}

}  // namespace mailrelay::deliver_smtp
