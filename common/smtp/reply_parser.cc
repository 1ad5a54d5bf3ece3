#include "common/smtp/reply_parser.h"

#include <cstring>

#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// 1*3DIGIT, returns the number of digits consumed (0 on failure).
size_t Digits(std::string_view s, size_t pos) {
  size_t n = 0;
  while (pos + n < s.size() && IsDigit(s[pos + n]) && n < 4) ++n;
  return n >= 1 && n <= 3 ? n : 0;
}

}  // namespace

bool SplitEnhancedCode(int code, std::string_view text, std::string* enhanced,
                       std::string_view* rest) {
  // class "." subject "." detail (RFC 3463 section 2), class in {2,4,5} matching the reply.
  if (text.size() < 5 || text[1] != '.') return false;
  const char cls = text[0];
  if ((cls != '2' && cls != '4' && cls != '5') || cls - '0' != code / 100) return false;
  size_t subject = Digits(text, 2);
  if (subject == 0) return false;
  size_t dot2 = 2 + subject;
  if (dot2 >= text.size() || text[dot2] != '.') return false;
  size_t detail = Digits(text, dot2 + 1);
  if (detail == 0) return false;
  size_t end = dot2 + 1 + detail;
  if (end < text.size() && text[end] != ' ' && text[end] != '\t') return false;
  *enhanced = std::string(text.substr(0, end));
  std::string_view r = text.substr(end);
  while (!r.empty() && (r.front() == ' ' || r.front() == '\t')) r.remove_prefix(1);
  *rest = r;
  return true;
}

ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {
  if (limits_.max_line < 8) limits_.max_line = 8;
  if (limits_.max_lines < 1) limits_.max_lines = 1;
}

Reply ReplyParser::TakeReply() {
  Reply r = std::move(reply_);
  reply_ = Reply();
  complete_ = false;
  return r;
}

util::Status ReplyParser::Broken(std::string message) {
  error_ = util::InvalidArgument("bad SMTP reply: " + message);
  return error_;
}

util::Status ReplyParser::ParseLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])) {
    return Broken("no reply code in \"" + util::Printable(line, 60) + "\"");
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (line[0] < '2' || line[0] > '5' || line[1] > '5') {
    return Broken("reply code " + std::to_string(code) + " out of range");
  }
  bool last = true;
  std::string_view text;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return Broken("bad separator after reply code in \"" + util::Printable(line, 60) + "\"");
    }
    text = line.substr(4);
  }
  if (reply_.lines.empty()) {
    reply_.code = code;
  } else if (code != reply_.code) {
    return Broken("reply code changed from " + std::to_string(reply_.code) + " to " +
                  std::to_string(code) + " inside a multi-line reply");
  }
  if (reply_.lines.size() >= limits_.max_lines) return Broken("too many lines in one reply");
  std::string enhanced;
  std::string_view rest;
  if (SplitEnhancedCode(code, text, &enhanced, &rest)) {
    if (reply_.lines.empty()) reply_.enhanced = enhanced;
    text = rest;
  }
  reply_.lines.emplace_back(text);
  if (last) complete_ = true;
  return util::Status::Ok();
}

util::Result<size_t> ReplyParser::Feed(std::string_view data) {
  if (!error_.ok()) return error_;
  if (complete_) return size_t{0};  // TakeReply() first
  size_t i = 0;
  while (i < data.size()) {
    const char* p = data.data() + i;
    const size_t n = data.size() - i;
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', n));
    const size_t take = lf ? static_cast<size_t>(lf - p) : n;
    if (partial_.size() + take + (lf ? 1 : 0) > limits_.max_line) {
      return Broken("line longer than " + std::to_string(limits_.max_line) + " octets");
    }
    partial_.append(p, take);
    if (!lf) return data.size();
    i += take + 1;
    util::Status st = ParseLine(partial_);
    partial_.clear();
    if (!st.ok()) return st;
    if (complete_) return i;
  }
  return i;
}

}  // namespace mailrelay::smtp
