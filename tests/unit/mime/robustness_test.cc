// Hostile input: the corpus mutated at random, pure garbage and pathological shapes. The
// parser must finish, stay within its limits and produce well-formed output; ASan and UBSan
// (the test build) catch everything else. MAILRELAY_MIME_SEED=<n> replays other mutations.

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/mime/address_list.h"
#include "common/mime/charset.h"
#include "common/mime/content_type.h"
#include "common/mime/edit.h"
#include "common/mime/encoded_word.h"
#include "common/mime/parser.h"
#include "common/mime/transfer.h"
#include "common/util/file.h"

namespace mailrelay::mime {
namespace {

const std::string kCorpusDir = std::string(MAILRELAY_TESTDATA_DIR) + "/mime/";

// Pieces that steer mutations into the parser's interesting corners.
const std::vector<std::string> kTokens = {
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    "--",
    "=?",
    "?=",
    "=?utf-8?b?",
    "=?iso-2022-jp?q?=1B$B",
    "=?x?q?",
    "\"",
    "\\",
    "(",
    ")",
    "<",
    ">",
    ",",
    ":",
    ";",
    "@",
    "=",
    "*0*=",
    "*=utf-8''%",
    "%FF",
    "=FF",
    "=\r\n",
    "\x1b$B",
    "\x1b(B",
    "\xff",
    "\xc3",
    "\x00",
    "Content-Type: multipart/mixed; boundary=b\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Content-Type: text/plain; charset=iso-2022-jp\r\n",
    "Content-Disposition: attachment\r\n",
    "--b\r\n",
    "--b--\r\n",
    "Content-Type: multipart/related; boundary=b; start=x\r\n",
    "To: a:b,c;\r\n",
    "From: \"x\r\n y\" <a\r\n"};

// A field whose every line break is CRLF followed by whitespace (a fold), but the last: no
// value can end the field early and inject another.
bool OnlyFolds(std::string_view field) {
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\r' && field[i] != '\n') continue;
    if (field.compare(i, 2, "\r\n") != 0) return false;
    if (i + 2 == field.size()) return true;
    if (field[i + 2] != ' ' && field[i + 2] != '\t') return false;
    ++i;
  }
  return false;
}

uint64_t Seed() {
  const char* env = std::getenv("MAILRELAY_MIME_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 5322;
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  int rounds = 1 + static_cast<int>(rng() % 8);
  for (int r = 0; r < rounds; ++r) {
    size_t pos = pick(s.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip bytes
        for (int k = 0; k < 4 && !s.empty(); ++k) s[pick(s.size())] = static_cast<char>(rng());
        break;
      case 1:  // insert a steering token
        s.insert(pos, kTokens[pick(kTokens.size())]);
        break;
      case 2:  // delete a range
        s.erase(pos, pick(256));
        break;
      case 3: {  // duplicate a range elsewhere
        size_t from = pick(s.size() + 1), len = pick(512);
        std::string piece = s.substr(from, len);
        s.insert(pick(s.size() + 1), piece);
        break;
      }
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5:  // random bytes
        for (int k = 0, n = static_cast<int>(pick(64)); k < n; ++k) {
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(s.size() + 1)),
                   static_cast<char>(rng()));
        }
        break;
      default:  // strip CRs: an LF-only message
        if (rng() % 4 == 0) std::erase(s, '\r');
        break;
    }
  }
  return s;
}

