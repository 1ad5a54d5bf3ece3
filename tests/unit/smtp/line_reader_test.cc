#include "common/smtp/line_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailrelay::smtp {
namespace {

using Event = LineReader::Event;

// Feeds `input` in chunks of `chunk` bytes, collecting "L:<line>", "TOO_LONG", "BARE".
std::vector<std::string> Lines(std::string_view input, size_t chunk, LineReader* reader) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < input.size()) {
    std::string_view piece = input.substr(pos, chunk);
    size_t used = 0;
    while (true) {
      LineReader::Step st = reader->Feed(piece.substr(used));
      EXPECT_LE(st.consumed, piece.size() - used);
      used += st.consumed;
      if (st.event == Event::kLine) {
        out.push_back("L:" + std::string(reader->line()));
      } else if (st.event == Event::kLineTooLong) {
        out.push_back("TOO_LONG");
      } else if (st.event == Event::kBareNewline) {
        out.push_back("BARE");
        return out;
      } else {
        EXPECT_EQ(used, piece.size());
        break;
      }
    }
    pos += piece.size();
  }
  return out;
}

std::vector<std::string> Lines(std::string_view input, size_t chunk = 1 << 20) {
  LineReader reader;
  return Lines(input, chunk, &reader);
}

TEST(LineReader, OneLine) {
  LineReader r;
  LineReader::Step st = r.Feed("EHLO client.example\r\n");
  EXPECT_EQ(st.event, Event::kLine);
  EXPECT_EQ(st.consumed, 21u);
  EXPECT_EQ(r.line(), "EHLO client.example");
  st = r.Feed("");
  EXPECT_EQ(st.event, Event::kNeedMore);
  EXPECT_EQ(st.consumed, 0u);
}

TEST(LineReader, EmptyLine) { EXPECT_EQ(Lines("\r\n"), (std::vector<std::string>{"L:"})); }

TEST(LineReader, PipelinedCommandsComeOutOneByOne) {
  const std::string input =
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n";
  LineReader r;
  std::string_view rest = input;
  std::vector<std::string> lines;
  while (true) {
    LineReader::Step st = r.Feed(rest);
    rest.remove_prefix(st.consumed);
    if (st.event != Event::kLine) break;
    lines.emplace_back(r.line());
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
                                             "RCPT TO:<e@f.example>", "DATA"}));
  EXPECT_TRUE(rest.empty());
}

TEST(LineReader, LeavesBytesAfterALineForTheCaller) {
  // After DATA the rest of the chunk belongs to the DATA reader.
  const std::string input = "DATA\r\nSubject: x\r\n";
  LineReader r;
  LineReader::Step st = r.Feed(input);
  EXPECT_EQ(st.event, Event::kLine);
  EXPECT_EQ(r.line(), "DATA");
  EXPECT_EQ(input.substr(st.consumed), "Subject: x\r\n");
}

TEST(LineReader, EverySplitPointGivesTheSameLines) {
  const std::string input = "EHLO x\r\nMAIL FROM:<>\r\n\r\nRCPT TO:<a@b>\r\nQUIT\r\n";
  const std::vector<std::string> want = {"L:EHLO x", "L:MAIL FROM:<>", "L:", "L:RCPT TO:<a@b>",
                                         "L:QUIT"};
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    EXPECT_EQ(Lines(input, chunk), want) << "chunk " << chunk;
  }
  for (size_t split = 0; split <= input.size(); ++split) {
    LineReader r;
    std::vector<std::string> got = Lines(input.substr(0, split), 1 << 20, &r);
    std::vector<std::string> more = Lines(input.substr(split), 1 << 20, &r);
    got.insert(got.end(), more.begin(), more.end());
    EXPECT_EQ(got, want) << "split " << split;
  }
}

