// The queue's data model: a message, its envelope and per-recipient delivery state, as qmgr
// keeps it in memory and in the spool. Plain structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mailrelay::qmgr {

enum class RcptState : int { kPending = 0, kDelivered = 1, kBounced = 2 };

// Bounces and reports are messages too; the kind decides what happens when they fail.
enum class MessageKind : int {
  kNormal = 0,
  kBounce = 1,            // a DSN to the original sender (null envelope sender)
  kPostmasterNotice = 2,  // a failed bounce, sent once to postmaster; dropped if it fails
  kReport = 3,            // mailrelayd's failure report
};

struct Recipient {
  int idx = 0;
  std::string address;
  RcptState state = RcptState::kPending;
  std::string backend;         // backend of the last attempt
  int attempts = 0;
  int primary_deferrals = 0;   // deferrals on the primary route, for the fallback switch
  bool on_fallback = false;
  int64_t next_attempt = 0;    // unix seconds
  int64_t first_attempt = 0;
  int64_t last_attempt = 0;
  int64_t dispatched_at = 0;   // persisted while a delivery is in flight (crash recovery)
  int last_code = 0;
  std::string last_enhanced;
  std::string last_text;
  std::string info;            // backend's id for the delivery (operation id, MessageId)
  bool delay_warned = false;   // the sender got a "still trying" notice (schema v2)
  bool final() const { return state != RcptState::kPending; }
};

struct Message {
  int64_t rowid = 0;
  std::string queue_id;
  std::string sender;  // "" = null reverse path
  int64_t arrival = 0;  // unix seconds
  uint64_t size = 0;
  std::string client;
  std::string helo;
  std::string auth_user;
  std::string protocol;
  std::string tls;
  std::string body_type;
  bool smtputf8 = false;
  std::string message_id;
  std::string subject;
  bool held = false;
  MessageKind kind = MessageKind::kNormal;
  std::string sealed_secret;
  std::string idempotency_key;  // stable across retries (ACS repeatability, logs)
  std::string hold_reason;      // why it is held when qmgr held it itself (schema v2)
  int agent_crashes = 0;        // delivery agents that died with it aboard (schema v2)
  std::vector<Recipient> recipients;

  int PendingCount() const {
    int n = 0;
    for (const auto& r : recipients) n += r.state == RcptState::kPending;
    return n;
  }
};

struct SendLogEntry {
  int64_t time = 0;
  std::string queue_id;
  std::string sender;
  std::string recipient;
  std::string subject;
  std::string backend;
  std::string status;  // sent | deferred | bounced | expired
  std::string reply;
};

}  // namespace mailrelay::qmgr
