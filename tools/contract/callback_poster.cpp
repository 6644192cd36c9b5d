// The callback poster (callback_poster.hpp) on Beast: a resolver, the
// client's connection race, one kept-alive tcp_stream, a queue. Everything runs on the service's strand;
// pending operations keep the poster alive, and after close() their
// completions only return.
#include "callback_poster.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <deque>
#include <optional>
#include <ostream>
#include <utility>

#include "connect_race.hpp"

namespace ssekit::contract {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr std::uint64_t max_callback_answer = 64 * 1024;
constexpr std::uint32_t max_answer_head = 8 * 1024;
// The read buffer's cap: Beast's body_limit counts chunk data only, so an
// answer whose chunk extension never ends was buffered whole (4 GB in
// 12 s from one receiver). At the cap a read fails (buffer_overflow).
constexpr std::size_t max_answer_buffer = max_answer_head + max_callback_answer + 4096;
// 1xx answers before the final one (RFC 9110 15.2), as many as the client takes.
constexpr int max_interim_answers = 32;
// What a queued message holds besides its body's bytes: its deque slot,
// the string's heap block header and rounding. Counted so that the bound
// holds for memory: a 31-byte comment message cost ~180 B of RSS, and with
// its bytes alone counted 4 MiB of them took ~20 MiB.
constexpr std::size_t message_overhead = 160;

class poster final : public callback_poster, public std::enable_shared_from_this<poster> {
 public:
  poster(const strand_type& strand, http_target target, std::chrono::milliseconds timeout, std::ostream* log,
         std::string name, std::size_t max_queued_bytes, backlog_handler on_backlog)
      : target_(std::move(target)),
        timeout_(timeout),
        log_(log),
        name_(std::move(name)),
        max_queued_bytes_(max_queued_bytes),
        on_backlog_(std::move(on_backlog)),
        resolver_(strand),
        stream_(strand),
        connect_deadline_(strand) {}

  void post(std::string body) override {
    if (closed_) return;
    const std::size_t cost = body.capacity() + message_overhead;
    queued_bytes_ += cost;
    queue_.push_back({++counter_, std::move(body), cost});
    if (!full_ && queued_bytes_ > max_queued_bytes_) {
      full_ = true;
      if (on_backlog_) on_backlog_(true);
    }
    if (!busy_) next();
  }

  std::size_t queued_bytes() const noexcept override { return queued_bytes_; }

  // Drops what is queued and the connection; nothing is sent afterwards.
  void close() override {
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    resolver_.cancel();
    if (const auto race = race_.lock()) race->cancel();
    connect_deadline_.cancel();
    drop_connection();
  }

 private:
  struct message {
    std::uint64_t number;
    std::string body;
    std::size_t cost;  // counted in queued_bytes_
  };

  void next() {
    if (closed_ || queue_.empty()) {
      busy_ = false;
      return;
    }
    busy_ = true;
    if (connected_) return send();
    resolver_.async_resolve(target_.host, target_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              if (self->closed_) return;
                              if (ec) return self->failed(ec, "resolve", true);  // nothing sent: safe to try again
                              // The client's connection race: a first address that drops
                              // SYNs does not hold up the next (connect_race.hpp).
                              self->race_ = ssekit::detail::connect_race::start(
                                  self->stream_.get_executor(), ssekit::detail::interleave_families(results),
                                  [self](beast::error_code e, tcp::socket socket) {
                                    self->race_.reset();  // a later deadline finds no race to cancel
                                    self->connect_deadline_.cancel();
                                    if (self->closed_) return;
                                    if (e) return self->failed(e, "connect", true);
                                    self->stream_.socket() = std::move(socket);
                                    self->connected_ = true;
                                    self->reused_ = false;
                                    self->buffer_.clear();
                                    self->send();
                                  });
                              self->connect_deadline_.expires_after(self->timeout_);
                              self->connect_deadline_.async_wait([self](beast::error_code e) {
                                const auto race = self->race_.lock();
                                if (!e && race) race->cancel(beast::error::timeout);
                              });
                            });
  }

