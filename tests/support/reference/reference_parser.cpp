// Reference event-stream parser. Each step quotes or paraphrases the standard
// it implements, in the standard's order; speed is not a goal. Comments marked
// "ssekit:" are where the library adds to the standard (limits, raw bytes,
// reporting comments and retry values to the handler).
#include "support/reference/reference_parser.hpp"

#include <limits>
#include <optional>

namespace ssekit::test {

namespace {

constexpr std::uint32_t replacement_character = 0xFFFD;

// ---------------------------------------------------------------------------
// WHATWG Encoding standard, 8.1.1 "UTF-8 decoder". Its state, and a handler
// that is called with one byte (or end-of-queue) at a time.
// ---------------------------------------------------------------------------
class utf8_decoder {
 public:
  enum class outcome { code_point, error, continue_, finished };
  struct step {
    outcome what;
    std::uint32_t code_point = 0;
    bool restore_byte = false;  // "Restore byte to ioQueue."
  };

  // `byte` is nullopt for end-of-queue.
  step handler(std::optional<std::uint8_t> byte) {
    // 1. If byte is end-of-queue and UTF-8 bytes needed is not 0, set UTF-8
    //    bytes needed to 0 and return error.
    if (!byte && bytes_needed_ != 0) {
      bytes_needed_ = 0;
      return {outcome::error};
    }
    // 2. If byte is end-of-queue, return finished.
    if (!byte) return {outcome::finished};
    const std::uint8_t b = *byte;
    // 3. If UTF-8 bytes needed is 0, based on byte:
    if (bytes_needed_ == 0) {
      if (b <= 0x7F) {
        // 0x00 to 0x7F: Return a code point whose value is byte.
        return {outcome::code_point, b};
      } else if (b >= 0xC2 && b <= 0xDF) {
        // 0xC2 to 0xDF: Set UTF-8 bytes needed to 1. Set UTF-8 code point to byte & 0x1F.
        bytes_needed_ = 1;
        code_point_ = b & 0x1Fu;
      } else if (b >= 0xE0 && b <= 0xEF) {
        // 0xE0 to 0xEF: If byte is 0xE0, set UTF-8 lower boundary to 0xA0. If
        // byte is 0xED, set UTF-8 upper boundary to 0x9F. Set UTF-8 bytes
        // needed to 2. Set UTF-8 code point to byte & 0xF.
        if (b == 0xE0) lower_boundary_ = 0xA0;
        if (b == 0xED) upper_boundary_ = 0x9F;
        bytes_needed_ = 2;
        code_point_ = b & 0xFu;
      } else if (b >= 0xF0 && b <= 0xF4) {
        // 0xF0 to 0xF4: If byte is 0xF0, set UTF-8 lower boundary to 0x90. If
        // byte is 0xF4, set UTF-8 upper boundary to 0x8F. Set UTF-8 bytes
        // needed to 3. Set UTF-8 code point to byte & 0x7.
        if (b == 0xF0) lower_boundary_ = 0x90;
        if (b == 0xF4) upper_boundary_ = 0x8F;
        bytes_needed_ = 3;
        code_point_ = b & 0x7u;
      } else {
        // Otherwise: Return error.
        return {outcome::error};
      }
      // Return continue.
      return {outcome::continue_};
    }
    // 4. If byte is not in the range UTF-8 lower boundary to UTF-8 upper
    //    boundary, inclusive, then:
    if (b < lower_boundary_ || b > upper_boundary_) {
      // 1. Set UTF-8 code point, UTF-8 bytes needed, and UTF-8 bytes seen to
      //    0, set UTF-8 lower boundary to 0x80, and set UTF-8 upper boundary to 0xBF.
      code_point_ = 0;
      bytes_needed_ = 0;
      bytes_seen_ = 0;
      lower_boundary_ = 0x80;
      upper_boundary_ = 0xBF;
      // 2. Restore byte to ioQueue.  3. Return error.
      return {outcome::error, 0, true};
    }
    // 5. Set UTF-8 lower boundary to 0x80 and UTF-8 upper boundary to 0xBF.
    lower_boundary_ = 0x80;
    upper_boundary_ = 0xBF;
    // 6. Set UTF-8 code point to (UTF-8 code point << 6) | (byte & 0x3F).
    code_point_ = (code_point_ << 6) | (b & 0x3Fu);
    // 7. Increase UTF-8 bytes seen by one.
    ++bytes_seen_;
    // 8. If UTF-8 bytes seen is not equal to UTF-8 bytes needed, return continue.
    if (bytes_seen_ != bytes_needed_) return {outcome::continue_};
    // 9. Let code point be UTF-8 code point.
    const std::uint32_t cp = code_point_;
    // 10. Set UTF-8 code point, UTF-8 bytes needed, and UTF-8 bytes seen to 0.
    code_point_ = 0;
    bytes_needed_ = 0;
    bytes_seen_ = 0;
    // 11. Return a code point whose value is code point.
    return {outcome::code_point, cp};
  }

