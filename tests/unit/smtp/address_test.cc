#include "common/smtp/address.h"

#include <gtest/gtest.h>

#include <string>

namespace mailrelay::smtp {
namespace {

Address Rcpt(std::string_view text, bool utf8 = false) {
  ParseResult<Address> r = ParsePath(text, PathKind::kForwardPath, utf8);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Address();
}

Error RcptError(std::string_view text, bool utf8 = false) {
  ParseResult<Address> r = ParsePath(text, PathKind::kForwardPath, utf8);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? r->Mailbox() : "");
  return r.ok() ? Error::kBadCommandSyntax : r.error();
}

TEST(Address, Simple) {
  Address a = Rcpt("<user@example.com>");
  EXPECT_EQ(a.local_part, "user");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.original, "<user@example.com>");
  EXPECT_FALSE(a.relay_trick());
  EXPECT_FALSE(a.quoted || a.null_path || a.postmaster || a.utf8_local_part || a.domain_literal);
  EXPECT_EQ(a.Mailbox(), "user@example.com");
  EXPECT_EQ(a.Path(), "<user@example.com>");
}

TEST(Address, DomainIsLowercasedLocalPartKeepsCase) {
  Address a = Rcpt("<User.Name@EXAMPLE.COM>");
  EXPECT_EQ(a.local_part, "User.Name");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.original, "<User.Name@EXAMPLE.COM>");
}

TEST(Address, RelayTricksAreFlagged) {
  Address percent = Rcpt("<user%other.org@example.com>");
  EXPECT_TRUE(percent.percent_hack);
  EXPECT_TRUE(percent.relay_trick());
  EXPECT_EQ(percent.domain, "example.com");
  EXPECT_EQ(percent.local_part, "user%other.org");

  Address bang = Rcpt("<a!b@example.com>");
  EXPECT_TRUE(bang.bang_path);
  EXPECT_TRUE(bang.relay_trick());

  Address route = Rcpt("<@a,@b:user@example.com>");
  EXPECT_TRUE(route.source_route);
  EXPECT_TRUE(route.relay_trick());
  EXPECT_EQ(route.local_part, "user");
  EXPECT_EQ(route.domain, "example.com");
  EXPECT_EQ(route.Mailbox(), "user@example.com");  // the route is dropped
  EXPECT_EQ(route.original, "<@a,@b:user@example.com>");

  Address quoted = Rcpt("<\"a@b\"@example.com>");
  EXPECT_TRUE(quoted.quoted_at);
  EXPECT_TRUE(quoted.quoted);
  EXPECT_EQ(quoted.local_part, "a@b");
  EXPECT_EQ(quoted.domain, "example.com");
  EXPECT_EQ(quoted.Mailbox(), "\"a@b\"@example.com");

  Address quoted_percent = Rcpt("<\"user%other.org\"@example.com>");
  EXPECT_TRUE(quoted_percent.percent_hack);
  EXPECT_FALSE(quoted_percent.quoted_at);
}

TEST(Address, SourceRouteSyntaxIsChecked) {
  EXPECT_EQ(RcptError("<@a,@b user@example.com>"), Error::kBadRecipient);  // no ':'
  EXPECT_EQ(RcptError("<@a,,@b:user@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<@:user@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<@-a:user@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a,@b:user@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<@a:>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<@a:postmaster>"), Error::kBadRecipient);  // no route to Postmaster
  Address one = Rcpt("<@relay.example:user@example.com>");
  EXPECT_TRUE(one.source_route);
}

TEST(Address, TrailingDotIsASyntaxError) {
  EXPECT_EQ(RcptError("<user@example.com.>"), Error::kBadRecipient);
  EXPECT_FALSE(NormalizeDomain("example.com.", false).ok());
}

TEST(Address, ErrorsDependOnPathKind) {
  ParseResult<Address> r = ParsePath("<user@example.com.>", PathKind::kReversePath, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::kBadSender);
  EXPECT_EQ(r.reply().Format(), "501 5.1.7 Bad sender address syntax\r\n");
  r = ParsePath("<user@example.com.>", PathKind::kForwardPath, false);
  EXPECT_EQ(r.reply().Format(), "501 5.1.3 Bad recipient address syntax\r\n");
}

