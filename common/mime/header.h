// RFC 5322 header sections: message split at the first empty line, fields with their raw
// bytes, unfolding, case-insensitive lookup. Pure functions; any thread. Never fails: a line
// that is no field is kept as a malformed field (empty name), so editing preserves it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailrelay::mime {

// A message cut at its first empty line. CRLF and bare LF line ends are both accepted.
struct MessageSections {
  std::string_view header;     // every field line, each with its own line end
  std::string_view separator;  // the empty line ("\r\n" or "\n"); empty if there is none
  std::string_view body;       // the rest, untouched
  size_t body_offset = 0;      // where body starts in the input
};
MessageSections SplitMessage(std::string_view message);

struct HeaderField {
  std::string name;   // as written, without trailing whitespace; "" for a malformed line
  std::string value;  // raw bytes after the colon, folds (CRLF + WSP) kept, final line end not
  size_t offset = 0;  // where the field starts in the header section
  size_t size = 0;    // bytes of the field including its final line end

  // The value with every CR and LF removed (the whitespace after a fold is kept) and
  // leading/trailing whitespace trimmed: RFC 5322 section 2.2.3 unfolding.
  std::string Unfolded() const;
};

struct HeaderList {
  std::vector<HeaderField> fields;  // in file order, duplicates kept

  const HeaderField* Find(std::string_view name) const;  // first occurrence or nullptr
  std::vector<const HeaderField*> FindAll(std::string_view name) const;
  size_t Count(std::string_view name) const;
  // Unfolded value of the first occurrence; nullopt if absent.
  std::optional<std::string> Get(std::string_view name) const;
};

// One field as views into the header section, for callers that must not copy (the editor).
struct FieldView {
  std::string_view name;   // "" for a malformed line
  std::string_view value;  // raw, folds kept, final line end not
  size_t offset = 0;
  size_t size = 0;  // including the final line end
};

// Walks a header section field by field without allocating.
class FieldScanner {
 public:
  explicit FieldScanner(std::string_view header) : header_(header) {}
  bool Next(FieldView* field);  // false at the end
  size_t position() const { return pos_; }

 private:
  std::string_view header_;
  size_t pos_ = 0;
};

// Parses a header section (as returned in MessageSections::header). After max_fields fields
// the rest becomes one malformed field, which bounds memory on hostile input.
HeaderList ParseHeaderSection(std::string_view header, size_t max_fields = 10000);

// RFC 5322 unfolding of a raw value: CR and LF removed, whitespace trimmed at both ends.
std::string Unfold(std::string_view raw_value);

// A field name is 1*(printable US-ASCII except ':'), RFC 5322 section 3.6.8.
bool IsValidFieldName(std::string_view name);

}  // namespace mailrelay::mime
