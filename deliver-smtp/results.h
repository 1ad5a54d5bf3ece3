// What the upstream said, or what went wrong on the way there, as the words of a
// per-recipient result (2xx delivered, 4xx deferred, 5xx bounced), and which replies mean
// "slow down" for the whole backend rather than "not this message". Postfix's wording, so
// operators recognise it. Pure functions, any thread; nothing here fails.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/agent/agent.h"
#include "common/smtp/reply.h"

namespace mailrelay::deliver_smtp {

// How long qmgr pauses the backend after a throttling reply.
inline constexpr int64_t kThrottleSeconds = 60;

// "2.0.0", "4.0.0" or "5.0.0" for replies that carry no enhanced status code.
std::string DefaultEnhanced(int code);
// The reply's enhanced code, or DefaultEnhanced().
std::string EnhancedOf(const smtp::Reply& reply);
// The same code with its class made transient: "5.7.8" -> "4.7.8" (a refused session setup
// defers: it is the relay's problem, not the sender's).
std::string AsTransient(std::string_view enhanced);

// "host smtp.example.com[192.0.2.1] said: 550 5.1.1 <u@x>: no such user (in reply to RCPT TO
// command)". `command` may be empty (a greeting).
std::string SaidText(std::string_view peer, const smtp::Reply& reply, std::string_view command);

// 421 (closing), 451 4.7.x (Microsoft 365 "server busy"), 432 4.3.2 (365's concurrency
// limits), 454 with "throttl"/"rate"/"too many" in its text (Amazon SES "Throttling
// failure"), 450/452 4.7.x with those words too.
bool IsThrottling(const smtp::Reply& reply);

// The upstream's queue id from a final 250 ("queued as 4ABC", Exim's "id=1abc-..."), or "".
std::string QueuedAs(const smtp::Reply& reply);

// Whether the envelope needs SMTPUTF8 end to end: a non-ASCII sender or recipient, or a
// message declared SMTPUTF8 whose header section carries raw UTF-8 (RFC 6532).
bool NeedsSmtpUtf8(const agent::DeliveryJob& job);
// Any byte >= 0x80 in the message (the body needs 8BITMIME).
bool HasEightBit(std::string_view message);

}  // namespace mailrelay::deliver_smtp
