// JSON values, a bounded parser for untrusted input (HTTP responses, control requests) and
// a writer. Objects keep insertion order (the writer output is deterministic and readable).
// Pure data; no I/O. The parser never recurses deeper than max_depth and rejects invalid
// UTF-8 escapes, trailing garbage and duplicate-free is NOT enforced (last key wins on Get).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace mailrelay::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::kBool), bool_(b) {}
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v) : type_(Type::kNumber), num_(static_cast<double>(v)), int_(v), is_int_(true) {}
  Value(uint64_t v) : Value(static_cast<int64_t>(v)) {}
  Value(double v) : type_(Type::kNumber), num_(v) {}
  Value(const char* s) : type_(Type::kString), str_(s) {}
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}
  Value(std::string_view s) : type_(Type::kString), str_(s) {}
  static Value MakeArray() { Value v; v.type_ = Type::kArray; return v; }
  static Value MakeObject() { Value v; v.type_ = Type::kObject; return v; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool(bool def = false) const { return is_bool() ? bool_ : def; }
  double as_double(double def = 0) const { return is_number() ? num_ : def; }
  // Integral numbers (also "3.0" and 1e3); def otherwise.
  int64_t as_int(int64_t def = 0) const;
  const std::string& as_string() const;  // "" unless a string
  const Array& as_array() const;          // empty unless an array
  const Object& as_object() const;        // empty unless an object

  // Object access: nullptr/null value when missing or not an object.
  const Value* Find(std::string_view key) const;
  const Value& operator[](std::string_view key) const;
  // Array access: null value when out of range.
  const Value& operator[](size_t i) const;
  size_t size() const;

  // Builders. Set() replaces an existing key; Append() pushes onto an array.
  Value& Set(std::string key, Value v);
  Value& Append(Value v);

  std::string Serialize(bool pretty = false) const;

 private:
  void Write(std::string* out, bool pretty, int indent) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  bool is_int_ = false;
  std::string str_;
  std::shared_ptr<Array> arr_;   // shared_ptr keeps Value copyable and small
  std::shared_ptr<Object> obj_;
};

struct ParseLimits {
  size_t max_depth = 64;
  size_t max_size = 64 << 20;
};

util::Result<Value> Parse(std::string_view text, ParseLimits limits = {});

// Appends `s` as a JSON string literal (quotes included) with escapes; invalid UTF-8 bytes
// become U+FFFD so the output is always valid JSON.
void AppendQuoted(std::string* out, std::string_view s);
std::string Quote(std::string_view s);

}  // namespace mailrelay::json
