// The contract-test service's protocol (tools/contract/protocol.hpp) without
// sockets: the harness's JSON -> client options, the callback messages,
// the callback URL and /streams/N rules.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "protocol.hpp"

namespace {

namespace contract = ssekit::contract;
namespace json = boost::json;
using namespace std::chrono_literals;

TEST(ContractProtocol, StreamParamsBecomeClientOptions) {
  contract::stream_params p;
  ASSERT_EQ(contract::parse_stream_params(
                R"({"streamUrl":"http://127.0.0.1:1/s","callbackUrl":"http://127.0.0.1:2/cb/","tag":"t",
                    "lastEventId":"7","method":"REPORT","body":"b","headers":{"X-A":"1"},
                    "initialDelayMs":250,"readTimeoutMs":1500.0})",
                p),
            "");
  EXPECT_EQ(p.tag, "t");
  EXPECT_EQ(p.options.url, "http://127.0.0.1:1/s");
  EXPECT_EQ(p.options.last_event_id, "7");
  EXPECT_EQ(p.options.method, "REPORT");
  EXPECT_EQ(p.options.body, "b");
  EXPECT_TRUE(p.options.replay_body);  // the harness expects the body on every reconnect
  ASSERT_EQ(p.options.headers.size(), 1u);
  EXPECT_EQ(p.options.headers[0].first, "X-A");
  EXPECT_EQ(p.options.headers[0].second, "1");
  EXPECT_EQ(p.options.reconnection_time, 250ms);
  EXPECT_EQ(p.options.idle_timeout, 1500ms);
  EXPECT_EQ(p.callback.host, "127.0.0.1");
  EXPECT_EQ(p.callback.port, "2");
  EXPECT_EQ(p.callback.authority, "127.0.0.1:2");
  EXPECT_EQ(p.callback.path, "/cb");  // trailing '/' dropped: callback n is path + "/n"
}

