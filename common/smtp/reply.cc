#include "common/smtp/reply.h"

#include "common/smtp/limits.h"

namespace mailrelay::smtp {

namespace {

void AppendLine(std::string* out, int code, std::string_view enhanced, std::string_view text,
                bool last) {
  code = ((code % 1000) + 1000) % 1000;
  out->push_back(static_cast<char>('0' + code / 100));
  out->push_back(static_cast<char>('0' + code / 10 % 10));
  out->push_back(static_cast<char>('0' + code % 10));
  out->push_back(last ? ' ' : '-');
  size_t start = out->size();
  if (!enhanced.empty()) {
    out->append(enhanced);
    if (!text.empty()) out->push_back(' ');
  }
  out->append(text);
  // Room for the text: 512 - "250-" - CRLF.
  const size_t room = kMaxReplyLine - 6;
  if (out->size() - start > room) {
    size_t cut = start + room;
    // Do not split a UTF-8 sequence: back up over continuation bytes.
    while (cut > start && (static_cast<unsigned char>((*out)[cut]) & 0xC0) == 0x80) --cut;
    out->resize(cut);
  }
  for (size_t i = start; i < out->size(); ++i) {
    unsigned char c = static_cast<unsigned char>((*out)[i]);
    if (c < 0x20 || c == 0x7f) (*out)[i] = '?';
  }
  if (last && enhanced.empty() && text.empty()) out->pop_back();  // "250\r\n"
  out->append("\r\n");
}

}  // namespace

std::string Reply::Text() const {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out.push_back(' ');
    out += lines[i];
  }
  return out;
}

std::string Reply::Format() const { return FormatReply(code, enhanced, lines); }

std::string FormatReply(int code, std::string_view enhanced, std::span<const std::string> lines) {
  std::string out;
  if (lines.empty()) {
    AppendLine(&out, code, enhanced, {}, true);
    return out;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    AppendLine(&out, code, enhanced, lines[i], i + 1 == lines.size());
  }
  return out;
}

std::string FormatReply(int code, std::string_view enhanced, std::string_view text) {
  std::string out;
  AppendLine(&out, code, enhanced, text, true);
  return out;
}

}  // namespace mailrelay::smtp
