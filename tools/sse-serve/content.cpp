#include "content.hpp"

#include <zlib.h>

#include <vector>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <vector>

#include "ssekit/serializer.hpp"
#include "tool_args.hpp"

#include "workloads.hpp"  // workloads/: the deterministic benchmark streams

namespace ssekit::demo::detail {

const std::string_view endpoint_help = R"(Endpoints (GET unless noted; every stream is text/event-stream, no-cache):
  /clock                 the UTC time as an event every second
  /random                a random number at random intervals (0.1-2 s)
  /feed?topics=news,weather,stock
                         named events (event: news|weather|stock) with JSON data
                         and globally increasing ids; a retry: hint first; the
                         Last-Event-ID header or ?last_event_id=N replays the
                         newer events still in the history
  /events                only broadcasts and heartbeats (for idle clients)
  POST /broadcast[?event=TYPE]
                         the request body becomes an event on every live stream
                         (/clock, /random, /feed, /events); answers 200 with
                         {"clients":N}
  /fault?...             misbehaviour for client tests (GET, or POST with a
                         body that is not used); parameters:
      events=N           N events (id = Last-Event-ID + 1, +2, ...) then a clean
                         end; N at most 100000
      drop_after=N       N events then an abrupt end (the body stops short)
      rst=1              end with a TCP reset instead of a close
      interval_ms=T      wait T ms between events or pieces (at most an hour:
                         larger values mean an hour)
      stall_ms=T         after the events, T ms of silence before the end
                         (at most an hour, like interval_ms)
      stall              read the request and never answer
      status=NNN         answer this status, 200-599 (retry_after=S adds
                         Retry-After)
      redirect=URL       redirect there (code=301|302|303|307|308, default 302)
      raw=HEX            send exactly these bytes as the body
      chunk=N            write the body in pieces of N bytes (1: byte drip;
                         0, the default: one piece); 65536 pieces at most
      content_type=T     Content-Type instead of text/event-stream
      framing=chunked|length|close
                         Transfer-Encoding: chunked (default for HTTP/1.1),
                         Content-Length, or a body ended by closing
      retry=MS           a retry: field before the events
  /bench?bytes=N[&workload=NAME][&framing=...]
                         at least N bytes of a deterministic workload as fast
                         as the socket takes them (N at most 2^50);
                         X-Ssekit-Bytes and X-Ssekit-Events tell what a parser
                         must count
Numbers are decimal digits; a parameter out of range or given twice, or a
/fault combination that leaves one without effect, is a 400 that says why;
a parameter the endpoint does not take is ignored (?t=... cache busting).
  /stats                 JSON counters: connections, streams, events_sent, ...
  /                      this list
Live streams (/clock, /random, /feed, /events) take framing=chunked|close and
get heartbeat comments.
)";

const std::string* target::find(std::string_view name) const noexcept {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::optional<std::string> target::repeated() const {
  // Sorted names: a head's worth of parameters (8 KiB, thousands) stays cheap.
  std::vector<std::string_view> names;
  names.reserve(params.size());
  for (const auto& param : params) names.emplace_back(param.first);
  std::sort(names.begin(), names.end());
  const auto twice = std::adjacent_find(names.begin(), names.end());
  if (twice == names.end()) return std::nullopt;
  return std::string(*twice);
}

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]);
    const int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