TEST(ContractProtocol, DefaultsWhenOptionalFieldsAreAbsentOrNull) {
  contract::stream_params p;
  ASSERT_EQ(contract::parse_stream_params(R"({"streamUrl":"http://h/s","callbackUrl":"http://h","tag":null})", p), "");
  EXPECT_EQ(p.options.method, "GET");
  EXPECT_EQ(p.options.reconnection_time, 3000ms);
  EXPECT_EQ(p.options.idle_timeout, 0ms);
  EXPECT_EQ(p.callback.port, "80");
  EXPECT_EQ(p.callback.path, "");
  // README.md: an optional field that is null is the same as absent, the
  // millisecond fields as well as the strings.
  contract::stream_params q;
  ASSERT_EQ(contract::parse_stream_params(
                R"({"streamUrl":"http://h/s","callbackUrl":"http://h","initialDelayMs":null,"readTimeoutMs":null})", q),
            "");
  EXPECT_EQ(q.options.reconnection_time, 3000ms);
  EXPECT_EQ(q.options.idle_timeout, 0ms);
}

TEST(ContractProtocol, ZeroMillisecondsIsAcceptedInEveryJsonForm) {
  // The harness sends "initialDelayMs":0 to keep reconnect tests fast:
  // 0 is non-negative, as an integer and as a double.
  for (const char* zero : {"0", "0.0", "-0.0"}) {
    contract::stream_params p;
    p.options.reconnection_time = 1234ms;
    ASSERT_EQ(contract::parse_stream_params(
                  std::string(R"({"streamUrl":"http://h/s","callbackUrl":"http://h","initialDelayMs":)") + zero + "}", p),
              "")
        << zero;
    EXPECT_EQ(p.options.reconnection_time, 0ms) << zero;
  }
}

TEST(ContractProtocol, BadStreamParamsSayWhatIsWrong) {
  const auto error = [](const std::string& body) {
    contract::stream_params p;
    return contract::parse_stream_params(body, p);
  };
  EXPECT_NE(error("{").find("not JSON"), std::string::npos);
  EXPECT_NE(error("[]").find("not a JSON object"), std::string::npos);
  EXPECT_EQ(error(R"({"callbackUrl":"http://h"})"), "streamUrl is missing");
  EXPECT_EQ(error(R"({"streamUrl":"http://h"})"), "callbackUrl is missing");
  EXPECT_EQ(error(R"({"streamUrl":1,"callbackUrl":"http://h"})"), "streamUrl is not a string");
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","initialDelayMs":-1})"),
            "initialDelayMs is not a non-negative integer");
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","initialDelayMs":-1.0})"),
            "initialDelayMs is not a non-negative integer");  // a negative double, not only int64
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","readTimeoutMs":-1000.0})"),
            "readTimeoutMs is not a non-negative integer");
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","readTimeoutMs":1.5})"),
            "readTimeoutMs is not a non-negative integer");
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","readTimeoutMs":18446744073709551615})"),
            "readTimeoutMs is not a non-negative integer");  // over int64: refused, not wrapped
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","headers":[]})"), "headers is not an object");
  EXPECT_EQ(error(R"({"streamUrl":"http://h","callbackUrl":"http://h","headers":{"a":1}})"), "header a is not a string");
  EXPECT_NE(error(R"({"streamUrl":"http://h","callbackUrl":"https://h/cb"})").find("callbackUrl is not an http:// URL"),
            std::string::npos);
}

TEST(ContractProtocol, CallbackUrls) {
  EXPECT_TRUE(contract::parse_http_url("http://[::1]:8080/x"));
  EXPECT_EQ(contract::parse_http_url("http://[::1]:8080/x")->host, "::1");
  EXPECT_EQ(contract::parse_http_url("http://a:65535")->port, "65535");
  // RFC 3986 3.2.3: an empty port (after the colon) is the scheme's default.
  const auto empty_port = contract::parse_http_url("http://a:/x");
  ASSERT_TRUE(empty_port);
  EXPECT_EQ(empty_port->host, "a");
  EXPECT_EQ(empty_port->port, "80");
  EXPECT_EQ(empty_port->path, "/x");
  // Every trailing '/' goes (callback n is path + "/n"), not only the last.
  EXPECT_EQ(contract::parse_http_url("http://h/cb//")->path, "/cb");
  EXPECT_EQ(contract::parse_http_url("http://h///")->path, "");
  for (const char* bad : {"http://a:65536", "http://a:0", "http://a:99999999999999999999", "http://a:b:80/",
                          "http://a/?q", "http://a/#f", "http://u@a/", "ftp://a/", "http:/a", "http://a%41/",
                          "http:///x", "http://:80/x"}) {  // no host
    EXPECT_FALSE(contract::parse_http_url(bad)) << bad;
  }
}

TEST(ContractProtocol, Commands) {
  EXPECT_EQ(contract::command_name(R"({"command":"restart"})"), "restart");
  EXPECT_EQ(contract::command_name(R"({"command":"listen","type":"x"})"), "listen");
  EXPECT_FALSE(contract::command_name(R"({"command":1})"));
  EXPECT_FALSE(contract::command_name(R"(["restart"])"));
  EXPECT_FALSE(contract::command_name("restart"));
}

TEST(ContractProtocol, StreamIds) {
  EXPECT_EQ(contract::stream_id("/streams/1"), 1u);
  EXPECT_EQ(contract::stream_id("/streams/999999999999999999"), 999999999999999999u);
  for (const char* bad : {"/streams/", "/streams/1x", "/streams/-1", "/streams/1000000000000000000", "/stream/1", "/"}) {
    EXPECT_FALSE(contract::stream_id(bad)) << bad;
  }
}

TEST(ContractProtocol, CallbackMessages) {
  const ssekit::event ev{"t", "line1\nline2", "id\"1"};
  EXPECT_EQ(json::parse(contract::event_message(ev)),
            json::parse(R"({"kind":"event","event":{"type":"t","data":"line1\nline2","id":"id\"1"}})"));
  EXPECT_EQ(json::parse(contract::comment_message(" c")), json::parse(R"({"kind":"comment","comment":" c"})"));
  ssekit::client_error e;
  e.reason = ssekit::client_error_reason::http_status;
  e.message = "HTTP 500";
  e.will_reconnect = false;
  EXPECT_EQ(contract::error_text(e), "http_status: HTTP 500 (closed)");
  e.will_reconnect = true;
  EXPECT_EQ(json::parse(contract::error_message(e)), json::parse(R"({"kind":"error","error":"http_status: HTTP 500"})"));
}

TEST(ContractProtocol, StatusDeclaresTheCapabilities) {
  const json::value status = json::parse(contract::status_body());
  EXPECT_EQ(status.at("name"), "ssekit-native");
  const json::array& caps = status.at("capabilities").as_array();
  ASSERT_EQ(caps.size(), contract::capabilities().size());
  for (std::size_t i = 0; i < caps.size(); ++i) EXPECT_EQ(caps[i], contract::capabilities()[i].c_str());
}

}  // namespace
