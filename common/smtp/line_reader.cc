#include "common/smtp/line_reader.h"

#include <cstring>

namespace mailrelay::smtp {

LineReader::LineReader(size_t max_line) { set_max_line(max_line); }

void LineReader::Reset() {
  line_.clear();
  line_done_ = false;
  pending_cr_ = false;
  discarding_ = false;
  broken_ = false;
}

Error LineReader::ErrorFor(Event event) {
  return event == Event::kBareNewline ? Error::kBareNewline : Error::kLineTooLong;
}

LineReader::Step LineReader::Feed(std::string_view data) {
  if (broken_) return {Event::kBareNewline, 0};
  if (line_done_) {
    line_.clear();
    line_done_ = false;
  }
  size_t i = 0;
  if (pending_cr_) {
    if (data.empty()) return {Event::kNeedMore, 0};
    pending_cr_ = false;
    if (data[0] != '\n') {
      broken_ = true;
      return {Event::kBareNewline, 0};
    }
    i = 1;
    if (discarding_) {
      discarding_ = false;
      line_.clear();
      return {Event::kLineTooLong, i};
    }
    line_done_ = true;
    return {Event::kLine, i};
  }
  const size_t max_text = max_line_ - 2;
  while (i < data.size()) {
    const char* start = data.data() + i;
    size_t n = data.size() - i;
    const void* cr = std::memchr(start, '\r', n);
    const void* lf = std::memchr(start, '\n', n);
    size_t stop = n;  // offset of the first CR or LF in this window
    if (cr) stop = static_cast<size_t>(static_cast<const char*>(cr) - start);
    if (lf) stop = std::min(stop, static_cast<size_t>(static_cast<const char*>(lf) - start));

    if (!discarding_) {
      size_t take = std::min(stop, max_text + 1 - line_.size());
      line_.append(start, take);
      if (line_.size() > max_text) {
        discarding_ = true;
        line_.clear();
      }
    }
    i += stop;
    if (i == data.size()) break;
    if (data[i] == '\n') {  // LF not preceded by CR
      broken_ = true;
      return {Event::kBareNewline, i + 1};
    }
    // CR: needs LF next.
    if (i + 1 == data.size()) {
      pending_cr_ = true;
      return {Event::kNeedMore, data.size()};
    }
    if (data[i + 1] != '\n') {
      broken_ = true;
      return {Event::kBareNewline, i + 1};
    }
    i += 2;
    if (discarding_) {
      discarding_ = false;
      line_.clear();
      return {Event::kLineTooLong, i};
    }
    line_done_ = true;
    return {Event::kLine, i};
  }
  return {Event::kNeedMore, data.size()};
}

}  // namespace mailrelay::smtp