  bool between_sequences() const { return bytes_needed_ == 0; }

 private:
  std::uint32_t code_point_ = 0;
  int bytes_seen_ = 0;
  int bytes_needed_ = 0;
  std::uint8_t lower_boundary_ = 0x80;
  std::uint8_t upper_boundary_ = 0xBF;
};

// The Encoding standard's "process a queue" loop with error mode
// "replacement", applied to `bytes` starting at `start`. Every unit remembers
// the offset of the first byte of the sequence it came from.
std::vector<reference_unit> decode_from(std::string_view bytes, std::size_t start) {
  std::vector<reference_unit> out;
  utf8_decoder decoder;
  std::size_t i = start;
  std::size_t sequence_start = start;
  for (;;) {
    std::optional<std::uint8_t> byte;
    if (i < bytes.size()) byte = static_cast<std::uint8_t>(bytes[i]);
    if (decoder.between_sequences()) sequence_start = i;
    const auto s = decoder.handler(byte);
    if (!s.restore_byte && byte) ++i;
    switch (s.what) {
      case utf8_decoder::outcome::finished: return out;
      case utf8_decoder::outcome::continue_: break;
      case utf8_decoder::outcome::code_point: out.push_back({s.code_point, sequence_start}); break;
      // Error mode "replacement": push U+FFFD (REPLACEMENT CHARACTER) to output.
      case utf8_decoder::outcome::error: out.push_back({replacement_character, sequence_start}); break;
    }
  }
}

// WHATWG Encoding standard, 8.1.2 "UTF-8 encoder" for one code point.
void encode_code_point(std::string& out, std::uint32_t code_point) {
  // 2. If code point is an ASCII code point, return a byte whose value is code point.
  if (code_point <= 0x7F) {
    out += static_cast<char>(code_point);
    return;
  }
  // 3. Set count and offset based on the range code point is in.
  int count = 0;
  std::uint32_t offset = 0;
  if (code_point <= 0x7FF) {
    count = 1;
    offset = 0xC0;
  } else if (code_point <= 0xFFFF) {
    count = 2;
    offset = 0xE0;
  } else {
    count = 3;
    offset = 0xF0;
  }
  // 4. Let bytes be a byte sequence whose first byte is (code point >> (6 × count)) + offset.
  out += static_cast<char>((code_point >> (6 * count)) + offset);
  // 5. While count is greater than 0:
  while (count > 0) {
    // 1. Set temp to code point >> (6 × (count − 1)).
    const std::uint32_t temp = code_point >> (6 * (count - 1));
    // 2. Append to bytes 0x80 | (temp & 0x3F).
    out += static_cast<char>(0x80 | (temp & 0x3F));
    // 3. Decrease count by one.
    --count;
  }
}

// A string of units (code points, or bytes in raw mode).
using units = std::vector<std::uint32_t>;

// One line of the stream, as indexes into the unit sequence.
struct line {
  std::size_t first = 0;       // index of the first unit
  std::size_t last = 0;        // one past the last unit, line end excluded
  std::size_t byte_begin = 0;  // offset of the line's first byte
  std::size_t byte_end = 0;    // offset of the line end (or end of stream)
  bool terminated = false;     // false: the stream ended before a line end
};

class interpreter {
 public:
  interpreter(std::string_view stream, const ssekit::parser_options& options)
      : stream_(stream), options_(options) {}

  reference_result run() {
    decode();
    split_lines();
    for (const line& l : lines_) {
      if (!process_line(l)) break;
    }
    result_.last_event_id = to_string(last_event_id_string_);
    return std::move(result_);
  }

 private:
  // --- Step 1: bytes to units. --------------------------------------------
  void decode() {
    // "Streams must be decoded using the UTF-8 decode algorithm."
    // UTF-8 decode: 1. Let buffer be an empty byte sequence. 2. Read three
    // bytes from stream into buffer. 3. If buffer does not match 0xEF 0xBB
    // 0xBF, prepend buffer to stream.
    // ssekit: raw_bytes mode drops the same BOM, then takes bytes as they are.
    std::size_t start = 0;
    if (stream_.substr(0, 3) == "\xEF\xBB\xBF") start = 3;
    if (options_.raw_bytes) {
      for (std::size_t i = start; i < stream_.size(); ++i)
        units_.push_back({static_cast<std::uint8_t>(stream_[i]), i});
    } else {
      // 4. Let output be the I/O queue of scalar values. 5. Process a queue
      //    with an instance of UTF-8's decoder, stream, output, and "replacement".
      units_ = decode_from(stream_, start);
    }
  }