TEST(Address, NullPathOnlyForMailFrom) {
  ParseResult<Address> r = ParsePath("<>", PathKind::kReversePath, false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->null_path);
  EXPECT_EQ(r->Mailbox(), "");
  EXPECT_EQ(r->Path(), "<>");
  EXPECT_EQ(RcptError("<>"), Error::kBadRecipient);
  EXPECT_FALSE(ParsePath("", PathKind::kMailbox, false).ok());
}

TEST(Address, PostmasterWithoutDomainOnlyForRcpt) {
  for (std::string_view pm : {"<Postmaster>", "<postmaster>", "<POSTMASTER>", "<PostMaster>"}) {
    Address a = Rcpt(pm);
    EXPECT_TRUE(a.postmaster) << pm;
    EXPECT_EQ(a.domain, "");
    EXPECT_FALSE(a.relay_trick());
  }
  EXPECT_EQ(Rcpt("<Postmaster>").Mailbox(), "Postmaster");
  EXPECT_FALSE(ParsePath("<postmaster>", PathKind::kReversePath, false).ok());
  EXPECT_FALSE(ParsePath("postmaster", PathKind::kMailbox, false).ok());
  EXPECT_EQ(RcptError("<postmasterx>"), Error::kBadRecipient);
  Address with_domain = Rcpt("<postmaster@example.com>");
  EXPECT_FALSE(with_domain.postmaster);
  EXPECT_EQ(with_domain.domain, "example.com");
}

TEST(Address, AngleBrackets) {
  EXPECT_EQ(RcptError("user@example.com"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<user@example.com"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("user@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<<user@example.com>>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("< user@example.com>"), Error::kBadRecipient);
  ParseResult<Address> bare = ParsePath("user@example.com", PathKind::kMailbox, false);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->Mailbox(), "user@example.com");
  EXPECT_FALSE(ParsePath("<user@example.com>", PathKind::kMailbox, false).ok());
}

TEST(Address, LocalPartSyntax) {
  EXPECT_EQ(Rcpt("<a.b.c@example.com>").local_part, "a.b.c");
  EXPECT_EQ(Rcpt("<!#$%&'*+-/=?^_`{|}~@example.com>").local_part, "!#$%&'*+-/=?^_`{|}~");
  EXPECT_EQ(RcptError("<.a@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a.@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a..b@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a b@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a(b)@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a,b@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<user@>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<user>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@b@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError(std::string("<a\0b@example.com>", 18)), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a\tb@example.com>"), Error::kBadRecipient);
}

TEST(Address, QuotedLocalParts) {
  Address plain = Rcpt("<\"abc\"@example.com>");
  EXPECT_TRUE(plain.quoted);
  EXPECT_EQ(plain.local_part, "abc");
  EXPECT_EQ(plain.Mailbox(), "abc@example.com");  // dot-string again: no quotes needed

  Address space = Rcpt("<\"a b\"@example.com>");
  EXPECT_EQ(space.local_part, "a b");
  EXPECT_EQ(space.Mailbox(), "\"a b\"@example.com");

  Address escaped = Rcpt(R"(<"a\"b\\c"@example.com>)");
  EXPECT_EQ(escaped.local_part, "a\"b\\c");
  EXPECT_EQ(escaped.Mailbox(), R"("a\"b\\c"@example.com)");
  EXPECT_EQ(Rcpt(escaped.Path()).local_part, escaped.local_part);

  Address dots = Rcpt("<\"a..b\"@example.com>");
  EXPECT_EQ(dots.Mailbox(), "\"a..b\"@example.com");

  EXPECT_EQ(RcptError("<\"\"@example.com>"), Error::kBadRecipient);  // empty local part
  EXPECT_EQ(RcptError("<\"abc@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<\"abc\"x@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<\"abc\\\"@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<\"a\rb\"@example.com>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError(std::string("<\"a\\\0\"@example.com>", 19)), Error::kBadRecipient);
}

