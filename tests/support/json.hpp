// A small, strict JSON reader (RFC 8259) for the conformance data. Strict so
// that a typo in a data file fails loudly instead of becoming a different
// test: no comments, no trailing commas, no duplicate keys, no leading zeros,
// no raw control characters or invalid UTF-8 inside strings, no lone
// surrogate escapes. Written for this project; no third-party code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssekit::test {

// Thrown for malformed JSON (the message names line, column and byte offset)
// and for accessing a value as the wrong type.
class json_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class json_value {
 public:
  enum class kind { null, boolean, number, string, array, object };
  using array_type = std::vector<json_value>;
  // Members in document order; keys are unique (the reader rejects duplicates).
  using object_type = std::vector<std::pair<std::string, json_value>>;

  json_value() = default;

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool is_bool() const noexcept { return kind_ == kind::boolean; }
  bool is_number() const noexcept { return kind_ == kind::number; }
  bool is_string() const noexcept { return kind_ == kind::string; }
  bool is_array() const noexcept { return kind_ == kind::array; }
  bool is_object() const noexcept { return kind_ == kind::object; }
  // A number written as a non-negative integer (no fraction, no exponent)
  // that fits in 64 bits: readable exactly with as_uint64().
  bool is_uint64() const noexcept { return kind_ == kind::number && is_uint_; }

  // Each accessor throws json_error if the value has another type.
  bool as_bool() const;
  std::uint64_t as_uint64() const;
  double as_double() const;  // any number
  const std::string& as_string() const;  // UTF-8, escapes decoded (may contain NUL)
  const array_type& as_array() const;
  const object_type& as_object() const;

  // Object member by key, or nullptr if absent (throws if not an object).
  const json_value* find(std::string_view key) const;

  static const char* kind_name(kind k) noexcept;

 private:
  friend class json_reader;
  kind kind_ = kind::null;
  bool bool_ = false;
  bool is_uint_ = false;
  std::uint64_t uint_ = 0;
  double double_ = 0;
  std::string string_;
  array_type array_;
  object_type object_;
};

// Parses one JSON text (surrounding whitespace allowed, nothing else after
// it). Throws json_error "line L, column C (byte B): <what went wrong>".
// Nesting deeper than 200 levels is rejected instead of exhausting the stack.
json_value parse_json(std::string_view text);

}  // namespace ssekit::test