fault_plan plan_fault(const target& t, std::string_view last_event_id, std::chrono::milliseconds max_wait) {
  fault_plan plan;
  std::string error;
  const auto number = [&](std::string_view name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    const std::string* v = t.find(name);
    if (!v) return fallback;
    const auto p = tools::parse_uint(*v, min, max);
    if (!p && error.empty()) error = std::string(name) + " " + p.error;
    return p.value.value_or(fallback);
  };
  const auto millis = [&](std::string_view name) {
    const std::string* v = t.find(name);
    if (!v) return std::chrono::milliseconds(0);
    const auto p = tools::parse_millis(*v, max_wait);
    if (!p && error.empty()) error = std::string(name) + " " + p.error;
    return p.value.value_or(std::chrono::milliseconds(0));
  };
  const auto fail = [&](std::string message) {
    plan.what = fault_plan::action::bad_request;
    plan.message = std::move(message);
    return plan;
  };
  const auto events = number("events", 0, 0, max_fault_events);
  const auto drop_after = number("drop_after", 0, 0, max_fault_events);
  plan.interval = millis("interval_ms");
  plan.stall = millis("stall_ms");
  const auto chunk = number("chunk", 0, 0, SIZE_MAX);
  const auto status = number("status", 200, 200, 599);
  const auto retry = number("retry", 0, 0, UINT64_MAX);
  (void)number("retry_after", 0, 0, UINT64_MAX);
  // Ids go up to Last-Event-ID + events (or drop_after), and one past the
  // last must fit (fault_body's end): beyond, they start from 1 instead of
  // wrapping (only then: the bound was the largest events value's,
  // whatever the request's).
  const auto last_id = tools::parse_uint(last_event_id, 0, UINT64_MAX - std::max(events, drop_after) - 1).value.value_or(0);
  if (!error.empty()) return fail(error);

  // Values and combinations that would be ignored or mean nothing are
  // refused, so that a test asking for them learns it at once.
  const std::string* location = t.find("redirect");
  if (t.has("code") && !location) return fail("code needs redirect=");
  // The redirects a client follows with Location (RFC 9110 15.4); 300, 304,
  // 305 and 306 are not.
  const std::string* code_text = t.find("code");
  const auto code = code_text ? tools::parse_uint(*code_text, 301, 308).value.value_or(0) : 302;
  if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308)
    return fail("code must be 301, 302, 303, 307 or 308");
  if (t.has("retry_after") && status == 200) return fail("retry_after needs status= other than 200");
  if (const std::string* rst = t.find("rst"); rst && *rst != "1") return fail("rst must be 1");
  if (const std::string* stall = t.find("stall"); stall && !stall->empty())
    return fail("stall takes no value (stall_ms=T waits T ms)");
  if (t.has("stall") && t.has("stall_ms")) return fail("stall and stall_ms exclude each other");
  if (t.has("events") && t.has("drop_after")) return fail("events and drop_after exclude each other");
  if (t.has("raw") && (t.has("events") || t.has("drop_after") || t.has("retry")))
    return fail("raw excludes events, drop_after and retry");
  // Header values: field content (RFC 9110 5.5) has no control bytes but HTAB.
  const auto has_control = [](const std::string& v) {
    return std::any_of(v.begin(), v.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && u != '\t') || u == 0x7f;
    });
  };

  // Each kind of answer takes its own parameters (precedence: stall,
  // redirect, status, body); one that the answer would ignore is refused.
  {
    static constexpr std::array<std::string_view, 15> all = {"events", "drop_after", "rst", "interval_ms", "stall_ms",
                                                             "stall", "status", "retry_after", "redirect", "code",
                                                             "raw", "chunk", "content_type", "framing", "retry"};
    std::vector<std::string_view> takes;
    std::string_view answer;
    if (t.has("stall")) takes = {"stall"}, answer = "stall";
    else if (location) takes = {"redirect", "code"}, answer = "redirect=";
    else if (status == 204 || status == 304) takes = {"status"}, answer = "a status without a body";
    else if (status != 200) takes = {"status", "retry_after", "content_type"}, answer = "status=";
    // A body with no bytes: nothing to cut into pieces or to space out.
    else if (!t.has("raw") && !t.has("retry") && (t.has("drop_after") ? drop_after : events) == 0)
      takes = {"events", "drop_after", "rst", "stall_ms", "status", "content_type", "framing"}, answer = "an empty body";
    for (const std::string_view name : all) {
      if (!answer.empty() && t.has(name) && std::find(takes.begin(), takes.end(), name) == takes.end())
        return fail(std::string(name) + " has no effect with " + std::string(answer));
    }
  }

  if (t.has("stall")) {
    plan.what = fault_plan::action::stall_forever;
    plan.reusable = false;
    return plan;
  }
  if (location) {
    if (location->empty()) return fail("redirect needs a URL");
    if (has_control(*location)) return fail("a control character in redirect");
    plan.what = fault_plan::action::redirect;
    plan.code = static_cast<unsigned>(code);
    // A Location is a URI reference (RFC 9110 10.2.2): the decoded
    // parameter's bytes that RFC 3986 allows nowhere in one go out
    // percent-encoded, not raw ('%' and '#' stay: they may mean something).
    static constexpr char hex[] = "0123456789ABCDEF";
    static constexpr std::string_view not_in_uris = " \"<>\\^`{|}";
    for (const char c : *location) {
      const auto u = static_cast<unsigned char>(c);
      if (u > 0x7f || not_in_uris.find(c) != std::string_view::npos) {
        plan.location += '%';
        plan.location += hex[u >> 4];
        plan.location += hex[u & 0xf];
      } else {
        plan.location += c;
      }
    }
    return plan;
  }
  if (const std::string* type = t.find("content_type")) {
    if (has_control(*type)) return fail("a control character in content_type");
    plan.content_type = *type;
  }
  if (status != 200) {
    plan.what = fault_plan::action::status;
    plan.code = static_cast<unsigned>(status);
    if (const std::string* after = t.find("retry_after")) plan.retry_after = *after;
    return plan;
  }

  const bool drop = t.has("drop_after");
  plan.end = t.has("rst") ? fault_plan::ending::reset : drop ? fault_plan::ending::drop : fault_plan::ending::clean;
  std::string prefix;
  std::uint64_t count = 0;
  if (const std::string* raw = t.find("raw")) {
    auto bytes = hex_decode(*raw);
    if (!bytes) return fail("raw must be pairs of hex digits");
    prefix = std::move(*bytes);
  } else {
    if (t.has("retry")) serialize_retry(prefix, retry);  // retry=0 too: the storm case
    count = drop ? drop_after : events;
    // When dropping, a Content-Length counts one event more than is sent,
    // so that the body visibly stops short.
    if (drop) plan.declared_extra = fault_body::event(last_id + 1 + count).size();
  }
  plan.body = fault_body(std::move(prefix), last_id + 1, count, chunk, plan.interval.count() != 0);
  if (chunk != 0 && plan.body.size() / chunk + (plan.body.size() % chunk != 0 ? 1 : 0) > max_fault_pieces) {
    const std::uint64_t least = (plan.body.size() + max_fault_pieces - 1) / max_fault_pieces;
    return fail("chunk " + std::to_string(chunk) + " cuts this body (" + std::to_string(plan.body.size()) +
                " bytes) into more than " + std::to_string(max_fault_pieces) + " pieces: chunk must be at least " +
                std::to_string(least));
  }
  // Connections that linger or end abnormally are not reused.
  plan.reusable = plan.end == fault_plan::ending::clean && plan.interval.count() == 0 && plan.stall.count() == 0;
  return plan;
}

