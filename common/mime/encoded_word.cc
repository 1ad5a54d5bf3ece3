#include "common/mime/encoded_word.h"

#include <cstdint>

#include "common/mime/charset.h"
#include "common/mime/transfer.h"
#include "common/util/base64.h"
#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

constexpr size_t kMaxWord = 75;        // RFC 2047 section 2
constexpr size_t kMaxCharsetLen = 64;  // generous; real names are short

std::string DecodeQ(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < text.size() && util::HexDigitValue(text[i + 1]) >= 0 &&
               util::HexDigitValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(util::HexDigitValue(text[i + 1]) * 16 + util::HexDigitValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Length of the encoded word starting at s[pos] ("=?"), 0 if none starts there.
size_t MatchEncodedWord(std::string_view s, size_t pos) {
  if (s.substr(pos, 2) != "=?") return 0;
  size_t i = pos + 2;
  size_t charset_begin = i;
  while (i < s.size() && s[i] != '?' && !util::IsAsciiSpace(s[i]) && i - charset_begin <= kMaxCharsetLen) {
    ++i;
  }
  if (i == charset_begin || i >= s.size() || s[i] != '?') return 0;
  ++i;
  if (i + 1 >= s.size()) return 0;
  char enc = s[i];
  if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q') return 0;
  if (s[i + 1] != '?') return 0;
  i += 2;
  while (i < s.size() && s[i] != '?' && !util::IsAsciiSpace(s[i])) ++i;
  if (i + 1 >= s.size() || s[i] != '?' || s[i + 1] != '=') return 0;
  return i + 2 - pos;
}

}  // namespace

std::optional<EncodedWord> ParseEncodedWord(std::string_view word) {
  if (MatchEncodedWord(word, 0) != word.size()) return std::nullopt;
  std::string_view inner = word.substr(2, word.size() - 4);  // charset?e?text
  size_t q1 = inner.find('?');
  EncodedWord out;
  out.charset.assign(inner.substr(0, q1));
  char enc = inner[q1 + 1];
  std::string_view text = inner.substr(q1 + 3);
  if (enc == 'B' || enc == 'b') {
    out.bytes = DecodeBase64(text);
  } else {
    out.bytes = DecodeQ(text);
  }
  return out;
}

std::string DecodeHeaderText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::string pending_charset;  // normalised charset of the words collected in pending
  std::string pending;
  bool have_pending = false;
  auto flush = [&] {
    if (!have_pending) return;
    out += ToUtf8(pending, pending_charset);
    pending.clear();
    have_pending = false;
  };
  size_t literal_begin = 0;  // start of text not yet copied to out
  bool after_word = false;   // the last thing copied was an encoded word
  size_t search = 0;
  while (true) {
    size_t p = text.find("=?", search);
    if (p == std::string_view::npos) break;
    size_t len = MatchEncodedWord(text, p);
    if (len == 0) {
      search = p + 1;
      continue;
    }
    std::string_view between = text.substr(literal_begin, p - literal_begin);
    bool only_space = true;
    for (char c : between) only_space = only_space && util::IsAsciiSpace(c);
    if (!(after_word && only_space)) {
      flush();
      out += GuessToUtf8(between);
    }
    auto word = ParseEncodedWord(text.substr(p, len));
    std::string charset = NormalizeCharset(word->charset);
    if (have_pending && charset != pending_charset) flush();
    pending_charset = charset;
    pending += word->bytes;
    have_pending = true;
    after_word = true;
    literal_begin = search = p + len;
  }
  flush();
  out += GuessToUtf8(text.substr(literal_begin));
  return out;
}

bool NeedsEncoding(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<uint8_t>(c);
    if (u >= 0x7f || (u < 0x20 && c != '\t')) return true;
  }
  return text.find("=?") != std::string_view::npos;
}

std::string EncodeWords(std::string_view text) {
  std::string utf8 = SanitizeUtf8(text);
  auto q_safe = [](uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '*' || c == '+' || c == '-' || c == '/';
  };
  size_t q_len = 0;
  for (char c : utf8) q_len += (q_safe(static_cast<uint8_t>(c)) || c == ' ') ? 1 : 3;
  bool use_b = q_len > (utf8.size() + 2) / 3 * 4;
  std::string_view prefix = use_b ? "=?UTF-8?B?" : "=?UTF-8?Q?";
  const size_t budget = kMaxWord - prefix.size() - 2;  // room for encoded text per word

  std::string out;
  std::string chunk;  // raw bytes of the word being built
  size_t chunk_cost = 0;
  auto emit = [&] {
    if (!out.empty()) out.push_back(' ');
    out.append(prefix);
    if (use_b) {
      out += util::Base64Encode(chunk);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      for (char c : chunk) {
        auto u = static_cast<uint8_t>(c);
        if (c == ' ') {
          out.push_back('_');
        } else if (q_safe(u)) {
          out.push_back(c);
        } else {
          out.push_back('=');
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 15]);
        }
      }
    }
    out.append("?=");
    chunk.clear();
    chunk_cost = 0;
  };
  for (size_t i = 0; i < utf8.size();) {
    size_t n = Utf8SequenceLength(utf8, i);  // never 0 after SanitizeUtf8
    std::string_view ch = std::string_view(utf8).substr(i, n);
    size_t cost = 0;  // Q: encoded length of this character
    for (char c : ch) cost += (q_safe(static_cast<uint8_t>(c)) || c == ' ') ? 1 : 3;
    size_t grown = use_b ? (chunk.size() + n + 2) / 3 * 4 : chunk_cost + cost;
    if (!chunk.empty() && grown > budget) emit();
    chunk.append(ch);
    chunk_cost += cost;
    i += n;
  }
  if (!chunk.empty()) emit();
  return out;
}

}  // namespace mailrelay::mime
