// The contract-test protocol (protocol.hpp): JSON <-> options and messages.
#include "protocol.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <limits>

namespace ssekit::contract {

namespace json = boost::json;

namespace {

// A non-negative integer of milliseconds (JSON numbers may arrive as
// int64, uint64 or an integral double).
std::optional<std::int64_t> milliseconds_of(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (d >= 0 && d < 9e15 && d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& capabilities() {
  // README.md says why each one is here and why "event-type-listeners" is not.
  static const std::vector<std::string> list{
      "comments", "headers", "last-event-id", "post", "report", "read-timeout", "restart", "bom",
      "server-directed-shutdown-request", "204", "payload-size-stress-testable", "empty-or-missing-location",
  };
  return list;
}

std::string status_body() {
  json::array caps;
  for (const auto& c : capabilities()) caps.emplace_back(json::string(c));
  json::object body;
  body["name"] = "ssekit-native";
  body["capabilities"] = std::move(caps);
  return json::serialize(body);
}

// --- the callback messages (README.md, "Callbacks")

std::string event_message(const event& ev) {
  json::object e;
  e["type"] = json::string(ev.type.data(), ev.type.size());
  e["data"] = json::string(ev.data.data(), ev.data.size());
  e["id"] = json::string(ev.last_event_id.data(), ev.last_event_id.size());
  json::object m;
  m["kind"] = "event";
  m["event"] = std::move(e);
  return json::serialize(m);
}

std::string comment_message(std::string_view text) {
  json::object m;
  m["kind"] = "comment";
  m["comment"] = json::string(text.data(), text.size());
  return json::serialize(m);
}

std::string error_text(const client_error& error) {
  std::string text{client_error_reason_name(error.reason)};
  text += ": ";
  text += error.message;
  if (!error.will_reconnect) text += " (closed)";
  return text;
}

std::string error_message(const client_error& error) {
  json::object m;
  m["kind"] = "error";
  // The harness reads "error" (ssetests ReceivedMessage.Error); its
  // service_spec.md shows "comment" here, which the harness ignores.
  m["error"] = error_text(error);
  return json::serialize(m);
}

// --- the create-stream parameters


// On Boost.URL (compiled once in ssekit::native): malformed hosts and ports
// ("http://a:b:80/") are refused with the rest.
std::optional<http_target> parse_http_url(std::string_view text) {
  const auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http || !u.has_authority() || u.has_userinfo() || u.has_query() ||
      u.has_fragment()) {
    return std::nullopt;
  }
  // Boost.URL 1.81 reads "http://a:b:80/" as authority "a:" and path
  // "b:80/": after an authority a path must start with '/' (RFC 3986).
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') return std::nullopt;
  http_target t;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: t.host = u.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::ipv6: t.host = u.host_ipv6_address().to_string(); break;
    case boost::urls::host_type::name:
      if (u.encoded_host().find('%') != boost::urls::string_view::npos) return std::nullopt;
      t.host = std::string(u.encoded_host());
      break;
    default: return std::nullopt;
  }
  if (t.host.empty()) return std::nullopt;
  if (u.has_port() && !u.port().empty()) {
    // Boost.URL's port_number() wraps values over 65535: check the digits.
    const auto port = u.port();
    if (port.size() > 5 || port.find_first_not_of("0123456789") != boost::urls::string_view::npos ||
        std::stoul(std::string(port)) - 1 >= 65535) {
      return std::nullopt;
    }
    t.port = std::string(port);
  }
  t.authority = std::string(u.encoded_host_and_port());
  std::string_view path(u.encoded_path().data(), u.encoded_path().size());
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  t.path = std::string(path);
  return t;
}


// Fills `out` from the POST / body, or says what is wrong with it.
std::string parse_stream_params(std::string_view body, stream_params& out) {
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return "the body is not JSON: " + ec.message();
  const json::object* obj = doc.if_object();
  if (!obj) return "the body is not a JSON object";

  auto string_field = [&](std::string_view key, std::string& to, bool required) -> std::string {
    const json::value* v = obj->if_contains(json::string_view(key.data(), key.size()));
    if (!v || v->is_null()) return required ? std::string(key) + " is missing" : std::string();
    if (!v->is_string()) return std::string(key) + " is not a string";
    to = std::string(v->get_string());
    return {};
  };
  auto ms_field = [&](std::string_view key, std::optional<std::int64_t>& to) -> std::string {
    const json::value* v = obj->if_contains(json::string_view(key.data(), key.size()));
    if (!v || v->is_null()) return {};
    to = milliseconds_of(*v);
    return to ? std::string() : std::string(key) + " is not a non-negative integer";
  };

  std::string callback_url;
  std::string method;
  std::optional<std::int64_t> initial_delay;
  std::optional<std::int64_t> read_timeout;
  client_options& o = out.options;
  for (auto err : {string_field("streamUrl", o.url, true), string_field("callbackUrl", callback_url, true),
                   string_field("tag", out.tag, false), string_field("lastEventId", o.last_event_id, false),
                   string_field("method", method, false), string_field("body", o.body, false),
                   ms_field("initialDelayMs", initial_delay), ms_field("readTimeoutMs", read_timeout)}) {
    if (!err.empty()) return err;
  }
  const auto callback = parse_http_url(callback_url);
  if (!callback) return "callbackUrl is not an http:// URL without query: " + callback_url;
  out.callback = *callback;
  if (!method.empty()) o.method = method;
  if (const json::value* h = obj->if_contains("headers"); h && !h->is_null()) {
    if (!h->is_object()) return "headers is not an object";
    for (const auto& [name, value] : h->get_object()) {
      if (!value.is_string()) return "header " + std::string(name) + " is not a string";
      o.headers.emplace_back(std::string(name), std::string(value.get_string()));
    }
  }
  // The harness expects a body to be sent again on every reconnect.
  o.replay_body = true;
  if (initial_delay) o.reconnection_time = std::chrono::milliseconds(*initial_delay);
  if (read_timeout) o.idle_timeout = std::chrono::milliseconds(*read_timeout);
  return {};
}

std::optional<std::string> command_name(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(json::string_view(body.data(), body.size()), ec);
  const json::object* obj = ec ? nullptr : doc.if_object();
  const json::value* name = obj ? obj->if_contains("command") : nullptr;
  if (!name || !name->is_string()) return std::nullopt;
  return std::string(name->get_string());
}

std::optional<std::uint64_t> stream_id(std::string_view path) {
  if (path.substr(0, streams_prefix.size()) != streams_prefix) return std::nullopt;
  const std::string_view digits = path.substr(streams_prefix.size());
  // 18 digits cannot overflow 64 bits: no range check needed past this.
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::uint64_t id = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return id;
}

}  // namespace ssekit::contract
