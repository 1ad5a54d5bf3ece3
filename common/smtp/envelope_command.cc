#include "common/smtp/envelope_command.h"

#include <vector>

#include "common/util/strings.h"


namespace mailrelay::smtp {

namespace {

struct Param {
  std::string_view keyword;
  std::optional<std::string_view> value;
};

// Splits "FROM:<path> params" into the path and the parameter list.
struct PathAndParams {
  std::string path;           // with brackets (added in allow_missing_brackets mode)
  std::string_view original;  // the path as sent
  std::string_view params;
};

ParseResult<PathAndParams> SplitPathAndParams(std::string_view argument, std::string_view prefix,
                                              Error path_error, std::string_view usage,
                                              const EnvelopeOptions& options) {
  if (!util::StartsWithIgnoreCase(argument, prefix)) return Fail(Error::kUsage, std::string(usage));
  std::string_view s = argument.substr(prefix.size());
  while (!s.empty() && util::IsBlank(s.front())) s.remove_prefix(1);  // "FROM: <a@b>" (Postfix)
  if (s.empty()) return Fail(Error::kUsage, std::string(usage));

  PathAndParams out;
  size_t end;
  if (s.front() == '<') {
    // The first '>' outside a quoted-string closes the path.
    bool quoted = false;
    end = std::string_view::npos;
    for (size_t i = 1; i < s.size(); ++i) {
      char c = s[i];
      if (quoted && c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == '>' && !quoted) {
        end = i + 1;
        break;
      }
    }
    if (end == std::string_view::npos) return Fail(path_error, "missing '>'");
    out.path = std::string(s.substr(0, end));
    out.original = s.substr(0, end);
  } else {
    if (!options.allow_missing_brackets) return Fail(path_error, "address not in angle brackets");
    end = 0;
    while (end < s.size() && !util::IsBlank(s[end])) ++end;
    out.path = "<" + std::string(s.substr(0, end)) + ">";
    out.original = s.substr(0, end);
  }
  std::string_view rest = s.substr(end);
  if (!rest.empty() && !util::IsBlank(rest.front())) return Fail(path_error, "garbage after address");
  out.params = rest;
  return out;
}

bool IsKeyword(std::string_view k) {
  if (k.empty()) return false;
  for (size_t i = 0; i < k.size(); ++i) {
    char c = k[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(i > 0 && c == '-')) return false;
  }
  return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 under SMTPUTF8 (RFC 6531 section 3.3,
// checked by CheckUtf8Values once the whole line is known).
bool IsValue(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v) {
    if (c < 0x80 && (c < 33 || c > 126 || c == '=')) return false;
  }
  return true;
}

ParseResult<std::vector<Param>> Tokenize(std::string_view s) {
  std::vector<Param> out;
  while (true) {
    while (!s.empty() && util::IsBlank(s.front())) s.remove_prefix(1);
    if (s.empty()) break;
    size_t end = 0;
    while (end < s.size() && !util::IsBlank(s[end])) ++end;
    std::string_view word = s.substr(0, end);
    s.remove_prefix(end);
    Param p;
    size_t eq = word.find('=');
    p.keyword = word.substr(0, eq);
    if (!IsKeyword(p.keyword)) return Fail(Error::kBadParameter, std::string(word.substr(0, 32)));
    if (eq != std::string_view::npos) {
      p.value = word.substr(eq + 1);
      if (!IsValue(*p.value)) return Fail(Error::kBadParameter, std::string(p.keyword));
    }
    for (const Param& q : out) {
      if (util::EqualsIgnoreCase(q.keyword, p.keyword)) {
        return Fail(Error::kDuplicateParameter, util::ToUpper(p.keyword));
      }
    }
    out.push_back(p);
    if (out.size() > 16) return Fail(Error::kBadParameter, "too many parameters");
  }
  return out;
}

bool IsXtext(std::string_view v) { return XtextDecode(v).has_value(); }

// Non-ASCII values are allowed only under SMTPUTF8, which may come later on the line.
ParseResult<std::vector<Param>> CheckUtf8Values(std::vector<Param> params, bool utf8) {
  for (const Param& p : params) {
    if (p.value && !utf8 && !util::IsAscii(*p.value)) {
      return Fail(Error::kBadParameter, util::ToUpper(p.keyword));
    }
  }
  return params;
}

Failure Unsupported(const Param& p) {
  return Fail(Error::kUnsupportedParameter, util::ToUpper(p.keyword));
}

Failure Bad(const Param& p) { return Fail(Error::kBadParameter, util::ToUpper(p.keyword)); }

}  // namespace

std::optional<std::string> XtextDecode(std::string_view xtext) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < xtext.size(); ++i) {
    char c = xtext[i];
    if (c == '+') {
      if (i + 2 >= xtext.size()) return std::nullopt;
      int hi = hex(xtext[i + 1]);
      int lo = hex(xtext[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c >= '!' && c <= '~' && c != '=') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string XtextEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ParseResult<MailFrom> ParseMailFrom(std::string_view argument, const EnvelopeOptions& options) {
  ParseResult<PathAndParams> split =
      SplitPathAndParams(argument, "FROM:", Error::kBadSender, "MAIL FROM:<address>", options);
  if (!split.ok()) return split.failure();
  ParseResult<std::vector<Param>> tokens = Tokenize(split->params);
  if (!tokens.ok()) return tokens.failure();
  bool utf8 = false;
  for (const Param& p : *tokens) utf8 |= util::EqualsIgnoreCase(p.keyword, "SMTPUTF8");
  ParseResult<std::vector<Param>> params = CheckUtf8Values(std::move(*tokens), utf8);
  if (!params.ok()) return params.failure();

  MailFrom out;
  for (const Param& p : *params) {
    const std::string kw = util::ToUpper(p.keyword);
    if (kw == "SIZE") {
      std::optional<uint64_t> v;
      if (p.value) v = util::ParseUint(*p.value);
      if (!v) return Bad(p);
      out.params.size = v;
    } else if (kw == "BODY") {
      if (!p.value) return Bad(p);
      if (util::EqualsIgnoreCase(*p.value, "7BIT")) {
        out.params.body = BodyType::k7Bit;
      } else if (util::EqualsIgnoreCase(*p.value, "8BITMIME")) {
        out.params.body = BodyType::k8BitMime;
      } else if (util::EqualsIgnoreCase(*p.value, "BINARYMIME")) {
        out.params.body = BodyType::kBinaryMime;
      } else {
        return Bad(p);
      }
    } else if (kw == "SMTPUTF8") {
      if (p.value) return Bad(p);
      out.params.smtputf8 = true;
    } else if (kw == "AUTH") {
      if (!p.value || (*p.value != "<>" && !IsXtext(*p.value))) return Bad(p);
      out.params.auth = std::string(*p.value);
    } else if (kw == "RET") {
      if (!p.value) return Bad(p);
      std::string v = util::ToUpper(*p.value);
      if (v != "FULL" && v != "HDRS") return Bad(p);
      out.params.ret = v;
    } else if (kw == "ENVID") {
      if (!p.value || p.value->size() > 100 || !IsXtext(*p.value)) return Bad(p);
      out.params.envid = std::string(*p.value);
    } else {
      return Unsupported(p);  // including RCPT's NOTIFY and ORCPT
    }
  }

  ParseResult<Address> sender = ParsePath(split->path, PathKind::kReversePath, out.params.smtputf8);
  if (!sender.ok()) return sender.failure();
  out.sender = std::move(*sender);
  out.sender.original = std::string(split->original);
  return out;
}

ParseResult<RcptTo> ParseRcptTo(std::string_view argument, bool smtputf8,
                                const EnvelopeOptions& options) {
  ParseResult<PathAndParams> split =
      SplitPathAndParams(argument, "TO:", Error::kBadRecipient, "RCPT TO:<address>", options);
  if (!split.ok()) return split.failure();
  ParseResult<std::vector<Param>> tokens = Tokenize(split->params);
  if (!tokens.ok()) return tokens.failure();
  ParseResult<std::vector<Param>> params = CheckUtf8Values(std::move(*tokens), smtputf8);
  if (!params.ok()) return params.failure();

  RcptTo out;
  for (const Param& p : *params) {
    const std::string kw = util::ToUpper(p.keyword);
    if (kw == "NOTIFY") {
      if (!p.value) return Bad(p);
      std::string v = util::ToUpper(*p.value);
      std::vector<std::string> items = util::Split(v, ',', false);
      bool never = false;
      for (size_t i = 0; i < items.size(); ++i) {
        const std::string& item = items[i];
        if (item == "NEVER") {
          never = true;
        } else if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") {
          return Bad(p);
        }
        for (size_t j = 0; j < i; ++j) {
          if (items[j] == item) return Bad(p);
        }
      }
      if (never && items.size() != 1) return Bad(p);
      out.params.notify = v;
    } else if (kw == "ORCPT") {
      if (!p.value || p.value->size() > 500) return Bad(p);
      size_t semi = p.value->find(';');
      if (semi == std::string_view::npos || semi == 0) return Bad(p);
      std::string_view type = p.value->substr(0, semi);
      std::string_view addr = p.value->substr(semi + 1);
      if (!IsKeyword(type) || addr.empty()) return Bad(p);
      // utf-8-addr-xtext (RFC 6533) under SMTPUTF8; plain xtext otherwise.
      if (util::IsAscii(addr) && !IsXtext(addr)) return Bad(p);
      out.params.orcpt = std::string(*p.value);
    } else {
      return Unsupported(p);  // including MAIL's SIZE, BODY, ...
    }
  }

  ParseResult<Address> rcpt = ParsePath(split->path, PathKind::kForwardPath, smtputf8);
  if (!rcpt.ok()) return rcpt.failure();
  out.recipient = std::move(*rcpt);
  out.recipient.original = std::string(split->original);
  return out;
}

}  // namespace mailrelay::smtp
