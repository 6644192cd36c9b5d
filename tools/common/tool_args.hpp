// Command-line and request-parameter parsing shared by the programs
// (sse-cat, sse-serve and its demo server, the contract service, the e2e
// benchmark): numbers are decimal digits only, range-checked, and
// durations are whole milliseconds (or seconds with up to three decimals)
// in saturating integer arithmetic, never a float cast to an integer.
// No Boost, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ssekit::tools {

// A value, or why the text was refused ("must be a whole number from 0 to
// 65535"). The caller adds what was being parsed.
template <class T>
struct parsed {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const noexcept { return value.has_value(); }
};

// Decimal digits only (no sign, space or exponent), within [min, max].
parsed<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max);

// A duration in whole milliseconds (decimal digits). Any value above `max`,
// however many digits, means `max`: durations saturate.
parsed<std::chrono::milliseconds> parse_millis(std::string_view text, std::chrono::milliseconds max);

// Seconds with an optional fraction of up to three decimals ("2", "0.25"),
// as milliseconds; saturates at `max` like parse_millis.
parsed<std::chrono::milliseconds> parse_seconds(std::string_view text, std::chrono::milliseconds max);

// A non-negative decimal with up to `decimals` fraction digits, as an
// integer count of 10^-decimals units ("0.01" with 6 decimals: 10000),
// within [min, max] units.
parsed<std::uint64_t> parse_fixed(std::string_view text, unsigned decimals, std::uint64_t min, std::uint64_t max);

// An exception's what() for a person: without the " [system:24]" that
// Boost's system_error appends (its category and number).
std::string readable_error(std::string what);

// Thrown by arg_reader; a program prints "PROGRAM: what()" and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Walks argv. Options take their value from the next argument.
//
//   ssekit::tools::arg_reader args(argc, argv);
//   while (args.next()) {
//     if (args.is("--port")) port = args.number<std::uint16_t>();
//     else if (args.is("-h", "--help")) ...
//     else args.unknown();
//   }
class arg_reader {
 public:
  arg_reader(int argc, char** argv) noexcept : argc_(argc), argv_(argv) {}

  // Moves to the next argument; false when there is none.
  bool next() noexcept {
    if (++index_ >= argc_) return false;
    option_ = argv_[index_];
    return true;
  }
  std::string_view arg() const noexcept { return argv_[index_]; }  // after value(): the value
  std::string_view option() const noexcept { return option_; }     // the option itself
  bool is(std::string_view name) const noexcept { return arg() == name; }
  bool is(std::string_view name, std::string_view other) const noexcept { return is(name) || is(other); }
  // Whether the next argument exists and starts with a digit (optional values).
  bool next_is_number() const noexcept;

  // The current option's value; throws if it is the last argument.
  std::string_view value();
  // value(), refused when empty: "OPTION: needs WHAT" ("an address"). An
  // empty path or address would otherwise mean "none" or "every one".
  std::string_view nonempty_value(std::string_view what);
  std::uint64_t uint_value(std::uint64_t min, std::uint64_t max);
  template <class T>
  T number(T min = std::numeric_limits<T>::min(), T max = std::numeric_limits<T>::max()) {
    static_assert(std::numeric_limits<T>::is_integer && !std::numeric_limits<T>::is_signed);
    return static_cast<T>(uint_value(min, max));
  }
  // Durations up to `max` (parse_millis, parse_seconds); above it, refused.
  std::chrono::milliseconds millis_value(std::chrono::milliseconds max);
  std::chrono::milliseconds seconds_value(std::chrono::milliseconds max);
  std::uint64_t fixed_value(unsigned decimals, std::uint64_t min, std::uint64_t max);

  // Throws "unknown option '-x'" (or "unexpected argument 'x'").
  [[noreturn]] void unknown() const;
  // Throws "OPTION: MESSAGE" for the current option (also after value()).
  [[noreturn]] void fail(std::string_view message) const;

 private:
  template <class T>
  T take(const parsed<T>& p, std::string_view text) const;

  int argc_;
  char** argv_;
  int index_ = 0;
  std::string_view option_;  // the argument next() moved to (value() moves past it)
};

}  // namespace ssekit::tools