void CheckInvariants(const std::string& input, const ParsedMessage& m) {
  ParseLimits limits;
  ASSERT_FALSE(m.tree.entities.empty());
  ASSERT_LE(m.tree.entities.size(), limits.max_parts);
  for (const Entity& e : m.tree.entities) {
    ASSERT_LE(static_cast<size_t>(e.depth), limits.max_depth);
    ASSERT_LE(e.offset, e.body_offset);
    ASSERT_LE(e.body_offset + e.body_size, input.size());
  }
  if (m.text) {
    ASSERT_TRUE(IsValidUtf8(*m.text));
  }
  if (m.html) {
    ASSERT_TRUE(IsValidUtf8(*m.html));
  }
  if (m.subject) {
    ASSERT_TRUE(IsValidUtf8(*m.subject));
  }
  for (const auto* list : {&m.from, &m.to, &m.cc, &m.bcc, &m.reply_to}) {
    for (const Mailbox& mb : *list) ASSERT_TRUE(IsValidUtf8(mb.name));
  }
  for (const Attachment& a : m.attachments) {
    ASSERT_GE(a.part, 0);
    ASSERT_LT(static_cast<size_t>(a.part), m.tree.entities.size());
    if (a.filename) {
      ASSERT_TRUE(IsValidUtf8(*a.filename));
    }
    ASSERT_LE(a.data.size(), input.size());
  }
  // The editor must reproduce the input exactly when it changes nothing...
  ASSERT_TRUE(HeaderEditor(input).Render() == input);
  // ...and keep the body when it does.
  HeaderEditor ed(input);
  ed.Remove("Bcc");
  ASSERT_TRUE(ed.Replace("From", FormatMailboxList(m.reply_to.empty() ? m.from : m.reply_to)).ok());
  std::string edited = ed.Render();
  ASSERT_TRUE(SplitMessage(edited).body == SplitMessage(input).body);
}

std::vector<std::string> LoadCorpus() {
  std::vector<std::string> out;
  for (int i = 1; i <= 26; ++i) {
    char prefix[8];
    std::snprintf(prefix, sizeof prefix, "%03d-", i);
    // Names are listed in the manifest; a directory scan keeps this test independent of it.
    for (const char* name : {"plain-ascii",
                             "plain-utf8-8bit",
                             "qp-latin1",
                             "cp1252-smart-quotes",
                             "iso-2022-jp",
                             "alternative",
                             "html-only",
                             "related-inline",
                             "mixed-pdf-rfc2231",
                             "mixed-rfc2047-filename",
                             "txt-attachment-charset",
                             "nested-mixed-alt-related",
                             "forwarded-rfc822",
                             "encoded-headers",
                             "folded-headers",
                             "recipients-groups",
                             "bcc-header",
                             "no-date-no-msgid",
                             "duplicate-mime-version",
                             "dkim-signature",
                             "long-lines",
                             "empty-body",
                             "large-3mb",
                             "calendar-invite",
                             "attachment-only",
                             "custom-headers-reply-to"}) {
      auto raw = util::ReadFile(kCorpusDir + prefix + name + ".eml");
      if (raw.ok()) out.push_back(std::move(*raw));
    }
  }
  return out;
}

TEST(Robustness, MutatedCorpus) {
  std::vector<std::string> corpus = LoadCorpus();
  ASSERT_EQ(corpus.size(), 26u);
  std::mt19937_64 rng(Seed());
  const int kIterations = 3000;
  for (int i = 0; i < kIterations; ++i) {
    size_t which = rng() % corpus.size();
    // The 4 MB file is slow to copy thousands of times; mutate it now and then only.
    if (corpus[which].size() > 1000000 && rng() % 50 != 0) which = rng() % 8;
    std::string input = Mutate(corpus[which], rng);
    SCOPED_TRACE("seed " + std::to_string(Seed()) + " iteration " + std::to_string(i));
    ParsedMessage m = ParseMessage(input);
    CheckInvariants(input, m);
    if (HasFatalFailure()) return;
    for (const Attachment& a : m.attachments) {
      if (a.content_type == "message/rfc822") CheckInvariants(a.data, ParseMessage(a.data));
    }
  }
}

TEST(Robustness, RandomGarbage) {
  std::mt19937_64 rng(Seed() + 1);
  for (int i = 0; i < 1000; ++i) {
    std::string input(rng() % 4096, '\0');
    for (char& c : input) c = static_cast<char>(rng());
    if (i % 2) {  // a plausible header on top makes the parser go further
      input =
          "Content-Type: multipart/mixed; boundary=\"" + input.substr(0, 3) + "\"\r\n\r\n" + input;
    }
    ParsedMessage m = ParseMessage(input);
    CheckInvariants(input, m);
    if (HasFatalFailure()) return;
  }
}