  // The offset of the first byte of unit `index` (the stream's end past the last unit).
  std::size_t byte_offset(std::size_t index) const {
    return index < units_.size() ? units_[index].offset : stream_.size();
  }

  // --- Step 2: lines. -------------------------------------------------------
  // "The stream must then be parsed by reading everything line by line, with
  // a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
  // U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN
  // (CR) character, and a single U+000D CARRIAGE RETURN (CR) character not
  // followed by a U+000A LINE FEED (LF) character being the ways in which a
  // line can end."
  void split_lines() {
    std::size_t begin = 0;
    std::size_t i = 0;
    while (i < units_.size()) {
      const std::uint32_t u = units_[i].value;
      if (u == '\r' || u == '\n') {
        lines_.push_back({begin, i, byte_offset(begin), byte_offset(i), true});
        if (u == '\r' && i + 1 < units_.size() && units_[i + 1].value == '\n') ++i;  // CRLF
        ++i;
        begin = i;
      } else {
        ++i;
      }
    }
    // Units after the last line end form a line without a line end.
    if (begin < units_.size())
      lines_.push_back({begin, units_.size(), byte_offset(begin), stream_.size(), false});
  }

  // --- Step 3: interpreting lines. -----------------------------------------
  // Returns false when parsing stops (error or end of stream).
  bool process_line(const line& l) {
    // ssekit: a line longer than max_line_length bytes (line end excluded) is
    // an error, whether or not its line end ever arrives (the incremental
    // parser cannot wait for it without unbounded memory).
    if (l.byte_end - l.byte_begin > options_.max_line_length) {
      result_.error = {ssekit::errc::line_too_long, l.byte_begin};
      return false;
    }
    // "Once the end of the file is reached, any pending data must be
    // discarded. (If the file ends in the middle of an event, before the
    // final empty line, the incomplete event is not dispatched.)" The last
    // line is not complete without its end-of-line (ABNF), so it goes too.
    if (!l.terminated) return false;

    // "If the line is empty (a blank line): Dispatch the event, as defined below."
    if (l.first == l.last) {
      dispatch();
      return true;
    }
    // "If the line starts with a U+003A COLON character (:): Ignore the line."
    // ssekit: the handler is told about it (everything after the colon).
    if (units_[l.first].value == ':') {
      result_.records.push_back(record::make_comment(to_string(slice(l.first + 1, l.last))));
      return true;
    }
    // "If the line contains a U+003A COLON character (:)"
    std::size_t colon = l.first;
    while (colon < l.last && units_[colon].value != ':') ++colon;
    if (colon < l.last) {
      // "Collect the characters on the line before the first U+003A COLON
      // character (:), and let field be that string."
      const units field = slice(l.first, colon);
      // "Collect the characters on the line after the first U+003A COLON
      // character (:), and let value be that string."
      std::size_t value_first = colon + 1;
      // "If value starts with a U+0020 SPACE character, remove it from value."
      if (value_first < l.last && units_[value_first].value == ' ') ++value_first;
      // "Process the field using the steps described below, using field as
      // the field name and value as the field value."
      return process_field(l, field, value_first);
    }
    // "Otherwise, the string is not empty but does not contain a U+003A COLON
    // character (:): Process the field using the steps described below, using
    // the whole line as the field name, and the empty string as the field value."
    return process_field(l, slice(l.first, l.last), l.last);
  }

  // The value is units [value_first, l.last).
  bool process_field(const line& l, const units& field, std::size_t value_first) {
    const units value = slice(value_first, l.last);
    // ssekit: the whole event (raw bytes of its data values joined by LF, of
    // its event type and of the id given since the last dispatch) must not
    // exceed max_event_size. A later event or id field replaces the earlier
    // one's bytes.
    const std::size_t value_bytes = l.byte_end - byte_offset(value_first);
    const auto too_large = [&](std::size_t data, std::size_t type, std::size_t id) {
      if (data + type + id <= options_.max_event_size) return false;
      result_.error = {ssekit::errc::event_too_large, l.byte_begin};
      return true;
    };
    // "Field names must be compared literally, with no case folding performed."
    if (field == ascii("event")) {
      if (too_large(data_size_, value_bytes, id_size_)) return false;
      type_size_ = value_bytes;
      // "Set the event type buffer to field value."
      event_type_buffer_ = value;
    } else if (field == ascii("data")) {
      const std::size_t new_size = (data_lines_ == 0 ? 0 : data_size_ + 1) + value_bytes;
      if (too_large(new_size, type_size_, id_size_)) return false;
      data_size_ = new_size;
      ++data_lines_;
      // "Append the field value to the data buffer, then append a single
      // U+000A LINE FEED (LF) character to the data buffer."
      data_buffer_.insert(data_buffer_.end(), value.begin(), value.end());
      data_buffer_.push_back('\n');
    } else if (field == ascii("id")) {
      // "If the field value does not contain U+0000 NULL, then set the last
      // event ID buffer to the field value. Otherwise, ignore the field."
      bool has_null = false;
      for (std::uint32_t u : value) has_null = has_null || u == 0;
      if (!has_null) {
        if (too_large(data_size_, type_size_, value_bytes)) return false;
        id_size_ = value_bytes;
        last_event_id_buffer_ = value;
      }
    } else if (field == ascii("retry")) {
      // "If the field value consists of only ASCII digits, then interpret the
      // field value as an integer in base ten, and set the event stream's
      // reconnection time to that integer. Otherwise, ignore the field."
      // ssekit: an empty value is ignored; values above 2^64-1 saturate.
      bool only_digits = !value.empty();
      for (std::uint32_t u : value) only_digits = only_digits && u >= '0' && u <= '9';
      if (only_digits) {
        constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
        std::uint64_t n = 0;
        for (std::uint32_t u : value) {
          const std::uint64_t digit = u - '0';
          n = (n > (max - digit) / 10) ? max : n * 10 + digit;
        }
        result_.records.push_back(record::make_retry(n));
      }
    }
    // "Otherwise: The field is ignored."
    return true;
  }

