// Which SASL mechanism deliver-smtp uses with the smarthost (RFC 4954): the configured one,
// or for "auto" PLAIN then LOGIN as the server's EHLO offers them; and the refusals: never
// credentials over a clear connection unless [smtp] tls = none was chosen, never a session
// that silently goes on unauthenticated when credentials are configured.
// Pure functions, any thread. A refusal is a text for the deferral and the log.
#pragma once

#include <string>
#include <string_view>

#include "common/config/config.h"
#include "common/smtp/ehlo.h"

namespace mailrelay::deliver_smtp {

enum class Mechanism { kNone, kPlain, kLogin, kXoauth2 };
const char* MechanismName(Mechanism m);  // "PLAIN", ...; "none"

struct AuthDecision {
  Mechanism mechanism = Mechanism::kNone;
  std::string refusal;  // non-empty: do not authenticate and do not send; defer with this
};

// `have_credentials`: username (and a password or an Entra client) is configured.
// `encrypted`: TLS is up on this session. `clear_allowed`: [smtp] tls = none.
AuthDecision ChooseAuth(config::SmtpAuthMechanism configured, bool have_credentials,
                        const smtp::EhloExtensions& ext, bool encrypted, bool clear_allowed,
                        std::string_view peer);

}  // namespace mailrelay::deliver_smtp
