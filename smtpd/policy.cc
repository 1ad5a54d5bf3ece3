#include "smtpd/policy.h"

#include "common/util/strings.h"

namespace mailrelay::smtpd {

Decision Decision::Deny(int code, const std::string& enhanced, const std::string& text, const std::string& reason) {
  Decision d;
  d.ok = false;
  d.reply.code = code;
  d.reply.enhanced = enhanced;
  d.reply.lines = {text};
  d.reason = reason;
  return d;
}

bool DomainInList(const std::string& domain, const std::vector<std::string>& list) {
  for (const auto& d : list) {
    if (d.empty()) continue;
    if (d[0] == '.') {
      if (domain.size() > d.size() && util::EndsWithIgnoreCase(domain, d)) return true;
    } else if (util::EqualsIgnoreCase(domain, d)) {
      return true;
    }
  }
  return false;
}

Policy::Policy(const config::Config& cfg) : smtpd_(cfg.smtpd), policy_(cfg.policy) {}

bool Policy::InNetworks(const net::Endpoint& client) const {
  for (const auto& c : policy_.networks) {
    if (c.Contains(client.get())) return true;
  }
  return false;
}

bool Policy::AnyDomain(const ClientTrust& t) const {
  switch (policy_.mode) {
    case config::RelayMode::kStrict: return false;
    case config::RelayMode::kAuthAnyDomain: return t.authenticated;
    case config::RelayMode::kNetAnyDomain: return t.network;
    case config::RelayMode::kAnyDomain: return t.authenticated || t.network;
  }
  return false;
}

Decision Policy::CheckSender(const ClientTrust&, const smtp::Address& sender) const {
  if (sender.null_path) return Decision::Allow();  // bounces from internal systems
  std::string addr = sender.Mailbox();
  if (!policy_.sender_domains.empty() && !DomainInList(sender.domain, policy_.sender_domains)) {
    return Decision::Deny(553, "5.7.1", "<" + addr + ">: Sender address rejected: domain not allowed here",
                          "sender domain not in sender_domains");
  }
  if (!policy_.sender_regex.empty() && !policy_.sender_regex.Search(addr)) {
    return Decision::Deny(553, "5.7.1", "<" + addr + ">: Sender address rejected: not allowed here",
                          "sender does not match sender_regex");
  }
  return Decision::Allow();
}

Decision Policy::CheckRecipient(const ClientTrust& t, const smtp::Address& rcpt) const {
  std::string addr = rcpt.Mailbox();
  if (!t.network && !t.authenticated) {
    bool could_auth = smtpd_.auth != config::AuthMode::kNone;
    return Decision::Deny(554, "5.7.1",
                          "<" + addr + ">: Relay access denied" + (could_auth ? " (authentication required)" : ""),
                          "client neither in networks nor authenticated");
  }
  if (!policy_.recipient_deny_regex.empty() && policy_.recipient_deny_regex.Search(addr)) {
    return Decision::Deny(550, "5.7.1", "<" + addr + ">: Recipient address rejected: denied by policy",
                          "recipient matches recipient_deny_regex");
  }
  if (rcpt.postmaster) return Decision::Allow();  // RFC 5321 4.5.1: always accepted
  if (AnyDomain(t)) return Decision::Allow();
  // Restricted to recipient_domains: nothing may smuggle a second destination past the check.
  if (rcpt.relay_trick()) {
    std::string what = rcpt.percent_hack ? "'%'" : rcpt.bang_path ? "'!'" : rcpt.quoted_at ? "quoted '@'"
                                                                                           : "source route";
    return Decision::Deny(554, "5.7.1", "<" + addr + ">: Relay access denied (" + what + " in address)",
                          "relay trick: " + what);
  }
  if (rcpt.domain_literal || !DomainInList(rcpt.domain, policy_.recipient_domains)) {
    return Decision::Deny(554, "5.7.1", "<" + addr + ">: Relay access denied",
                          "recipient domain not in recipient_domains");
  }
  return Decision::Allow();
}

}  // namespace mailrelay::smtpd