  void send() {
    const message& m = queue_.front();
    request_ = {};
    request_.method(http::verb::post);
    request_.version(11);
    request_.target(target_.path + '/' + std::to_string(m.number));
    request_.set(http::field::host, target_.authority);
    request_.set(http::field::content_type, "application/json");
    request_.keep_alive(true);
    request_.body() = m.body;
    request_.prepare_payload();
    stream_.expires_after(timeout_);
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->failed(ec, "write", self->reused_ && ec != beast::error::timeout);
      self->read_answer(0);
    });
  }

  // A 1xx (100 Continue, 103 Early Hints) precedes the answer: read past
  // it. Taken as the answer, it set every later answer one message off.
  void read_answer(int interim) {
    answer_.emplace();
    answer_->header_limit(max_answer_head);
    answer_->body_limit(max_callback_answer);
    http::async_read(stream_, buffer_, *answer_, [self = shared_from_this(), interim](beast::error_code e, std::size_t) {
      if (self->closed_) return;
      if (e) {
        // The stale kept connection: closed or reset before a byte of the
        // answer. Not a timeout: the receiver may be acting on it.
        const bool unanswered = interim == 0 && self->buffer_.size() == 0 && !self->answer_->got_some();
        const bool gone = e == http::error::end_of_stream || e == net::error::eof || e == net::error::connection_reset;
        return self->failed(e, "read the answer", self->reused_ && unanswered && gone);
      }
      const unsigned status = self->answer_->get().result_int();
      if (status / 100 == 1 && status != 101) {
        if (interim < max_interim_answers) return self->read_answer(interim + 1);
        return self->failed(http::error::bad_status, "read the answer (more than 32 interim answers)", false);
      }
      self->answered();
    });
  }

  void answered() {
    const auto& res = answer_->get();
    if (res.result_int() / 100 != 2 && log_) {
      *log_ << name_ << ": callback " << queue_.front().number << " answered " << res.result_int() << '\n';
    }
    if (!res.keep_alive()) drop_connection();
    reused_ = true;  // the next message, if it goes on this connection
    pop();
    retried_ = false;
    next();
  }

  // A kept-alive connection the receiver has closed meanwhile fails on first
  // use: the message is tried once more on a new connection, then dropped.
  // Only then, or when nothing was sent (a failed resolve or connect):
  // `resend`. The harness does not de-duplicate, so a message the receiver
  // may have taken (a timeout, part of an answer, a new connection) is
  // dropped, not sent twice (RFC 9110 9.2.2).
  void failed(beast::error_code ec, std::string_view what, bool resend) {
    drop_connection();
    if (resend && !retried_) {
      retried_ = true;
      return next();
    }
    if (log_) *log_ << name_ << ": callback " << queue_.front().number << " dropped, can't " << what << ": " << ec.message() << '\n';
    pop();
    retried_ = false;
    next();
  }

  void pop() {
    queued_bytes_ -= queue_.front().cost;
    queue_.pop_front();
    if (full_ && queued_bytes_ <= max_queued_bytes_ / 2) {
      full_ = false;
      if (on_backlog_) on_backlog_(false);
    }
  }

  // Only closes the socket: an operation still pending (after close()) uses
  // the buffer and the answer's parser until it completes.
  void drop_connection() {
    connected_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  const http_target target_;
  const std::chrono::milliseconds timeout_;
  std::ostream* const log_;
  const std::string name_;
  const std::size_t max_queued_bytes_;
  const backlog_handler on_backlog_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  // While connecting; weak, as the client's transport holds it: the
  // race's handler holds this poster.
  std::weak_ptr<ssekit::detail::connect_race> race_;
  net::steady_timer connect_deadline_;
  beast::flat_buffer buffer_{max_answer_buffer};
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> answer_;
  std::deque<message> queue_;
  std::size_t queued_bytes_ = 0;
  bool full_ = false;
  std::uint64_t counter_ = 0;
  bool busy_ = false;
  bool connected_ = false;
  bool reused_ = false;  // the connection has carried an answered message
  bool retried_ = false;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<callback_poster> callback_poster::make(const strand_type& strand, http_target target,
                                                       std::chrono::milliseconds timeout, std::ostream* log,
                                                       std::string name, std::size_t max_queued_bytes,
                                                       backlog_handler on_backlog) {
  return std::make_shared<poster>(strand, std::move(target), timeout, log, std::move(name), max_queued_bytes,
                                  std::move(on_backlog));
}

}  // namespace ssekit::contract
