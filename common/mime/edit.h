// Header edits on a raw message (remove, add, replace: Bcc removal, From rewriting, Graph
// MIME form) that keep every body byte. Pure; any thread; 24 bytes per field, no copies.
// Fails only on an invalid field name; values are sanitised and refolded (no injection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mime/header.h"
#include "common/util/status.h"

namespace mailrelay::mime {

// "Name: value" folded at whitespace into lines of at most 78 octets where the words allow
// and never more than 998 (RFC 5322 section 2.1.1), each ending in `eol`. A run of more than
// ~990 octets without whitespace is broken with a fold anyway (which adds a space when
// unfolded): a line over 998 octets gets the whole message refused (SES, many MTAs).
// CR, LF and other control characters in `value` (except TAB) become spaces.
std::string FoldField(std::string_view name, std::string_view value, std::string_view eol = "\r\n");

class HeaderEditor {
 public:
  // `message` must outlive the editor; it is never modified.
  explicit HeaderEditor(std::string_view message);

  // Removes every field named `name` (case-insensitive); returns how many there were.
  size_t Remove(std::string_view name);
  // Adds a field at the end of the header section.
  [[nodiscard]] util::Status Add(std::string_view name, std::string_view value);
  // Adds a field at the top (trace fields such as Received).
  [[nodiscard]] util::Status Prepend(std::string_view name, std::string_view value);
  // Puts one field where the first `name` was (at the end if there was none) and removes
  // the others.
  [[nodiscard]] util::Status Replace(std::string_view name, std::string_view value);

  size_t Count(std::string_view name) const;
  // The edited message: fields in order (untouched ones byte for byte), the original empty
  // line, the original body. New fields use the message's line ends (CRLF unless it uses LF).
  std::string Render() const;

 private:
  // An original field (offset and size in the header section) or an added one (index into
  // added_); kept small because a hostile header can hold millions of fields.
  struct Field {
    size_t offset = 0;
    size_t size = 0;
    uint32_t name_size = 0;  // the name starts at offset; 0 for a malformed line
    int32_t added = -1;
  };
  util::Status Insert(size_t position, std::string_view name, std::string_view value);
  std::string_view Name(const Field& f) const;
  bool Named(const Field& f, std::string_view name) const;

  std::string_view header_;
  std::vector<Field> fields_;
  std::vector<std::pair<std::string, std::string>> added_;  // name, folded field
  std::string_view separator_;
  std::string_view body_;
  std::string eol_ = "\r\n";
};

}  // namespace mailrelay::mime
