#include "common/log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "common/json/json.h"

namespace mailrelay::log {
namespace {

// Captures what the logger writes to fd 2 during `fn`.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/mr-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  dup2(saved, 2);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  unlink(path);
  return out;
}

std::string StripTime(std::string line) {
  // Outside journald each line starts with an ISO timestamp and a space.
  if (line.size() > 25 && line[4] == '-' && line[10] == 'T') line = line.substr(line.find(' ') + 1);
  return line;
}

TEST(Log, TextLineWithQueueIdMatchesTheDesign) {
  Init("qmgr", Format::kText, Level::kInfo);
  std::string out = CaptureStderr([] {
    Info().Id("0QDKX3M7Z2A").Kv("to", "<b@example.com>").Kv("backend", "azure").Kv("delay", 0.84)
        .Kv("attempts", 1).Kv("status", "sent").Text("202 Accepted operation-id=x");
  });
  EXPECT_EQ(StripTime(out), "qmgr[" + std::to_string(getpid()) +
                                "]: 0QDKX3M7Z2A: to=<b@example.com> backend=azure delay=0.84 attempts=1 status=sent "
                                "(202 Accepted operation-id=x)\n");
}

TEST(Log, EventsLeadWithTheirTextAndSeveritiesArePrefixed) {
  Init("mailrelayd", Format::kText, Level::kInfo);
  std::string out = CaptureStderr([] {
    Info().Kv("pid", 12).Text("started qmgr");
    Warning().Text("careful");
    Debug().Text("not shown at info");
  });
  std::string pid = std::to_string(getpid());
  EXPECT_NE(out.find("mailrelayd[" + pid + "]: started qmgr pid=12\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mailrelayd[" + pid + "]: warning: careful\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("not shown"), std::string::npos);
}

TEST(Log, JsonCarriesTheSameFields) {
  Init("smtpd", Format::kJson, Level::kInfo);
  std::string out = CaptureStderr([] {
    Info().Id("ABC").Kv("client", "[10.1.2.3]:51234").Kv("size", 1834).Text("queued");
  });
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  auto v = json::Parse(out.substr(0, out.size() - 1));
  ASSERT_TRUE(v.ok()) << out;
  EXPECT_EQ((*v)["prog"].as_string(), "smtpd");
  EXPECT_EQ((*v)["level"].as_string(), "info");
  EXPECT_EQ((*v)["queue_id"].as_string(), "ABC");
  EXPECT_EQ((*v)["client"].as_string(), "[10.1.2.3]:51234");
  EXPECT_EQ((*v)["size"].as_int(), 1834);
  EXPECT_EQ((*v)["text"].as_string(), "queued");
  EXPECT_EQ((*v)["pid"].as_int(), getpid());
  EXPECT_TRUE((*v)["time"].is_string());
  Init("smtpd", Format::kText, Level::kInfo);
}

TEST(Log, SecretsAreRedactedAndPeerTextCannotForgeLines) {
  Init("smtpd", Format::kText, Level::kInfo);
  std::string out = CaptureStderr([] {
    Info().Kv("password", "hunter2").Kv("client_secret", "s3cr3t").Kv("helo", "evil\r\nsmtpd[1]: forged")
        .Text("x");
  });
  EXPECT_EQ(out.find("hunter2"), std::string::npos);
  EXPECT_EQ(out.find("s3cr3t"), std::string::npos);
  EXPECT_NE(out.find("password=[redacted]"), std::string::npos);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("helo=evil??smtpd[1]: forged"), std::string::npos) << out;
}

TEST(Log, LongLinesAreCutToStayAtomic) {
  Init("qmgr", Format::kText, Level::kInfo);
  std::string out = CaptureStderr([] { Info().Text(std::string(10000, 'a')); });
  EXPECT_LE(out.size(), 4001u);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Log, LevelAndFormatNames) {
  Level l;
  EXPECT_TRUE(ParseLevel("WARNING", &l));
  EXPECT_EQ(l, Level::kWarning);
  EXPECT_FALSE(ParseLevel("loud", &l));
  Format f;
  EXPECT_TRUE(ParseFormat("json", &f));
  EXPECT_EQ(f, Format::kJson);
}

}  // namespace
}  // namespace mailrelay::log
