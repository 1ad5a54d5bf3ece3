// The envelope-exact recipient rewrite of the MIME form and the split of the JSON form
// (deliver-graph/recipients.h): only envelope recipients ever reach Graph.
#include "deliver-graph/recipients.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/mime/address_list.h"
#include "common/mime/header.h"

namespace mailrelay::graph {
namespace {

std::vector<agent::JobRecipient> Env(const std::vector<std::string>& addrs) {
  std::vector<agent::JobRecipient> out;
  for (size_t i = 0; i < addrs.size(); ++i) out.push_back({static_cast<int>(i), addrs[i]});
  return out;
}

std::vector<std::string> Addresses(const std::vector<mime::Mailbox>& list) {
  std::vector<std::string> out;
  for (const auto& mb : list) out.push_back(mb.address);
  return out;
}

// Every value of `name` in the rewritten message, unfolded.
std::vector<std::string> Fields(const std::string& message, const std::string& name) {
  auto headers = mime::ParseHeaderSection(mime::SplitMessage(message).header);
  std::vector<std::string> out;
  for (const auto* f : headers.FindAll(name)) out.push_back(f->Unfolded());
  return out;
}

std::string Body(const std::string& message) {
  return std::string(mime::SplitMessage(message).body);
}

const std::string kBody = "line one\r\nBcc: not a header, body text\r\n\r\nTo: also body\r\n";

TEST(Recipients, ExactEnvelopeLeavesTheMessageByteForByte) {
  std::string msg =
      "From: a@example.org\r\nTo: =?UTF-8?Q?B=C3=B6b?= "
      "<bob@example.com>,\r\n\tcarol@example.com\r\n"
      "Cc: dave@example.net\r\nSubject: x\r\n\r\n" +
      kBody;
  auto r = RewriteRecipientHeaders(
      msg, Env({"Bob@Example.com", "carol@example.com", "dave@example.net"}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->message, msg);
  EXPECT_EQ(Addresses(r->recipients.to),
            (std::vector<std::string>{"Bob@Example.com", "carol@example.com"}));
  EXPECT_EQ(r->recipients.to[0].name, "Böb");
  EXPECT_EQ(Addresses(r->recipients.cc), (std::vector<std::string>{"dave@example.net"}));
  EXPECT_TRUE(r->recipients.bcc.empty());
}

TEST(Recipients, EnvelopeOnlyRecipientsBecomeABccField) {
  std::string msg = "From: a@example.org\r\nTo: bob@example.com\r\nSubject: x\r\n\r\n" + kBody;
  auto r = RewriteRecipientHeaders(
      msg, Env({"bob@example.com", "hidden@example.net", "second@example.org"}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(Fields(r->message, "To"), (std::vector<std::string>{"bob@example.com"}));
  EXPECT_EQ(Fields(r->message, "Bcc"),
            (std::vector<std::string>{"hidden@example.net, second@example.org"}));
  EXPECT_EQ(Body(r->message), kBody);
  EXPECT_EQ(Addresses(r->recipients.bcc),
            (std::vector<std::string>{"hidden@example.net", "second@example.org"}));
}

TEST(Recipients, HeaderOnlyAddressesAreDroppedAndTheMessagesBccGoes) {
  std::string msg =
      "From: a@example.org\r\nTo: Bob <bob@example.com>, Victim <victim@example.com>\r\n"
      "Cc: other@example.org, carol@example.org\r\nBcc: sneaky@example.org\r\n"
      "Bcc: hidden@example.net\r\nSubject: x\r\n\r\n" +
      kBody;
  auto r = RewriteRecipientHeaders(
      msg, Env({"bob@example.com", "carol@example.org", "hidden@example.net"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Fields(r->message, "To"), (std::vector<std::string>{"Bob <bob@example.com>"}));
  EXPECT_EQ(Fields(r->message, "Cc"), (std::vector<std::string>{"carol@example.org"}));
  // The message's own Bcc fields never leave; the one we write names envelope recipients only.
  EXPECT_EQ(Fields(r->message, "Bcc"), (std::vector<std::string>{"hidden@example.net"}));
  EXPECT_EQ(r->removed_bcc_fields, 2u);
  EXPECT_EQ(r->recipients.header_only, 2u);
  EXPECT_EQ(r->message.find("victim"), std::string::npos);
  EXPECT_EQ(r->message.find("sneaky"), std::string::npos);
  EXPECT_EQ(r->message.find("other@"), std::string::npos);
  EXPECT_EQ(Body(r->message), kBody);
  // Field order is kept: To where To was.
  EXPECT_LT(r->message.find("To:"), r->message.find("Cc:"));
  EXPECT_LT(r->message.find("From:"), r->message.find("To:"));
}

TEST(Recipients, NoHeaderRecipientLeftRemovesTheField) {
  std::string msg = "From: a@example.org\r\nTo: list@example.com\r\nSubject: x\r\n\r\nhi\r\n";
  auto r = RewriteRecipientHeaders(msg, Env({"member@example.net"}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(Fields(r->message, "To").empty());
  EXPECT_EQ(Fields(r->message, "Bcc"), (std::vector<std::string>{"member@example.net"}));
}

TEST(Recipients, GroupsAreFlattenedWhenTheyMustChange) {
  std::string msg =
      "From: a@example.org\r\nTo: Team: x@example.com, y@example.com;, undisclosed-recipients:;\r\n"
      "Subject: x\r\n\r\nhi\r\n";
  auto r = RewriteRecipientHeaders(msg, Env({"y@example.com"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Fields(r->message, "To"), (std::vector<std::string>{"y@example.com"}));
  EXPECT_TRUE(Fields(r->message, "Bcc").empty());
  // Every member an envelope recipient: the field, group syntax and all, stays as it is.
  auto same = RewriteRecipientHeaders(msg, Env({"x@example.com", "y@example.com"}));
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
}

TEST(Recipients, SeveralToFieldsBecomeOne) {
  std::string msg = "To: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n\r\nhi\r\n";
  auto r = RewriteRecipientHeaders(msg, Env({"a@example.com", "b@example.com"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Fields(r->message, "To"), (std::vector<std::string>{"a@example.com, b@example.com"}));
}

TEST(Recipients, AnAddressInToAndCcAndTwiceInTheEnvelopeGoesOnce) {
  auto split =
      SplitRecipients({{"B", "b@example.com"}}, {{"", "B@EXAMPLE.COM"}, {"C", "c@example.com"}},
                      Env({"b@example.com", "B@example.com", "c@example.com", "d@example.com"}));
  EXPECT_EQ(Addresses(split.to), (std::vector<std::string>{"b@example.com"}));
  EXPECT_EQ(Addresses(split.cc), (std::vector<std::string>{"c@example.com"}));
  EXPECT_EQ(Addresses(split.bcc), (std::vector<std::string>{"d@example.com"}));
}

TEST(Recipients, BareLfMessagesAndMessagesWithoutBody) {
  std::string lf = "From: a@example.org\nTo: x@example.com\nSubject: x\n\nbody\n";
  auto r = RewriteRecipientHeaders(lf, Env({"y@example.com"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->message, "From: a@example.org\nSubject: x\nBcc: y@example.com\n\nbody\n");
  auto headers_only = RewriteRecipientHeaders("Subject: only headers\r\n", Env({"y@example.com"}));
  ASSERT_TRUE(headers_only.ok());
  EXPECT_EQ(Fields(headers_only->message, "Bcc"), (std::vector<std::string>{"y@example.com"}));
}

TEST(Recipients, ManyEnvelopeOnlyRecipientsAreFolded) {
  std::vector<std::string> rcpts;
  for (int i = 0; i < 100; ++i) rcpts.push_back("recipient" + std::to_string(i) + "@example.com");
  auto r = RewriteRecipientHeaders("Subject: x\r\n\r\nhi\r\n", Env(rcpts));
  ASSERT_TRUE(r.ok());
  auto sections = mime::SplitMessage(r->message);
  size_t start = 0;
  std::string_view header = sections.header;
  while (start < header.size()) {
    size_t end = header.find("\r\n", start);
    ASSERT_NE(end, std::string_view::npos);
    EXPECT_LE(end - start, 998u);
    start = end + 2;
  }
  auto list = mime::ParseAddressList(Fields(r->message, "Bcc").at(0));
  EXPECT_EQ(list.mailboxes.size(), 100u);
}

}  // namespace
}  // namespace mailrelay::graph
