#include "deliver-smtp/transaction.h"

#include "common/util/strings.h"
#include "deliver-smtp/results.h"

namespace mailrelay::deliver_smtp {

Transaction::Transaction(std::shared_ptr<const agent::DeliveryJob> job,
                         const smtp::EhloExtensions& ext, std::string peer, std::string relay,
                         bool rset_first)
    : job_(std::move(job)), ext_(ext), peer_(std::move(peer)), relay_(std::move(relay)) {
  rcpts_.resize(job_->recipients.size());
  for (size_t i = 0; i < rcpts_.size(); ++i) rcpts_[i].result.index = job_->recipients[i].index;
  eight_bit_ =
      job_->body_type == "8BITMIME" || job_->body_type == "BINARYMIME" || HasEightBit(job_->body);
  bool needs_utf8 = NeedsSmtpUtf8(*job_);

  if (needs_utf8 && !ext_.smtputf8) {
    refused_ = true;
    for (auto& r : rcpts_)
      Set(r, 553, "5.6.7", "SMTPUTF8 is required, but was not offered by host " + peer_);
    return;
  }
  if (ext_.size_limit > 0 && job_->body.size() > ext_.size_limit) {
    refused_ = true;
    for (auto& r : rcpts_) {
      Set(r, 552, "5.3.4",
          "message size " + std::to_string(job_->body.size()) + " exceeds size limit " +
              std::to_string(ext_.size_limit) + " of server " + peer_);
    }
    return;
  }

  if (rset_first) envelope_.push_back({Kind::kRset, "RSET"});
  std::string mail = "MAIL FROM:<" + job_->sender + ">";
  if (ext_.size) mail += " SIZE=" + std::to_string(job_->body.size());
  if (eight_bit_ && ext_.eightbitmime) mail += " BODY=8BITMIME";
  if (ext_.smtputf8 && (needs_utf8 || job_->smtputf8)) mail += " SMTPUTF8";
  envelope_.push_back({Kind::kMail, mail});
  for (size_t i = 0; i < job_->recipients.size(); ++i) {
    envelope_.push_back({Kind::kRcpt, "RCPT TO:<" + job_->recipients[i].address + ">", i});
  }
}

void Transaction::Set(Rcpt& r, int code, const std::string& enhanced, const std::string& text) {
  r.state = State::kDone;
  r.result.code = code;
  r.result.enhanced = enhanced.empty() ? DefaultEnhanced(code) : enhanced;
  r.result.text = text;
}

void Transaction::SetFromReply(Rcpt& r, const smtp::Reply& reply, const char* command) {
  if (IsThrottling(reply)) throttled_ = true;
  Set(r, reply.code, EnhancedOf(reply), SaidText(peer_, reply, command));
}

void Transaction::OnEnvelopeReply(size_t i, const smtp::Reply& reply) {
  if (i >= envelope_.size()) return;
  ++replies_;
  const Command& c = envelope_[i];
  switch (c.kind) {
    case Kind::kRset:
      if (!reply.positive()) {
        rset_failed_ = true;
        if (IsThrottling(reply)) throttled_ = true;
      }
      return;
    case Kind::kMail:
      mail_done_ = true;
      if (rset_failed_) {
        mail_failed_ = true;  // whatever MAIL got, the session is not trusted any more
        return;
      }
      if (!reply.positive()) {
        mail_failed_ = true;
        for (auto& r : rcpts_) {
          if (r.state != State::kDone) SetFromReply(r, reply, "MAIL FROM");
        }
      }
      return;
    case Kind::kRcpt: {
      if (mail_failed_ || rset_failed_) return;  // pipelined after a refused MAIL: "503 need MAIL"
      Rcpt& r = rcpts_[c.recipient];
      if (r.state != State::kPending) return;
      if (reply.positive()) {
        r.state = State::kAccepted;
      } else {
        SetFromReply(r, reply, "RCPT TO");
      }
      return;
    }
  }
}

int Transaction::accepted() const {
  int n = 0;
  for (const auto& r : rcpts_) n += r.state == State::kAccepted;
  return n;
}

bool Transaction::WantsData() const {
  return !refused_ && !rset_failed_ && mail_done_ && !mail_failed_ &&
         replies_ >= envelope_.size() && accepted() > 0;
}

bool Transaction::OnDataReply(const smtp::Reply& reply) {
  if (reply.code == 354) return true;
  for (auto& r : rcpts_) {
    if (r.state == State::kAccepted) SetFromReply(r, reply, "DATA");
  }
  return false;
}

void Transaction::OnFinalReply(const smtp::Reply& reply) {
  if (reply.positive()) queued_as_ = QueuedAs(reply);
  for (auto& r : rcpts_) {
    if (r.state != State::kAccepted) continue;
    if (reply.positive()) {
      // Delivered: the upstream's own words, without the "host said" wrapping.
      Set(r, reply.code, EnhancedOf(reply), util::Printable(reply.Text(), 900));
    } else {
      SetFromReply(r, reply, "end of DATA");
    }
  }
}

void Transaction::Fail(int code, const std::string& enhanced, const std::string& text,
                       bool throttled) {
  if (throttled) throttled_ = true;
  for (auto& r : rcpts_) {
    if (r.state != State::kDone) Set(r, code, enhanced, text);
  }
}

bool Transaction::finished() const {
  for (const auto& r : rcpts_) {
    if (r.state != State::kDone) return false;
  }
  return true;
}

agent::JobResult Transaction::Result() const {
  agent::JobResult out;
  bool any_deferred = false;
  bool any_delivered = false;
  for (const auto& r : rcpts_) {
    agent::RecipientResult res = r.result;
    if (r.state != State::kDone) {
      res.code = 451;
      res.enhanced = "4.3.0";
      res.text = "no result from host " + peer_;
    }
    any_deferred |= res.code >= 400 && res.code < 500;
    any_delivered |= res.code >= 200 && res.code < 300;
    out.results.push_back(std::move(res));
  }
  if (throttled_ && any_deferred) {
    out.throttled = true;
    out.retry_after = kThrottleSeconds;
  }
  if (any_delivered) {
    out.info = "relay=" + relay_;
    if (!queued_as_.empty()) out.info += " queued_as=" + queued_as_;
  }
  return out;
}

}  // namespace mailrelay::deliver_smtp
