// Punycode (RFC 3492) and the IDNA conversion the relay needs: U-labels to lowercase A-labels,
// so domains compare in one form ("bücher.example" == "xn--bcher-kva.example").
// Pure functions, any thread; bad input or arithmetic overflow gives kInvalidArgument.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace mailrelay::smtp {

// Inputs over this many code points (encode) or octets (decode) are refused: labels are at
// most 63 octets, and the algorithm is quadratic in the worst case.
inline constexpr size_t kMaxPunycodeInput = 1024;

// Encodes code points to the basic-code-point form (no "xn--" prefix). Basic code points keep
// their case; the encoded deltas are lowercase.
util::Result<std::string> PunycodeEncode(std::u32string_view input);
// Decodes (case-insensitively). Refuses non-basic input octets, overflow, and results that
// are not Unicode scalar values or that decode a basic code point from a delta.
util::Result<std::u32string> PunycodeDecode(std::string_view input);

// One label: ASCII labels are lowercased, others must be valid UTF-8 and become
// "xn--" + Punycode of the label with ASCII letters lowercased. No IDNA2008 table checks
// (no Unicode case folding or normalisation): a U-label is taken as the client sent it.
util::Result<std::string> LabelToAscii(std::string_view label);
// Dot-separated domain, label by label; refuses empty labels.
util::Result<std::string> DomainToAscii(std::string_view domain);
// The reverse, for display: "xn--" labels decoded to UTF-8, others unchanged.
util::Result<std::string> DomainToUnicode(std::string_view domain);

}  // namespace mailrelay::smtp
