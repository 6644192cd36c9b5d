// The shared reconnect cases (tests/conformance/reconnect/*.json, format in
// tests/conformance/README.md) replayed over loopback HTTP with
// ssekit::client, through its public API only: the exact Last-Event-ID
// bytes of every request (non-ASCII ids go as UTF-8), and the events.
// js/test/reconnect-conformance.test.mjs replays the same data with the
// npm package's EventSource.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/client_options.hpp"
#include "support/script_server.hpp"
#include "ssekit/client.hpp"
#include "support/conformance.hpp"
#include "support/json.hpp"

namespace {

using namespace std::chrono_literals;
using ssekit::test::bytes_value;
using ssekit::test::check_keys;
using ssekit::test::json_value;
using ssekit::test::required;
using ssekit::testing::request;
using ssekit::testing::script_server;
using ssekit::testing::stream_header;

struct connection_case {
  bool has_id = false;
  std::string last_event_id;  // the header's exact bytes
  std::vector<std::string> parts;
};

struct expected_event {
  std::string type, data, last_event_id;
  bool operator==(const expected_event&) const = default;
};

struct reconnect_case {
  std::string name;
  std::string last_event_id;
  std::vector<connection_case> connections;
  std::vector<expected_event> expect;
};

std::vector<reconnect_case> load_cases() {
  const std::filesystem::path dir = std::filesystem::path(SSEKIT_CONFORMANCE_DIR) / "reconnect";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<reconnect_case> cases;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const json_value doc = ssekit::test::parse_json(text.str());
    check_keys(doc, {"description", "cases"}, file.string());
    for (const json_value& c : required(doc, "cases", file.string()).as_array()) {
      reconnect_case rc;
      rc.name = required(c, "name", file.string()).as_string();
      const std::string what = file.filename().string() + ": " + rc.name;
      check_keys(c, {"name", "source", "lastEventId", "connections", "expect"}, what);
      if (const json_value* id = c.find("lastEventId")) rc.last_event_id = bytes_value(*id, what);
      for (const json_value& k : required(c, "connections", what).as_array()) {
        check_keys(k, {"lastEventId", "stream"}, what);
        connection_case cc;
        const json_value& id = required(k, "lastEventId", what);
        cc.has_id = !id.is_null();
        if (cc.has_id) cc.last_event_id = bytes_value(id, what);
        const json_value& s = required(k, "stream", what);
        if (s.is_array()) {
          for (const json_value& part : s.as_array()) cc.parts.push_back(bytes_value(part, what));
        } else {
          cc.parts.push_back(bytes_value(s, what));
        }
        rc.connections.push_back(std::move(cc));
      }
      for (const json_value& e : required(c, "expect", what).as_array()) {
        check_keys(e, {"type", "data", "lastEventId"}, what);
        rc.expect.push_back({bytes_value(required(e, "type", what), what), bytes_value(required(e, "data", what), what),
                             bytes_value(required(e, "lastEventId", what), what)});
      }
      if (rc.connections.empty() || rc.expect.empty()) throw std::runtime_error(what + ": needs connections and events");
      cases.push_back(std::move(rc));
    }
  }
  return cases;
}

class ReconnectConformance : public testing::TestWithParam<reconnect_case> {};

TEST_P(ReconnectConformance, OverHttp) {
  const reconnect_case& c = GetParam();
  script_server server([&c](script_server::connection& conn) {
    request r;
    if (!conn.read_request(r)) return;
    const auto n = static_cast<std::size_t>(conn.number - 1);
    if (n >= c.connections.size()) {
      conn.write("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
      conn.close();
      return;
    }
    // Close-delimited: each part is written as it is, then the end.
    conn.write(stream_header());
    for (const auto& part : c.connections[n].parts) conn.write(part);
    if (n + 1 < c.connections.size()) conn.close();
    else conn.wait_for_client_close(10s);
  });

  ssekit::client_options o;
  o.url = server.url();
  o.reconnection_time = 1ms;
  o.backoff.enabled = false;
  o.connect_timeout = 5s;
  o.last_event_id = c.last_event_id;
  std::vector<expected_event> events;
  const ssekit::blocking_result result = ssekit::run_client(
      o,
      [&](const ssekit::event& ev) {
        events.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.last_event_id)});
        return events.size() < c.expect.size();
      },
      ssekit::testing::hang_limit);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(events, c.expect);
  const std::vector<request> requests = server.requests();
  ASSERT_EQ(requests.size(), c.connections.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& want = c.connections[i];
    EXPECT_EQ(requests[i].has("last-event-id"), want.has_id) << "request " << i + 1;
    if (want.has_id) {
      EXPECT_EQ(requests[i].header("last-event-id"), want.last_event_id) << "request " << i + 1;
    }
  }
}

std::string case_name(const testing::TestParamInfo<reconnect_case>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Data, ReconnectConformance, testing::ValuesIn(load_cases()), case_name);

}  // namespace
