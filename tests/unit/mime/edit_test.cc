#include "common/mime/edit.h"

#include <gtest/gtest.h>

#include "common/json/json.h"
#include "common/mime/address_list.h"
#include "common/mime/encoded_word.h"
#include "common/mime/parser.h"
#include "common/util/file.h"

namespace mailrelay::mime {
namespace {

const std::string kCorpusDir = std::string(MAILRELAY_TESTDATA_DIR) + "/mime/";

std::vector<std::string> Lines(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find("\r\n", pos);
    if (nl == std::string_view::npos) nl = s.size();
    out.emplace_back(s.substr(pos, nl - pos));
    pos = nl + 2;
  }
  return out;
}

const std::string kMessage =
    "Received: from a\r\nFrom: Old <old@x.example>\r\nTo: t@x.example\r\n"
    "Bcc: secret1@x.example,\r\n secret2@x.example\r\nSubject: s\r\nBCC: secret3@x.example\r\n"
    "\r\nBody line\r\nBcc: this is body text, not a header\r\n\r\n";

TEST(HeaderEditor, NoEditIsByteIdentical) {
  for (const std::string& m :
       {kMessage, std::string("A: 1\r\nB: 2"), std::string("A: 1\n\nx"), std::string(""),
        std::string("\r\nbody only"), std::string("junk line\r\nA: 1\r\n\r\n\x00\xff", 18)}) {
    EXPECT_EQ(HeaderEditor(m).Render(), m);
  }
}

TEST(HeaderEditor, RemoveTakesEveryOccurrenceAndLeavesTheBody) {
  HeaderEditor ed(kMessage);
  EXPECT_EQ(ed.Count("bcc"), 2u);
  EXPECT_EQ(ed.Remove("bcc"), 2u);
  EXPECT_EQ(ed.Remove("bcc"), 0u);
  EXPECT_EQ(ed.Render(),
            "Received: from a\r\nFrom: Old <old@x.example>\r\nTo: t@x.example\r\nSubject: s\r\n"
            "\r\nBody line\r\nBcc: this is body text, not a header\r\n\r\n");
}

TEST(HeaderEditor, ReplaceKeepsThePositionAddAndPrependAppendAndPrefix) {
  HeaderEditor ed(kMessage);
  ASSERT_TRUE(ed.Replace("from", FormatMailboxList({{"Relay", "relay@x.example"}})).ok());
  ASSERT_TRUE(ed.Add("Reply-To", FormatMailboxList({{"\xc3\x96ld", "old@x.example"}})).ok());
  ASSERT_TRUE(ed.Prepend("X-Trace", "first").ok());
  ASSERT_TRUE(ed.Replace("X-Absent", "appended").ok());
  ed.Remove("Bcc");
  EXPECT_EQ(ed.Render(),
            "X-Trace: first\r\nReceived: from a\r\nfrom: Relay <relay@x.example>\r\n"
            "To: t@x.example\r\nSubject: s\r\nReply-To: =?UTF-8?Q?=C3=96ld?= <old@x.example>\r\n"
            "X-Absent: appended\r\n\r\nBody line\r\nBcc: this is body text, not a header\r\n\r\n");
}

TEST(HeaderEditor, ReplaceCollapsesDuplicates) {
  HeaderEditor ed("A: 1\r\nB: x\r\nA: 2\r\n\r\nbody");
  ASSERT_TRUE(ed.Replace("A", "3").ok());
  EXPECT_EQ(ed.Render(), "A: 3\r\nB: x\r\n\r\nbody");
}

TEST(HeaderEditor, LfMessagesGetLfFields) {
  HeaderEditor ed("A: 1\nB: 2\n\nbody\n");
  ASSERT_TRUE(ed.Add("C", "3").ok());
  EXPECT_EQ(ed.Render(), "A: 1\nB: 2\nC: 3\n\nbody\n");
}

TEST(HeaderEditor, FieldWithoutLineEndGetsOneBeforeANewField) {
  HeaderEditor ed("A: 1");
  ASSERT_TRUE(ed.Add("B", "2").ok());
  EXPECT_EQ(ed.Render(), "A: 1\r\nB: 2\r\n");
}

TEST(HeaderEditor, RejectsBadNamesAndNeutralisesInjection) {
  HeaderEditor ed("A: 1\r\n\r\n");
  EXPECT_FALSE(ed.Add("Bad Name", "x").ok());
  EXPECT_FALSE(ed.Add("", "x").ok());
  EXPECT_FALSE(ed.Add("A:B", "x").ok());
  EXPECT_FALSE(ed.Replace("X\r\nBcc", "x").ok());
  EXPECT_FALSE(ed.Add(std::string(300, 'X'), "x").ok());
  ASSERT_TRUE(ed.Add("Subject", "hi\r\nBcc: victim@x.example\r\n\r\nfake body").ok());
  std::string out = ed.Render();
  ParsedMessage pm = ParseMessage(out);
  EXPECT_TRUE(pm.bcc.empty());
  EXPECT_EQ(pm.text, "");
  EXPECT_EQ(pm.headers.fields.size(), 2u);
}

TEST(FoldField, ShortLongAndUnbreakableValues) {
  EXPECT_EQ(FoldField("Subject", "short"), "Subject: short\r\n");
  EXPECT_EQ(FoldField("Subject", ""), "Subject:\r\n");
  EXPECT_EQ(FoldField("X", "  padded  ", "\n"), "X: padded\n");

  std::string words;
  for (int i = 0; i < 100; ++i) words += (i ? " word" : "word") + std::to_string(i);
  std::string folded = FoldField("X-Long", words);
  for (const std::string& line : Lines(folded)) EXPECT_LE(line.size(), 78u) << line;
  EXPECT_EQ(Unfold(folded.substr(7)), words);  // folding only adds line breaks

  std::string blob(3000, 'a');
  folded = FoldField("X-Blob", blob);
  for (const std::string& line : Lines(folded)) EXPECT_LE(line.size(), 998u);
  std::string unfolded = Unfold(folded.substr(7));
  unfolded.erase(std::remove(unfolded.begin(), unfolded.end(), ' '), unfolded.end());
  EXPECT_EQ(unfolded, blob);

  std::string utf8;
  for (int i = 0; i < 700; ++i) utf8 += "\xc3\xa9";  // no space, 2-byte characters
  folded = FoldField("X-Utf8", utf8);
  for (const std::string& line : Lines(folded)) {
    EXPECT_LE(line.size(), 998u);
    EXPECT_NE(static_cast<unsigned char>(line.back()) & 0xe0, 0xc0u);  // no cut character
  }
  // Not UTF-8 at all: no character boundary anywhere, it must still end (it once looped).
  folded = FoldField("X-Bytes", std::string(3000, '\x80'));
  for (const std::string& line : Lines(folded)) EXPECT_LE(line.size(), 998u);
  EXPECT_GE(folded.size(), 3000u);
  folded = FoldField("X", std::string(5000, ' ') + "x" + std::string(5000, '\t') + "y");
  for (const std::string& line : Lines(folded)) EXPECT_LE(line.size(), 998u);
}

TEST(FoldField, EncodedAddressListFoldsBetweenWords) {
  std::vector<Mailbox> list;
  for (int i = 0; i < 30; ++i) {
    list.push_back(
        {"Empf\xc3\xa4nger Nummer " + std::to_string(i), "r" + std::to_string(i) + "@x.example"});
  }
  std::string field = FoldField("To", FormatMailboxList(list));
  for (const std::string& line : Lines(field)) EXPECT_LE(line.size(), 78u) << line;
  ParsedMessage pm = ParseMessage(field + "\r\nbody");
  EXPECT_EQ(pm.to, list);
}

// Every corpus message through the edits the Graph MIME form and From rewriting make: the
// body must come out byte for byte, and so must everything a parser reads from it.
TEST(HeaderEditor, CorpusRoundTripKeepsEveryBodyByte) {
  auto manifest_text = util::ReadFile(kCorpusDir + "manifest.json");
  ASSERT_TRUE(manifest_text.ok());
  auto manifest = json::Parse(*manifest_text);
  ASSERT_TRUE(manifest.ok());
  for (const json::Value& e : (*manifest)["messages"].as_array()) {
    const std::string file = e["file"].as_string();
    SCOPED_TRACE(file);
    auto raw = util::ReadFile(kCorpusDir + file);
    ASSERT_TRUE(raw.ok());
    ParsedMessage before = ParseMessage(*raw);

    HeaderEditor ed(*raw);
    ed.Remove("Bcc");
    ed.Remove("DKIM-Signature");
    std::vector<Mailbox> reply_to = before.reply_to.empty() ? before.from : before.reply_to;
    ASSERT_TRUE(ed.Replace("Reply-To", FormatMailboxList(reply_to)).ok());
    ASSERT_TRUE(ed.Replace("From", FormatMailboxList({{"Relay Sender", "relay@x.example"}})).ok());
    std::vector<Mailbox> to = before.to;
    to.push_back({"Envelope Only \xe2\x9c\x89", "env@x.example"});
    ASSERT_TRUE(ed.Replace("To", FormatMailboxList(to)).ok());
    std::string edited = ed.Render();

    MessageSections a = SplitMessage(*raw), b = SplitMessage(edited);
    EXPECT_EQ(a.separator, b.separator);
    EXPECT_TRUE(a.body == b.body) << "body bytes changed";
    for (const std::string& line : Lines(b.header)) EXPECT_LE(line.size(), 998u);

    ParsedMessage after = ParseMessage(edited);
    EXPECT_EQ(after.subject, before.subject);
    EXPECT_EQ(after.date, before.date);
    EXPECT_EQ(after.message_id, before.message_id);
    EXPECT_EQ(after.from, (std::vector<Mailbox>{{"Relay Sender", "relay@x.example"}}));
    EXPECT_EQ(after.reply_to, reply_to);
    EXPECT_EQ(after.to, to);
    EXPECT_EQ(after.cc, before.cc);
    EXPECT_TRUE(after.bcc.empty());
    EXPECT_EQ(after.headers.Count("DKIM-Signature"), 0u);
    EXPECT_EQ(after.custom_headers, before.custom_headers);
    EXPECT_EQ(after.text, before.text);
    EXPECT_EQ(after.html, before.html);
    ASSERT_EQ(after.attachments.size(), before.attachments.size());
    for (size_t i = 0; i < after.attachments.size(); ++i) {
      EXPECT_TRUE(after.attachments[i].data == before.attachments[i].data);
      EXPECT_EQ(after.attachments[i].filename, before.attachments[i].filename);
    }
  }
}

}  // namespace
}  // namespace mailrelay::mime
