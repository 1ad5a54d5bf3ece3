// libFuzzer target: the server's DATA reader against chunking and smuggling. The first bytes
// pick the size limit, line limit and chunk size; the outcome must not depend on chunking,
// and a clean message must survive the client's dot-stuffing and come back byte for byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/smtp/data_reader.h"
#include "common/smtp/dot_stuff.h"

using namespace mailrelay::smtp;  // NOLINT: fuzz entry point

namespace {

struct Outcome {
  DataReader::Event event = DataReader::Event::kNeedMore;
  size_t consumed = 0;
  std::string content;
  std::optional<Error> error;
};

Outcome Run(std::string_view input, size_t chunk, uint64_t max_size, size_t max_line) {
  DataReader reader(max_size, max_line);
  Outcome o;
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    DataReader::Step st = reader.Feed(piece, &o.content);
    if (st.consumed > piece.size()) std::abort();
    o.consumed += st.consumed;
    o.event = st.event;
    if (st.event != DataReader::Event::kNeedMore) break;
    if (st.consumed != piece.size()) std::abort();
    input.remove_prefix(piece.size());
  }
  o.error = reader.error();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint64_t max_size = data[0] < 128 ? 0 : static_cast<uint64_t>(data[0]) * 8;
  const size_t max_line = data[1] < 128 ? kMaxTextLine : 3 + data[1] % 64;
  const size_t chunk = 1 + data[2] % 32;
  std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  Outcome whole = Run(input, input.size() + 1, max_size, max_line);
  Outcome cut = Run(input, chunk, max_size, max_line);
  if (whole.event != cut.event) std::abort();
  if (whole.event != DataReader::Event::kBareNewline) {
    if (whole.consumed != cut.consumed || whole.error != cut.error) std::abort();
    if (!whole.error && whole.content != cut.content) std::abort();
  }
  if (whole.event == DataReader::Event::kEnd && !whole.error) {
    // Content ends in CRLF (or is empty) and has no bare CR/LF: the client's encoding of it
    // must read back identically, and nothing after its end marker may be consumed.
    std::string wire = DotStuff(whole.content) + "NOOP\r\n";
    Outcome back = Run(wire, chunk, 0, max_line);
    if (back.event != DataReader::Event::kEnd || back.error || back.content != whole.content ||
        wire.substr(back.consumed) != "NOOP\r\n") {
      std::abort();
    }
  }
  return 0;
}
