// libFuzzer target: bytes a hostile peer sends on an IPC socket. Whatever decodes must
// re-encode and decode to the same thing; nothing may crash or over-read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/ipc/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    mailrelay::ipc::Message m;
    auto used = mailrelay::ipc::DecodeFrame(in, 1 << 16, &m);
    if (!used.ok() || *used == 0) break;
    if (*used > in.size()) std::abort();
    auto again = m.Encode();
    if (!again.ok()) std::abort();
    mailrelay::ipc::Message back;
    auto used2 = mailrelay::ipc::DecodeFrame(*again, 1 << 20, &back);
    if (!used2.ok() || *used2 != again->size() || back.type() != m.type()) std::abort();
    for (const auto& item : m.fields().items()) {
      if (item.tag == mailrelay::ipc::Tag::kRecipient || item.tag == mailrelay::ipc::Tag::kResult ||
          item.tag == mailrelay::ipc::Tag::kProcess) {
        (void)m.Groups(item.tag);
      }
    }
    in.remove_prefix(*used);
  }
  return 0;
}
