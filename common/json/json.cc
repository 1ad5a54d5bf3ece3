#include "common/json/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mailrelay::json {

namespace {
const std::string kEmptyString;
const Value::Array kEmptyArray;
const Value::Object kEmptyObject;
const Value kNull;

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
size_t Utf8SeqLen(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
  else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
  else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

class Parser {
 public:
  Parser(std::string_view text, ParseLimits limits) : s_(text), limits_(limits) {}

  util::Result<Value> Run() {
    if (s_.size() > limits_.max_size) return Error("document too large");
    Value v;
    MR_RETURN_IF_ERROR(ParseValue(&v, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing characters");
    return v;
  }

 private:
  util::Status Error(const std::string& what) const {
    return util::InvalidArgument("invalid JSON at offset " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }

  util::Status ParseValue(Value* out, size_t depth) {
    if (depth > limits_.max_depth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      std::string str;
      MR_RETURN_IF_ERROR(ParseString(&str));
      *out = Value(std::move(str));
      return util::Status::Ok();
    }
    if (Consume("true")) { *out = Value(true); return util::Status::Ok(); }
    if (Consume("false")) { *out = Value(false); return util::Status::Ok(); }
    if (Consume("null")) { *out = Value(); return util::Status::Ok(); }
    return ParseNumber(out);
  }

  util::Status ParseObject(Value* out, size_t depth) {
    ++pos_;  // {
    *out = Value::MakeObject();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return util::Status::Ok(); }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected object key");
      std::string key;
      MR_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      Value v;
      MR_RETURN_IF_ERROR(ParseValue(&v, depth + 1));
      out->Set(std::move(key), std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return util::Status::Ok(); }
      return Error("expected ',' or '}'");
    }
  }

  util::Status ParseArray(Value* out, size_t depth) {
    ++pos_;  // [
    *out = Value::MakeArray();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return util::Status::Ok(); }
    while (true) {
      Value v;
      MR_RETURN_IF_ERROR(ParseValue(&v, depth + 1));
      out->Append(std::move(v));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return util::Status::Ok(); }
      return Error("expected ',' or ']'");
    }
  }

  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > s_.size()) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return false;
      *v = *v * 16 + static_cast<uint32_t>(d);
    }
    return true;
  }

  util::Status ParseString(std::string* out) {
    ++pos_;  // "
    while (true) {
      if (pos_ >= s_.size()) return Error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') { ++pos_; return util::Status::Ok(); }
      if (c < 0x20) return Error("control character in string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) return Error("unterminated escape");
        char e = s_[pos_++];
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp;
            if (!Hex4(&cp)) return Error("bad \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              uint32_t lo;
              if (!Consume("\\u") || !Hex4(&lo) || lo < 0xdc00 || lo > 0xdfff) {
                return Error("unpaired surrogate");
              }
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
              return Error("unpaired surrogate");
            }
            AppendUtf8(out, cp);
            break;
          }
          default: return Error("bad escape");
        }
        continue;
      }
      size_t n = Utf8SeqLen(s_, pos_);
      if (n == 0) return Error("invalid UTF-8");
      out->append(s_.substr(pos_, n));
      pos_ += n;
    }
  }

  util::Status ParseNumber(Value* out) {
    size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t b = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - b;
    };
    size_t int_start = pos_;
    if (digits() == 0) return Error("unexpected character");
    if (s_[int_start] == '0' && pos_ - int_start > 1) return Error("leading zero");
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) return Error("bad fraction");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Error("bad exponent");
    }
    std::string text(s_.substr(start, pos_ - start));
    if (integral && text.size() <= 18) {
      *out = Value(static_cast<int64_t>(std::strtoll(text.c_str(), nullptr, 10)));
    } else {
      *out = Value(std::strtod(text.c_str(), nullptr));
    }
    return util::Status::Ok();
  }

  std::string_view s_;
  ParseLimits limits_;
  size_t pos_ = 0;
};
}  // namespace

int64_t Value::as_int(int64_t def) const {
  if (!is_number()) return def;
  if (is_int_) return int_;
  if (std::isfinite(num_) && std::floor(num_) == num_ && std::fabs(num_) < 9.2e18) {
    return static_cast<int64_t>(num_);
  }
  return def;
}