std::string fault_body::event(std::uint64_t id) {
  std::string out;
  const std::string text = std::to_string(id);
  append_event(out, "event " + text, {}, text);
  return out;
}

fault_body::fault_body(std::string prefix, std::uint64_t first_id, std::uint64_t events, std::uint64_t chunk,
                       bool piece_per_event)
    : next_id_(first_id), end_id_(first_id + events), events_(events), chunk_(chunk),
      per_event_(piece_per_event && events != 0), unit_(std::move(prefix)) {
  // The size without making the body: an event's length depends only on
  // how many digits its id has, so sum per digit count.
  size_ = unit_.size();
  std::uint64_t low = 1;  // the smallest id with `digits` digits
  for (int digits = 1; digits <= 20 && next_id_ < end_id_; ++digits) {
    const std::uint64_t high = digits == 20 ? UINT64_MAX : low * 10 - 1;
    const std::uint64_t from = std::max(low, first_id);
    const std::uint64_t to = std::min(high, end_id_ - 1);
    if (from <= to) size_ += (to - from + 1) * event(from).size();
    if (digits < 20) low *= 10;
  }
  if (events_ != 0) {
    unit_ += event(next_id_++);
    unit_has_event_ = true;
  }
}

void fault_body::next_unit() {
  unit_.clear();
  unit_at_ = 0;
  unit_has_event_ = next_id_ < end_id_;
  if (unit_has_event_) unit_ = event(next_id_++);
}

std::uint64_t fault_body::piece_left() const noexcept {
  const std::uint64_t rest = size_ - offset_;
  if (chunk_ != 0) return std::min(rest, chunk_ - offset_ % chunk_);
  if (per_event_) return unit_.size() - unit_at_;
  return rest;
}

std::uint64_t fault_body::read(std::string& out, std::size_t max) {
  std::uint64_t ended = 0;
  while (max != 0 && !done()) {
    const std::size_t take = std::min(max, unit_.size() - unit_at_);
    out.append(unit_, unit_at_, take);
    unit_at_ += take;
    offset_ += take;
    max -= take;
    if (unit_at_ == unit_.size()) {
      if (unit_has_event_) ++ended;
      if (!done()) next_unit();  // so that piece_left() sees the next event
    }
  }
  return ended;
}

