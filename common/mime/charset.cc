#include "common/mime/charset.h"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

// windows-1252 0x80-0x9F; the five undefined bytes map to the C1 control, as WHATWG does.
constexpr uint16_t kCp1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 80-87
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,  // 88-8F
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 90-97
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,  // 98-9F
};

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string Cp1252ToUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  for (char ch : bytes) {
    auto c = static_cast<uint8_t>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else if (c < 0xa0) {
      AppendUtf8(&out, kCp1252High[c - 0x80]);
    } else {
      AppendUtf8(&out, c);
    }
  }
  return out;
}

// Names iconv spells differently or that senders use for a superset.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"ks_c_5601-1987", "CP949"},
    {"ks_c_5601", "CP949"},
    {"euc-kr", "CP949"},
    {"gb2312", "GB18030"},
    {"gbk", "GB18030"},
    {"x-gbk", "GB18030"},
    {"shift_jis", "CP932"},
    {"shift-jis", "CP932"},
    {"sjis", "CP932"},
    {"x-sjis", "CP932"},
    {"windows-31j", "CP932"},
    {"ms_kanji", "CP932"},
    {"iso-8859-8-i", "ISO-8859-8"},
    {"big5", "BIG5-HKSCS"},
    {"x-mac-roman", "MACINTOSH"},
    {"macintosh", "MACINTOSH"},
    {"unicode-1-1-utf-7", "UTF-7"},
};

bool IsLatin1Label(std::string_view n) {
  return n == "iso-8859-1" || n == "iso8859-1" || n == "iso_8859-1" || n == "latin1" ||
         n == "latin-1" || n == "l1" || n == "cp819" || n == "ibm819" || n == "iso-ir-100" ||
         n == "windows-1252" || n == "cp1252" || n == "x-cp1252" || n == "cp-1252" ||
         n == "iso_8859-1:1987" || n == "csisolatin1";
}

bool IsAsciiLabel(std::string_view n) {
  return n.empty() || n == "us-ascii" || n == "ascii" || n == "ansi_x3.4-1968" ||
         n == "iso646-us" || n == "us" || n == "cp367" || n == "646" || n == "default" ||
         n == "x-unknown" || n == "unknown" || n == "unknown-8bit" || n == "x-user-defined";
}

bool IsUtf8Label(std::string_view n) { return n == "utf-8" || n == "utf8" || n == "x-utf-8"; }

// iconv sees only names made of these characters; anything else is "unknown". Keeps
// hostile names away from gconv's name parsing ("//" suffixes and the like).
bool IsSafeIconvName(std::string_view n) {
  if (n.empty() || n.size() > 40) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string IconvToUtf8(std::string_view bytes, iconv_t cd) {
  std::string out;
  out.resize(bytes.size() * 2 + 16);
  size_t used = 0;
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  auto append_replacement = [&] {
    if (out.size() - used < kReplacement.size()) out.resize(out.size() * 2 + 16);
    out.replace(used, kReplacement.size(), kReplacement);
    used += kReplacement.size();
  };
  while (true) {
    char* out_ptr = out.data() + used;
    size_t out_left = out.size() - used;
    // in == nullptr flushes the shift state once all input is consumed.
    size_t r =
        iconv(cd, in_left ? &in : nullptr, in_left ? &in_left : nullptr, &out_ptr, &out_left);
    used = static_cast<size_t>(out_ptr - out.data());
    if (r != static_cast<size_t>(-1)) {
      if (in_left == 0) {
        // A second call with nullptr input writes the final shift sequence, if any.
        out_ptr = out.data() + used;
        out_left = out.size() - used;
        if (iconv(cd, nullptr, nullptr, &out_ptr, &out_left) != static_cast<size_t>(-1)) {
          used = static_cast<size_t>(out_ptr - out.data());
        }
        break;
      }
      continue;
    }
    if (errno == E2BIG) {
      out.resize(out.size() * 2 + 16);
    } else if (errno == EILSEQ && in_left > 0) {
      append_replacement();
      ++in;
      --in_left;
    } else {  // EINVAL: truncated sequence at the end (or anything unexpected)
      append_replacement();
      break;
    }
  }
  out.resize(used);
  // iconv emits UTF-8, but a buggy converter must not smuggle invalid bytes through.
  if (!IsValidUtf8(out)) return SanitizeUtf8(out);
  return out;
}

// iconv_open costs tens of microseconds (module lookup, dlopen); a hostile header can hold
// a million encoded words in alternating charsets. Each thread keeps a few open descriptors
// (iconv_t is not thread-safe, so they are never shared) and resets their state per use.
class IconvCache {
 public:
  ~IconvCache() {
    for (auto& [name, cd] : entries_) iconv_close(cd);
  }
  // nullptr-like (iconv_t)-1 if iconv does not know the charset.
  iconv_t Get(const std::string& name) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first == name) {
        std::rotate(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(i),
                    entries_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        iconv(entries_[0].second, nullptr, nullptr, nullptr, nullptr);  // initial state
        return entries_[0].second;
      }
    }
    iconv_t cd = iconv_open("UTF-8", name.c_str());
    if (cd == kInvalid) return kInvalid;
    if (entries_.size() == kSize) {
      iconv_close(entries_.back().second);
      entries_.pop_back();
    }
    entries_.insert(entries_.begin(), {name, cd});
    return cd;
  }

  static inline const iconv_t kInvalid = reinterpret_cast<iconv_t>(-1);

 private:
  static constexpr size_t kSize = 8;
  std::vector<std::pair<std::string, iconv_t>> entries_;  // most recently used first
};

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string GuessToUtf8(std::string_view bytes) {
  if (IsValidUtf8(bytes)) return std::string(bytes);
  return Cp1252ToUtf8(bytes);
}

std::string NormalizeCharset(std::string_view charset) {
  std::string_view c = util::Trim(charset);
  while (!c.empty() && (c.front() == '"' || c.front() == '\'')) c.remove_prefix(1);
  while (!c.empty() && (c.back() == '"' || c.back() == '\'')) c.remove_suffix(1);
  size_t star = c.find('*');
  if (star != std::string_view::npos) c = c.substr(0, star);
  return util::ToLower(util::Trim(c));
}

std::string ToUtf8(std::string_view bytes, std::string_view charset) {
  std::string name = NormalizeCharset(charset);
  if (IsUtf8Label(name)) return IsValidUtf8(bytes) ? std::string(bytes) : SanitizeUtf8(bytes);
  if (IsLatin1Label(name)) return Cp1252ToUtf8(bytes);
  if (IsAsciiLabel(name)) return GuessToUtf8(bytes);
  std::string iconv_name = name;
  for (const auto& [alias, real] : kAliases) {
    if (name == alias) {
      iconv_name = std::string(real);
      break;
    }
  }
  if (!IsSafeIconvName(iconv_name)) return GuessToUtf8(bytes);
  thread_local IconvCache cache;
  iconv_t cd = cache.Get(iconv_name);
  if (cd == IconvCache::kInvalid) return GuessToUtf8(bytes);
  return IconvToUtf8(bytes, cd);
}

}  // namespace mailrelay::mime
