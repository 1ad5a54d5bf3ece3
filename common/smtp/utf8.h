// Strict UTF-8 decoding and encoding (RFC 3629) for SMTPUTF8 addresses and IDN domains:
// rejects overlong forms, surrogates and code points above U+10FFFF.
// Pure functions, any thread; failure is std::nullopt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailrelay::smtp {

std::optional<std::u32string> DecodeUtf8(std::string_view text);
std::string EncodeUtf8(std::u32string_view code_points);  // invalid code points become U+FFFD
bool IsValidUtf8(std::string_view text);

}  // namespace mailrelay::smtp
