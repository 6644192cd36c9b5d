// Reads an HTTP response head for Beast's parser, tolerating what curl and
// browsers tolerate: bare LF line ends (RFC 9112 2.2), malformed field
// lines and framing fields (repaired_head, http_rules.hpp) and a status line
// without the space before an empty reason (RFC 9112 4). The whole head is
// read first (bounded), set right in the buffer, and only then parsed.
// Letting Beast parse first and repairing after its error was wrong: Beast
// consumes the lines it has parsed before it fails, so the repair saw a
// head without its status line (a "404" line followed by "HTTP/1.1 200"
// read as a 200), and a head split across reads failed or waited for a
// CRLF CRLF that never came. Used for origin responses and CONNECT answers.
// Bodies are read as bytes (async_read_bytes) for the client to parse: it
// sets bare-LF chunk framing right first (chunk_framing, http_rules.hpp).
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "http_rules.hpp"

namespace ssekit::detail {

// The head at the start of `b` as repaired_head() sets it right, and the
// reason space, in place. Body bytes that came with the head may have filled
// the buffer: the fix's bytes then go past its max_size (at most as many
// again: a CR for each LF), which the caller sets back (a bare-LF head of 54
// KB was refused, "bad reason", when its body came in the same write: probe-fuzz2 1b).
inline void repair_head(boost::beast::flat_buffer& b, std::size_t head_size) {
  namespace net = boost::asio;
  {
    const auto bytes = b.data();
    const std::string_view buffered(static_cast<const char*>(bytes.data()), bytes.size());
    if (auto fixed = repaired_head(buffered.substr(0, head_size))) {
      // Longer (CRs added) or shorter (lines dropped).
      if (fixed->head.size() > fixed->size && fixed->head.size() - fixed->size > b.max_size() - b.size())
        b.max_size(b.size() + (fixed->head.size() - fixed->size));
      std::string rest(buffered.substr(fixed->size));  // the body's first bytes
      b.consume(b.size());
      b.commit(net::buffer_copy(b.prepare(fixed->head.size() + rest.size()),
                                std::array{net::buffer(fixed->head), net::buffer(rest)}));
    }
  }
  const auto bytes = b.data();
  const auto at = missing_reason_space({static_cast<const char*>(bytes.data()), bytes.size()});
  if (!at) return;
  if (b.size() >= b.max_size()) b.max_size(b.size() + 1);
  b.commit(net::buffer_copy(b.prepare(1), net::buffer(" ", 1)));
  char* p = static_cast<char*>(b.data().data());
  std::memmove(p + *at + 1, p + *at, b.size() - 1 - *at);
  p[*at] = ' ';
}

// Reads into `buffer` until it holds a whole head of at most `limit` bytes,
// repairs it, then lets Beast parse it into `parser`. A longer head is
// Beast's header_limit error (checked here: Beast counts the limit per
// parse and accepted a longer head read in pieces); an end of stream before
// the head is complete is end_of_stream (nothing came) or partial_message.
// `stream`, `buffer` and `parser` must outlive the operation (the caller's
// handler keeps their owner alive).
template <class Stream, class Parser, class Handler>
void async_read_head(Stream& stream, boost::beast::flat_buffer& buffer, Parser& parser, std::size_t limit, Handler handler) {
  namespace http = boost::beast::http;
  const auto bytes = buffer.data();
  const std::string_view buffered(static_cast<const char*>(bytes.data()), bytes.size());
  // An HTTP/2-only server sends its SETTINGS and waits for a preface that
  // never comes, and a TLS server may answer with an alert and wait: no
  // head would end before the timeout. The caller names them.
  if (looks_like_http2_frames(buffered) || looks_like_tls_record(buffered)) {
    return boost::asio::post(stream.get_executor(), [handler = std::move(handler)]() mutable { handler(http::error::bad_version, std::size_t{0}); });
  }
  if (const auto size = response_head_size(buffered.substr(0, std::min(limit, buffered.size())))) {
    repair_head(buffer, *size);
    return http::async_read_header(stream, buffer, parser, std::move(handler));
  }
  const std::size_t cap = std::min(limit, buffer.max_size());
  if (buffered.size() >= cap) {
    // Not from inside the initiating call (Asio's rule for completions).
    const auto ec = limit <= buffer.max_size() ? http::error::header_limit : http::error::buffer_overflow;
    return boost::asio::post(stream.get_executor(), [handler = std::move(handler), ec]() mutable { handler(ec, std::size_t{0}); });
  }
  const std::size_t want = std::min<std::size_t>(cap - buffered.size(), 16 * 1024);
  stream.async_read_some(buffer.prepare(want), [&stream, &buffer, &parser, limit, handler = std::move(handler)](
                                                   boost::beast::error_code ec, std::size_t n) mutable {
    buffer.commit(n);
    if (ec == boost::asio::error::eof) ec = buffer.size() == 0 ? http::error::end_of_stream : http::error::partial_message;
    if (ec) return handler(ec, std::size_t{0});
    async_read_head(stream, buffer, parser, limit, std::move(handler));
  });
}

// Reads what arrives into `buffer`, unparsed: at most 64 KiB and what its
// capacity leaves free (512 B at least), as Beast's own read_some sizes its
// reads. A full buffer is http::error::buffer_overflow, as with Beast.
// `stream` and `buffer` must outlive the operation.
template <class Stream, class Handler>
void async_read_bytes(Stream& stream, boost::beast::flat_buffer& buffer, Handler handler) {
  const std::size_t size = boost::beast::read_size(buffer, 64 * 1024);
  if (size == 0) {
    return boost::asio::post(stream.get_executor(), [handler = std::move(handler)]() mutable {
      handler(boost::beast::http::error::buffer_overflow, std::size_t{0});
    });
  }
  stream.async_read_some(buffer.prepare(size), [&buffer, handler = std::move(handler)](boost::beast::error_code ec, std::size_t n) mutable {
    buffer.commit(n);
    handler(ec, n);
  });
}

}  // namespace ssekit::detail