TEST(LineReader, BareNewlinesAreErrors) {
  EXPECT_EQ(Lines("EHLO x\n"), (std::vector<std::string>{"BARE"}));
  EXPECT_EQ(Lines("EHLO x\rQUIT\r\n"), (std::vector<std::string>{"BARE"}));
  EXPECT_EQ(Lines("EHLO x\r\r\n"), (std::vector<std::string>{"BARE"}));
  EXPECT_EQ(Lines("NOOP\r\nEHLO\nx\r\n"), (std::vector<std::string>{"L:NOOP", "BARE"}));
  EXPECT_EQ(Lines("\n"), (std::vector<std::string>{"BARE"}));
  for (size_t chunk = 1; chunk < 8; ++chunk) {
    EXPECT_EQ(Lines("NOOP\rx\r\n", chunk), (std::vector<std::string>{"BARE"})) << chunk;
  }
  // Stuck afterwards.
  LineReader r;
  EXPECT_EQ(r.Feed("a\nb\r\n").event, Event::kBareNewline);
  EXPECT_EQ(r.Feed("NOOP\r\n").event, Event::kBareNewline);
  EXPECT_EQ(LineReader::ErrorFor(Event::kBareNewline), Error::kBareNewline);
  EXPECT_EQ(ErrorReply(Error::kBareNewline).Format(),
            "521 5.5.2 Error: bare <CR> or <LF> received\r\n");
}

TEST(LineReader, CommandLineLimitIs512WithCrlf) {
  const std::string max(510, 'x');
  EXPECT_EQ(Lines(max + "\r\n"), (std::vector<std::string>{"L:" + max}));
  EXPECT_EQ(Lines(max + "y\r\nNOOP\r\n"), (std::vector<std::string>{"TOO_LONG", "L:NOOP"}));
  for (size_t chunk : {1u, 7u, 100u, 511u, 512u, 513u}) {
    EXPECT_EQ(Lines(max + "y\r\nNOOP\r\n", chunk), (std::vector<std::string>{"TOO_LONG", "L:NOOP"}))
        << chunk;
  }
  EXPECT_EQ(LineReader::ErrorFor(Event::kLineTooLong), Error::kLineTooLong);
}

TEST(LineReader, HugeLineIsDiscardedAsItArrives) {
  LineReader r;
  std::string junk(64 * 1024, 'j');
  for (int i = 0; i < 100; ++i) {
    LineReader::Step st = r.Feed(junk);
    ASSERT_EQ(st.event, Event::kNeedMore);
    ASSERT_EQ(st.consumed, junk.size());
  }
  EXPECT_LE(r.line().size(), 512u);
  LineReader::Step st = r.Feed("\r\nQUIT\r\n");
  EXPECT_EQ(st.event, Event::kLineTooLong);
  EXPECT_EQ(st.consumed, 2u);
  st = r.Feed("QUIT\r\n");
  EXPECT_EQ(st.event, Event::kLine);
  EXPECT_EQ(r.line(), "QUIT");
}

TEST(LineReader, BareNewlineInsideAnOverlongLine) {
  EXPECT_EQ(Lines(std::string(600, 'x') + "\nNOOP\r\n"), (std::vector<std::string>{"BARE"}));
}

TEST(LineReader, AuthLinesMayBeLonger) {
  LineReader r;
  r.set_max_line(kMaxAuthLine);
  std::string b64(kMaxAuthLine - 2, 'A');
  EXPECT_EQ(Lines(b64 + "\r\n", 4096, &r), (std::vector<std::string>{"L:" + b64}));
  EXPECT_EQ(Lines(b64 + "A\r\n", 4096, &r), (std::vector<std::string>{"TOO_LONG"}));
  r.set_max_line(kMaxCommandLine);
  EXPECT_EQ(r.max_line(), 512u);
}

TEST(LineReader, ResetDropsAPartialLine) {
  LineReader r;
  EXPECT_EQ(r.Feed("STARTTLS\r\nMAIL FROM:<evil").event, Event::kLine);
  EXPECT_EQ(r.Feed("MAIL FROM:<evil").event, Event::kNeedMore);
  EXPECT_TRUE(r.has_partial());
  r.Reset();
  EXPECT_FALSE(r.has_partial());
  EXPECT_EQ(r.Feed("EHLO x\r\n").event, Event::kLine);
  EXPECT_EQ(r.line(), "EHLO x");
}

}  // namespace
}  // namespace mailrelay::smtp
