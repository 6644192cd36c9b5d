// How sse-cat prints what the parser delivers: an event stream again (the
// default) or one JSON object per line (--json), through a buffered writer
// that never holds a whole large event: pieces are escaped and written as
// they go, so an event costs sse-cat about a buffer, not copies of it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "ssekit/parser.hpp"
#include "tool_io.hpp"

namespace ssekit::cli {

enum class output_format { event_stream, json };

// Buffered output to a file descriptor: bytes are written once `capacity`
// of them wait, and on flush(); a piece larger than the buffer is written
// without being copied. A write to output that may block (a pipe, a
// terminal, a socket) waits for the descriptor with poll(), also watching
// `wake_fd` (-1: none): when that becomes readable (a stop signal's
// self-pipe), the write gives up, so a consumer that stopped reading cannot
// keep the program from stopping. A regular file or /dev/null never blocks:
// each write() takes the whole buffer, without poll().
class writer {
 public:
  // capacity: at least min_capacity (the escapers' worst case for a block:
  // 32 bytes of controls, 6 bytes each).
  static constexpr std::size_t min_capacity = 256;
  writer(int fd, int wake_fd, std::size_t capacity = 256 * 1024);

  // Inline: JSON escaping appends many small pieces.
  void append(std::string_view bytes) {
    if (error_ == 0 && used_ + bytes.size() <= capacity_) {
      std::memcpy(buffer_.get() + used_, bytes.data(), bytes.size());
      used_ += bytes.size();
      return;
    }
    append_large(bytes);
  }
  void append(char c) {
    if (used_ >= capacity_) write_buffer();
    if (error_ == 0) buffer_[used_++] = c;
  }
  // Room for `n` <= capacity() bytes written in place, then commit(k <= n):
  // escapers write straight into the buffer. After a failure the room is
  // scratch space that commit() discards.
  char* reserve(std::size_t n) {
    if (capacity_ - used_ < n) write_buffer();
    return buffer_.get() + used_;
  }
  void commit(std::size_t n) noexcept {
    if (error_ == 0) used_ += n;
  }
  // Bytes free after the buffered ones (reserve(n) leaves at least n).
  std::size_t room() const noexcept { return capacity_ - used_; }
  std::size_t capacity() const noexcept { return capacity_; }
  // Writes what is buffered. False after any failure (error() says which).
  bool flush();
  // Writes what of the buffer the output takes without waiting (as sse-cat
  // stops on a signal), then empties it: all of it to a file, what poll()
  // allows to a pipe, nothing to a terminal or socket (no such promise).
  void flush_without_waiting();
  bool empty() const noexcept { return used_ == 0; }
  // 0, an errno value, or EINTR when the wake descriptor ended a write.
  int error() const noexcept { return error_; }
  bool interrupted() const noexcept { return interrupted_; }

 private:
  void append_large(std::string_view bytes);
  void write_buffer();
  void write_out(std::string_view bytes);

  int fd_;
  int wake_fd_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  int error_ = 0;
  bool interrupted_ = false;
  bool never_blocks_;
  bool is_pipe_;  // a pipe or FIFO
};

// Appends `text` as a JSON string literal (quotes included), escaped in
// place in the writer's buffer, 32 bytes at a time with AVX-512 (VBMI2),
// 16 with SSSE3, else byte by byte.
void append_json_string(writer& out, std::string_view text);
// The same without the quotes.
void append_json_escaped(writer& out, std::string_view text);

// A client error's message with the library's option names that sse-cat
// has a flag for written as that flag ("set replay_body to resend it" ->
// "pass --replay-body to resend it"), or pointed to it ("(max_compression_ratio)"
// -> "... (see --max-compression-ratio)"; "ca_file" -> "--cacert"). The one
// place sse-cat maps them.
std::string with_flag_names(std::string message);
// How with_flag_names() starts the message of a --cacert file it can't load.
inline constexpr std::string_view cacert_load_failure = "can't load --cacert ";

// The start of a refused response's body for one line of standard error:
// at most 300 bytes (cut at a character's start), white space at its ends
// dropped, line breaks as " / ", other control bytes escaped (terminal_safe).
std::string body_excerpt(std::string_view body);

// The instruction sets the JSON escaper may use (and, above portable, the
// event stream's copy of multi-line data, SSE2): by default the best the
// CPU has; tests lower it to check every path on one machine.
enum class simd_level : std::uint8_t { portable, ssse3, avx512 };
simd_level cpu_simd_level() noexcept;
// At most cpu_simd_level() (a higher one is lowered to it).
void set_simd_level(simd_level level) noexcept;

class printer : public handler {
 public:
  printer(writer& out, output_format format, bool include_comments_and_retry)
      : out_(out), format_(format), all_(include_comments_and_retry) {}

  void on_event(const event& ev) override;
  void on_comment(std::string_view text) override;
  void on_retry(std::uint64_t milliseconds) override;

  std::uint64_t events() const noexcept { return events_; }
  // For a terminal: control characters the stream sends (ESC, BEL, C1 CSI,
  // DEL...) in any field are written escaped, as error messages show them
  // (\x1b; \u001b in JSON), so a stream can't clear the screen, set the
  // title or write the clipboard (OSC 52). TAB stays. Off: bytes as sent.
  void escape_controls(bool on) noexcept { escape_controls_ = on; }

 private:
  void on_event_with_controls(const event& ev);

  writer& out_;
  output_format format_;
  bool all_;
  bool escape_controls_ = false;
  std::string printed_id_;  // event_stream format: the id the reader already knows
  std::uint64_t events_ = 0;
};

}  // namespace ssekit::cli
