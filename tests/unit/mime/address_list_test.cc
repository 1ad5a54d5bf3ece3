#include "common/mime/address_list.h"

#include <gtest/gtest.h>

namespace mailrelay::mime {
namespace {

std::vector<Mailbox> Parse(std::string_view v) { return ParseAddressList(v).mailboxes; }

TEST(AddressList, NameAngleAddrAndBareAddrSpec) {
  EXPECT_EQ(Parse("Wes Jensen <wes@example.org>"),
            (std::vector<Mailbox>{{"Wes Jensen", "wes@example.org"}}));
  EXPECT_EQ(Parse("wes@example.org"), (std::vector<Mailbox>{{"", "wes@example.org"}}));
  EXPECT_EQ(Parse("<wes@example.org>"), (std::vector<Mailbox>{{"", "wes@example.org"}}));
  EXPECT_EQ(Parse("  a@b.c ,\tD <d@e.f>  "), (std::vector<Mailbox>{{"", "a@b.c"}, {"D", "d@e.f"}}));
}

TEST(AddressList, QuotedNamesWithCommasAndEscapes) {
  EXPECT_EQ(Parse("\"Mercer, Hugo\" <mercer@example.net>, x@y.z"),
            (std::vector<Mailbox>{{"Mercer, Hugo", "mercer@example.net"}, {"", "x@y.z"}}));
  EXPECT_EQ(Parse("\"a \\\"quoted\\\" \\\\ name\" <q@x.y>"),
            (std::vector<Mailbox>{{"a \"quoted\" \\ name", "q@x.y"}}));
  EXPECT_EQ(Parse("\"<not@addr>\" <real@x.y>"), (std::vector<Mailbox>{{"<not@addr>", "real@x.y"}}));
}

TEST(AddressList, EncodedWordsInNames) {
  EXPECT_EQ(Parse("=?UTF-8?B?xYF1a2FzeiBHYXJjw61h?= <l@g.example>"),
            (std::vector<Mailbox>{{"\xc5\x81ukasz Garc\xc3\xad"
                                   "a",
                                   "l@g.example"}}));
  EXPECT_EQ(Parse("=?iso-8859-1?q?Fran=E7ois?= =?iso-8859-1?q?_Sch=E4fer?= <f@s.example>"),
            (std::vector<Mailbox>{{"Fran\xc3\xa7ois Sch\xc3\xa4"
                                   "fer",
                                   "f@s.example"}}));
  EXPECT_EQ(Parse("=?utf-8?q?Dr=2E?= No <n@o.example>"),
            (std::vector<Mailbox>{{"Dr. No", "n@o.example"}}));
  // Inside quotes too, as mail clients write them.
  EXPECT_EQ(Parse("\"=?utf-8?q?J=C3=B6rg?=\" <j@x.example>"),
            (std::vector<Mailbox>{{"J\xc3\xb6rg", "j@x.example"}}));
}

TEST(AddressList, WhitespaceAndCommentsInPhrases) {
  EXPECT_EQ(Parse("Frank\tGrant   <f@g.example>"),
            (std::vector<Mailbox>{{"Frank Grant", "f@g.example"}}));
  EXPECT_EQ(Parse("John (middle) Smith <js@x.example> (work)"),
            (std::vector<Mailbox>{{"John Smith", "js@x.example"}}));
  EXPECT_EQ(Parse("John Q. Public <jqp@x.example>"),
            (std::vector<Mailbox>{{"John Q. Public", "jqp@x.example"}}));
  // Old style: the comment is the only name there is.
  EXPECT_EQ(Parse("root@x.example (Cron Daemon)"),
            (std::vector<Mailbox>{{"Cron Daemon", "root@x.example"}}));
  EXPECT_EQ(Parse("a(c1)@(c2)x.example"), (std::vector<Mailbox>{{"c1", "a@x.example"}}));
}

TEST(AddressList, GroupsIncludeMembersButNotTheirName) {
  AddressList l = ParseAddressList(
      "Mei <mei@x.example>, Project Ledger: Zack <zack@x.example>, lars@x.example;, "
      "undisclosed-recipients:;, tail@x.example");
  EXPECT_EQ(l.mailboxes, (std::vector<Mailbox>{{"Mei", "mei@x.example"},
                                               {"Zack", "zack@x.example"},
                                               {"", "lars@x.example"},
                                               {"", "tail@x.example"}}));
  ASSERT_EQ(l.groups.size(), 2u);
  EXPECT_EQ(l.groups[0].name, "Project Ledger");
  EXPECT_EQ(l.groups[0].members.size(), 2u);
  EXPECT_EQ(l.groups[1].name, "undisclosed-recipients");
  EXPECT_TRUE(l.groups[1].members.empty());
  l = ParseAddressList("Team: a@x.example");  // unterminated group
  ASSERT_EQ(l.groups.size(), 1u);
  EXPECT_EQ(l.groups[0].members.size(), 1u);
}

TEST(AddressList, AddrSpecDetails) {
  EXPECT_EQ(Parse("\"john doe\"@x.example"),
            (std::vector<Mailbox>{{"", "\"john doe\"@x.example"}}));
  EXPECT_EQ(Parse("<@route1,@route2:user@x.example>"),
            (std::vector<Mailbox>{{"", "user@x.example"}}));
  EXPECT_EQ(Parse("u@[192.0.2.1]"), (std::vector<Mailbox>{{"", "u@[192.0.2.1]"}}));
  EXPECT_EQ(Parse("postmaster"), (std::vector<Mailbox>{{"", "postmaster"}}));
  EXPECT_EQ(Parse("Name <>"), (std::vector<Mailbox>{{"Name", ""}}));
  EXPECT_EQ(Parse("<a@b.example"), (std::vector<Mailbox>{{"", "a@b.example"}}));  // unclosed
}

TEST(AddressList, GarbageYieldsNothingOrWhatCanBeRead) {
  EXPECT_TRUE(Parse("").empty());
  EXPECT_TRUE(Parse(" , ,, ").empty());
  EXPECT_TRUE(Parse("Just Some Words").empty());
  EXPECT_TRUE(Parse("<>").empty());
  EXPECT_TRUE(Parse(":;;;::").empty());
  EXPECT_EQ(Parse("\"unterminated <a@b.example>"),
            (std::vector<Mailbox>{}));  // everything after the quote is the name
  EXPECT_EQ(Parse("(unterminated comment a@b.example"), (std::vector<Mailbox>{}));
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "u" + std::to_string(i) + "@x.example, ";
  EXPECT_EQ(Parse(many).size(), 5000u);
  std::string nested(100000, '(');
  EXPECT_TRUE(Parse(nested + "a@b").empty());
}

TEST(FormatMailbox, QuotesEncodesAndRoundTrips) {
  EXPECT_EQ(FormatMailbox({"", "a@b.example"}), "a@b.example");
  EXPECT_EQ(FormatMailbox({"Wes Jensen", "w@x.example"}), "Wes Jensen <w@x.example>");
  EXPECT_EQ(FormatMailbox({"Mercer, Hugo", "m@x.example"}), "\"Mercer, Hugo\" <m@x.example>");
  EXPECT_EQ(FormatMailbox({"say \"hi\"", "m@x.example"}), "\"say \\\"hi\\\"\" <m@x.example>");
  EXPECT_EQ(FormatMailbox({"Fran\xc3\xa7ois Patel", "f@x.example"}),
            "=?UTF-8?Q?Fran=C3=A7ois_Patel?= <f@x.example>");
  EXPECT_EQ(FormatMailbox({"", ""}), "<>");
  EXPECT_EQ(FormatMailbox({"", "a@b\r\nBcc: evil@x"}), "a@bBcc: evil@x");  // no line breaks
  std::vector<Mailbox> list = {{"\xc5\x81ukasz Larsen", "l@x.example"},
                               {"Mercer, Hugo", "m@x.example"},
                               {"", "plain@x.example"},
                               {"A (b) <c>", "abc@x.example"},
                               {"\xe4\xb8\xad\xe6\x9d\x91 \xe5\x85\x89", "n@x.example"}};
  EXPECT_EQ(Parse(FormatMailboxList(list)), list);
}

}  // namespace
}  // namespace mailrelay::mime
