#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include <gtest/gtest.h>

#include "common/ipc/channel.h"
#include "common/ipc/frame.h"

namespace mailrelay::ipc {
namespace {

std::string Put16(uint16_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string Put32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
std::string Field(Tag tag, std::string_view v) {
  return Put16(static_cast<uint16_t>(tag)) + Put32(static_cast<uint32_t>(v.size())) + std::string(v);
}
std::string U64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
// A hand-built frame, so the tests do not trust the encoder they test.
std::string Frame(Type type, const std::string& payload, uint16_t flags = 0, uint32_t req = 7) {
  return Put32(static_cast<uint32_t>(payload.size())) + Put16(static_cast<uint16_t>(type)) + Put16(flags) +
         Put32(req) + payload;
}

Message InjectBegin() {
  Message m(Type::kInjectBegin, 42);
  m.Add(Tag::kSender, "a@example.org").Add(Tag::kRcpt, "b@example.com").Add(Tag::kRcpt, "c@example.com");
  m.Add(Tag::kClient, "[127.0.0.1]:5000").Add(Tag::kSmtpUtf8, uint64_t{1});
  return m;
}

TEST(Frame, RoundTripWithRepeatedFieldsAndGroups) {
  auto enc = InjectBegin().Encode();
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  Message d;
  auto used = DecodeFrame(*enc, kDefaultMaxPayload, &d);
  ASSERT_TRUE(used.ok()) << used.status().ToString();
  EXPECT_EQ(*used, enc->size());
  EXPECT_EQ(d.type(), Type::kInjectBegin);
  EXPECT_EQ(d.request_id(), 42u);
  EXPECT_EQ(d.Str(Tag::kSender), "a@example.org");
  ASSERT_EQ(d.All(Tag::kRcpt).size(), 2u);
  EXPECT_EQ(d.All(Tag::kRcpt)[1], "c@example.com");
  EXPECT_EQ(d.U64(Tag::kSmtpUtf8), 1u);

  Message r(Type::kJobResult);
  r.Add(Tag::kJobId, uint64_t{9}).Add(Tag::kQueueId, "0ABCDEFGHJKM");
  for (uint64_t i = 0; i < 3; ++i) {
    Fields g;
    g.Add(Tag::kIndex, i).Add(Tag::kCode, uint64_t{250 + i}).Add(Tag::kText, "ok " + std::to_string(i));
    r.AddGroup(Tag::kResult, g);
  }
  auto renc = r.Encode();
  ASSERT_TRUE(renc.ok()) << renc.status().ToString();
  Message rd;
  ASSERT_TRUE(DecodeFrame(*renc, kDefaultMaxPayload, &rd).ok());
  auto groups = rd.Groups(Tag::kResult);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[2].U64(Tag::kCode), 252u);
  EXPECT_EQ(groups[1].Str(Tag::kText), "ok 1");
}

TEST(Frame, IncompleteFramesWaitForMore) {
  auto enc = InjectBegin().Encode();
  for (size_t cut = 0; cut < enc->size(); ++cut) {
    Message d;
    auto used = DecodeFrame(std::string_view(*enc).substr(0, cut), kDefaultMaxPayload, &d);
    ASSERT_TRUE(used.ok()) << cut;
    EXPECT_EQ(*used, 0u) << cut;
  }
}

TEST(Frame, RejectsEveryKindOfMalformedFrame) {
  const std::string sender = Field(Tag::kSender, "a@x");
  const std::string client = Field(Tag::kClient, "c");
  const std::string rcpt = Field(Tag::kRcpt, "b@y");
  struct Case {
    const char* what;
    std::string frame;
    const char* expect;
  } cases[] = {
      {"unknown type", Frame(static_cast<Type>(999), ""), "unknown message type"},
      {"flags set", Frame(Type::kInjectBegin, sender + rcpt + client, 1), "flags"},
      {"oversized", Put32(kDefaultMaxPayload + 1) + Put16(20) + Put16(0) + Put32(0), "exceeds the limit"},
      {"missing required", Frame(Type::kInjectBegin, sender + client), "missing field kRcpt"},
      {"repeated single", Frame(Type::kInjectBegin, sender + sender + rcpt + client), "repeated"},
      {"unknown tag", Frame(Type::kInjectBegin, sender + rcpt + client + Field(static_cast<Tag>(999), "x")),
       "unknown field tag"},
      {"u64 wrong size", Frame(Type::kQueueStatus, Field(Tag::kAccepting, "abc")), "not 8 bytes"},
      {"NUL in string", Frame(Type::kInjectBegin, Field(Tag::kSender, std::string("a\0b", 3)) + rcpt + client),
       "contains NUL"},
      {"field too long", Frame(Type::kInjectBegin, Field(Tag::kSender, std::string(2000, 'a')) + rcpt + client),
       "too long"},
      {"truncated field header", Frame(Type::kInjectBegin, sender + rcpt + client + "\x01\x00\x05"),
       "truncated field header"},
      {"field overruns frame", Frame(Type::kInjectBegin, sender + rcpt + client + Put16(1) + Put32(100) + "ab"),
       "exceeds the frame"},
      {"bad group", Frame(Type::kJobResult, Field(Tag::kJobId, U64(1)) + Field(Tag::kResult, Field(Tag::kText, "x"))),
       "missing field kIndex"},
  };
  for (const auto& c : cases) {
    Message d;
    auto used = DecodeFrame(c.frame, kDefaultMaxPayload, &d);
    ASSERT_FALSE(used.ok()) << c.what;
    EXPECT_NE(used.status().message().find(c.expect), std::string::npos)
        << c.what << ": " << used.status().message();
  }
}

TEST(Frame, EncoderRefusesMessagesThatDoNotFitTheirSchema) {
  Message m(Type::kInjectBegin);
  m.Add(Tag::kSender, "a@x");
  EXPECT_FALSE(m.Encode().ok());
}

TEST(Frame, RandomGarbageAndMutationsNeverCrash) {
  std::mt19937 rng(1234);
  auto good = *InjectBegin().Encode();
  int decoded = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string data;
    if (i % 2) {
      data = good;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) data[rng() % data.size()] = static_cast<char>(rng());
      if (rng() % 3 == 0) data.resize(rng() % data.size());
    } else {
      data.resize(rng() % 64);
      for (char& c : data) c = static_cast<char>(rng());
      if (data.size() >= 6 && rng() % 2) {  // plausible header: known type, small length
        data[0] = static_cast<char>(data.size() - 12 > 0 ? data.size() : 0);
        data[1] = data[2] = data[3] = 0;
        data[4] = 20;
        data[5] = 0;
      }
    }
    Message d;
    auto used = DecodeFrame(data, 4096, &d);
    if (used.ok() && *used > 0) {
      ++decoded;
      ASSERT_LE(*used, data.size());
      // Whatever decodes re-encodes to something that decodes the same way.
      auto again = d.Encode();
      ASSERT_TRUE(again.ok()) << again.status().ToString();
    }
  }
  EXPECT_GT(decoded, 0);  // some mutations (e.g. in values) stay valid
}

