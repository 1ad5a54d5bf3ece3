// RFC 2047 encoded words: decoding header text to UTF-8, and encoding UTF-8 as encoded
// words for the headers the relay writes. Pure functions; any thread. Decoding never fails:
// a malformed word is left as it is; raw 8-bit text is taken as UTF-8, else windows-1252.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailrelay::mime {

// Decodes every well-formed encoded word (=?charset[*lang]?B|Q?text?=) in `text`, also one
// that touches other text, as mail readers do. Whitespace between two encoded words is
// dropped; the bytes of adjacent words in the same charset are joined before conversion, so
// a character split across words survives. The result is UTF-8. `text` should be unfolded.
std::string DecodeHeaderText(std::string_view text);

// One encoded word: its charset (as written) and decoded bytes; nullopt if `word` is not
// exactly one well-formed encoded word.
struct EncodedWord {
  std::string charset;
  std::string bytes;
};
std::optional<EncodedWord> ParseEncodedWord(std::string_view word);

// Encodes UTF-8 `text` (invalid sequences become U+FFFD) as "=?UTF-8?Q?...?=" or
// "=?UTF-8?B?...?=" words of at most 75 characters each, separated by single spaces, never
// splitting a character; Q or B, whichever is shorter. The Q form encodes everything but
// letters, digits and "!*+-/", so it is valid in a phrase (display name) as well as in
// unstructured text (Subject).
std::string EncodeWords(std::string_view text);

// True when `text` cannot go into a header as it is: non-ASCII or control characters, or
// something a reader would take for an encoded word.
bool NeedsEncoding(std::string_view text);

}  // namespace mailrelay::mime