TEST(Robustness, DecodersOnGarbage) {
  std::mt19937_64 rng(Seed() + 2);
  const char* charsets[] = {"utf-8",      "iso-2022-jp",  "shift_jis", "utf-16", "utf-7",
                            "iso-8859-1", "windows-1252", "gb18030",   "big5",   "nonsense"};
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 300, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 ? rng() % 128 : rng());
    for (int k = 0; k < 4; ++k) s.insert(rng() % (s.size() + 1), kTokens[rng() % kTokens.size()]);
    EXPECT_TRUE(IsValidUtf8(ToUtf8(s, charsets[i % 10])));
    EXPECT_TRUE(IsValidUtf8(DecodeHeaderText(s)));
    (void)DecodeBase64(s);
    (void)DecodeQuotedPrintable(s);
    (void)ParseContentType(s);
    (void)ParseContentDisposition(s);
    for (const Mailbox& mb : ParseAddressList(s).mailboxes) EXPECT_TRUE(IsValidUtf8(mb.name));
    std::string enc = EncodeWords(s);
    EXPECT_EQ(DecodeHeaderText(enc), SanitizeUtf8(s));
    EXPECT_TRUE(OnlyFolds(FoldField("X", s)));
  }
}

TEST(Robustness, FoldingLongGarbage) {
  std::mt19937_64 rng(Seed() + 3);
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 6000, '\0');
    unsigned space_every = 1 + static_cast<unsigned>(rng() % 2000);
    for (char& c : s) c = rng() % space_every == 0 ? ' ' : static_cast<char>(rng());
    std::string field = FoldField("X-Garbage", s);
    ASSERT_TRUE(OnlyFolds(field));
    size_t line_start = 0;
    for (size_t p = field.find("\r\n"); p != std::string::npos; p = field.find("\r\n", p + 2)) {
      ASSERT_LE(p - line_start, 998u);
      line_start = p + 2;
    }
    HeaderEditor ed("A: 1\r\n\r\nbody");
    ASSERT_TRUE(ed.Add("X-Garbage", s).ok());
    ParsedMessage m = ParseMessage(ed.Render());
    ASSERT_EQ(m.headers.fields.size(), 2u);
    ASSERT_EQ(m.text, "body");
  }
}

TEST(Robustness, PathologicalShapes) {
  std::vector<std::string> inputs;
  inputs.push_back(std::string(1 << 20, '\n'));
  inputs.push_back(std::string(1 << 20, '-'));
  inputs.push_back("Subject: " + std::string(1 << 20, 'x') + "\r\n\r\n");
  std::string many_fields;
  for (int i = 0; i < 200000; ++i) many_fields += "X:y\r\n";
  inputs.push_back(many_fields + "\r\nbody");
  std::string words = "Subject:";
  for (int i = 0; i < 50000; ++i) words += " =?utf-8?q?=C3?=";
  inputs.push_back(words + "\r\n\r\n");
  inputs.push_back("To: " + std::string(200000, '(') + "\r\n\r\n");
  inputs.push_back("To: " + std::string(200000, '"') + "\r\n\r\n");
  inputs.push_back("To: " + std::string(200000, '<') + "\r\n\r\n");
  inputs.push_back("To: " + std::string(200000, ':') + "\r\n\r\n");
  std::string params = "Content-Type: text/plain";
  for (int i = 0; i < 100000; ++i) params += ";a*" + std::to_string(i % 1500) + "*=%41";
  inputs.push_back(params + "\r\n\r\nx");
  std::string deep;  // 10000 nested multiparts sharing one boundary
  for (int i = 0; i < 10000; ++i)
    deep += "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n";
  inputs.push_back(deep);
  std::string empties = "Content-Type: multipart/mixed; boundary=e\r\n\r\n";
  for (int i = 0; i < 100000; ++i) empties += "--e\r\n";
  inputs.push_back(empties);
  for (const std::string& input : inputs) {
    ParsedMessage m = ParseMessage(input);
    CheckInvariants(input, m);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace mailrelay::mime
