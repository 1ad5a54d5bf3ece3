#include "common/smtp/dot_stuff.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/smtp/data_reader.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {
namespace {

std::string Chunked(std::string_view message, size_t chunk) {
  std::string out;
  DotStuffer s;
  for (size_t i = 0; i < message.size(); i += chunk) s.Feed(message.substr(i, chunk), &out);
  s.Finish(&out);
  return out;
}

TEST(DotStuff, Basics) {
  EXPECT_EQ(DotStuff(""), ".\r\n");
  EXPECT_EQ(DotStuff("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(DotStuff(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(DotStuff("..\r\n"), "...\r\n.\r\n");
  EXPECT_EQ(DotStuff(".a\r\n.b\r\nc.d\r\n"), "..a\r\n..b\r\nc.d\r\n.\r\n");
  EXPECT_EQ(DotStuff("\r\n\r\n"), "\r\n\r\n.\r\n");
}

TEST(DotStuff, EnsuresAFinalCrlf) {
  EXPECT_EQ(DotStuff("no newline"), "no newline\r\n.\r\n");
  EXPECT_EQ(DotStuff("."), "..\r\n.\r\n");
}

TEST(DotStuff, BareLineEndsBecomeCrlf) {
  EXPECT_EQ(DotStuff("a\nb\n"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\rb\r"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\n.\nb"), "a\r\n..\r\nb\r\n.\r\n");  // no smuggling upstream
  EXPECT_EQ(DotStuff("a\r.\rb"), "a\r\n..\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("a\r\r\nb"), "a\r\n\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuff("\n.\r\n"), "\r\n..\r\n.\r\n");
}

TEST(DotStuff, ChunkBoundariesDoNotMatter) {
  const std::string inputs[] = {
      "Subject: x\r\n\r\n.line\r\n..two\r\nthree.\r\n.\r\n",
      "a\nb\rc\r\n.d\n.\r.\r\n",
      ".",
      "\r",
      "\r\n.",
  };
  for (const std::string& in : inputs) {
    const std::string whole = DotStuff(in);
    for (size_t chunk = 1; chunk <= in.size(); ++chunk) {
      EXPECT_EQ(Chunked(in, chunk), whole) << util::Printable(in) << " chunk " << chunk;
    }
    for (size_t i = 0; i <= in.size(); ++i) {
      std::string out;
      DotStuffer s;
      s.Feed(std::string_view(in).substr(0, i), &out);
      s.Feed(std::string_view(in).substr(i), &out);
      s.Finish(&out);
      EXPECT_EQ(out, whole) << util::Printable(in) << " split " << i;
    }
  }
}

TEST(DotStuff, StufferIsReusableAfterFinish) {
  DotStuffer s;
  std::string out;
  s.Feed("a", &out);
  s.Finish(&out);
  s.Feed(".b\r\n", &out);
  s.Finish(&out);
  EXPECT_EQ(out, "a\r\n.\r\n..b\r\n.\r\n");
}

// What the client sends, the server reads back exactly.
TEST(DotStuff, RoundTripsThroughTheDataReader) {
  std::mt19937 rng(5321);
  const std::string alphabet = "..ab \t.x";
  for (int iter = 0; iter < 500; ++iter) {
    std::string message;
    int lines = static_cast<int>(rng() % 12);
    for (int l = 0; l < lines; ++l) {
      size_t len = rng() % 12;
      for (size_t i = 0; i < len; ++i) message.push_back(alphabet[rng() % alphabet.size()]);
      message += "\r\n";
    }
    std::string wire = DotStuff(message) + "QUIT\r\n";
    DataReader reader(0);
    std::string content;
    size_t pos = 0;
    DataReader::Step st{DataReader::Event::kNeedMore, 0};
    while (pos < wire.size()) {
      size_t chunk = 1 + rng() % 7;
      st = reader.Feed(std::string_view(wire).substr(pos, chunk), &content);
      pos += st.consumed;
      if (st.event != DataReader::Event::kNeedMore) break;
    }
    ASSERT_EQ(st.event, DataReader::Event::kEnd) << util::Printable(message);
    EXPECT_EQ(content, message);
    EXPECT_EQ(wire.substr(pos), "QUIT\r\n");
    EXPECT_FALSE(reader.error());
  }
}

}  // namespace
}  // namespace mailrelay::smtp