std::optional<std::string> compress_events(std::string_view bytes, std::string_view coding, int level) {
  int window_bits = 0;
  if (coding == "gzip") window_bits = 16 + MAX_WBITS;
  else if (coding == "deflate") window_bits = MAX_WBITS;
  else return std::nullopt;
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out;
  char buf[16 * 1024];
  std::size_t at = 0;
  bool ok = true;
  while (ok) {
    // Up to and including the next blank line (LF LF, or LF CR LF), or the rest.
    std::size_t end = bytes.size();
    for (std::size_t i = bytes.find('\n', at); i != std::string_view::npos; i = bytes.find('\n', i + 1)) {
      if (i + 1 < bytes.size() && bytes[i + 1] == '\n') { end = i + 2; break; }
      if (i + 2 < bytes.size() && bytes[i + 1] == '\r' && bytes[i + 2] == '\n') { end = i + 3; break; }
    }
    const bool last = end == bytes.size();
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + at));
    z.avail_in = static_cast<uInt>(end - at);
    int ret = Z_OK;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      ret = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
      out.append(buf, sizeof buf - z.avail_out);
    } while (ret == Z_OK && (z.avail_out == 0 || (last && ret != Z_STREAM_END)));
    ok = ret == Z_OK || ret == Z_STREAM_END || ret == Z_BUF_ERROR;
    at = end;
    if (last) break;
  }
  deflateEnd(&z);
  if (!ok) return std::nullopt;
  return out;
}

struct event_compressor::state {
  z_stream z{};
};

event_compressor::event_compressor() : z_(std::make_unique<state>()) {}
event_compressor::~event_compressor() { deflateEnd(&z_->z); }

std::unique_ptr<event_compressor> event_compressor::make(std::string_view coding) {
  int window_bits = 0;
  if (coding == "gzip") window_bits = 16 + MAX_WBITS;
  else if (coding == "deflate") window_bits = MAX_WBITS;
  else return nullptr;
  std::unique_ptr<event_compressor> c(new event_compressor());
  // An 8 KiB window and memLevel 6: about 64 KiB per stream (zlib's
  // defaults take 256 KiB), and level 1: a broadcast is compressed once per
  // stream on the server's thread. Events are small; the ratio barely moves.
  if (window_bits > 0) window_bits -= MAX_WBITS - 13;
  if (deflateInit2(&c->z_->z, Z_BEST_SPEED, Z_DEFLATED, window_bits, 6, Z_DEFAULT_STRATEGY) != Z_OK) return nullptr;
  return c;
}

// Deflates `bytes` with `flush` (Z_SYNC_FLUSH after an event, Z_FINISH at
// the end) and returns all the output that makes.
static std::string deflate_all(z_stream& z, std::string_view bytes, int flush) {
  std::string out;
  char buf[4096];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  int status = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    status = deflate(&z, flush);
    if (status != Z_OK && status != Z_STREAM_END) break;  // no progress: never loop
    out.append(buf, sizeof buf - z.avail_out);
  } while (status == Z_OK && z.avail_out == 0);
  return out;
}

std::string event_compressor::write(std::string_view bytes) { return deflate_all(z_->z, bytes, Z_SYNC_FLUSH); }

std::string event_compressor::finish() { return deflate_all(z_->z, {}, Z_FINISH); }

std::uint64_t bench_repeats(std::uint64_t bytes, std::uint64_t block_size) noexcept {
  if (bytes == 0 || block_size == 0) return 0;
  return bytes / block_size + (bytes % block_size != 0 ? 1 : 0);
}

errc append_event(std::string& out, std::string_view data, std::string_view type,
                  std::optional<std::string_view> id) {
  outgoing_event ev;
  ev.data = data;
  ev.type = type;
  ev.id = id;
  return serialize_event(out, ev);
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(ms % 1000));
  return text;
}

