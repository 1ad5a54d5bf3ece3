#include "common/smtp/address.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "common/smtp/limits.h"
#include "common/smtp/punycode.h"
#include "common/smtp/utf8.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsLetDig(unsigned char c) { return IsAlpha(c) || IsDigit(c); }

// RFC 5322 atext.
bool IsAtext(unsigned char c) {
  return IsLetDig(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr);
}

// RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126.
bool IsQtext(unsigned char c) { return c >= 32 && c <= 126 && c != '"' && c != '\\'; }

// An ASCII LDH label, as in RFC 5321 sub-domain.
bool IsLdhLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxDomainLabel) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (unsigned char c : label) {
    if (!IsLetDig(c) && c != '-') return false;
  }
  return true;
}

// Validates one non-ASCII label (already valid UTF-8) before conversion to an A-label.
util::Status CheckULabel(std::string_view label) {
  std::optional<std::u32string> cps = DecodeUtf8(label);
  if (!cps) return util::InvalidArgument("label is not valid UTF-8");
  if (cps->front() == '-' || cps->back() == '-') {
    return util::InvalidArgument("label starts or ends with a hyphen");
  }
  for (char32_t c : *cps) {
    if (c < 0x80) {
      if (!IsLetDig(static_cast<unsigned char>(c)) && c != '-') {
        return util::InvalidArgument("bad character in label");
      }
    } else if (c < 0xA0 || c == 0x3002 || c == 0xFF0E || c == 0xFF61 || c == 0xFEFF ||
               (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E)) {
      // C1 controls, IDNA dot look-alikes, invisible and direction-control characters.
      return util::InvalidArgument("disallowed character in label");
    }
  }
  return util::Status::Ok();
}

// An ASCII label that claims to be an A-label must decode to something non-ASCII that
// encodes back to itself, or "xn--" could hide a second spelling of the same domain.
util::Status CheckALabel(std::string_view lower_label) {
  util::Result<std::u32string> cps = PunycodeDecode(lower_label.substr(4));
  if (!cps.ok()) return util::InvalidArgument("bad A-label: " + cps.status().message());
  util::Result<std::string> again = PunycodeEncode(*cps);
  if (!again.ok() || "xn--" + *again != lower_label) {
    return util::InvalidArgument("A-label does not round-trip");
  }
  bool non_ascii = false;
  for (char32_t c : *cps) non_ascii |= c >= 0x80;
  if (!non_ascii) return util::InvalidArgument("A-label decodes to ASCII");
  return CheckULabel(EncodeUtf8(*cps));  // the same rules as a U-label sent as UTF-8
}

// "1.2.3.4" with 1-3 digit decimal parts 0..255, normalised without leading zeros.
bool ParseIpv4(std::string_view s, std::string* out) {
  std::vector<std::string> parts = util::Split(s, '.', false);
  if (parts.size() != 4) return false;
  out->clear();
  for (const std::string& p : parts) {
    if (p.empty() || p.size() > 3) return false;
    std::optional<uint64_t> v = util::ParseUint(p);
    if (!v || *v > 255) return false;
    if (!out->empty()) out->push_back('.');
    *out += std::to_string(*v);
  }
  return true;
}

// "[...]" address literal (RFC 5321 section 4.1.3). General literals are refused.
util::Result<std::string> ParseAddressLiteral(std::string_view text) {
  std::string_view inner = text.substr(1, text.size() - 2);
  std::string norm;
  if (ParseIpv4(inner, &norm)) return "[" + norm + "]";
  if (util::StartsWithIgnoreCase(inner, "IPv6:")) {
    std::string v6(inner.substr(5));
    unsigned char bin[16];
    if (v6.size() > 45 || inet_pton(AF_INET6, v6.c_str(), bin) != 1) {
      return util::InvalidArgument("bad IPv6 address literal");
    }
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, bin, buf, sizeof(buf)) == nullptr) {
      return util::InvalidArgument("bad IPv6 address literal");
    }
    return "[IPv6:" + std::string(buf) + "]";
  }
  return util::InvalidArgument("bad address literal");
}

}  // namespace

util::Result<std::string> NormalizeDomain(std::string_view domain, bool allow_utf8) {
  if (domain.empty()) return util::InvalidArgument("empty domain");
  if (domain.back() == '.') return util::InvalidArgument("trailing dot in domain");
  if (domain.size() > 4 * kMaxDomain) return util::InvalidArgument("domain too long");
  std::string out;
  size_t start = 0;
  while (true) {
    size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return util::InvalidArgument("empty label in domain");
    std::string ascii;
    if (util::IsAscii(label)) {
      if (!IsLdhLabel(label)) return util::InvalidArgument("bad label in domain");
      ascii = util::ToLower(label);
      if (util::StartsWithIgnoreCase(ascii, "xn--")) MR_RETURN_IF_ERROR(CheckALabel(ascii));
    } else {
      if (!allow_utf8) return util::InvalidArgument("non-ASCII domain");
      MR_RETURN_IF_ERROR(CheckULabel(label));
      MR_ASSIGN_OR_RETURN(ascii, LabelToAscii(label));
      if (ascii.size() > kMaxDomainLabel) return util::InvalidArgument("label too long");
    }
    out += ascii;
    if (dot == std::string_view::npos) break;
    out.push_back('.');
    start = dot + 1;
  }
  if (out.size() > kMaxDomain) return util::InvalidArgument("domain longer than 255 octets");
  return out;
}

