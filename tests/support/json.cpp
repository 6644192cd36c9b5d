#include "support/json.hpp"

#include <charconv>
#include <locale>
#include <sstream>
#include <string>
#include <system_error>

namespace ssekit::test {

const char* json_value::kind_name(kind k) noexcept {
  switch (k) {
    case kind::null: return "null";
    case kind::boolean: return "boolean";
    case kind::number: return "number";
    case kind::string: return "string";
    case kind::array: return "array";
    case kind::object: return "object";
  }
  return "?";
}

namespace {

[[noreturn]] void wrong_type(json_value::kind have, const char* want) {
  throw json_error(std::string("JSON value is ") + json_value::kind_name(have) + ", expected " + want);
}

}  // namespace

bool json_value::as_bool() const {
  if (kind_ != kind::boolean) wrong_type(kind_, "boolean");
  return bool_;
}

std::uint64_t json_value::as_uint64() const {
  if (kind_ != kind::number) wrong_type(kind_, "non-negative integer");
  if (!is_uint_) throw json_error("JSON number is not a non-negative integer that fits in 64 bits");
  return uint_;
}

double json_value::as_double() const {
  if (kind_ != kind::number) wrong_type(kind_, "number");
  return double_;
}

const std::string& json_value::as_string() const {
  if (kind_ != kind::string) wrong_type(kind_, "string");
  return string_;
}

const json_value::array_type& json_value::as_array() const {
  if (kind_ != kind::array) wrong_type(kind_, "array");
  return array_;
}

const json_value::object_type& json_value::as_object() const {
  if (kind_ != kind::object) wrong_type(kind_, "object");
  return object_;
}

const json_value* json_value::find(std::string_view key) const {
  for (const auto& [name, value] : as_object())
    if (name == key) return &value;
  return nullptr;
}

class json_reader {
 public:
  explicit json_reader(std::string_view text) : text_(text) {}

  json_value document() {
    skip_whitespace();
    json_value v = value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected data after the JSON value");
    return v;
  }

 private:
  static constexpr int max_depth = 200;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') { ++line; column = 1; }
      else ++column;
    }
    throw json_error("JSON: line " + std::to_string(line) + ", column " + std::to_string(column) +
                     " (byte " + std::to_string(at) + "): " + what);
  }

  // A literal that already matched JSON's number grammar, as a double.
  double to_double(std::size_t start, std::string_view literal) const {
    double d = 0;
#if defined(__cpp_lib_to_chars)
    const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), d);
    if (ec == std::errc::result_out_of_range) fail_at(start, "number out of range");
    if (ec != std::errc{} || end != literal.data() + literal.size()) fail_at(start, "invalid number");
