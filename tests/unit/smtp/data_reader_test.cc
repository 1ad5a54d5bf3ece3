#include "common/smtp/data_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "common/util/strings.h"

namespace mailrelay::smtp {
namespace {

using Event = DataReader::Event;

struct Outcome {
  Event event = Event::kNeedMore;
  std::string content;
  size_t consumed = 0;  // over the whole input
  std::optional<Error> error;
};

// Feeds `chunks` in order; stops at kEnd / kBareNewline.
Outcome Feed(const std::vector<std::string_view>& chunks, uint64_t max_size = 0,
             size_t max_line = kMaxTextLine) {
  DataReader reader(max_size, max_line);
  Outcome out;
  for (std::string_view c : chunks) {
    DataReader::Step st = reader.Feed(c, &out.content);
    EXPECT_LE(st.consumed, c.size());
    out.consumed += st.consumed;
    out.event = st.event;
    if (st.event != Event::kNeedMore) break;
    EXPECT_EQ(st.consumed, c.size());
  }
  out.error = reader.error();
  return out;
}

Outcome FeedAll(std::string_view data, uint64_t max_size = 0) { return Feed({data}, max_size); }

// After a bare newline the session is closed: what was consumed or written before the reader
// noticed is irrelevant and may depend on where the chunks were cut.
bool Same(const Outcome& a, const Outcome& b) {
  if (a.event == Event::kBareNewline || b.event == Event::kBareNewline) return a.event == b.event;
  // After a size or line-length error the content is incomplete and will be thrown away.
  return a.event == b.event && a.consumed == b.consumed && a.error == b.error &&
         (a.error || a.content == b.content);
}

std::string Describe(const Outcome& o) {
  return "event=" + std::to_string(static_cast<int>(o.event)) +
         " consumed=" + std::to_string(o.consumed) + " content=" + util::Printable(o.content);
}

// Every way of cutting `data` into two pieces, and into three for short inputs, must give the
// same outcome as feeding it whole.
void ExpectSplitInvariant(std::string_view data, uint64_t max_size = 0) {
  const Outcome whole = FeedAll(data, max_size);
  for (size_t i = 0; i <= data.size(); ++i) {
    Outcome two = Feed({data.substr(0, i), data.substr(i)}, max_size);
    ASSERT_TRUE(Same(two, whole)) << "split at " << i << ": " << Describe(two) << " vs "
                                  << Describe(whole) << " for " << util::Printable(data);
  }
  if (data.size() <= 64) {
    for (size_t i = 0; i <= data.size(); ++i) {
      for (size_t j = i; j <= data.size(); ++j) {
        Outcome three = Feed({data.substr(0, i), data.substr(i, j - i), data.substr(j)}, max_size);
        ASSERT_TRUE(Same(three, whole)) << "split at " << i << "," << j;
      }
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < data.size(); ++i) bytes.push_back(data.substr(i, 1));
  ASSERT_TRUE(Same(Feed(bytes, max_size), whole)) << "byte by byte";
}

TEST(DataReader, SimpleMessage) {
  const std::string msg = "Subject: hi\r\n\r\nbody\r\n.\r\n";
  Outcome o = FeedAll(msg);
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(o.content, "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(o.consumed, msg.size());
  EXPECT_FALSE(o.error);
}

TEST(DataReader, EmptyMessageRightAfter354) {
  Outcome o = FeedAll(".\r\n");
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(o.content, "");
  EXPECT_EQ(o.consumed, 3u);
  ExpectSplitInvariant(".\r\n");
}

TEST(DataReader, DotUnstuffing) {
  EXPECT_EQ(FeedAll("..hidden\r\n.\r\n").content, ".hidden\r\n");
  EXPECT_EQ(FeedAll("...\r\n.\r\n").content, "..\r\n");
  EXPECT_EQ(FeedAll("..\r\n.\r\n").content, ".\r\n");
  EXPECT_EQ(FeedAll("a\r\n..\r\n.\r\n").content, "a\r\n.\r\n");
  // An unstuffed leading dot is removed as well (RFC 5321 section 4.5.2).
  EXPECT_EQ(FeedAll(".x\r\n.\r\n").content, "x\r\n");
  // Dots elsewhere stay.
  EXPECT_EQ(FeedAll("a.b\r\n a.\r\n.\r\n").content, "a.b\r\n a.\r\n");
  // " ." is not an end marker.
  Outcome o = FeedAll("a\r\n .\r\nb\r\n.\r\n");
  EXPECT_EQ(o.content, "a\r\n .\r\nb\r\n");
  // ".\r\n" inside a line is just text.
  EXPECT_EQ(FeedAll("x.\r\n.\r\n").content, "x.\r\n");
}

TEST(DataReader, PipelinedBytesAfterTheEndAreLeft) {
  const std::string input = "hello\r\n.\r\nQUIT\r\n";
  DataReader r(0);
  std::string out;
  DataReader::Step st = r.Feed(input, &out);
  EXPECT_EQ(st.event, Event::kEnd);
  EXPECT_EQ(input.substr(st.consumed), "QUIT\r\n");
  EXPECT_EQ(out, "hello\r\n");
  EXPECT_TRUE(r.done());
  // Further feeding consumes nothing.
  st = r.Feed("QUIT\r\n", &out);
  EXPECT_EQ(st.event, Event::kEnd);
  EXPECT_EQ(st.consumed, 0u);
  // Reset makes it ready for the next transaction.
  r.Reset();
  out.clear();
  st = r.Feed("second\r\n.\r\n", &out);
  EXPECT_EQ(st.event, Event::kEnd);
  EXPECT_EQ(out, "second\r\n");
}

TEST(DataReader, EverySplitPoint) {
  const std::string msgs[] = {
      "From: a@b\r\nSubject: t\r\n\r\n..dot\r\n.\r\n",
      "line1\r\n\r\n\r\n..\r\n...x\r\n.x\r\n.\r\nNOOP\r\n",
      ".\r\nMAIL FROM:<>\r\n",
      "\r\n.\r\n",
      "a\r\n.\r\n.\r\n",
  };
  for (const std::string& m : msgs) ExpectSplitInvariant(m);
}

TEST(DataReader, LongMessageEverySplitPoint) {
  std::string msg;
  for (int i = 1; i < 40; ++i) {
    msg += (i % 3 == 0 ? "." : "") + std::string(static_cast<size_t>(i), 'a' + i % 26) + "\r\n";
  }
  msg += ".\r\nQUIT\r\n";
  ExpectSplitInvariant(msg);
  Outcome o = FeedAll(msg);
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(msg.substr(o.consumed), "QUIT\r\n");
}

// SMTP smuggling (CVE-2023-51764 and friends): a non-CRLF end marker must never end the data,
// and any bare CR or LF is an error reported at once.
TEST(DataReader, SmugglingSequencesAreBareNewlineErrors) {
  const std::string_view markers[] = {
      "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\n.\r",    "\r.\n",
      ".\n",   ".\r",   "\n",      "\r",      "\r\r\n",  "\n\r\n",  "\r\n.\rx", "\r\n\n.\r\n",
  };
  for (std::string_view marker : markers) {
    // After some text, and (where the marker allows) at the very start.
    for (std::string prefix :
         {std::string("Subject: x\r\n\r\nbody"), std::string("body\r\n"), std::string("")}) {
      std::string data = prefix + std::string(marker) +
                         "MAIL FROM:<evil@example.com>\r\nRCPT TO:<v@example.com>\r\nDATA\r\n" +
                         "smuggled\r\n.\r\n";
      Outcome o = FeedAll(data);
      EXPECT_EQ(o.event, Event::kBareNewline)
          << "marker " << util::Printable(marker) << " prefix " << util::Printable(prefix);
      ExpectSplitInvariant(data);
    }
  }
}

TEST(DataReader, BareNewlineIsReportedImmediately) {
  DataReader r(0);
  std::string out;
  DataReader::Step st = r.Feed("abc\ndef", &out);
  EXPECT_EQ(st.event, Event::kBareNewline);
  EXPECT_EQ(st.consumed, 4u);
  st = r.Feed("\r\n.\r\n", &out);  // stuck
  EXPECT_EQ(st.event, Event::kBareNewline);
  EXPECT_EQ(st.consumed, 0u);

  // A CR at the end of a chunk is not yet an error; the next byte decides.
  DataReader r2(0);
  out.clear();
  EXPECT_EQ(r2.Feed("abc\r", &out).event, Event::kNeedMore);
  EXPECT_EQ(r2.Feed("x", &out).event, Event::kBareNewline);
  DataReader r3(0);
  out.clear();
  EXPECT_EQ(r3.Feed("abc\r", &out).event, Event::kNeedMore);
  EXPECT_EQ(r3.Feed("\n.\r", &out).event, Event::kNeedMore);
  EXPECT_EQ(r3.Feed("\n", &out).event, Event::kEnd);
  EXPECT_EQ(out, "abc\r\n");
}

TEST(DataReader, LineLengthLimit) {
  // 998 octets + CRLF = 1000: allowed.
  std::string ok_line(998, 'a');
  Outcome o = FeedAll(ok_line + "\r\n.\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.content, ok_line + "\r\n");
  // The stuffed dot does not count.
  o = FeedAll("." + ("." + std::string(997, 'b')) + "\r\n.\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.content.size(), 1000u);

  // 999 + CRLF: too long; the rest is consumed up to the real end and then reported.
  std::string data = "ok\r\n" + std::string(999, 'c') + "\r\nmore\r\n.\r\nQUIT\r\n";
  o = FeedAll(data);
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(o.error, Error::kDataLineTooLong);
  EXPECT_EQ(data.substr(o.consumed), "QUIT\r\n");
  EXPECT_EQ(o.content, "ok\r\n");  // nothing after the error (chunked: a partial line, maybe)
  ExpectSplitInvariant(data);
  EXPECT_EQ(ErrorReply(Error::kDataLineTooLong).Format(),
            "500 5.5.2 Error: message line too long\r\n");

  // A line with no end at all keeps being discarded without growing the output.
  DataReader r(0);
  std::string out;
  std::string junk(100000, 'j');
  for (int i = 0; i < 50; ++i) ASSERT_EQ(r.Feed(junk, &out).event, Event::kNeedMore);
  EXPECT_LE(out.size(), 1000u);
  EXPECT_EQ(r.Feed("\r\n.\r\n", &out).event, Event::kEnd);
  EXPECT_EQ(r.error(), Error::kDataLineTooLong);
}

TEST(DataReader, SmugglingAfterAnErrorIsStillCaught) {
  std::string data = std::string(1200, 'x') + "\r\nbody\n.\nMAIL FROM:<e@x>\r\n.\r\n";
  Outcome o = FeedAll(data);
  EXPECT_EQ(o.event, Event::kBareNewline);
}

TEST(DataReader, SizeLimit) {
  const std::string body = "0123456\r\n";  // 9 octets
  Outcome o = FeedAll(body + ".\r\n", 9);
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.content, body);

  std::string data = body + "more text\r\n..dotted\r\n.\r\nRSET\r\n";
  o = FeedAll(data, 9);
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(o.error, Error::kMessageTooBig);
  EXPECT_EQ(data.substr(o.consumed), "RSET\r\n");
  EXPECT_LE(o.content.size(), 9u);
  ExpectSplitInvariant(data, 9);
  EXPECT_EQ(ErrorReply(Error::kMessageTooBig).Format(),
            "552 5.3.4 Error: message file too big\r\n");

  DataReader r(10);
  std::string out;
  EXPECT_EQ(r.Feed("0123456789\r\nabc\r\n.\r\n", &out).event, Event::kEnd);
  EXPECT_EQ(r.size(), 17u);  // content seen, past the limit
  EXPECT_EQ(r.error(), Error::kMessageTooBig);
}

TEST(DataReader, TooBigTakesPrecedenceWhateverTheChunking) {
  // Both limits broken: the answer must not depend on how the bytes arrived (the fuzzer
  // found that "whichever was noticed first" did).
  std::string data = std::string(2000, 'x') + "\r\n" + std::string(100, 'y') + "\r\n.\r\n";
  EXPECT_EQ(FeedAll(data, 1500).error, Error::kMessageTooBig);
  ExpectSplitInvariant(data, 1500);
  EXPECT_EQ(FeedAll(std::string(100, 'y') + "\r\n" + std::string(2000, 'x') + "\r\n.\r\n", 50).error,
            Error::kMessageTooBig);
  // Only a line too long:
  EXPECT_EQ(FeedAll(std::string(2000, 'x') + "\r\n.\r\n", 0).error, Error::kDataLineTooLong);
}

TEST(DataReader, BinaryBytesPassThrough) {
  std::string body;
  for (int i = 0; i < 256; ++i) {
    if (i != '\r' && i != '\n') body.push_back(static_cast<char>(i));
  }
  body += "\r\n";
  Outcome o = FeedAll(body + ".\r\n");
  EXPECT_EQ(o.event, Event::kEnd);
  EXPECT_EQ(o.content, body);
}

TEST(DataReader, HundredKilobyteMessageIsFast) {
  std::string msg;
  std::mt19937 rng(7);
  while (msg.size() < 100 * 1024) {
    size_t len = 20 + rng() % 58;
    if (rng() % 10 == 0) msg.push_back('.');
    for (size_t i = 0; i < len; ++i) msg.push_back(static_cast<char>('a' + rng() % 26));
    msg += "\r\n";
  }
  const std::string wire = msg + ".\r\n";
  std::string out;
  out.reserve(wire.size());
  const int kRounds = 200;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    out.clear();
    DataReader r(0);
    size_t pos = 0;
    while (pos < wire.size()) {  // 16 KiB reads, as from a socket
      DataReader::Step st = r.Feed(std::string_view(wire).substr(pos, 16384), &out);
      pos += st.consumed;
      if (st.event == Event::kEnd) break;
      ASSERT_EQ(st.event, Event::kNeedMore);
    }
    ASSERT_TRUE(r.done());
  }
  auto per_message = (std::chrono::steady_clock::now() - start) / kRounds;
  double us = std::chrono::duration<double, std::micro>(per_message).count();
  std::printf("DataReader: %.1f us per 100 KiB message\n", us);
  // Generous: this also runs under AddressSanitizer on a shared machine.
  EXPECT_LT(us, 5000.0);
}

}  // namespace
}  // namespace mailrelay::smtp
