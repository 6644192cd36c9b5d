#include "serve_process.hpp"

#include "tool_args.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace ssekit::bench {
namespace {

// The children the signal handler must kill (at most two servers at once:
// plain and https).
std::atomic<pid_t> g_children[2] = {-1, -1};

extern "C" void kill_child_and_exit(int sig) {
  for (const auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  ::_exit(128 + sig);
}

void track(pid_t from, pid_t to) {
  for (auto& child : g_children) {
    pid_t expected = from;
    if (child.compare_exchange_strong(expected, to)) return;
  }
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

serve_process::serve_process(const std::string& program, const std::vector<std::string>& args,
                             std::chrono::milliseconds wait) {
  if (::access(program.c_str(), X_OK) != 0) {
    throw std::runtime_error(program + " is not an executable (build it: --target sse-serve, or pass --serve PATH)");
  }
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--port", "0"});
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    // The child: dies with us, whatever way we go.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = pid;
  stdout_fd_ = out[0];
  track(-1, pid);

  // Read lines until "listening on URL".
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::string text;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      stop();
      throw std::runtime_error(program + " did not print \"listening on URL\" within " + std::to_string(wait.count()) + " ms");
    }
    char buf[512];
    const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int status = stop();
      throw std::runtime_error(program + " exited (status " + std::to_string(status) + ") before listening");
    }
    text.append(buf, static_cast<std::size_t>(n));
    const auto at = text.find("listening on ");
    if (at == std::string::npos) continue;
    const auto url_begin = at + std::strlen("listening on ");
    const auto url_end = text.find_first_of(" \r\n", url_begin);
    if (url_end == std::string::npos) continue;  // the rest of the line is still coming
    base_url_ = text.substr(url_begin, url_end - url_begin);
    break;
  }
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  // http://HOST:PORT or https://HOST:PORT (IPv6 hosts come in brackets).
  const std::string scheme = base_url_.rfind("https://", 0) == 0 ? "https://" : "http://";
  const auto colon = base_url_.rfind(':');
  if (base_url_.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size()) {
    stop();
    throw std::runtime_error("can't read the URL in sse-serve's output: " + base_url_);
  }
  host_ = base_url_.substr(scheme.size(), colon - scheme.size());
  if (host_.size() > 2 && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  const auto port = ssekit::tools::parse_uint(std::string_view(base_url_).substr(colon + 1), 1, 65535);
  if (!port) {
    stop();
    throw std::runtime_error("can't read the port in sse-serve's output: " + base_url_);
  }
  port_ = static_cast<unsigned short>(*port.value);
}

serve_process::~serve_process() { stop(); }

int serve_process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  int status = 0;
  int result = -1;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      result = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  track(pid_, -1);
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  return result;
}

void serve_process::stop_on_signal() {
  struct sigaction action {};
  action.sa_handler = kill_child_and_exit;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

}  // namespace ssekit::bench
