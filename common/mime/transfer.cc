#include "common/mime/transfer.h"

#include <array>
#include <cstdint>

#include "common/util/base64.h"
#include "common/util/strings.h"

namespace mailrelay::mime {

namespace {

std::array<int8_t, 256> MakeBase64Table() {
  std::array<int8_t, 256> t;
  t.fill(-1);
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}

std::string DecodeBase64Lenient(std::string_view text) {
  static const std::array<int8_t, 256> table = MakeBase64Table();
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int count = 0;  // sextets in the current quantum
  for (char ch : text) {
    if (ch == '=') {
      // Padding ends the quantum: emit what the sextets so far hold, start afresh.
      if (count == 2) out.push_back(static_cast<char>((acc >> 4) & 0xff));
      if (count == 3) {
        out.push_back(static_cast<char>((acc >> 10) & 0xff));
        out.push_back(static_cast<char>((acc >> 2) & 0xff));
      }
      acc = 0;
      count = 0;
      continue;
    }
    int v = table[static_cast<uint8_t>(ch)];
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>((acc >> 16) & 0xff));
      out.push_back(static_cast<char>((acc >> 8) & 0xff));
      out.push_back(static_cast<char>(acc & 0xff));
      acc = 0;
      count = 0;
    }
  }
  if (count == 2) out.push_back(static_cast<char>((acc >> 4) & 0xff));
  if (count == 3) {
    out.push_back(static_cast<char>((acc >> 10) & 0xff));
    out.push_back(static_cast<char>((acc >> 2) & 0xff));
  }
  return out;
}

}  // namespace

std::string DecodeBase64(std::string_view text) {
  // Well-formed bodies take the strict shared decoder; damaged ones the lenient one.
  if (auto strict = util::Base64Decode(text)) return std::move(*strict);
  return DecodeBase64Lenient(text);
}

std::string DecodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t line_end = nl == std::string_view::npos ? text.size() : nl;
    size_t content_end = line_end;
    if (content_end > pos && text[content_end - 1] == '\r') --content_end;
    size_t next = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view eol = text.substr(content_end, next - content_end);
    std::string_view line = text.substr(pos, content_end - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    bool soft_break = !line.empty() && line.back() == '=';
    if (soft_break) line.remove_suffix(1);
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '=' && i + 2 < line.size()) {
        int hi = util::HexDigitValue(line[i + 1]);
        int lo = util::HexDigitValue(line[i + 2]);
        if (hi >= 0 && lo >= 0) {
          out.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
          continue;
        }
      }
      out.push_back(c);
    }
    if (!soft_break) out.append(eol);
    pos = next;
  }
  return out;
}

std::string DecodeTransferEncoding(std::string_view body, std::string_view encoding) {
  std::string_view e = util::Trim(encoding);
  if (util::EqualsIgnoreCase(e, "base64")) return DecodeBase64(body);
  if (util::EqualsIgnoreCase(e, "quoted-printable")) return DecodeQuotedPrintable(body);
  return std::string(body);
}

}  // namespace mailrelay::mime
