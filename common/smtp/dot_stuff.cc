#include "common/smtp/dot_stuff.h"

#include <cstring>

namespace mailrelay::smtp {

void DotStuffer::Feed(std::string_view chunk, std::string* out) {
  const char* p = chunk.data();
  const char* end = p + chunk.size();
  if (p == end) return;
  if (skip_lf_) {
    skip_lf_ = false;
    if (*p == '\n') ++p;
  }
  // Next CR / LF positions, cached so a run of one kind does not rescan for the other.
  const char* next_cr = nullptr;
  const char* next_lf = nullptr;
  auto find = [end](const char* from, char c, const char* cached) -> const char* {
    if (cached != nullptr && cached >= from) return cached;
    const void* r = std::memchr(from, c, static_cast<size_t>(end - from));
    return r ? static_cast<const char*>(r) : end;
  };
  while (p < end) {
    if (at_line_start_ && *p == '.') out->push_back('.');
    at_line_start_ = false;
    next_cr = find(p, '\r', next_cr);
    next_lf = find(p, '\n', next_lf);
    const char* stop = next_cr < next_lf ? next_cr : next_lf;
    out->append(p, static_cast<size_t>(stop - p));
    if (stop == end) return;
    out->append("\r\n");
    at_line_start_ = true;
    p = stop + 1;
    if (*stop == '\r') {
      if (p == end) {
        skip_lf_ = true;
        return;
      }
      if (*p == '\n') ++p;
    }
  }
}

void DotStuffer::Finish(std::string* out) {
  if (!at_line_start_) out->append("\r\n");
  out->append(".\r\n");
  Reset();
}

std::string DotStuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  DotStuffer s;
  s.Feed(message, &out);
  s.Finish(&out);
  return out;
}

}  // namespace mailrelay::smtp
