#include "tool_args.hpp"

#include <algorithm>
#include <cctype>

namespace ssekit::tools {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Digits as an integer no greater than `max`; nullopt when `text` is empty,
// not all digits, or above `max` (however many digits).
std::optional<std::uint64_t> bounded_digits(std::string_view text, std::uint64_t max) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    // digit > max first: max - digit would wrap.
    if (digit > max || value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Digits as an integer that stops growing at `cap` (so any number of digits
// is fine); nullopt when `text` is empty or not all digits.
std::optional<std::uint64_t> saturating_digits(std::string_view text, std::uint64_t cap) noexcept {
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
  return bounded_digits(text, cap).value_or(cap);
}

std::string range_text(std::uint64_t min, std::uint64_t max) {
  return "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max);
}

std::uint64_t millis_cap(std::chrono::milliseconds max) noexcept {
  return max.count() < 0 ? 0 : static_cast<std::uint64_t>(max.count());
}

// The next duration after `max` (so a value above it can be told apart).
std::chrono::milliseconds above(std::chrono::milliseconds max) noexcept {
  return max < std::chrono::milliseconds::max() ? max + std::chrono::milliseconds(1) : max;
}

// 12345 with 3 decimals: "12.345" (trailing zeros dropped).
std::string fixed_text(std::uint64_t units, unsigned decimals) {
  std::string digits = std::to_string(units);
  if (decimals == 0) return digits;
  if (digits.size() <= decimals) digits.insert(0, decimals + 1 - digits.size(), '0');
  digits.insert(digits.size() - decimals, 1, '.');
  while (digits.back() == '0') digits.pop_back();
  if (digits.back() == '.') digits.pop_back();
  return digits;
}

}  // namespace

parsed<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max) {
  const auto value = bounded_digits(text, max);
  if (!value || *value < min) return {std::nullopt, range_text(min, max)};
  return {value, {}};
}

parsed<std::chrono::milliseconds> parse_millis(std::string_view text, std::chrono::milliseconds max) {
  const auto v = saturating_digits(text, millis_cap(max));
  if (!v) return {std::nullopt, "must be a whole number of milliseconds"};
  return {std::chrono::milliseconds(static_cast<std::int64_t>(*v)), {}};
}

parsed<std::chrono::milliseconds> parse_seconds(std::string_view text, std::chrono::milliseconds max) {
  const auto seconds_max = millis_cap(max) / 1000 + 1;
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  const auto s = saturating_digits(whole, seconds_max);
  std::uint64_t ms = 0;
  bool ok = s.has_value() && fraction.size() <= 3 && (dot == std::string_view::npos || !fraction.empty());
  for (std::size_t i = 0; ok && i < 3; ++i) {
    const char c = i < fraction.size() ? fraction[i] : '0';
    ok = is_digit(c);
    ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok) return {std::nullopt, "must be a number of seconds (e.g. 2 or 0.25, at most three decimals)"};
  // *s <= seconds_max, which is small enough for * 1000 not to overflow.
  const std::uint64_t total = *s * 1000 + ms;
  return {std::chrono::milliseconds(static_cast<std::int64_t>(total > millis_cap(max) ? millis_cap(max) : total)), {}};
}

parsed<std::uint64_t> parse_fixed(std::string_view text, unsigned decimals, std::uint64_t min, std::uint64_t max) {
  const auto fail = [&] {
    return parsed<std::uint64_t>{std::nullopt, "must be a number from " + fixed_text(min, decimals) + " to " +
                                                   fixed_text(max, decimals) + " with at most " +
                                                   std::to_string(decimals) + " decimals"};
  };
  std::uint64_t unit = 1;
  for (unsigned i = 0; i < decimals; ++i) {
    if (unit > std::numeric_limits<std::uint64_t>::max() / 10) return fail();
    unit *= 10;
  }
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (fraction.size() > decimals || (dot != std::string_view::npos && fraction.empty())) return fail();
  // At most max / unit, so the product stays in range.
  const auto w = bounded_digits(whole, max / unit);
  if (!w) return fail();
  std::uint64_t frac = 0;
  for (unsigned i = 0; i < decimals; ++i) {
    const char c = i < fraction.size() ? fraction[i] : '0';
    if (!is_digit(c)) return fail();
    frac = frac * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // frac is checked against what is left: w * unit + frac could wrap.
  if (frac > max - *w * unit) return fail();
  const std::uint64_t v = *w * unit + frac;
  if (v < min) return fail();
  return {v, {}};
}

bool arg_reader::next_is_number() const noexcept {
  return index_ + 1 < argc_ && is_digit(argv_[index_ + 1][0]);
}

std::string_view arg_reader::value() {
  if (index_ + 1 >= argc_) throw usage_error("missing value for " + std::string(option_));
  return argv_[++index_];
}

std::string_view arg_reader::nonempty_value(std::string_view what) {
  const auto text = value();
  if (text.empty()) fail("needs " + std::string(what));
  return text;
}

template <class T>
T arg_reader::take(const parsed<T>& p, std::string_view text) const {
  if (!p) throw usage_error("bad value '" + std::string(text) + "' for " + std::string(option_) + ": " + p.error);
  return *p.value;
}

std::uint64_t arg_reader::uint_value(std::uint64_t min, std::uint64_t max) {
  const auto text = value();
  return take(parse_uint(text, min, max), text);
}

// An option's duration above its `max` is refused, not saturated: the user
// asked for something else, and the help names the limit.
std::chrono::milliseconds arg_reader::millis_value(std::chrono::milliseconds max) {
  const auto text = value();
  auto p = parse_millis(text, above(max));
  if (p && *p.value > max) p = {std::nullopt, "must be at most " + std::to_string(max.count()) + " ms"};
  return take(p, text);
}

std::chrono::milliseconds arg_reader::seconds_value(std::chrono::milliseconds max) {
  const auto text = value();
  auto p = parse_seconds(text, above(max));
  if (p && *p.value > max) p = {std::nullopt, "must be at most " + fixed_text(millis_cap(max), 3) + " seconds"};
  return take(p, text);
}

std::uint64_t arg_reader::fixed_value(unsigned decimals, std::uint64_t min, std::uint64_t max) {
  const auto text = value();
  return take(parse_fixed(text, decimals, min, max), text);
}

std::string readable_error(std::string what) {
  if (what.empty() || what.back() != ']') return what;
  // " [category:value]" or " [category:value at file:line:column in function '...']",
  // from the first such bracket (a function's signature may hold more).
  for (auto at = what.find(" ["); at != std::string::npos; at = what.find(" [", at + 1)) {
    std::size_t i = at + 2;
    const std::size_t name = i;
    while (i < what.size() && (std::isalnum(static_cast<unsigned char>(what[i])) || what[i] == '.' || what[i] == '_' || what[i] == '-')) ++i;
    if (i == name || i == what.size() || what[i] != ':') continue;
    if (++i < what.size() && what[i] == '-') ++i;
    const std::size_t digits = i;
    while (i < what.size() && what[i] >= '0' && what[i] <= '9') ++i;
    if (i == digits) continue;
    if (i + 1 == what.size() || what.compare(i, 4, " at ") == 0) {
      what.resize(at);
      return what;
    }
  }
  return what;
}

void arg_reader::unknown() const {
  const std::string_view a = arg();
  // GNU's "--name=value" is not read here: show the form that is.
  if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos && eq > 2) {
    throw usage_error("unknown option '" + std::string(a.substr(0, 200)) + "' (an option and its value are two arguments: '" +
                      std::string(a.substr(0, std::min<std::size_t>(eq, 100))) + " " + std::string(a.substr(eq + 1, 100)) + "')");
  }
  if (a.starts_with("-")) throw usage_error("unknown option '" + std::string(a) + "'");
  throw usage_error("unexpected argument '" + std::string(arg()) + "'");
}

void arg_reader::fail(std::string_view message) const {
  throw usage_error(std::string(option_) + ": " + std::string(message));
}

}  // namespace ssekit::tools
