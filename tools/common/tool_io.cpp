#include "tool_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "ssekit/utf8.hpp"

namespace ssekit::tools {

bool reserve_if_closed(int fd) {
  if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) return false;
  const int null_fd = ::open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
  if (null_fd != -1 && null_fd != fd) {
    ::dup2(null_fd, fd);
    ::close(null_fd);
  }
  return true;
}

std::string terminal_safe(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  const auto escape_byte = [&](unsigned char c) {
    out += "\\x";
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0xf]);
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      escape_byte(c);
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (the core's check: shortest form, no
    // surrogates, nothing above U+10FFFF) is kept, except U+0080-U+009F
    // (C1 controls: 0xC2 0x80-0x9F). The lead byte gives the length to check.
    std::size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (length == 0 || i + length > text.size() || !utf8_is_valid(text.substr(i, length))) length = 0;
    if (length == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      out += "\\u00";
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      out.push_back(hex[c1 >> 4]);
      out.push_back(hex[c1 & 0xf]);
      i += 2;
      continue;
    }
    if (length == 0) {
      escape_byte(c);
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

// A line, its cut marker and the dropped-lines notice fit in one atomic write.
static_assert(line_log::max_line + 160 <= PIPE_BUF);

int spare_descriptor_error() {
  // fd 2 is open: reserve_if_closed() saw to that.
  const int spare = ::fcntl(2, F_DUPFD_CLOEXEC, 0);
  if (spare < 0) return errno;
  ::close(spare);
  return 0;
}

std::uint64_t raise_descriptor_limit(const char* program) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      std::fprintf(stderr, "%s: setrlimit(RLIMIT_NOFILE): %s\n", program, std::strerror(errno));
      limit.rlim_cur = soft;
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? 0 : static_cast<std::uint64_t>(limit.rlim_cur);
}

std::size_t open_descriptors(std::uint64_t limit) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  const int own = ::dirfd(dir);
  std::size_t n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const unsigned long long fd = std::strtoull(entry->d_name, nullptr, 10);
    if (fd < limit && fd != static_cast<unsigned long long>(own)) ++n;
  }
  ::closedir(dir);
  return n;
}

std::uint64_t descriptors_for_connections(std::uint64_t limit, std::size_t open) {
  const std::uint64_t reserved = std::max<std::uint64_t>(std::min<std::uint64_t>(32, limit / 2), std::uint64_t{open} + 2);
  return limit > reserved ? limit - reserved : 0;
}

namespace {

struct announcement {
  std::string line;  // for standard output
  std::string text;  // the line without its '\n', for standard error
};

// 0, or the errno of the write that failed.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

void* announce(void* arg) {
  const std::unique_ptr<announcement> a(static_cast<announcement*>(arg));
  const int error = write_all(1, a->line);
  // glibc's strerror is safe across threads for errnos it knows.
  if (error != 0) write_all(2, a->text + " (standard output: " + std::strerror(error) + ")\n");
  return nullptr;
}

}  // namespace

void announce_listening(const char* program, const std::string& url) {
  auto a = std::make_unique<announcement>();
  a->text = std::string(program) + ": listening on " + url;
  a->line = a->text + '\n';
  // On a thread of its own, with write(2), not stdio: a pipe nobody reads
  // blocked the event loop before it served anyone, and a thread blocked in
  // stdio would hold the FILE lock that exit() takes. A small stack (the
  // sse-serve tests run it under ulimit -v); no signals, which stay with
  // the event loop's signal_set.
  sigset_t all;
  sigset_t old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_attr_t attr;
  pthread_t thread;
  bool started = false;
  if (::pthread_attr_init(&attr) == 0) {
    ::pthread_attr_setstacksize(&attr, std::max(static_cast<std::size_t>(PTHREAD_STACK_MIN), std::size_t{256 * 1024}));
    ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = ::pthread_create(&thread, &attr, announce, a.get()) == 0;
    ::pthread_attr_destroy(&attr);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (started) {
    a.release();  // the thread's now
    return;
  }
  // No thread: only a write that can't block.
  if (writable_now(1) && ::write(1, a->line.data(), a->line.size()) >= 0) return;
  if (writable_now(2)) write_all(2, a->text + " (standard output: takes no writes now)\n");
}

bool writable_now(int fd) {
  // POLLOUT on a pipe means room for a PIPE_BUF write.
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0 && (p.revents & POLLOUT) != 0;
}

void line_log::write(std::string_view line, std::size_t more) {
  const std::size_t full = line.size() + more;
  std::string text = terminal_safe(line.substr(0, max_line));
  bool cut = full > max_line;
  if (text.size() > max_line) {
    // Not inside a UTF-8 sequence the escaping kept.
    std::size_t end = max_line;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
    text.resize(end);
    cut = true;
  }
  std::string out;
  if (dropped_ != 0) {
    out += '(';
    out += std::to_string(dropped_);
    out += dropped_ == 1 ? " log line" : " log lines";
    out += " dropped: their reader was not keeping up)\n";
  }
  out += text;
  if (cut) {
    out += " [cut; the line had ";
    out += std::to_string(full);
    out += " bytes]";
  }
  out += '\n';
  // out is at most PIPE_BUF bytes (checked at compile time above).
  if (writable_now(fd_) && ::write(fd_, out.data(), out.size()) >= 0) {
    dropped_ = 0;  // a short write (a full disk) is not retried
    return;
  }
  ++dropped_;
  ++dropped_total_;
}

void line_log_stream::buffer::end_line() {
  log.write(line, cut);
  line.clear();
  cut = 0;
}

line_log_stream::buffer::int_type line_log_stream::buffer::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  const char ch = traits_type::to_char_type(c);
  xsputn(&ch, 1);
  return c;
}

std::streamsize line_log_stream::buffer::xsputn(const char* s, std::streamsize n) {
  std::string_view rest(s, static_cast<std::size_t>(n));
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const auto piece = rest.substr(0, end);
    const std::size_t room = line.size() < line_log::max_line ? line_log::max_line - line.size() : 0;
    line.append(piece.substr(0, room));
    cut += piece.size() > room ? piece.size() - room : 0;
    if (end == std::string_view::npos) break;
    end_line();
    rest.remove_prefix(end + 1);
  }
  return n;
}

}  // namespace ssekit::tools
