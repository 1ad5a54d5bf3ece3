// Content-Type / Content-Disposition values and parameters: quoted strings, comments,
// RFC 2231 charsets and continuations, RFC 2047 words inside quoted values (as clients do).
// Pure functions; any thread. Never fail: a broken value yields whatever could be read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailrelay::mime {

struct Parameter {
  std::string name;   // lowercased, without RFC 2231 "*" / "*N" suffixes
  std::string value;  // decoded to UTF-8; "boundary" is kept byte for byte
};

struct ParameterList {
  std::vector<Parameter> items;  // in order of first appearance; first occurrence wins

  const std::string* Get(std::string_view name) const;  // case-insensitive; nullptr if absent
};

// "value; name=token; name="quoted"; name*=utf-8''%C3%BC; name*0*=...; name*1=..."
struct ParameterizedValue {
  std::string value;  // the part before the first ';', comments removed, trimmed, lowercased
  ParameterList params;
};
ParameterizedValue ParseParameterizedValue(std::string_view unfolded);

struct ContentType {
  std::string type = "text";  // lowercased
  std::string subtype = "plain";
  ParameterList params;
  bool valid = false;  // false: no usable type/subtype was found (RFC 2045 says text/plain)

  std::string MimeType() const { return type + "/" + subtype; }
};
ContentType ParseContentType(std::string_view unfolded);

struct ContentDisposition {
  std::string type;  // lowercased: "attachment", "inline", ... ("" if empty)
  ParameterList params;
};
ContentDisposition ParseContentDisposition(std::string_view unfolded);

}  // namespace mailrelay::mime
