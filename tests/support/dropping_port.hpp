// A loopback port that drops SYNs: a listener with a backlog of 0 whose
// accept queue already holds a connection nobody accepts. Linux drops a
// SYN to a full accept queue (tcp_conn_request), so a connect to it waits
// for the kernel's SYN retries, like a host that is down or filtered.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <thread>

namespace ssekit::testing {

class dropping_port {
 public:
  explicit dropping_port(boost::asio::io_context& io) : filler_(io) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 0) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &size) != 0)
      return;
    port_ = ntohs(a.sin_port);
    filler_.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    // The queue is full once the filler's handshake is in it: for a
    // listener, TCP_INFO's tcpi_unacked is the accept queue's length.
    for (int i = 0; i < 10000 && queued() < 1; ++i) std::this_thread::yield();
  }
  ~dropping_port() { ::close(fd_); }
  dropping_port(const dropping_port&) = delete;
  dropping_port& operator=(const dropping_port&) = delete;

  unsigned short port() const { return port_; }
  std::string url(const std::string& path = "/events") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // Connections in the accept queue (1 once it is full).
  unsigned queued() const {
    tcp_info info{};
    socklen_t size = sizeof info;
    return ::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &size) == 0 ? info.tcpi_unacked : 0;
  }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
  boost::asio::ip::tcp::socket filler_;
};

}  // namespace ssekit::testing
