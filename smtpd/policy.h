// Relay policy ([policy] and [smtpd] auth in DESIGN.md, the relay modes of seed 003): who may
// relay (networks, AUTH), to which domains (strict / auth_any_domain / net_any_domain /
// any_domain), sender restrictions, denied recipients, and the classic tricks that hide a
// second destination inside an allowed one (percent hack, bang path, quoted '@', source
// route). Pure decisions; the session turns them into replies.
#pragma once

#include <string>

#include "common/config/config.h"
#include "common/net/address.h"
#include "common/smtp/address.h"
#include "common/smtp/reply.h"

namespace mailrelay::smtpd {

struct ClientTrust {
  bool network = false;        // the client address is in [policy] networks
  bool authenticated = false;  // SMTP AUTH succeeded
};

struct Decision {
  bool ok = true;
  smtp::Reply reply;   // when !ok
  std::string reason;  // for the log line
  static Decision Allow() { return Decision{}; }
  static Decision Deny(int code, const std::string& enhanced, const std::string& text, const std::string& reason);
};

class Policy {
 public:
  explicit Policy(const config::Config& cfg);
  bool InNetworks(const net::Endpoint& client) const;
  Decision CheckSender(const ClientTrust& trust, const smtp::Address& sender) const;
  Decision CheckRecipient(const ClientTrust& trust, const smtp::Address& recipient) const;
  // May this client send to any domain, or only to recipient_domains?
  bool AnyDomain(const ClientTrust& trust) const;

 private:
  config::SmtpdConfig smtpd_;
  config::PolicyConfig policy_;
};

// "example.com" matches itself; ".example.com" matches its subdomains.
bool DomainInList(const std::string& domain, const std::vector<std::string>& list);

}  // namespace mailrelay::smtpd
