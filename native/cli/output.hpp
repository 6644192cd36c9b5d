// How sse-cat prints what the parser delivers: an event stream again (the
// default) or one JSON object per line (--json).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ssekit/parser.hpp"

namespace ssekit::cli {

enum class output_format { event_stream, json };

// Appends `text` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view text);

class printer : public handler {
 public:
  printer(output_format format, bool include_comments_and_retry)
      : format_(format), all_(include_comments_and_retry) {}

  void on_event(const event& ev) override;
  void on_comment(std::string_view text) override;
  void on_retry(std::uint64_t milliseconds) override;

  // Output not yet written; the caller writes it and clears it.
  std::string& pending() noexcept { return out_; }
  std::uint64_t events() const noexcept { return events_; }

 private:
  output_format format_;
  bool all_;
  std::string out_;
  std::string printed_id_;  // event_stream format: the id the reader already knows
  std::uint64_t events_ = 0;
};

}  // namespace ssekit::cli
