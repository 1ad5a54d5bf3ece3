// One message over an established SMTP session, without I/O: the envelope commands to send
// ([RSET], MAIL FROM with SIZE/BODY/SMTPUTF8, one RCPT TO per recipient), what each reply
// means for each recipient, the DATA and end-of-data replies, and the connection breaking
// half-way. The connection (connection.h) writes what this says and feeds back what the
// server answers, so the whole mapping is unit-testable. Pure, any thread; never fails, it
// only records results.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/agent/agent.h"
#include "common/smtp/ehlo.h"
#include "common/smtp/reply.h"

namespace mailrelay::deliver_smtp {

class Transaction {
 public:
  enum class Kind { kRset, kMail, kRcpt };
  struct Command {
    Kind kind;
    std::string line;      // without CRLF
    size_t recipient = 0;  // kRcpt: index into job->recipients
  };

  // `peer` is "host[ip]" for texts, `relay` "host[ip]:port" for the result's info.
  // `rset_first`: the session carried a message before, so it starts with RSET.
  Transaction(std::shared_ptr<const agent::DeliveryJob> job, const smtp::EhloExtensions& ext,
              std::string peer, std::string relay, bool rset_first);

  // The message must not be sent at all: too big for the server's SIZE (552 5.3.4) or
  // SMTPUTF8 needed but not offered (553 5.6.7). Result() holds the bounces.
  bool refused() const { return refused_; }
  const std::vector<Command>& envelope() const { return envelope_; }
  // The reply to envelope()[i]; replies come in order.
  void OnEnvelopeReply(size_t i, const smtp::Reply& reply);
  // RSET was refused: the session is in no known state. Nothing was sent for this message.
  bool rset_failed() const { return rset_failed_; }
  // MAIL was accepted and so was at least one RCPT: send DATA once every envelope reply is in.
  bool WantsData() const;
  // The reply to DATA: true for 354 (send the message now); anything else is the result of
  // every recipient accepted at RCPT.
  bool OnDataReply(const smtp::Reply& reply);
  // The reply to the final dot: the result of every recipient accepted at RCPT.
  void OnFinalReply(const smtp::Reply& reply);
  // The session broke (timeout, lost connection, TLS): every recipient still without a
  // result gets this one. Recipients the server already refused keep their refusal.
  void Fail(int code, const std::string& enhanced, const std::string& text, bool throttled = false);

  bool finished() const;  // every recipient has its result
  agent::JobResult Result() const;

  bool eight_bit() const { return eight_bit_; }
  // 8-bit content to a server that did not announce 8BITMIME (sent anyway, as Postfix does
  // with disable_mime_output_conversion; worth a log line).
  bool unannounced_eight_bit() const { return eight_bit_ && !ext_.eightbitmime; }
  int accepted() const;
  const agent::DeliveryJob& job() const { return *job_; }

 private:
  enum class State { kPending, kAccepted, kDone };
  struct Rcpt {
    State state = State::kPending;
    agent::RecipientResult result;
  };
  void Set(Rcpt& r, int code, const std::string& enhanced, const std::string& text);
  void SetFromReply(Rcpt& r, const smtp::Reply& reply, const char* command);

  std::shared_ptr<const agent::DeliveryJob> job_;
  smtp::EhloExtensions ext_;
  std::string peer_;
  std::string relay_;
  std::vector<Command> envelope_;
  std::vector<Rcpt> rcpts_;
  bool refused_ = false;
  bool rset_failed_ = false;
  bool mail_done_ = false;    // MAIL's reply is in
  bool mail_failed_ = false;  // and it was not 2xx
  size_t replies_ = 0;
  bool eight_bit_ = false;
  bool throttled_ = false;
  std::string queued_as_;
};

}  // namespace mailrelay::deliver_smtp
