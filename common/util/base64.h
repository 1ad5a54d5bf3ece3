// Base64 (RFC 4648 section 4) and base64url (section 5) encoding and strict-ish decoding.
// Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailrelay::util {

std::string Base64Encode(std::string_view data);
// base64url without padding (JWT/UUID style).
std::string Base64UrlEncode(std::string_view data);

// Decodes standard base64. Whitespace (CR, LF, space, tab) is skipped, as in MIME bodies;
// padding is optional. Returns nullopt on any other invalid character or bad length.
std::optional<std::string> Base64Decode(std::string_view text);
// Decodes base64url, padding optional.
std::optional<std::string> Base64UrlDecode(std::string_view text);

std::string HexEncode(std::string_view data);  // lowercase
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace mailrelay::util
