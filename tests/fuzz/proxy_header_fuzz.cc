// libFuzzer target: the first bytes of a connection when proxy_protocol = yes (HAProxy
// PROXY v1/v2). Any prefix of a valid header must ask for more, never over-read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtpd/proxy_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto h = mailrelay::smtpd::ParseProxyHeader(in);
  if (h.ok() && h->length > size) std::abort();
  if (h.ok() && h->length > 0) {
    for (size_t cut = 0; cut < h->length; ++cut) {
      auto part = mailrelay::smtpd::ParseProxyHeader(in.substr(0, cut));
      if (!part.ok() || part->length != 0) std::abort();  // a prefix of a good header waits
    }
  }
  return 0;
}