#else
    // libc++ 14 has no floating-point from_chars; a stream in the classic
    // locale reads the same grammar (and fails on overflow).
    std::istringstream in{std::string(literal)};
    in.imbue(std::locale::classic());
    in >> d;
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) fail_at(start, "number out of range");
#endif
    return d;
  }

  bool at_end() const noexcept { return pos_ >= text_.size(); }
  char peek() const noexcept { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() noexcept {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (at_end()) fail(std::string("unexpected end of input, expected '") + c + "'");
    if (text_[pos_] != c) fail(std::string("expected '") + c + "', found " + describe_here());
    ++pos_;
  }

  std::string describe_here() const {
    if (at_end()) return "end of input";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  json_value value(int depth) {
    if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth) + " levels");
    if (at_end()) fail("unexpected end of input, expected a value");
    switch (text_[pos_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': {
        json_value v;
        v.kind_ = json_value::kind::string;
        v.string_ = string();
        return v;
      }
      case 't': return literal("true", json_value::kind::boolean, true);
      case 'f': return literal("false", json_value::kind::boolean, false);
      case 'n': return literal("null", json_value::kind::null, false);
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return number();
        fail("expected a value, found " + describe_here());
    }
  }

  json_value literal(std::string_view word, json_value::kind k, bool b) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal, expected " + std::string(word));
    pos_ += word.size();
    json_value v;
    v.kind_ = k;
    v.bool_ = b;
    return v;
  }

  json_value object(int depth) {
    json_value v;
    v.kind_ = json_value::kind::object;
    expect('{');
    skip_whitespace();
    if (peek() == '}') { ++pos_; return v; }
    for (;;) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key, found " + describe_here());
      const std::size_t key_at = pos_;
      std::string key = string();
      for (const auto& member : v.object_)
        if (member.first == key) fail_at(key_at, "duplicate key \"" + key + "\"");
      skip_whitespace();
      expect(':');
      skip_whitespace();
      json_value member = value(depth + 1);
      v.object_.emplace_back(std::move(key), std::move(member));
      skip_whitespace();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == '}') { ++pos_; return v; }
      fail("expected ',' or '}' in object, found " + describe_here());
    }
  }

  json_value array(int depth) {
    json_value v;
    v.kind_ = json_value::kind::array;
    expect('[');
    skip_whitespace();
    if (peek() == ']') { ++pos_; return v; }
    for (;;) {
      skip_whitespace();
      v.array_.push_back(value(depth + 1));
      skip_whitespace();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == ']') { ++pos_; return v; }
      fail("expected ',' or ']' in array, found " + describe_here());
    }
  }

  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

  json_value number() {
    const std::size_t start = pos_;
    bool negative = false, integral = true;
    if (peek() == '-') { negative = true; ++pos_; }
    if (peek() == '0') {
      ++pos_;
      if (is_digit(peek())) fail("leading zeros are not allowed in numbers");
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      fail("expected a digit, found " + describe_here());
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!is_digit(peek())) fail("expected a digit after the decimal point");
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) fail("expected a digit in the exponent");
      while (is_digit(peek())) ++pos_;
    }
    const std::string_view literal = text_.substr(start, pos_ - start);
    json_value v;
    v.kind_ = json_value::kind::number;
    if (integral && !negative) {
      std::uint64_t u = 0;
      const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), u);
      if (ec == std::errc{} && end == literal.data() + literal.size()) {
        v.is_uint_ = true;
        v.uint_ = u;
      }
    }
    v.double_ = to_double(start, literal);
    return v;
  }

  unsigned hex4() {
    if (text_.size() - pos_ < 4) fail("unexpected end of input in \\u escape");
    unsigned cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_];
      unsigned digit;
      if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
      else fail("expected a hex digit in \\u escape, found " + describe_here());
      cp = cp * 16 + digit;
      ++pos_;
    }
    return cp;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Length of the well-formed UTF-8 sequence at pos_ (lead byte >= 0x80), or
  // 0 if it is not one (Unicode Table 3-7).
  std::size_t utf8_sequence_length() const noexcept {
    auto byte = [&](std::size_t i) -> unsigned {
      return pos_ + i < text_.size() ? static_cast<unsigned char>(text_[pos_ + i]) : 0u;
    };
    auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
      const unsigned b = byte(i);
      return pos_ + i < text_.size() && b >= lo && b <= hi;
    };
    const unsigned b0 = byte(0);
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
    if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') { ++pos_; return out; }
      if (c < 0x20) fail("raw control character in string (write it as an escape)");
      if (c >= 0x80) {
        const std::size_t n = utf8_sequence_length();
        if (n == 0) fail("invalid UTF-8 in string");
        out.append(text_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (c != '\\') { out += static_cast<char>(c); ++pos_; continue; }
      const std::size_t escape_at = pos_;
      ++pos_;
      if (at_end()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(escape_at, "lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail_at(escape_at, "high surrogate not followed by a \\u escape");
            pos_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at(escape_at, "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(escape_at, std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

json_value parse_json(std::string_view text) { return json_reader(text).document(); }

}  // namespace ssekit::test
