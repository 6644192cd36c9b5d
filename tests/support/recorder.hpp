// A handler that copies everything the parser delivers, in order, so tests
// can compare whole traces (fast parser vs reference, split vs whole).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "ssekit/parser.hpp"

namespace ssekit::test {

struct record {
  enum class kind { event, comment, retry };
  kind what = kind::event;
  std::string type;           // event
  std::string data;           // event
  std::string last_event_id;  // event
  std::string comment;        // comment
  std::uint64_t retry = 0;    // retry

  static record make_event(std::string type, std::string data, std::string id) {
    return {kind::event, std::move(type), std::move(data), std::move(id), {}, 0};
  }
  static record make_comment(std::string text) { return {kind::comment, {}, {}, {}, std::move(text), 0}; }
  static record make_retry(std::uint64_t ms) { return {kind::retry, {}, {}, {}, {}, ms}; }
  friend bool operator==(const record&, const record&) = default;
};

// Escapes control and non-ASCII bytes so failures print readably.
inline std::string escape_bytes(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else { out += "\\x"; out += hex[c >> 4]; out += hex[c & 15]; }
  }
  return out;
}

inline std::ostream& operator<<(std::ostream& os, const record& r) {
  switch (r.what) {
    case record::kind::event:
      return os << "event{type=\"" << escape_bytes(r.type) << "\" data=\"" << escape_bytes(r.data)
                << "\" id=\"" << escape_bytes(r.last_event_id) << "\"}";
    case record::kind::comment: return os << "comment{\"" << escape_bytes(r.comment) << "\"}";
    case record::kind::retry: return os << "retry{" << r.retry << "}";
  }
  return os;
}

class recorder : public ssekit::handler {
 public:
  std::vector<record> records;
  void on_event(const ssekit::event& ev) override {
    records.push_back(record::make_event(std::string(ev.type), std::string(ev.data), std::string(ev.last_event_id)));
  }
  void on_comment(std::string_view text) override { records.push_back(record::make_comment(std::string(text))); }
  void on_retry(std::uint64_t ms) override { records.push_back(record::make_retry(ms)); }
};

}  // namespace ssekit::test
