// Runs `sse-serve` as a child process for the end-to-end benchmark: the
// server gets its own process (its own descriptor limit and its own core),
// so the benchmark process holds only the client side.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ssekit::bench {

class serve_process {
 public:
  // Starts `program args...` with `--port 0` added, reads its stdout until
  // the "listening on URL" line (at most `wait`), and keeps the URL without
  // its trailing '/'. Throws std::runtime_error on failure (the child is
  // stopped first). The child also gets SIGTERM if this process dies
  // (PR_SET_PDEATHSIG), and stop_on_signal() covers SIGINT and SIGTERM.
  serve_process(const std::string& program, const std::vector<std::string>& args,
                std::chrono::milliseconds wait = std::chrono::seconds(10));
  ~serve_process();  // stop()
  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  const std::string& base_url() const noexcept { return base_url_; }  // http://127.0.0.1:PORT
  const std::string& host() const noexcept { return host_; }
  unsigned short port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }

  // SIGTERM, wait up to `grace`, then SIGKILL; reaps the child. Idempotent.
  // Returns the exit status (-1 if it had to be killed or was not running).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Installs SIGINT/SIGTERM handlers that kill the running child and exit,
  // so an interrupted benchmark (or a test's `timeout`) leaves no server.
  static void stop_on_signal();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string base_url_;
  std::string host_;
  unsigned short port_ = 0;
};

}  // namespace ssekit::bench