TEST(Frame, HeadPlusDataDecodesLikeAWholeMessage) {
  Message head(Type::kJobChunk, 3);
  head.Add(Tag::kJobId, uint64_t{77});
  std::string data(1000, 'z');
  auto h = head.EncodeHead(Tag::kData, data.size());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  Message d;
  auto used = DecodeFrame(*h + data, kDefaultMaxPayload, &d);
  ASSERT_TRUE(used.ok()) << used.status().ToString();
  EXPECT_EQ(*used, h->size() + data.size());
  EXPECT_EQ(d.U64(Tag::kJobId), 77u);
  EXPECT_EQ(d.Str(Tag::kData), data);
  EXPECT_FALSE(head.EncodeHead(Tag::kData, kMaxChunk + 1).ok());
  EXPECT_FALSE(head.EncodeHead(Tag::kJobId, 8).ok());  // not a bytes field
  Message incomplete(Type::kJobChunk);
  EXPECT_FALSE(incomplete.EncodeHead(Tag::kData, 1).ok());  // job_id missing
}

TEST(Hello, ChecksProtocolVersionAndRole) {
  Message h = MakeHello("smtpd", "smtpd");
  auto enc = h.Encode();
  Message d;
  ASSERT_TRUE(DecodeFrame(*enc, kDefaultMaxPayload, &d).ok());
  EXPECT_TRUE(CheckHello(d, "smtpd").ok());
  EXPECT_FALSE(CheckHello(d, "agent").ok());
  Message v2(Type::kHello);
  v2.Add(Tag::kProtocol, kProtocolName).Add(Tag::kVersion, uint64_t{2}).Add(Tag::kRole, "smtpd");
  EXPECT_NE(CheckHello(v2, "smtpd").message().find("restart all"), std::string::npos);
  Message wrong(Type::kReady);
  EXPECT_FALSE(CheckHello(wrong, "").ok());
}

TEST(Channel, ExchangesFramesAndClosesBadPeers) {
  event_base* base = event_base_new();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto a = std::make_unique<Channel>(base, sv[0]);
  auto b = std::make_unique<Channel>(base, sv[1]);
  std::vector<std::string> got;
  std::string closed_reason;
  b->Start([&](Message& m) { got.push_back(std::string(m.Str(Tag::kData))); },
           [&](const std::string& r) { closed_reason = r; });
  a->Start([](Message&) {}, [](const std::string&) {});
  std::string big(kMaxChunk, 'x');
  for (int i = 0; i < 20; ++i) {
    Message m(Type::kInjectChunk);
    m.Add(Tag::kData, i == 10 ? big : std::to_string(i));
    ASSERT_TRUE(a->Send(m).ok());
  }
  while (got.size() < 20) event_base_loop(base, EVLOOP_ONCE);
  EXPECT_EQ(got[0], "0");
  EXPECT_EQ(got[10].size(), kMaxChunk);
  EXPECT_EQ(got[19], "19");
  // Garbage from the peer closes the channel with a reason, nothing else.
  std::string garbage = Frame(static_cast<Type>(777), "");
  ASSERT_EQ(write(a->fd(), garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  while (closed_reason.empty()) event_base_loop(base, EVLOOP_ONCE);
  EXPECT_NE(closed_reason.find("unknown message type"), std::string::npos) << closed_reason;
  EXPECT_TRUE(b->closed());
  b.reset();
  a.reset();
  event_base_free(base);
}

TEST(Channel, PeerCloseIsReported) {
  event_base* base = event_base_new();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto b = std::make_unique<Channel>(base, sv[1]);
  std::string reason;
  b->Start([](Message&) {}, [&](const std::string& r) { reason = r; });
  close(sv[0]);
  while (reason.empty()) event_base_loop(base, EVLOOP_ONCE);
  EXPECT_EQ(reason, "peer closed the connection");
  b.reset();
  event_base_free(base);
}

}  // namespace
}  // namespace mailrelay::ipc
