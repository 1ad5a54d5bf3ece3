#include "deliver-smtp/auth.h"

#include "common/util/strings.h"

namespace mailrelay::deliver_smtp {

const char* MechanismName(Mechanism m) {
  switch (m) {
    case Mechanism::kPlain:
      return "PLAIN";
    case Mechanism::kLogin:
      return "LOGIN";
    case Mechanism::kXoauth2:
      return "XOAUTH2";
    case Mechanism::kNone:
      break;
  }
  return "none";
}

AuthDecision ChooseAuth(config::SmtpAuthMechanism configured, bool have_credentials,
                        const smtp::EhloExtensions& ext, bool encrypted, bool clear_allowed,
                        std::string_view peer) {
  AuthDecision d;
  if (!have_credentials) return d;
  const std::string host(peer);
  if (!encrypted && !clear_allowed) {
    d.refusal = "refusing to send credentials to " + host +
                " over an unencrypted connection (the server did not offer STARTTLS); "
                "use [smtp] tls = starttls or implicit, or tls = none to allow it";
    return d;
  }
  if (!ext.auth) {
    d.refusal = "[smtp] username is set but host " + host + " does not offer AUTH" +
                (encrypted ? "" : " on an unencrypted connection");
    return d;
  }
  switch (configured) {
    case config::SmtpAuthMechanism::kPlain:
      d.mechanism = Mechanism::kPlain;
      return d;
    case config::SmtpAuthMechanism::kLogin:
      d.mechanism = Mechanism::kLogin;
      return d;
    case config::SmtpAuthMechanism::kXoauth2:
      d.mechanism = Mechanism::kXoauth2;
      return d;
    case config::SmtpAuthMechanism::kAuto:
      break;
  }
  if (ext.HasAuthMechanism("PLAIN")) {
    d.mechanism = Mechanism::kPlain;
  } else if (ext.HasAuthMechanism("LOGIN")) {
    d.mechanism = Mechanism::kLogin;
  } else {
    d.refusal =
        "no SASL mechanism in common with host " + host + " (it offers " +
        (ext.auth_mechanisms.empty() ? std::string("none") : util::Join(ext.auth_mechanisms, " ")) +
        "; auth_mechanism = auto uses PLAIN or LOGIN)";
  }
  return d;
}

}  // namespace mailrelay::deliver_smtp
