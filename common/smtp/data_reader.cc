#include "common/smtp/data_reader.h"

#include <cstring>

namespace mailrelay::smtp {

DataReader::DataReader(uint64_t max_size, size_t max_line)
    : max_size_(max_size), max_line_(max_line < 3 ? 3 : max_line) {}

void DataReader::Reset() {
  state_ = State::kLineStart;
  line_len_ = 0;
  size_ = 0;
  too_big_ = false;
  line_too_long_ = false;
}

void DataReader::Emit(const char* p, size_t n, std::string* out) {
  size_ += n;
  if (max_size_ != 0 && size_ > max_size_) too_big_ = true;
  if (!too_big_ && !line_too_long_) out->append(p, n);
}

void DataReader::AddLineBytes(size_t n) {
  line_len_ += n;
  if (line_len_ > max_line_ - 2) line_too_long_ = true;
}

DataReader::Step DataReader::Feed(std::string_view data, std::string* out) {
  if (state_ == State::kDone) return {Event::kEnd, 0};
  if (state_ == State::kBroken) return {Event::kBareNewline, 0};
  const char* base = data.data();
  const size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    switch (state_) {
      case State::kLineStart:
        line_len_ = 0;
        if (base[i] == '.') {
          state_ = State::kDot;
          ++i;
        } else {
          state_ = State::kInLine;
        }
        break;

      case State::kDot:
        if (base[i] == '\r') {
          state_ = State::kDotCr;
          ++i;
        } else if (base[i] == '\n') {  // "\r\n.\n" must not end the message
          state_ = State::kBroken;
          return {Event::kBareNewline, i + 1};
        } else {
          state_ = State::kInLine;  // the stuffed dot is dropped; the line goes on
        }
        break;

      case State::kDotCr:
        if (base[i] == '\n') {
          state_ = State::kDone;
          return {Event::kEnd, i + 1};
        }
        state_ = State::kBroken;  // "\r\n.\r" + anything else
        return {Event::kBareNewline, i + 1};

      case State::kCr:
        if (base[i] != '\n') {
          state_ = State::kBroken;
          return {Event::kBareNewline, i + 1};
        }
        Emit("\r\n", 2, out);
        state_ = State::kLineStart;
        ++i;
        break;

      case State::kInLine: {
        const char* p = base + i;
        const size_t len = n - i;
        const char* lf = static_cast<const char*>(std::memchr(p, '\n', len));
        const size_t seg = lf ? static_cast<size_t>(lf - p) : len;
        const char* cr = static_cast<const char*>(std::memchr(p, '\r', seg));
        if (lf) {
          if (cr && static_cast<size_t>(cr - p) + 1 == seg) {  // the line ends in CRLF
            AddLineBytes(seg - 1);
            Emit(p, seg + 1, out);
            i += seg + 1;
            state_ = State::kLineStart;
            break;
          }
          // A CR before the LF not next to it, or an LF with no CR before it.
          state_ = State::kBroken;
          return {Event::kBareNewline, i + (cr ? static_cast<size_t>(cr - p) : seg) + 1};
        }
        if (cr) {
          const size_t k = static_cast<size_t>(cr - p);
          if (k + 1 != len) {  // CR followed by something other than LF
            state_ = State::kBroken;
            return {Event::kBareNewline, i + k + 1};
          }
          AddLineBytes(k);  // CR is the last byte offered: LF may come in the next chunk
          Emit(p, k, out);
          state_ = State::kCr;
          i = n;
          break;
        }
        AddLineBytes(len);
        Emit(p, len, out);
        i = n;
        break;
      }

      case State::kDone:
      case State::kBroken:
        return {state_ == State::kDone ? Event::kEnd : Event::kBareNewline, i};
    }
  }
  return {Event::kNeedMore, n};
}

}  // namespace mailrelay::smtp