bool IsDotString(std::string_view local, bool utf8) {
  if (local.empty() || local.front() == '.' || local.back() == '.') return false;
  unsigned char prev = 0;
  for (unsigned char c : local) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c) && !(utf8 && c >= 0x80)) {
      return false;
    }
    prev = c;
  }
  return true;
}

std::string QuoteLocalPart(std::string_view local) {
  if (IsDotString(local, true)) return std::string(local);
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string Address::Mailbox() const {
  if (null_path) return "";
  if (postmaster) return local_part;
  return QuoteLocalPart(local_part) + "@" + domain;
}

ParseResult<Address> ParsePath(std::string_view text, PathKind kind, bool smtputf8) {
  const Error err = kind == PathKind::kReversePath ? Error::kBadSender : Error::kBadRecipient;
  if (text.size() > kMaxPath) return Fail(err, "path longer than 256 octets");

  Address a;
  a.original = std::string(text);
  std::string_view s = text;

  if (!util::IsAscii(s)) {
    if (!smtputf8) return Fail(Error::kUtf8NotDeclared, "non-ASCII address");
    if (!IsValidUtf8(s)) return Fail(err, "address is not valid UTF-8");
  }

  if (kind != PathKind::kMailbox) {
    if (s.size() < 2 || s.front() != '<' || s.back() != '>') {
      return Fail(err, "address not in angle brackets");
    }
    s = s.substr(1, s.size() - 2);
    if (s.empty()) {
      if (kind != PathKind::kReversePath) return Fail(err, "null recipient");
      a.null_path = true;
      return a;
    }
    if (s.front() == '@') {
      // A-d-l ":" Mailbox; the route is checked for syntax and dropped (RFC 5321 appendix C).
      size_t colon = s.find(':');
      if (colon == std::string_view::npos) return Fail(err, "source route without ':'");
      for (const std::string& hop : util::Split(s.substr(0, colon), ',', false)) {
        if (hop.size() < 2 || hop.front() != '@') return Fail(err, "bad source route");
        util::Result<std::string> d = NormalizeDomain(std::string_view(hop).substr(1), smtputf8);
        if (!d.ok()) return Fail(err, "bad source route: " + d.status().message());
      }
      a.source_route = true;
      s = s.substr(colon + 1);
    }
    if (kind == PathKind::kForwardPath && !a.source_route &&
        util::EqualsIgnoreCase(s, "postmaster")) {
      a.local_part = std::string(s);
      a.postmaster = true;
      return a;
    }
  }
  if (s.empty()) return Fail(err, "empty address");

  // Local part.
  size_t at;
  if (s.front() == '"') {
    a.quoted = true;
    size_t i = 1;
    bool closed = false;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '\\') {
        if (i + 1 >= s.size()) break;
        unsigned char next = static_cast<unsigned char>(s[i + 1]);
        if (next < 32 || next > 126) return Fail(err, "bad quoted-pair");
        a.local_part.push_back(static_cast<char>(next));
        i += 2;
      } else if (c == '"') {
        closed = true;
        ++i;
        break;
      } else if (IsQtext(c) || c >= 0x80) {
        a.local_part.push_back(static_cast<char>(c));
        ++i;
      } else {
        return Fail(err, "bad character in quoted local part");
      }
    }
    if (!closed) return Fail(err, "unterminated quoted local part");
    if (a.local_part.empty()) return Fail(err, "empty local part");
    at = i;
    if (at >= s.size() || s[at] != '@') return Fail(err, "missing '@' after local part");
  } else {
    at = s.find('@');
    if (at == std::string_view::npos) return Fail(err, "missing '@'");
    std::string_view local = s.substr(0, at);
    if (!IsDotString(local, true)) return Fail(err, "bad local part");
    a.local_part = std::string(local);
  }
  if (at > kMaxLocalPart) return Fail(err, "local part longer than 64 octets");
  a.utf8_local_part = !util::IsAscii(a.local_part);
  a.percent_hack = a.local_part.find('%') != std::string::npos;
  a.bang_path = a.local_part.find('!') != std::string::npos;
  a.quoted_at = a.local_part.find('@') != std::string::npos;

  // Domain.
  std::string_view domain = s.substr(at + 1);
  if (domain.empty()) return Fail(err, "missing domain");
  if (domain.front() == '[') {
    if (domain.back() != ']') return Fail(err, "bad address literal");
    util::Result<std::string> lit = ParseAddressLiteral(domain);
    if (!lit.ok()) return Fail(err, lit.status().message());
    a.domain = std::move(*lit);
    a.domain_literal = true;
  } else {
    util::Result<std::string> d = NormalizeDomain(domain, smtputf8);
    if (!d.ok()) return Fail(err, d.status().message());
    a.domain = std::move(*d);
  }
  // The limit holds for the form we store and send on: A-labels are longer than U-labels.
  if (a.Path().size() > kMaxPath) return Fail(err, "path longer than 256 octets");
  return a;
}

}  // namespace mailrelay::smtp
