#include "common/ipc/protocol.h"

namespace mailrelay::ipc {

const FieldSpec* Schema::Find(Tag tag) const {
  for (size_t i = 0; i < count; ++i) {
    if (fields[i].tag == tag) return &fields[i];
  }
  return nullptr;
}

namespace {

constexpr uint32_t kAddr = 1024;   // RFC 5321 path plus slack
constexpr uint32_t kShort = 256;
constexpr uint32_t kLine = 4096;
constexpr uint32_t kBig = 64u << 20;  // control replies, config

#define F(tag, kind, req, rep, max) {Tag::tag, #tag, Kind::kind, req, rep, max}
#define G(tag, req, rep, schema) {Tag::tag, #tag, Kind::kGroup, req, rep, 1 << 20, &schema}
#define SCHEMA(var, name, ...)                          \
  constexpr FieldSpec var##_fields[] = {__VA_ARGS__};   \
  constexpr Schema var = {name, var##_fields, sizeof(var##_fields) / sizeof(FieldSpec)}

SCHEMA(kHelloSchema, "hello",
       F(kProtocol, kString, true, false, 32), F(kVersion, kU64, true, false, 0),
       F(kRole, kString, true, false, 32), F(kName, kString, false, false, 64),
       F(kPid, kU64, false, false, 0), F(kGeneration, kU64, false, false, 0),
       F(kConcurrency, kU64, false, false, 0));
SCHEMA(kReadySchema, "ready", F(kText, kString, false, false, kLine));
SCHEMA(kConfigSchema, "config", F(kJson, kBytes, true, false, kBig));
SCHEMA(kProcessSchema, "process",
       F(kName, kString, true, false, 64), F(kPid, kU64, true, false, 0),
       F(kState, kString, true, false, 32), F(kRestarts, kU64, true, false, 0),
       F(kStarted, kU64, true, false, 0));
SCHEMA(kProcessTableSchema, "process_table", G(kProcess, false, true, kProcessSchema));
SCHEMA(kReportSchema, "report",
       F(kReportId, kU64, true, false, 0), F(kSender, kString, true, false, kAddr),
       F(kRcpt, kString, true, false, kAddr), F(kData, kBytes, true, false, 1 << 20));
SCHEMA(kReportQueuedSchema, "report_queued",
       F(kReportId, kU64, true, false, 0), F(kQueueId, kString, true, false, 64));
SCHEMA(kProcessExitSchema, "process_exit",
       F(kName, kString, true, false, 64), F(kPid, kU64, true, false, 0),
       F(kCode, kU64, true, false, 0), F(kText, kString, false, false, kLine));
SCHEMA(kReloadRequestSchema, "reload_request", F(kText, kString, false, false, kLine));
SCHEMA(kReloadResultSchema, "reload_result",
       F(kOk, kU64, true, false, 0), F(kText, kString, true, false, 1 << 20));

SCHEMA(kInjectBeginSchema, "inject_begin",
       F(kSender, kString, true, false, kAddr), F(kRcpt, kString, true, true, kAddr),
       F(kClient, kString, true, false, kShort), F(kHelo, kString, false, false, kShort * 2),
       F(kAuthUser, kString, false, false, kShort), F(kProtocolUsed, kString, false, false, 32),
       F(kTls, kString, false, false, kShort), F(kSmtpUtf8, kU64, false, false, 0),
       F(kBodyType, kString, false, false, 16), F(kSealedSecret, kBytes, false, false, 8192));
SCHEMA(kInjectChunkSchema, "inject_chunk", F(kData, kBytes, true, false, kMaxChunk));
SCHEMA(kInjectEndSchema, "inject_end",
       F(kSize, kU64, true, false, 0), F(kDigest, kBytes, true, false, 32),
       F(kMessageId, kString, false, false, 998), F(kSubject, kString, false, false, 998));
SCHEMA(kInjectAbortSchema, "inject_abort", F(kText, kString, false, false, kLine));
SCHEMA(kInjectResultSchema, "inject_result",
       F(kCode, kU64, true, false, 0), F(kEnhanced, kString, false, false, 16),
       F(kText, kString, false, false, kLine), F(kQueueId, kString, false, false, 64));
SCHEMA(kQueueStatusSchema, "queue_status",
       F(kAccepting, kU64, true, false, 0), F(kQueued, kU64, false, false, 0),
       F(kMaxMessages, kU64, false, false, 0));

SCHEMA(kJobRecipientSchema, "job_recipient",
       F(kIndex, kU64, true, false, 0), F(kAddress, kString, true, false, kAddr));
SCHEMA(kJobBeginSchema, "job_begin",
       F(kJobId, kU64, true, false, 0), F(kQueueId, kString, true, false, 64),
       F(kSender, kString, true, false, kAddr), G(kRecipient, true, true, kJobRecipientSchema),
       F(kAttempt, kU64, true, false, 0), F(kSize, kU64, true, false, 0),
       F(kArrival, kU64, false, false, 0), F(kFirstAttempt, kU64, false, false, 0),
       F(kIdempotencyKey, kString, false, false, kShort), F(kAuthUser, kString, false, false, kShort),
       F(kSealedSecret, kBytes, false, false, 8192), F(kSmtpUtf8, kU64, false, false, 0),
       F(kBodyType, kString, false, false, 16));
SCHEMA(kJobChunkSchema, "job_chunk", F(kJobId, kU64, true, false, 0), F(kData, kBytes, true, false, kMaxChunk));
SCHEMA(kJobEndSchema, "job_end",
       F(kJobId, kU64, true, false, 0), F(kSize, kU64, true, false, 0), F(kDigest, kBytes, true, false, 32));
SCHEMA(kRecipientResultSchema, "recipient_result",
       F(kIndex, kU64, true, false, 0), F(kCode, kU64, true, false, 0),
       F(kEnhanced, kString, false, false, 16), F(kText, kString, false, false, kLine));
SCHEMA(kJobResultSchema, "job_result",
       F(kJobId, kU64, true, false, 0), F(kQueueId, kString, true, false, 64),
       G(kResult, true, true, kRecipientResultSchema), F(kRetryAfter, kU64, false, false, 0),
       F(kThrottled, kU64, false, false, 0), F(kInfo, kString, false, false, kLine));
SCHEMA(kJobAckSchema, "job_ack", F(kJobId, kU64, true, false, 0));
SCHEMA(kJobCancelSchema, "job_cancel", F(kJobId, kU64, true, false, 0));
SCHEMA(kAgentDrainSchema, "agent_drain", F(kText, kString, false, false, kLine));

SCHEMA(kControlRequestSchema, "control_request",
       F(kVerb, kString, true, false, 32), F(kArg, kString, false, true, kLine));
SCHEMA(kControlReplySchema, "control_reply",
       F(kExitCode, kU64, true, false, 0), F(kJson, kBytes, false, false, kBig),
       F(kText, kString, false, false, kLine));

SCHEMA(kAuthCheckSchema, "auth_check",
       F(kAuthUser, kString, true, false, kShort), F(kSecret, kBytes, true, false, 1024),
       F(kClient, kString, false, false, kShort));
SCHEMA(kAuthResultSchema, "auth_result",
       F(kOk, kU64, true, false, 0), F(kText, kString, false, false, kLine),
       F(kSealedSecret, kBytes, false, false, 8192));

#undef F
#undef G
#undef SCHEMA

struct Entry {
  Type type;
  const Schema* schema;
};

constexpr Entry kEntries[] = {
    {Type::kHello, &kHelloSchema},
    {Type::kReady, &kReadySchema},
    {Type::kConfig, &kConfigSchema},
    {Type::kProcessTable, &kProcessTableSchema},
    {Type::kReport, &kReportSchema},
    {Type::kReportQueued, &kReportQueuedSchema},
    {Type::kProcessExit, &kProcessExitSchema},
    {Type::kReloadRequest, &kReloadRequestSchema},
    {Type::kReloadResult, &kReloadResultSchema},
    {Type::kInjectBegin, &kInjectBeginSchema},
    {Type::kInjectChunk, &kInjectChunkSchema},
    {Type::kInjectEnd, &kInjectEndSchema},
    {Type::kInjectAbort, &kInjectAbortSchema},
    {Type::kInjectResult, &kInjectResultSchema},
    {Type::kQueueStatus, &kQueueStatusSchema},
    {Type::kJobBegin, &kJobBeginSchema},
    {Type::kJobChunk, &kJobChunkSchema},
    {Type::kJobEnd, &kJobEndSchema},
    {Type::kJobResult, &kJobResultSchema},
    {Type::kJobCancel, &kJobCancelSchema},
    {Type::kAgentDrain, &kAgentDrainSchema},
    {Type::kJobAck, &kJobAckSchema},
    {Type::kControlRequest, &kControlRequestSchema},
    {Type::kControlReply, &kControlReplySchema},
    {Type::kAuthCheck, &kAuthCheckSchema},
    {Type::kAuthResult, &kAuthResultSchema},
};

}  // namespace

const Schema* SchemaFor(Type type) {
  for (const auto& e : kEntries) {
    if (e.type == type) return e.schema;
  }
  return nullptr;
}

const char* TypeName(Type type) {
  const Schema* s = SchemaFor(type);
  return s ? s->name : "unknown";
}

}  // namespace mailrelay::ipc
