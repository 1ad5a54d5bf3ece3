// libFuzzer target: HTTP response bodies and control replies go through the JSON parser.
// Parse, serialise, parse again: the second round must succeed and be stable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/json/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto v = mailrelay::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!v.ok()) return 0;
  std::string once = v->Serialize();
  auto again = mailrelay::json::Parse(once);
  if (!again.ok() || again->Serialize() != once) std::abort();
  (void)(*v)["access_token"].as_string();
  (void)(*v)["error"]["message"].as_string();
  (void)(*v)[size_t{0}].as_int();
  return 0;
}