TEST(Address, LengthLimits) {
  std::string local64(64, 'a');
  EXPECT_EQ(Rcpt("<" + local64 + "@example.com>").local_part, local64);
  EXPECT_EQ(RcptError("<" + local64 + "a@example.com>"), Error::kBadRecipient);
  // The quotes count: the limit is on the local part as sent.
  EXPECT_EQ(RcptError("<\"" + std::string(63, 'a') + "\"@example.com>"), Error::kBadRecipient);

  std::string label63(63, 'b');
  EXPECT_EQ(Rcpt("<a@" + label63 + ".com>").domain, label63 + ".com");
  EXPECT_EQ(RcptError("<a@" + label63 + "b.com>"), Error::kBadRecipient);

  // 4 x 63 + 3 dots = 255 octets: the longest domain.
  std::string d255 = label63 + "." + label63 + "." + label63 + "." + label63;
  ASSERT_EQ(d255.size(), 255u);
  EXPECT_EQ(*NormalizeDomain(d255, false), d255);
  EXPECT_FALSE(NormalizeDomain(d255 + "c", false).ok());
  EXPECT_FALSE(NormalizeDomain("x." + d255, false).ok());

  // The whole path is at most 256 octets with its brackets.
  std::string local = std::string(60, 'l');
  std::string domain = label63 + "." + label63 + "." + std::string(63 - 1, 'c');  // 190
  std::string path = "<" + local + "@" + domain + ">";
  ASSERT_LE(path.size(), 256u);
  EXPECT_TRUE(ParsePath(path, PathKind::kForwardPath, false).ok());
  std::string long_path = "<" + local + "@" + domain + "." + std::string(63, 'd') + ">";
  ASSERT_GT(long_path.size(), 256u);
  EXPECT_EQ(RcptError(long_path), Error::kBadRecipient);
}

TEST(Address, DomainLabels) {
  EXPECT_EQ(*NormalizeDomain("localhost", false), "localhost");
  EXPECT_EQ(*NormalizeDomain("123.example", false), "123.example");
  EXPECT_EQ(*NormalizeDomain("a-b.c-d.example", false), "a-b.c-d.example");
  EXPECT_EQ(*NormalizeDomain("Mixed.Case.EXAMPLE", false), "mixed.case.example");
  for (std::string_view bad :
       {"", ".", ".example", "a..b", "-a.example", "a-.example", "a_b.example", "a b.example",
        "a.example.", "exa!mple.com", "[1.2.3.4]", "a.-b", "a@b"}) {
    EXPECT_FALSE(NormalizeDomain(bad, true).ok()) << bad;
  }
}

TEST(Address, IdnDomainsBecomeALabels) {
  Address a = Rcpt("<user@bücher.example>", true);
  EXPECT_EQ(a.domain, "xn--bcher-kva.example");
  EXPECT_FALSE(a.utf8_local_part);  // the domain alone does not need SMTPUTF8 upstream
  EXPECT_EQ(a.Mailbox(), "user@xn--bcher-kva.example");
  // The same domain given as an A-label, in any case, compares equal.
  EXPECT_EQ(Rcpt("<user@XN--BCHER-KVA.Example>").domain, "xn--bcher-kva.example");
  EXPECT_EQ(*NormalizeDomain("Bücher.Example", true), "xn--bcher-kva.example");
  EXPECT_EQ(*NormalizeDomain("💩.la", true), "xn--ls8h.la");
  EXPECT_EQ(*NormalizeDomain("mañana.com", true), "xn--maana-pta.com");

  // Without SMTPUTF8, 553 5.6.7 (RFC 6531 section 3.7.4.1).
  ParseResult<Address> r = ParsePath("<user@bücher.example>", PathKind::kForwardPath, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::kUtf8NotDeclared);
  EXPECT_EQ(r.reply().Format(), "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  EXPECT_FALSE(NormalizeDomain("bücher.example", false).ok());
}

TEST(Address, BadIdnDomains) {
  EXPECT_EQ(RcptError("<a@-bücher.example>", true), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@bücher-.example>", true), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@bü_cher.example>", true), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@bücher\xe3\x80\x82"
                      "example>",
                      true),
            Error::kBadRecipient);  // U+3002
  EXPECT_EQ(RcptError("<a@b\xc2\x80"
                      "cher.example>",
                      true),
            Error::kBadRecipient);  // C1 control
  EXPECT_EQ(
      RcptError("<a@" + std::string(40, 'a') + "\xc3\xbc" + std::string(40, 'b') + ".de>", true),
      Error::kBadRecipient);  // A-label over 63 octets
  // Bogus A-labels: undecodable, decoding to a C1 control, not round-tripping.
  EXPECT_EQ(RcptError("<a@xn--99999999999.example>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@xn--a.example>"), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<a@xn--zz.example>"), Error::kBadRecipient);
  EXPECT_TRUE(NormalizeDomain("xn--ls8h.la", false).ok());
}