  // "When the user agent is required to dispatch the event ..." (web browser steps).
  void dispatch() {
    // 1. Set the last event ID string of the event source to the value of the
    //    last event ID buffer. The buffer does not get reset.
    last_event_id_string_ = last_event_id_buffer_;
    // 2. If the data buffer is an empty string, set the data buffer and the
    //    event type buffer to the empty string and return.
    if (data_buffer_.empty()) {
      clear_event();
      return;
    }
    // 3. If the data buffer's last character is a U+000A LINE FEED (LF)
    //    character, then remove the last character from the data buffer.
    units data = data_buffer_;
    if (data.back() == '\n') data.pop_back();
    // 5. Initialize event's type attribute to "message", its data attribute
    //    to data, ... and its lastEventId attribute to the last event ID
    //    string of the event source.
    // 6. If the event type buffer has a value other than the empty string,
    //    change the type of the newly created event to equal the value of
    //    the event type buffer.
    const std::string type = event_type_buffer_.empty() ? "message" : to_string(event_type_buffer_);
    result_.records.push_back(record::make_event(type, to_string(data), to_string(last_event_id_string_)));
    // 7. Set the data buffer and the event type buffer to the empty string.
    clear_event();
  }

  void clear_event() {
    data_buffer_.clear();
    event_type_buffer_.clear();
    data_size_ = 0;
    data_lines_ = 0;
    type_size_ = 0;
    id_size_ = 0;
  }

  // --- Step 4: units back to bytes. ----------------------------------------
  std::string to_string(const units& u) const {
    std::string out;
    for (std::uint32_t v : u) {
      if (options_.raw_bytes) out += static_cast<char>(v);
      else encode_code_point(out, v);
    }
    return out;
  }

  units slice(std::size_t first, std::size_t last) const {
    units out;
    for (std::size_t i = first; i < last; ++i) out.push_back(units_[i].value);
    return out;
  }

  static units ascii(std::string_view s) { return units(s.begin(), s.end()); }

  std::string_view stream_;
  ssekit::parser_options options_;
  std::vector<reference_unit> units_;
  std::vector<line> lines_;

  // "When a stream is parsed, a data buffer, an event type buffer, and a last
  // event ID buffer must be associated with it. They must be initialized to
  // the empty string."
  units data_buffer_;
  units event_type_buffer_;
  units last_event_id_buffer_;
  units last_event_id_string_;
  // ssekit: the raw byte size of the event data so far and its line count,
  // and the raw sizes of the event type and of the id given since the last
  // dispatch (max_event_size bounds their sum).
  std::size_t data_size_ = 0;
  std::size_t data_lines_ = 0;
  std::size_t type_size_ = 0;
  std::size_t id_size_ = 0;

  reference_result result_;
};

}  // namespace

std::vector<reference_unit> reference_utf8_decode(std::string_view bytes) { return decode_from(bytes, 0); }

std::string reference_utf8_encode(const std::vector<std::uint32_t>& code_points) {
  std::string out;
  for (std::uint32_t cp : code_points) encode_code_point(out, cp);
  return out;
}

std::string reference_utf8_repair(std::string_view bytes) {
  std::string out;
  for (const reference_unit& u : reference_utf8_decode(bytes)) encode_code_point(out, u.value);
  return out;
}

reference_result reference_parse(std::string_view whole_stream, const ssekit::parser_options& options) {
  return interpreter(whole_stream, options).run();
}

}  // namespace ssekit::test