const std::string& Value::as_string() const { return is_string() ? str_ : kEmptyString; }
const Value::Array& Value::as_array() const { return is_array() && arr_ ? *arr_ : kEmptyArray; }
const Value::Object& Value::as_object() const {
  return is_object() && obj_ ? *obj_ : kEmptyObject;
}

const Value* Value::Find(std::string_view key) const {
  if (!is_object() || !obj_) return nullptr;
  for (auto it = obj_->rbegin(); it != obj_->rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

const Value& Value::operator[](std::string_view key) const {
  const Value* v = Find(key);
  return v ? *v : kNull;
}

const Value& Value::operator[](size_t i) const {
  if (!is_array() || !arr_ || i >= arr_->size()) return kNull;
  return (*arr_)[i];
}

size_t Value::size() const {
  if (is_array()) return arr_ ? arr_->size() : 0;
  if (is_object()) return obj_ ? obj_->size() : 0;
  return 0;
}

Value& Value::Set(std::string key, Value v) {
  if (!is_object()) *this = MakeObject();
  if (!obj_) obj_ = std::make_shared<Object>();
  else if (obj_.use_count() > 1) obj_ = std::make_shared<Object>(*obj_);  // copy on write
  for (auto& kv : *obj_) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return kv.second;
    }
  }
  obj_->emplace_back(std::move(key), std::move(v));
  return obj_->back().second;
}

Value& Value::Append(Value v) {
  if (!is_array()) *this = MakeArray();
  if (!arr_) arr_ = std::make_shared<Array>();
  else if (arr_.use_count() > 1) arr_ = std::make_shared<Array>(*arr_);
  arr_->push_back(std::move(v));
  return arr_->back();
}

void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') { out->append("\\\""); ++i; continue; }
    if (c == '\\') { out->append("\\\\"); ++i; continue; }
    if (c < 0x20) {
      switch (c) {
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default: {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        }
      }
      ++i;
      continue;
    }
    if (c < 0x80) { out->push_back(static_cast<char>(c)); ++i; continue; }
    size_t n = Utf8SeqLen(s, i);
    if (n == 0) {
      out->append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
  out->push_back('"');
}

std::string Quote(std::string_view s) {
  std::string out;
  AppendQuoted(&out, s);
  return out;
}

void Value::Write(std::string* out, bool pretty, int indent) const {
  auto newline = [&](int ind) {
    if (!pretty) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(ind) * 2, ' ');
  };
  switch (type_) {
    case Type::kNull: out->append("null"); break;
    case Type::kBool: out->append(bool_ ? "true" : "false"); break;
    case Type::kNumber: {
      if (is_int_) {
        out->append(std::to_string(int_));
      } else if (!std::isfinite(num_)) {
        out->append("null");
      } else if (num_ == 0) {
        out->append("0");  // also -0.0, which would read back as the integer 0
      } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%.17g", num_);
        out->append(buf);
      }
      break;
    }
    case Type::kString: AppendQuoted(out, str_); break;
    case Type::kArray: {
      out->push_back('[');
      const auto& a = as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out->push_back(',');
        newline(indent + 1);
        a[i].Write(out, pretty, indent + 1);
      }
      if (!a.empty()) newline(indent);
      out->push_back(']');
      break;
    }
    case Type::kObject: {
      out->push_back('{');
      const auto& o = as_object();
      for (size_t i = 0; i < o.size(); ++i) {
        if (i) out->push_back(',');
        newline(indent + 1);
        AppendQuoted(out, o[i].first);
        out->append(pretty ? ": " : ":");
        o[i].second.Write(out, pretty, indent + 1);
      }
      if (!o.empty()) newline(indent);
      out->push_back('}');
      break;
    }
  }
}

std::string Value::Serialize(bool pretty) const {
  std::string out;
  Write(&out, pretty, 0);
  return out;
}

util::Result<Value> Parse(std::string_view text, ParseLimits limits) {
  return Parser(text, limits).Run();
}

}  // namespace mailrelay::json
