#include "common/mime/address_list.h"

#include <cstdint>

#include "common/mime/encoded_word.h"
#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

enum class Kind { kAtom, kQuoted, kComment, kLiteral, kSpecial, kSpace };

struct Token {
  Kind kind;
  std::string_view raw;  // the token as written
  std::string text;      // quoted string / comment content with quoted pairs undone
};

bool IsSpecial(char c) {
  return std::string_view("()<>[]:;@\\,.\"").find(c) != std::string_view::npos;
}

std::vector<Token> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t begin = i;
    char c = s[i];
    Token t{Kind::kAtom, {}, {}};
    if (util::IsAsciiSpace(c)) {
      while (i < s.size() && util::IsAsciiSpace(s[i])) ++i;
      t.kind = Kind::kSpace;
    } else if (c == '"') {
      t.kind = Kind::kQuoted;
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        t.text.push_back(s[i]);
      }
      if (i < s.size()) ++i;  // closing quote (an unterminated one runs to the end)
    } else if (c == '(') {
      t.kind = Kind::kComment;
      int depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          t.text.push_back(s[++i]);
          continue;
        }
        if (s[i] == '(' && depth++ == 0) continue;
        if (s[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
        t.text.push_back(s[i]);
      }
    } else if (c == '[') {
      t.kind = Kind::kLiteral;
      while (i < s.size() && s[i] != ']') ++i;
      if (i < s.size()) ++i;
    } else if (IsSpecial(c)) {
      t.kind = Kind::kSpecial;
      ++i;
    } else {
      while (i < s.size() && !util::IsAsciiSpace(s[i]) && !IsSpecial(s[i])) ++i;
    }
    t.raw = s.substr(begin, i - begin);
    out.push_back(std::move(t));
  }
  return out;
}

bool IsSpecialToken(const Token& t, char c) { return t.kind == Kind::kSpecial && t.raw[0] == c; }

using Span = std::vector<const Token*>;

// Display name: words joined by single spaces (comments count as space), quoted strings
// unquoted, then RFC 2047 decoding (which drops the space between adjacent encoded words).
std::string PhraseText(const Span& tokens) {
  std::string raw;
  bool pending_space = false;
  for (const Token* t : tokens) {
    if (t->kind == Kind::kSpace || t->kind == Kind::kComment) {
      pending_space = true;
      continue;
    }
    if (pending_space && !raw.empty()) raw.push_back(' ');
    pending_space = false;
    if (t->kind == Kind::kQuoted) {
      raw += t->text;
    } else {
      raw.append(t->raw);
    }
  }
  return std::string(util::Trim(DecodeHeaderText(raw)));
}

// addr-spec: everything but whitespace and comments, quoted local parts kept quoted.
std::string AddressText(const Span& tokens) {
  std::string out;
  for (const Token* t : tokens) {
    if (t->kind == Kind::kSpace || t->kind == Kind::kComment) continue;
    out.append(t->raw);
  }
  return out;
}

std::string CommentName(const Span& tokens) {
  for (const Token* t : tokens) {
    if (t->kind == Kind::kComment) {
      std::string name(util::Trim(DecodeHeaderText(t->text)));
      if (!name.empty()) return name;
    }
  }
  return "";
}

// One mailbox from its tokens; false if they hold none.
bool MakeMailbox(const Span& tokens, Mailbox* out) {
  size_t lt = tokens.size();
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (IsSpecialToken(*tokens[k], '<')) {
      lt = k;
      break;
    }
  }
  if (lt < tokens.size()) {
    Span phrase(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(lt));
    Span addr;
    for (size_t k = lt + 1; k < tokens.size() && !IsSpecialToken(*tokens[k], '>'); ++k) {
      // An obsolete source route "<@a,@b:user@host>" ends at the last ':'.
      if (IsSpecialToken(*tokens[k], ':')) {
        addr.clear();
        continue;
      }
      addr.push_back(tokens[k]);
    }
    out->name = PhraseText(phrase);
    out->address = AddressText(addr);
    return !out->name.empty() || !out->address.empty();
  }
  bool has_at = false;
  bool has_quoted = false;
  size_t words = 0;
  bool in_word = false;
  for (const Token* t : tokens) {
    if (IsSpecialToken(*t, '@')) has_at = true;
    if (t->kind == Kind::kQuoted) has_quoted = true;
    bool wordish = t->kind == Kind::kAtom || t->kind == Kind::kQuoted;
    if (wordish && !in_word) ++words;
    in_word = t->kind != Kind::kSpace && t->kind != Kind::kComment;
  }
  if (words == 0) return false;
  // "Some Name" or a lone quoted string is no address; a lone atom is a local one.
  if (!has_at && (words > 1 || has_quoted)) return false;
  out->address = AddressText(tokens);
  out->name = CommentName(tokens);
  return !out->address.empty();
}

}  // namespace

AddressList ParseAddressList(std::string_view unfolded) {
  std::vector<Token> tokens = Tokenize(unfolded);
  AddressList out;
  Span cur;
  int angle = 0;
  bool in_group = false;
  Group group;
  auto finish = [&] {
    Mailbox m;
    if (MakeMailbox(cur, &m)) {
      if (in_group) group.members.push_back(m);
      out.mailboxes.push_back(std::move(m));
    }
    cur.clear();
  };
  auto has_special = [&](char c) {
    for (const Token* t : cur) {
      if (IsSpecialToken(*t, c)) return true;
    }
    return false;
  };
  for (const Token& t : tokens) {
    if (t.kind != Kind::kSpecial) {
      cur.push_back(&t);
      continue;
    }
    char c = t.raw[0];
    if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (angle > 0) --angle;
    } else if (angle == 0 && c == ',') {
      finish();
      continue;
    } else if (angle == 0 && c == ':' && !in_group && !has_special('@') && !has_special('<')) {
      group = Group{PhraseText(cur), {}};
      in_group = true;
      cur.clear();
      continue;
    } else if (angle == 0 && c == ';' && in_group) {
      finish();
      out.groups.push_back(std::move(group));
      group = Group{};
      in_group = false;
      continue;
    }
    cur.push_back(&t);
  }
  finish();
  if (in_group) out.groups.push_back(std::move(group));  // "name: a@b" without the ';'
  return out;
}

std::string FormatMailbox(const Mailbox& mailbox) {
  std::string address;
  for (char c : mailbox.address) {
    auto u = static_cast<uint8_t>(c);
    if (u >= 0x20 && u != 0x7f) address.push_back(c);
  }
  if (mailbox.name.empty()) return address.empty() ? "<>" : address;
  std::string name;
  if (NeedsEncoding(mailbox.name)) {
    name = EncodeWords(mailbox.name);
  } else {
    bool plain = true;  // only atext and spaces: no quoting needed
    for (char c : mailbox.name) {
      if (c != ' ' && (IsSpecial(c) || c == '\t')) plain = false;
    }
    if (plain) {
      name = mailbox.name;
    } else {
      name.push_back('"');
      for (char c : mailbox.name) {
        if (c == '"' || c == '\\') name.push_back('\\');
        name.push_back(c);
      }
      name.push_back('"');
    }
  }
  return name + " <" + address + ">";
}

std::string FormatMailboxList(const std::vector<Mailbox>& mailboxes) {
  std::string out;
  for (const Mailbox& m : mailboxes) {
    if (!out.empty()) out += ", ";
    out += FormatMailbox(m);
  }
  return out;
}

}  // namespace mailrelay::mime
