#include "common/mime/header.h"

#include <gtest/gtest.h>

namespace mailrelay::mime {
namespace {

TEST(SplitMessage, CrlfHeaderAndBody) {
  std::string m = "A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore";
  MessageSections s = SplitMessage(m);
  EXPECT_EQ(s.header, "A: 1\r\nB: 2\r\n");
  EXPECT_EQ(s.separator, "\r\n");
  EXPECT_EQ(s.body, "body\r\n\r\nmore");
  EXPECT_EQ(s.body_offset, 14u);
}

TEST(SplitMessage, LfOnlyAndMixed) {
  MessageSections s = SplitMessage("A: 1\nB: 2\n\nbody\n");
  EXPECT_EQ(s.header, "A: 1\nB: 2\n");
  EXPECT_EQ(s.separator, "\n");
  EXPECT_EQ(s.body, "body\n");
  s = SplitMessage("A: 1\r\n\nbody");
  EXPECT_EQ(s.header, "A: 1\r\n");
  EXPECT_EQ(s.separator, "\n");
  EXPECT_EQ(s.body, "body");
}

TEST(SplitMessage, EdgeCases) {
  MessageSections s = SplitMessage("");
  EXPECT_EQ(s.header, "");
  EXPECT_EQ(s.separator, "");
  EXPECT_EQ(s.body, "");
  s = SplitMessage("\r\nonly body");  // empty header section
  EXPECT_EQ(s.header, "");
  EXPECT_EQ(s.separator, "\r\n");
  EXPECT_EQ(s.body, "only body");
  s = SplitMessage("A: 1\r\nB: 2");  // no empty line: all header
  EXPECT_EQ(s.header, "A: 1\r\nB: 2");
  EXPECT_EQ(s.separator, "");
  EXPECT_EQ(s.body, "");
  EXPECT_EQ(s.body_offset, 10u);
  s = SplitMessage("A: 1\r\n\r\n");  // empty body (corpus 022)
  EXPECT_EQ(s.header, "A: 1\r\n");
  EXPECT_EQ(s.body, "");
  s = SplitMessage("A: 1\r\n \r\nB: 2\r\n\r\nx");  // a whitespace-only line is not empty
  EXPECT_EQ(s.header, "A: 1\r\n \r\nB: 2\r\n");
}

TEST(HeaderSection, FieldsFoldingAndOffsets) {
  std::string h = "Subject: a\r\n  b\r\n\tc\r\nTo: x@y\r\nsubject: second\r\n";
  HeaderList l = ParseHeaderSection(h);
  ASSERT_EQ(l.fields.size(), 3u);
  EXPECT_EQ(l.fields[0].name, "Subject");
  EXPECT_EQ(l.fields[0].value, " a\r\n  b\r\n\tc");
  EXPECT_EQ(l.fields[0].Unfolded(), "a  b\tc");
  EXPECT_EQ(l.fields[0].offset, 0u);
  EXPECT_EQ(l.fields[0].size, 21u);
  EXPECT_EQ(h.substr(l.fields[1].offset, l.fields[1].size), "To: x@y\r\n");
  EXPECT_EQ(l.Get("SUBJECT"), "a  b\tc");  // first occurrence, any case
  EXPECT_EQ(l.Count("subject"), 2u);
  ASSERT_EQ(l.FindAll("Subject").size(), 2u);
  EXPECT_EQ(l.FindAll("Subject")[1]->Unfolded(), "second");
  EXPECT_EQ(l.Find("Cc"), nullptr);
  EXPECT_EQ(l.Get("Cc"), std::nullopt);
}

TEST(HeaderSection, MalformedLinesAreKeptButInvisible) {
  std::string h = "From foo@bar Mon Jan 1\r\n: empty name\r\nA B: spaces\r\n  lead\r\nX-Ok : v\r\n";
  HeaderList l = ParseHeaderSection(h);
  ASSERT_EQ(l.fields.size(), 4u);
  EXPECT_EQ(l.fields[0].name, "");
  EXPECT_EQ(l.fields[0].value, "From foo@bar Mon Jan 1");
  EXPECT_EQ(l.fields[1].name, "");
  EXPECT_EQ(l.fields[2].name, "");  // "A B" is no field name; its fold stays with it
  EXPECT_EQ(l.fields[2].value, "A B: spaces\r\n  lead");
  EXPECT_EQ(l.fields[3].name, "X-Ok");  // obsolete WSP before the colon
  EXPECT_EQ(l.Get("x-ok"), "v");
  size_t total = 0;
  for (const auto& f : l.fields) total += f.size;
  EXPECT_EQ(total, h.size());  // every byte belongs to exactly one field
}

TEST(HeaderSection, LeadingContinuationAndNoFinalLineEnd) {
  HeaderList l = ParseHeaderSection(" orphan\r\nA: 1");
  ASSERT_EQ(l.fields.size(), 2u);
  EXPECT_EQ(l.fields[0].name, "");
  EXPECT_EQ(l.fields[1].value, " 1");
  EXPECT_EQ(l.fields[1].size, 4u);
}

TEST(HeaderSection, FieldLimitFoldsTheRestIntoOneMalformedField) {
  std::string h;
  for (int i = 0; i < 50; ++i) h += "X-" + std::to_string(i) + ": v\r\n";
  HeaderList l = ParseHeaderSection(h, 10);
  ASSERT_EQ(l.fields.size(), 10u);
  EXPECT_EQ(l.fields[8].name, "X-8");
  EXPECT_EQ(l.fields[9].name, "");
  EXPECT_EQ(l.fields[9].offset + l.fields[9].size, h.size());
  EXPECT_EQ(l.Find("X-20"), nullptr);
}

TEST(HeaderSection, UnfoldRemovesEveryLineBreak) {
  EXPECT_EQ(Unfold(" a\r\n b\n c\r\n"), "a b c");
  EXPECT_EQ(Unfold("a\rb"), "ab");  // a bare CR cannot smuggle a line break either
  EXPECT_TRUE(IsValidFieldName("X-Custom_1"));
  EXPECT_FALSE(IsValidFieldName(""));
  EXPECT_FALSE(IsValidFieldName("A B"));
  EXPECT_FALSE(IsValidFieldName("A:B"));
  EXPECT_FALSE(IsValidFieldName("\xc3\xa4"));
}

}  // namespace
}  // namespace mailrelay::mime