std::uint64_t rng::next() noexcept {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

std::string_view topic_name(topic t) noexcept {
  switch (t) {
    case topic_news: return "news";
    case topic_weather: return "weather";
    case topic_stock: return "stock";
  }
  return "unknown";
}

std::optional<unsigned> parse_topics(std::string_view list) {
  if (list.empty()) return all_topics;
  unsigned mask = 0;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (name == "news") mask |= topic_news;
    else if (name == "weather") mask |= topic_weather;
    else if (name == "stock") mask |= topic_stock;
    else return std::nullopt;
  }
  return mask;
}

namespace {

constexpr std::array<std::string_view, 8> headlines = {
    "Local library extends opening hours",    "Rail line reopens after repairs",
    "New bridge design unveiled",             "City council approves park budget",
    "Researchers map deep-sea vents",         "Harbour festival draws record crowds",
    "Startup ships \"quiet\" electric ferry", "Museum returns artefacts to origin",
};
constexpr std::array<std::string_view, 6> cities = {"Oslo", "Lisbon", "Nairobi", "Osaka", "Lima", "Toronto"};
constexpr std::array<std::string_view, 5> conditions = {"clear", "cloudy", "rain", "snow", "wind"};
constexpr std::array<std::string_view, 4> symbols = {"ACME", "GLOBX", "INITech", "UMBR"};

// JSON string literal for text that needs only quotes and backslashes escaped.
void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string fixed(double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

feed_generator::feed_generator(std::uint64_t seed) : rng_(seed), prices_(symbols.size()) {
  for (auto& price : prices_) price = 20.0 + static_cast<double>(rng_.between(0, 18000)) / 100.0;
}

std::string feed_generator::news(std::uint64_t id) {
  std::string json = R"({"headline":)";
  append_json_string(json, headlines[rng_.next() % headlines.size()]);
  json += R"(,"story":)" + std::to_string(id) + R"(,"source":"ssekit demo wire"})";
  return json;
}

std::string feed_generator::weather() {
  std::string json = R"({"city":)";
  append_json_string(json, cities[rng_.next() % cities.size()]);
  const double celsius = static_cast<double>(rng_.between(0, 500)) / 10.0 - 15.0;
  json += R"(,"temp_c":)" + fixed(celsius, 1) + R"(,"conditions":)";
  append_json_string(json, conditions[rng_.next() % conditions.size()]);
  json += '}';
  return json;
}

std::string feed_generator::stock() {
  const std::size_t which = rng_.next() % symbols.size();
  const double change = (static_cast<double>(rng_.between(0, 400)) - 200.0) / 100.0;
  double& price = prices_[which];
  price = price + change < 1.0 ? price : price + change;
  std::string json = R"({"symbol":)";
  append_json_string(json, symbols[which]);
  json += R"(,"price":)" + fixed(price, 2) + R"(,"change":)" + fixed(change, 2) + '}';
  return json;
}

feed_item feed_generator::next() {
  feed_item item;
  item.id = ++last_id_;
  switch (rng_.next() % 3) {
    case 0: item.kind = topic_news; break;
    case 1: item.kind = topic_weather; break;
    default: item.kind = topic_stock; break;
  }
  const std::string data = item.kind == topic_news      ? news(item.id)
                           : item.kind == topic_weather ? weather()
                                                        : stock();
  const std::string id = std::to_string(item.id);
  append_event(item.bytes, data, topic_name(item.kind), id);
  return item;
}

namespace {

generated_stream serialized_workload(std::size_t size) {
  generated_stream stream;
  rng gen(0x5eed);
  std::string data;
  while (stream.bytes.size() < size) {
    data = R"({"seq":)" + std::to_string(stream.events) + R"(,"payload":")";
    while (data.size() < 1000) data.push_back(static_cast<char>('a' + gen.next() % 26));
    data += "\"}";
    const std::string id = std::to_string(stream.events + 1);
    append_event(stream.bytes, data, "bench", id);
    ++stream.events;
  }
  return stream;
}

}  // namespace

std::optional<generated_stream> make_workload(std::string_view name, std::size_t size) {
  if (name == "serialized") return serialized_workload(size);
  if (const auto* info = bench::find_workload(name)) {
    bench::workload w = info->generate(size);
    return generated_stream{std::move(w.bytes), w.events};
  }
  return std::nullopt;
}

std::string workload_names() {
  std::string names;
  for (const auto& info : bench::all_workloads()) {
    names += info.name;
    names += ' ';
  }
  return names + "serialized";
}

std::string_view default_workload() noexcept { return "feed"; }

}  // namespace ssekit::demo::detail
