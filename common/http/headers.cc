#include "common/http/headers.h"

#include <algorithm>
#include <array>

#include "common/util/strings.h"

namespace mailrelay::http {

namespace {

constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A cursor over the date text; every Take* consumes exactly what it matched or fails.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return s_.empty(); }

  bool Literal(std::string_view lit) {
    if (s_.substr(0, lit.size()) != lit) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  template <size_t N>
  bool OneOf(const std::array<std::string_view, N>& names, int* index) {
    for (size_t i = 0; i < N; ++i) {
      if (Literal(names[i])) {
        *index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool Digits(size_t n, int* out) {
    if (s_.size() < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (s_[i] < '0' || s_[i] > '9') return false;
      v = v * 10 + (s_[i] - '0');
    }
    s_.remove_prefix(n);
    *out = v;
    return true;
  }
  // HH:MM:SS
  bool Time(int* h, int* m, int* sec) {
    return Digits(2, h) && Literal(":") && Digits(2, m) && Literal(":") && Digits(2, sec);
  }

 private:
  std::string_view s_;
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<int64_t> ToUnix(int year, int month0, int day, int h, int m, int s) {
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day < 1 || day > kMonthDays[month0] || h > 23 || m > 59 || s > 60) return std::nullopt;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month0 == 1 && day == 29 && !leap) return std::nullopt;
  return DaysFromCivil(year, month0 + 1, day) * 86400 + h * 3600 + m * 60 + std::min(s, 59);
}

}  // namespace

void AddHeaderLine(HeaderMap& headers, std::string_view line) {
  if (line.substr(0, 5) == "HTTP/") {
    headers.clear();
    return;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  std::string_view name = util::Trim(line.substr(0, colon));
  if (name.empty()) return;  // " : x" is no more a field than ": x"
  headers.emplace(util::ToLower(name), std::string(util::Trim(line.substr(colon + 1))));
}

const std::string* FindHeader(const HeaderMap& headers, std::string_view name) {
  auto it = headers.find(util::ToLower(name));
  return it == headers.end() ? nullptr : &it->second;
}

std::optional<int64_t> ParseHttpDate(std::string_view text) {
  text = util::Trim(text);
  int wday, day, month, year, h, m, s;
  {  // IMF-fixdate
    Cursor c(text);
    if (c.OneOf(kDays, &wday) && c.Literal(", ") && c.Digits(2, &day) && c.Literal(" ") &&
        c.OneOf(kMonths, &month) && c.Literal(" ") && c.Digits(4, &year) && c.Literal(" ") &&
        c.Time(&h, &m, &s) && c.Literal(" GMT") && c.done()) {
      return ToUnix(year, month, day, h, m, s);
    }
  }
  {  // RFC 850
    Cursor c(text);
    if (c.OneOf(kLongDays, &wday) && c.Literal(", ") && c.Digits(2, &day) && c.Literal("-") &&
        c.OneOf(kMonths, &month) && c.Literal("-") && c.Digits(2, &year) && c.Literal(" ") &&
        c.Time(&h, &m, &s) && c.Literal(" GMT") && c.done()) {
      return ToUnix(year < 70 ? 2000 + year : 1900 + year, month, day, h, m, s);
    }
  }
  {  // asctime
    Cursor c(text);
    if (c.OneOf(kDays, &wday) && c.Literal(" ") && c.OneOf(kMonths, &month) && c.Literal(" ") &&
        (c.Literal(" ") ? c.Digits(1, &day) : c.Digits(2, &day)) && c.Literal(" ") &&
        c.Time(&h, &m, &s) && c.Literal(" ") && c.Digits(4, &year) && c.done()) {
      return ToUnix(year, month, day, h, m, s);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_unix_seconds) {
  value = util::Trim(value);
  if (!value.empty() && value.front() >= '0' && value.front() <= '9') {
    // Digits only; an over-long number still means "a very long time".
    if (value.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    std::optional<uint64_t> delta = util::ParseUint(value);
    if (!delta || *delta > static_cast<uint64_t>(kMaxRetryAfterSeconds)) {
      return kMaxRetryAfterSeconds;
    }
    return static_cast<int64_t>(*delta);
  }
  std::optional<int64_t> when = ParseHttpDate(value);
  if (!when) return std::nullopt;
  return std::clamp<int64_t>(*when - now_unix_seconds, 0, kMaxRetryAfterSeconds);
}

std::optional<int64_t> RetryAfterFromHeaders(const HeaderMap& headers, int64_t now_unix_seconds) {
  for (std::string_view name : {"retry-after-ms", "x-ms-retry-after-ms"}) {
    const std::string* v = FindHeader(headers, name);
    if (!v) continue;
    std::string_view text = util::Trim(*v);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) continue;
    std::optional<uint64_t> ms = util::ParseUint(text);
    if (!ms || *ms / 1000 >= static_cast<uint64_t>(kMaxRetryAfterSeconds)) {
      return kMaxRetryAfterSeconds;
    }
    return static_cast<int64_t>((*ms + 999) / 1000);
  }
  if (const std::string* v = FindHeader(headers, "retry-after")) {
    return ParseRetryAfter(*v, now_unix_seconds);
  }
  return std::nullopt;
}

}  // namespace mailrelay::http