TEST(Address, Utf8LocalParts) {
  Address a = Rcpt("<jörg@example.com>", true);
  EXPECT_TRUE(a.utf8_local_part);
  EXPECT_EQ(a.local_part, "jörg");
  Address q = Rcpt("<\"jö rg\"@bücher.example>", true);
  EXPECT_TRUE(q.utf8_local_part);
  EXPECT_EQ(q.domain, "xn--bcher-kva.example");
  EXPECT_EQ(RcptError("<jörg@example.com>"), Error::kUtf8NotDeclared);
  // Invalid UTF-8 is a syntax error even under SMTPUTF8.
  EXPECT_EQ(RcptError("<j\xff"
                      "rg@example.com>",
                      true),
            Error::kBadRecipient);
  EXPECT_EQ(RcptError("<j\xc3@example.com>", true), Error::kBadRecipient);
  EXPECT_EQ(RcptError("<j\xc0\xaf@example.com>", true), Error::kBadRecipient);  // overlong
}

TEST(Address, AddressLiterals) {
  Address v4 = Rcpt("<user@[192.0.2.1]>");
  EXPECT_TRUE(v4.domain_literal);
  EXPECT_EQ(v4.domain, "[192.0.2.1]");
  EXPECT_EQ(Rcpt("<user@[001.002.003.004]>").domain, "[1.2.3.4]");
  Address v6 = Rcpt("<user@[IPv6:2001:DB8:0:0:0:0:0:1]>");
  EXPECT_EQ(v6.domain, "[IPv6:2001:db8::1]");
  EXPECT_EQ(Rcpt("<user@[ipv6:::1]>").domain, "[IPv6:::1]");
  EXPECT_EQ(Rcpt("<user@[IPv6:::ffff:192.0.2.1]>").domain, "[IPv6:::ffff:192.0.2.1]");
  for (std::string_view bad :
       {"<u@[256.1.1.1]>", "<u@[1.2.3]>", "<u@[1.2.3.4.5]>", "<u@[1.2.3.4]", "<u@[1..2.3]>",
        "<u@[1.2.3.0004]>", "<u@[]>", "<u@[IPv6:zz::1]>", "<u@[IPv6:1:2:3:4:5:6:7:8:9]>",
        "<u@[IPv6:fe80::1%eth0]>", "<u@[tag:content]>", "<u@[ 1.2.3.4]>", "<u@[-1.2.3.4]>",
        "<u@[1.2.3.4]x>", "<u@[IPv6:1.2.3.4]>"}) {
    EXPECT_EQ(RcptError(bad), Error::kBadRecipient) << bad;
  }
}

TEST(Address, RoundTripThroughPath) {
  for (std::string_view text :
       {"<a@b.example>", "<\"a b\"@c.example>", "<\"a@b\"@example.com>", R"(<"x\"y"@z.example>)",
        "<user@[IPv6:2001:db8::1]>", "<user@[10.0.0.1]>"}) {
    Address a = Rcpt(text);
    Address b = Rcpt(a.Path());
    EXPECT_EQ(a.local_part, b.local_part) << text;
    EXPECT_EQ(a.domain, b.domain) << text;
    EXPECT_EQ(a.Mailbox(), b.Mailbox()) << text;
  }
}

TEST(Address, QuoteLocalPart) {
  EXPECT_EQ(QuoteLocalPart("simple"), "simple");
  EXPECT_EQ(QuoteLocalPart("a b"), "\"a b\"");
  EXPECT_EQ(QuoteLocalPart(".a"), "\".a\"");
  EXPECT_EQ(QuoteLocalPart("a\"b"), "\"a\\\"b\"");
  EXPECT_TRUE(IsDotString("jörg", true));
  EXPECT_FALSE(IsDotString("jörg", false));
  EXPECT_FALSE(IsDotString("", true));
}

}  // namespace
}  // namespace mailrelay::smtp
