#include "memory_transport.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/_experimental/test/error.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "head_reader.hpp"

namespace ssekit::detail {
namespace {

namespace asio = boost::asio;

class memory_transport final : public transport {
 public:
  memory_transport(const asio::any_io_executor& strand, std::shared_ptr<memory_server> server)
      : strand_(strand), server_(std::move(server)), client_(strand), remote_(strand) {}

  void async_open(const url& target, open_handler handler) override {
    if (inject([handler](beast::error_code ec, std::size_t) {
          open_failure f{client_error_reason::network_error, ec, "can't connect: " + ec.message(), true};
          handler(&f);
        })) {
      return;
    }
    number_ = ++server_->connections;
    server_->hosts.push_back(target.host);
    client_.connect(remote_);
    if (server_->read_size != SIZE_MAX) client_.read_size(server_->read_size);
    asio::post(strand_, [handler = std::move(handler)] { handler(nullptr); });
  }

  void async_write(request_message& request, io_handler handler) override {
    if (inject(handler)) return;
    http::async_write(client_, request, [this, handler = std::move(handler)](beast::error_code ec, std::size_t n) {
      if (!ec) answer();
      handler(ec, n);
    });
  }

  void async_read_header(beast::flat_buffer& buffer, response_parser& parser, io_handler handler) override {
    if (inject(handler)) return;
    async_read_head(client_, buffer, parser, max_response_head, std::move(handler));
  }

  void async_read_some(beast::flat_buffer& buffer, io_handler handler) override {
    if (inject(handler)) return;
    async_read_bytes(client_, buffer, std::move(handler));
  }

  void close() override { client_.close(); }

 private:
  // Counts a step; on the chosen one, completes `handler` with a failure.
  bool inject(const io_handler& handler) {
    if (server_->on_step) server_->on_step(server_->steps);
    if (server_->steps++ != server_->fail_step) return false;
    server_->injected = true;
    asio::post(strand_, [handler] { handler(beast::test::error::test_failure, 0); });
    return true;
  }

  // The server's side: take the request, queue the response.
  void answer() {
    std::string request(remote_.str());
    remote_.clear();
    server_->requests.push_back(request);
    const std::string response = server_->respond ? server_->respond(number_, request) : std::string();
    client_.append(response);
    if (!server_->keep_open) client_.close_remote();
  }

  asio::any_io_executor strand_;
  std::shared_ptr<memory_server> server_;
  beast::test::stream client_;
  beast::test::stream remote_;
  int number_ = 0;
};

class memory_factory final : public transport_factory {
 public:
  explicit memory_factory(std::shared_ptr<memory_server> server) : server_(std::move(server)) {}
  std::unique_ptr<transport> make(const asio::any_io_executor& strand, const url&, const proxy_route&) override {
    return std::make_unique<memory_transport>(strand, server_);
  }

 private:
  std::shared_ptr<memory_server> server_;
};

}  // namespace

std::shared_ptr<transport_factory> make_memory_factory(std::shared_ptr<memory_server> server) {
  return std::make_shared<memory_factory>(std::move(server));
}

}  // namespace ssekit::detail
