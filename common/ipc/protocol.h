// The message types and field tags of mailrelay's IPC protocol, and the schema each type
// must fit exactly (docs/ipc.md is the prose version; change both together). Pure tables.
#pragma once

#include <cstdint>
#include <string_view>

namespace mailrelay::ipc {

inline constexpr std::string_view kProtocolName = "mailrelay-ipc";
inline constexpr uint64_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kDefaultMaxPayload = 1 << 20;  // 1 MiB
inline constexpr size_t kMaxChunk = 256 << 10;         // body chunks

// Who sends it -> who receives it.
enum class Type : uint16_t {
  kHello = 1,             // any -> any: first frame in each direction
  kReady = 2,             // child -> master: serving
  kConfig = 3,            // master -> child: the effective configuration
  kProcessTable = 4,      // master -> qmgr: who runs, restarts (for status and /healthz)
  kReport = 5,            // master -> qmgr: queue this failure report
  kReportQueued = 6,      // qmgr -> master
  kReloadRequest = 7,     // qmgr -> master (relayctl reload)
  kReloadResult = 8,      // master -> qmgr
  kProcessExit = 9,       // master -> qmgr: a child ended (how: signal number or 0)
  kInjectBegin = 20,      // smtpd -> qmgr: envelope of a new message
  kInjectChunk = 21,      // smtpd -> qmgr: body bytes
  kInjectEnd = 22,        // smtpd -> qmgr: size + digest; commit it
  kInjectAbort = 23,      // smtpd -> qmgr: forget this message
  kInjectResult = 24,     // qmgr -> smtpd: queued as ID (durable) or refused
  kQueueStatus = 25,      // qmgr -> smtpd: accepting or full
  kJobBegin = 40,         // qmgr -> agent
  kJobChunk = 41,         // qmgr -> agent
  kJobEnd = 42,           // qmgr -> agent
  kJobResult = 43,        // agent -> qmgr: one result per recipient
  kJobCancel = 44,        // qmgr -> agent: the message was deleted
  kAgentDrain = 45,       // agent -> qmgr: send me no more jobs
  kJobAck = 46,           // qmgr -> agent: the result is durable; forget it
  kControlRequest = 60,   // relayctl -> qmgr
  kControlReply = 61,     // qmgr -> relayctl
  kAuthCheck = 80,        // smtpd -> deliver-graph: passthrough AUTH
  kAuthResult = 81,       // deliver-graph -> smtpd
};

enum class Tag : uint16_t {
  kProtocol = 1, kVersion, kRole, kName, kPid, kGeneration, kConcurrency,
  kJson = 10, kText, kOk, kCode, kEnhanced, kExitCode, kVerb, kArg,
  kSender = 20, kRcpt, kClient, kHelo, kAuthUser, kProtocolUsed, kTls, kSmtpUtf8, kBodyType,
  kSealedSecret, kData, kSize, kDigest, kMessageId, kSubject, kQueueId, kAccepting, kQueued,
  kMaxMessages, kAttempt, kFirstAttempt, kIdempotencyKey, kJobId, kRecipient, kIndex, kAddress,
  kResult, kRetryAfter, kInfo, kProcess, kState, kRestarts, kStarted, kSecret, kReportId,
  kArrival, kOrigin, kBackend, kThrottled,
};

enum class Kind : uint8_t { kU64, kString, kBytes, kGroup };

struct Schema;

struct FieldSpec {
  Tag tag;
  const char* name;
  Kind kind;
  bool required;
  bool repeated;
  uint32_t max_len;             // strings and bytes
  const Schema* group = nullptr;  // kGroup: the nested schema
};

struct Schema {
  const char* name;
  const FieldSpec* fields;
  size_t count;
  const FieldSpec* Find(Tag tag) const;
};

// nullptr for an unknown type.
const Schema* SchemaFor(Type type);
const char* TypeName(Type type);

}  // namespace mailrelay::ipc
