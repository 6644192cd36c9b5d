// The programs' standard descriptors and what they print there: a closed
// one reserved on /dev/null, text escaped for a terminal, and log lines
// that never block an event loop. POSIX, no Boost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

namespace ssekit::tools {

// If `fd` (0, 1 or 2) is closed, opens /dev/null on it and returns true:
// else the next descriptor made (an io_context's eventfd, a signal pipe)
// takes its number, and what the program writes to standard output or
// error goes into that.
bool reserve_if_closed(int fd);

// 0 when the process can open one more descriptor now, else the errno
// (EMFILE). Under a tiny RLIMIT_NOFILE a server's own descriptors (epoll,
// eventfd, timers, listener, signal pipe) can take every one: it would say
// "listening" and never accept.
int spare_descriptor_error();

// Raises RLIMIT_NOFILE's soft limit to the hard one, as far as an
// unprivileged process may go (a server's connections need more than the
// usual 1024); says so on standard error, after `program`, when it can't.
// The soft limit then; 0 for none (RLIM_INFINITY) or unknown.
std::uint64_t raise_descriptor_limit(const char* program);

// Descriptors open now numbered below `limit` (/proc/self/fd; one
// inherited above RLIMIT_NOFILE takes none of its numbers); 0 when they
// can't be counted.
std::size_t open_descriptors(std::uint64_t limit);

// The descriptors a server under `limit` can give to connections (and the
// rest of what it holds per client), with `open` open once it is set up:
// one is kept for a connection accepted at its limit before another is
// shed, one spare, and never less than min(32, limit / 2) kept back. 0 when
// none is left. Its max_connections below this, shedding starts before
// accept() fails with EMFILE (under `ulimit -n` 16 a reserve of limit / 2
// left 7 descriptors for 8 connections, and idle sockets locked clients out).
std::uint64_t descriptors_for_connections(std::uint64_t limit, std::size_t open);

// Says "PROGRAM: listening on URL" on standard output, for whoever started
// the program. When standard output takes no writes (a pipe whose reader
// is gone; the caller ignores SIGPIPE, which killed servers there before
// they served anything), the line goes to standard error with why. Never
// blocks the caller: a thread of its own writes it, waiting as long as a
// full pipe takes (a reader that reads later still gets it).
void announce_listening(const char* program, const std::string& url);

// Whether a write of at most PIPE_BUF bytes to a pipe or FIFO `fd` can't
// block now: poll() with no wait says POLLOUT, and no POLLERR (a pipe nobody
// reads: EPIPE), POLLHUP or POLLNVAL. On a terminal or socket POLLOUT means
// only some room: a write of PIPE_BUF bytes may still wait.
bool writable_now(int fd);

// Text from the network (a reason phrase, a header, a tag) made safe for a
// terminal: C0 controls, DEL, C1 controls (raw or UTF-8 encoded) and bytes
// that are not UTF-8 become \xNN or \u00NN; ESC cannot start an escape
// sequence. Backslashes are left as they are (text already escaped is not
// escaped twice).
std::string terminal_safe(std::string_view text);

// Log lines for a descriptor (standard error) that nobody may be reading:
// a line is escaped (terminal_safe), cut to max_line bytes, and written in
// one write() of at most PIPE_BUF bytes (atomic, and on a pipe that poll()
// calls writable, not blocking), or dropped when poll() says the
// descriptor takes nothing now. The next line written says how many were
// dropped. O_NONBLOCK is not set: the descriptor is shared with the parent.
// One thread at a time (a strand).
class line_log {
 public:
  static constexpr std::size_t max_line = 1024;

  explicit line_log(int fd = 2) noexcept : fd_(fd) {}
  // `line` without its '\n'; `more`: bytes of it the caller already cut.
  void write(std::string_view line, std::size_t more = 0);
  // Lines dropped so far (in all).
  std::uint64_t dropped() const noexcept { return dropped_total_; }

 private:
  int fd_;
  std::uint64_t dropped_ = 0;  // since the last line written
  std::uint64_t dropped_total_ = 0;
};

// A std::ostream over a line_log, for code that logs to an ostream: each
// '\n' ends a line. Holds at most max_line bytes of a line (and counts
// the rest, for the cut marker).
class line_log_stream : public std::ostream {
 public:
  explicit line_log_stream(int fd = 2) : std::ostream(&buf_), buf_(fd) {}
  const line_log& log() const noexcept { return buf_.log; }

 private:
  struct buffer : std::streambuf {
    explicit buffer(int fd) : log(fd) {}
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    void end_line();
    line_log log;
    std::string line;
    std::size_t cut = 0;  // bytes of the line past what `line` holds
  };
  buffer buf_;
};

}  // namespace ssekit::tools
