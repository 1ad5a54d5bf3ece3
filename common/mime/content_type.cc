#include "common/mime/content_type.h"

#include <algorithm>
#include <map>
#include <optional>

#include "common/mime/charset.h"
#include "common/mime/encoded_word.h"
#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

constexpr int kMaxSection = 999;     // RFC 2231 continuation numbers we accept
constexpr size_t kMaxParams = 1000;  // parameters read from one field

// RFC 2045 token: printable ASCII except space and tspecials.
bool IsTokenChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// Skips a comment starting at s[i] == '(' (nesting and quoted pairs honoured); returns the
// index after it, or s.size() if it never closes.
size_t SkipComment(std::string_view s, size_t i) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth == 0) return i + 1;
    }
  }
  return s.size();
}

// Reads a quoted string starting at s[i] == '"' into *out (quoted pairs undone); returns the
// index after the closing quote, or s.size() if unterminated.
size_t ReadQuoted(std::string_view s, size_t i, std::string* out) {
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      out->push_back(s[++i]);
    } else if (c == '"') {
      return i + 1;
    } else {
      out->push_back(c);
    }
  }
  return s.size();
}

// Reads up to the next top-level ';' with comments removed; returns the index of the ';'
// (or s.size()).
size_t ReadUntilSemicolon(std::string_view s, size_t i, std::string* out) {
  while (i < s.size() && s[i] != ';') {
    if (s[i] == '(') {
      i = SkipComment(s, i);
    } else {
      out->push_back(s[i++]);
    }
  }
  return i;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && util::HexDigitValue(s[i + 1]) >= 0 && util::HexDigitValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(util::HexDigitValue(s[i + 1]) * 16 + util::HexDigitValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct RawParam {
  std::string name;  // lowercased, as written (with any '*' suffix)
  std::string value;
};

// RFC 2231 pieces of one parameter.
struct Sections {
  std::map<int, std::pair<bool, std::string>> parts;  // section -> (extended, raw value)
};

std::string DecodePlainValue(const std::string& name, const RawParam& p) {
  if (name == "boundary") return p.value;  // must match the body byte for byte
  if (p.value.find("=?") != std::string::npos) return DecodeHeaderText(p.value);
  return GuessToUtf8(p.value);
}

std::string JoinSections(const Sections& s) {
  std::string bytes;
  std::string charset;
  bool first = true;
  for (const auto& [index, piece] : s.parts) {
    const auto& [extended, raw] = piece;
    std::string_view v = raw;
    if (extended && first) {
      // charset'language'value; a value without the two quotes is taken whole.
      size_t q1 = v.find('\'');
      size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
      if (q2 != std::string_view::npos) {
        charset.assign(v.substr(0, q1));
        v = v.substr(q2 + 1);
      }
    }
    bytes += extended ? PercentDecode(v) : std::string(v);
    first = false;
  }
  if (charset.empty()) return GuessToUtf8(bytes);
  return ToUtf8(bytes, charset);
}

}  // namespace

const std::string* ParameterList::Get(std::string_view name) const {
  for (const auto& p : items) {
    if (util::EqualsIgnoreCase(p.name, name)) return &p.value;
  }
  return nullptr;
}

ParameterizedValue ParseParameterizedValue(std::string_view s) {
  ParameterizedValue out;
  std::string head;
  size_t i = ReadUntilSemicolon(s, 0, &head);
  out.value = util::ToLower(util::Trim(head));

  std::vector<RawParam> raw;
  while (i < s.size()) {
    ++i;  // the ';'
    while (i < s.size() && (util::IsAsciiSpace(s[i]) || s[i] == '(')) {
      i = s[i] == '(' ? SkipComment(s, i) : i + 1;
    }
    std::string name;
    while (i < s.size() && s[i] != '=' && s[i] != ';') {
      if (s[i] == '(') {
        i = SkipComment(s, i);
      } else {
        name.push_back(s[i++]);
      }
    }
    if (i >= s.size() || s[i] == ';') continue;  // no '=': not a parameter
    ++i;                                         // the '='
    while (i < s.size() && (util::IsAsciiSpace(s[i]) || s[i] == '(')) {
      i = s[i] == '(' ? SkipComment(s, i) : i + 1;
    }
    RawParam p;
    p.name = util::ToLower(util::Trim(name));
    if (i < s.size() && s[i] == '"') {
      i = ReadQuoted(s, i, &p.value);
      std::string ignored;  // junk between the closing quote and the next ';'
      i = ReadUntilSemicolon(s, i, &ignored);
    } else {
      std::string v;
      i = ReadUntilSemicolon(s, i, &v);
      p.value = std::string(util::Trim(v));
    }
    if (p.name.empty()) continue;
    if (raw.size() >= kMaxParams) break;
    raw.push_back(std::move(p));
  }

  // Group RFC 2231 pieces ("name*", "name*0", "name*1*") by base name.
  struct Entry {
    size_t first_seen = 0;
    Sections sections;                // RFC 2231 pieces, if any
    const RawParam* plain = nullptr;  // first plain occurrence
  };
  std::map<std::string, Entry> by_name;
  for (const RawParam& p : raw) {
    size_t star = p.name.find('*');
    std::optional<std::pair<int, bool>> section;  // (index, extended)
    std::string base = p.name;
    if (star != std::string::npos && star > 0) {
      std::string_view rest = std::string_view(p.name).substr(star + 1);
      if (rest.empty()) {
        section = std::make_pair(-1, true);
      } else {
        bool ext = rest.back() == '*';
        if (ext) rest.remove_suffix(1);
        auto n = util::ParseUint(rest);
        if (n && *n <= static_cast<uint64_t>(kMaxSection)) {
          section = std::make_pair(static_cast<int>(*n), ext);
        }
      }
      if (section) base = p.name.substr(0, star);
    }
    auto [it, inserted] = by_name.try_emplace(base);
    if (inserted) it->second.first_seen = by_name.size();
    if (section) {
      it->second.sections.parts.emplace(section->first, std::make_pair(section->second, p.value));
    } else if (!it->second.plain) {
      it->second.plain = &p;
    }
  }
  std::vector<std::pair<size_t, Parameter>> ordered;
  ordered.reserve(by_name.size());
  for (const auto& [base, e] : by_name) {
    // The RFC 2231 form wins over a plain one of the same name.
    std::string value =
        e.sections.parts.empty() ? DecodePlainValue(base, *e.plain) : JoinSections(e.sections);
    ordered.push_back({e.first_seen, Parameter{base, std::move(value)}});
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seen, param] : ordered) out.params.items.push_back(std::move(param));
  return out;
}

ContentType ParseContentType(std::string_view unfolded) {
  ParameterizedValue pv = ParseParameterizedValue(unfolded);
  ContentType ct;
  ct.params = std::move(pv.params);
  size_t slash = pv.value.find('/');
  if (slash == std::string::npos) return ct;
  std::string type(util::Trim(std::string_view(pv.value).substr(0, slash)));
  std::string subtype(util::Trim(std::string_view(pv.value).substr(slash + 1)));
  if (type.empty() || subtype.empty()) return ct;
  for (char c : type + subtype) {
    if (!IsTokenChar(c)) return ct;
  }
  ct.type = std::move(type);
  ct.subtype = std::move(subtype);
  ct.valid = true;
  return ct;
}

ContentDisposition ParseContentDisposition(std::string_view unfolded) {
  ParameterizedValue pv = ParseParameterizedValue(unfolded);
  ContentDisposition cd;
  cd.type = std::move(pv.value);
  cd.params = std::move(pv.params);
  return cd;
}

}  // namespace mailrelay::mime
