#include "common/smtp/punycode.h"

#include <cstdint>

#include "common/smtp/utf8.h"
#include "common/util/strings.h"

namespace mailrelay::smtp {

namespace {

// RFC 3492 section 5 parameters.
constexpr uint32_t kBase = 36;
constexpr uint32_t kTMin = 1;
constexpr uint32_t kTMax = 26;
constexpr uint32_t kSkew = 38;
constexpr uint32_t kDamp = 700;
constexpr uint32_t kInitialBias = 72;
constexpr uint32_t kInitialN = 128;
constexpr uint32_t kMaxInt = UINT32_MAX;

uint32_t Adapt(uint32_t delta, uint32_t num_points, bool first_time) {
  delta = first_time ? delta / kDamp : delta / 2;
  delta += delta / num_points;
  uint32_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return k + (kBase - kTMin + 1) * delta / (delta + kSkew);
}

char EncodeDigit(uint32_t d) {  // 0..25 -> a..z, 26..35 -> 0..9
  return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

uint32_t DecodeDigit(char c) {  // kBase for "not a digit"
  if (c >= '0' && c <= '9') return static_cast<uint32_t>(c - '0') + 26;
  if (c >= 'a' && c <= 'z') return static_cast<uint32_t>(c - 'a');
  if (c >= 'A' && c <= 'Z') return static_cast<uint32_t>(c - 'A');
  return kBase;
}

uint32_t Threshold(uint32_t k, uint32_t bias) {
  if (k <= bias) return kTMin;
  if (k >= bias + kTMax) return kTMax;
  return k - bias;
}

util::Status Overflow() { return util::InvalidArgument("punycode: overflow"); }

bool IsAceLabel(std::string_view label) { return util::StartsWithIgnoreCase(label, "xn--"); }

}  // namespace

util::Result<std::string> PunycodeEncode(std::u32string_view input) {
  if (input.size() > kMaxPunycodeInput) return util::InvalidArgument("punycode: input too long");
  std::string out;
  for (char32_t c : input) {
    if (c > 0x10FFFF) return util::InvalidArgument("punycode: not a code point");
    if (c < 0x80) out.push_back(static_cast<char>(c));
  }
  const uint32_t b = static_cast<uint32_t>(out.size());
  uint32_t h = b;
  if (b > 0) out.push_back('-');
  uint32_t n = kInitialN;
  uint32_t delta = 0;
  uint32_t bias = kInitialBias;
  const uint32_t length = static_cast<uint32_t>(input.size());
  while (h < length) {
    uint32_t m = kMaxInt;
    for (char32_t c : input) {
      if (c >= n && c < m) m = c;
    }
    if (m - n > (kMaxInt - delta) / (h + 1)) return Overflow();
    delta += (m - n) * (h + 1);
    n = m;
    for (char32_t c : input) {
      if (c < n) {
        if (++delta == 0) return Overflow();
      }
      if (c == n) {
        uint32_t q = delta;
        for (uint32_t k = kBase;; k += kBase) {
          uint32_t t = Threshold(k, bias);
          if (q < t) break;
          out.push_back(EncodeDigit(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        out.push_back(EncodeDigit(q));
        bias = Adapt(delta, h + 1, h == b);
        delta = 0;
        ++h;
      }
    }
    ++delta;
    ++n;
  }
  return out;
}

util::Result<std::u32string> PunycodeDecode(std::string_view input) {
  if (input.size() > kMaxPunycodeInput) return util::InvalidArgument("punycode: input too long");
  std::u32string out;
  size_t b = input.rfind('-');
  if (b == std::string_view::npos) b = 0;
  for (size_t j = 0; j < b; ++j) {
    unsigned char c = static_cast<unsigned char>(input[j]);
    if (c >= 0x80) return util::InvalidArgument("punycode: non-basic code point");
    out.push_back(c);
  }
  uint32_t n = kInitialN;
  uint32_t i = 0;
  uint32_t bias = kInitialBias;
  for (size_t in = b > 0 ? b + 1 : 0; in < input.size();) {
    uint32_t old_i = i;
    uint32_t w = 1;
    for (uint32_t k = kBase;; k += kBase) {
      if (in >= input.size()) return util::InvalidArgument("punycode: truncated");
      uint32_t digit = DecodeDigit(input[in++]);
      if (digit >= kBase) return util::InvalidArgument("punycode: bad digit");
      if (digit > (kMaxInt - i) / w) return Overflow();
      i += digit * w;
      uint32_t t = Threshold(k, bias);
      if (digit < t) break;
      if (w > kMaxInt / (kBase - t)) return Overflow();
      w *= kBase - t;
    }
    uint32_t count = static_cast<uint32_t>(out.size()) + 1;
    bias = Adapt(i - old_i, count, old_i == 0);
    if (i / count > kMaxInt - n) return Overflow();
    n += i / count;
    i %= count;
    if (n < 0x80 || n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF)) {
      return util::InvalidArgument("punycode: bad code point");
    }
    out.insert(out.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return out;
}

util::Result<std::string> LabelToAscii(std::string_view label) {
  if (util::IsAscii(label)) return util::ToLower(label);
  std::optional<std::u32string> cps = DecodeUtf8(label);
  if (!cps) return util::InvalidArgument("label is not valid UTF-8");
  for (char32_t& c : *cps) {
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
  }
  MR_ASSIGN_OR_RETURN(std::string encoded, PunycodeEncode(*cps));
  return "xn--" + encoded;
}

util::Result<std::string> DomainToAscii(std::string_view domain) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return util::InvalidArgument("empty label");
    MR_ASSIGN_OR_RETURN(std::string ascii, LabelToAscii(label));
    out += ascii;
    if (dot == std::string_view::npos) break;
    out.push_back('.');
    start = dot + 1;
  }
  return out;
}

util::Result<std::string> DomainToUnicode(std::string_view domain) {
  std::string out;
  for (const std::string& label : util::Split(domain, '.', false)) {
    if (IsAceLabel(label)) {
      MR_ASSIGN_OR_RETURN(std::u32string cps,
                          PunycodeDecode(util::ToLower(std::string_view(label).substr(4))));
      out += EncodeUtf8(cps);
    } else {
      out += label;
    }
    out.push_back('.');
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace mailrelay::smtp
