// support/http_head.hpp: the HTTP framing that the tests, the scripted
// loopback server and ssekit-e2e-bench share.
#include <gtest/gtest.h>

#include "support/http_head.hpp"

namespace {

using namespace ssekit::testing;

TEST(HttpHead, FindsTheEndOfTheHead) {
  EXPECT_EQ(head_end("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"), 25u);
  EXPECT_EQ(head_end("HTTP/1.1 200 OK\r\nA: b\r\n"), std::string::npos);
  EXPECT_EQ(head_end(""), std::string::npos);
}

TEST(HttpHead, ParsesARequest) {
  const auto h = parse_head("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-LENGTH:  12 \r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->method, "POST");
  EXPECT_EQ(h->target, "/a?b=1");
  EXPECT_EQ(h->status, 0);
  EXPECT_EQ(h->header("content-length"), "12");  // any case, trimmed
  EXPECT_EQ(h->content_length(), 12u);
  EXPECT_EQ(h->header("X-DUP"), "1");  // the first one
  EXPECT_EQ(h->headers.size(), 4u);
  EXPECT_TRUE(h->has("host"));
  EXPECT_FALSE(h->has("accept"));
}

TEST(HttpHead, ParsesAResponse) {
  const auto h = parse_head("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 204);
  EXPECT_TRUE(h->method.empty());
  EXPECT_EQ(h->content_length(), 0u);  // absent
  EXPECT_EQ(parse_head("HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\n")->status, 404);
}

TEST(HttpHead, RefusesWhatIsNotAHead) {
  EXPECT_FALSE(parse_head("NOT HTTP AT ALL\r\n\r\n"));
  EXPECT_FALSE(parse_head("HTTP/1.1 2x0 OK\r\n\r\n"));
  EXPECT_FALSE(parse_head("GET /\r\n\r\n"));
  EXPECT_FALSE(parse_head(""));
}

TEST(HttpHead, ContentLengthIsRangeChecked) {
  EXPECT_FALSE(parse_head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")->content_length());
  EXPECT_FALSE(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n")->content_length());
  EXPECT_FALSE(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n")->content_length());
  EXPECT_EQ(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n")->content_length(),
            999999999999999999u);
}

TEST(HttpHead, WritesRequestsAndResponseHeads) {
  EXPECT_EQ(request_bytes("GET", "/e", "127.0.0.1:1"), "GET /e HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
  EXPECT_EQ(request_bytes("POST", "/", "h", "A: b\r\n"), "POST / HTTP/1.1\r\nHost: h\r\nA: b\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(request_bytes("PUT", "/", "h", "", "xyz"), "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz");
  EXPECT_EQ(response_head(202, "Accepted", "Content-Length: 0\r\n"), "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  // What one writes, the other reads.
  const std::string req = request_bytes("POST", "/cb/1", "h", "Content-Type: application/json\r\n", "{}");
  const auto h = parse_head(std::string_view(req).substr(0, head_end(req)));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->target, "/cb/1");
  EXPECT_EQ(h->content_length(), 2u);
  EXPECT_EQ(req.substr(head_end(req)), "{}");
}

}  // namespace
