#include "workloads.hpp"

#include <array>
#include <string>

namespace ssekit::bench {
namespace {

// Appends SSE lines and keeps the expected parser results in step with the
// bytes, so the benchmark can check the parser without a second parser.
class stream_builder {
 public:
  stream_builder(workload& w, std::string_view eol) : w_(w), eol_(eol) {}

  std::size_t size() const noexcept { return w_.bytes.size(); }

  void field(std::string_view name, std::string_view value) {
    w_.bytes += name;
    w_.bytes += ": ";
    w_.bytes += value;
    end_line();
  }
  // `value` must not start with a space (the parser strips one) and must not
  // contain CR or LF.
  void data(std::string_view value) {
    field("data", value);
    if (has_data_) ++w_.data_bytes;  // the LF that joins it to the previous line
    w_.data_bytes += value.size();
    has_data_ = true;
  }
  void comment(std::string_view text) {
    w_.bytes += ':';
    w_.bytes += text;
    end_line();
    ++w_.comments;
  }
  void retry(std::uint64_t milliseconds) {
    field("retry", std::to_string(milliseconds));
    ++w_.retries;
  }
  // The empty line; an event only if some data line came before it.
  void dispatch() {
    end_line();
    if (has_data_) ++w_.events;
    has_data_ = false;
  }

 private:
  void end_line() {
    w_.bytes += eol_;
    ++w_.newlines;  // CRLF and LF both hold exactly one LF byte
  }

  workload& w_;
  std::string_view eol_;
  bool has_data_ = false;
};

constexpr std::array<std::string_view, 96> ascii_words = {
    "the",      "of",        "and",      "to",        "in",        "is",       "that",
    "for",      "it",        "as",       "with",      "was",       "on",       "be",
    "at",       "by",        "this",     "had",       "not",       "are",      "but",
    "from",     "or",        "have",     "an",        "they",      "which",    "one",
    "you",      "were",      "all",      "we",        "when",      "there",    "can",
    "would",    "their",     "what",     "so",        "if",        "about",    "into",
    "model",    "stream",    "server",   "client",    "request",   "response", "token",
    "event",    "market",    "price",    "shares",    "report",    "quarter",  "growth",
    "weather",  "forecast",  "rain",     "sunny",     "wind",      "temperature",
    "city",     "council",   "election", "minister",  "announced", "yesterday",
    "according", "analysts", "expected", "increase",  "decline",   "percent",  "million",
    "billion",  "company",   "reported", "earnings",  "revenue",   "customers",
    "technology", "software", "network", "security",  "update",    "release",  "version",
    "performance", "however", "although", "therefore", "important", "different",
    "following", "including"};

// A little real-world non-ASCII text: 2-, 3- and 4-byte UTF-8 sequences.
constexpr std::array<std::string_view, 24> utf8_words = {
    "café",    "naïve",  "über",   "Straße",       "résumé",  "jalapeño", "déjà vu", "señor",
    "piñata",  "Ångström", "crème brûlée", "façade", "東京",  "日本語",   "こんにちは", "数据",
    "北京",    "서울",    "Привет", "γειά σου",    "🙂",      "🚀",       "€",       "naïveté"};

// Cities for the weather events: mostly ASCII, a few not.
constexpr std::array<std::string_view, 20> cities = {
    "London",  "Paris",   "Berlin",  "New York", "Chicago",  "Toronto", "Sydney",
    "Madrid",  "Rome",    "Dublin",  "Oslo",     "Helsinki", "Boston",  "Seattle",
    "Denver",  "Austin",  "Lisbon",  "Vienna",   "Zürich",   "São Paulo"};

constexpr std::array<std::string_view, 8> sources = {
    "Reuters", "AP", "Bloomberg", "BBC", "AFP", "The Guardian", "Nikkei", "Le Monde"};

constexpr std::array<std::string_view, 10> symbols = {
    "AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ASML", "SAP", "TSM"};

constexpr std::array<std::string_view, 6> conditions = {
    "clear", "partly cloudy", "overcast", "light rain", "heavy rain", "snow"};

template <std::size_t N>
std::string_view pick(rng& r, const std::array<std::string_view, N>& list) {
  return list[r.next() % N];
}

// A word, non-ASCII about once in `utf8_one_in` words.
std::string_view word(rng& r, std::uint64_t utf8_one_in) {
  return r.one_in(utf8_one_in) ? pick(r, utf8_words) : pick(r, ascii_words);
}

// Appends space-separated words (with some punctuation) until `out` is at
// least `target` bytes long. Never starts with a space.
void append_words(std::string& out, rng& r, std::size_t target, std::uint64_t utf8_one_in) {
  bool first = true;
  while (out.size() < target) {
    if (!first) out += ' ';
    first = false;
    out += word(r, utf8_one_in);
    if (r.one_in(12)) out += r.one_in(3) ? ',' : '.';
  }
}

void append_uint(std::string& out, std::uint64_t v) { out += std::to_string(v); }

// `value` / 10^decimals, written without floating point.
void append_fixed(std::string& out, std::int64_t value, int decimals) {
  if (value < 0) {
    out += '-';
    value = -value;
  }
  std::int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  append_uint(out, static_cast<std::uint64_t>(value / scale));
  out += '.';
  std::string frac = std::to_string(value % scale);
  out.append(static_cast<std::size_t>(decimals) - frac.size(), '0');
  out += frac;
}

void append_random_chars(std::string& out, rng& r, std::string_view alphabet, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out += alphabet[r.next() % alphabet.size()];
}

// ISO 8601 time on a fixed day, `seconds` after midnight.
void append_timestamp(std::string& out, std::uint64_t seconds) {
  seconds %= 86400;
  auto two = [&out](std::uint64_t v) {
    out += static_cast<char>('0' + v / 10);
    out += static_cast<char>('0' + v % 10);
  };
  out += "2024-11-21T";
  two(seconds / 3600);
  out += ':';
  two(seconds / 60 % 60);
  out += ':';
  two(seconds % 60);
  out += 'Z';
}

// ---------------------------------------------------------------------------
// llm: an OpenAI chat-completion stream, the most common SSE traffic today.

constexpr std::string_view alnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

workload generate_llm(std::size_t size) {
  workload w;
  w.name = "llm";
  w.bytes.reserve(size + 4096);
  stream_builder b{w, "\n"};
  rng r{0x5353454b49540001u};
  std::uint64_t created = 1732200000;
  std::string id;
  std::string line;

  // One chunk; `delta` is the JSON object, `finish` the finish_reason value.
  auto chunk = [&](std::string_view delta, std::string_view finish) {
    line.clear();
    line += R"({"id":")";
    line += id;
    line += R"(","object":"chat.completion.chunk","created":)";
    append_uint(line, created);
    line += R"(,"model":"gpt-4o-mini","choices":[{"index":0,"delta":)";
    line += delta;
    line += R"(,"finish_reason":)";
    line += finish;
    line += "}]}";
    b.data(line);
    b.dispatch();
    if (r.one_in(40)) ++created;
  };

  std::string delta;
  while (b.size() < size) {
    // A new completion: every chunk of it shares the id.
    id = "chatcmpl-";
    append_random_chars(id, r, alnum, 29);
    chunk(R"({"role":"assistant","content":""})", "null");
    const std::uint64_t tokens = r.between(20, 400);
    for (std::uint64_t t = 0; t < tokens && b.size() < size; ++t) {
      delta = R"({"content":")";
      const std::uint64_t words = r.between(1, 3);
      for (std::uint64_t i = 0; i < words; ++i) {
        if (r.one_in(30)) {
          delta += R"(\n\n)";  // JSON-escaped newlines: models emit them often
        } else if (r.one_in(60)) {
          delta += R"( \")";
          delta += word(r, 50);
          delta += R"(\")";
        } else {
          delta += ' ';
          delta += word(r, 50);
        }
      }
      if (r.one_in(10)) delta += '.';
      delta += R"("})";
      chunk(delta, "null");
    }
    chunk("{}", R"("stop")");
  }
  b.data("[DONE]");
  b.dispatch();
  return w;
}

// ---------------------------------------------------------------------------
// feed / crlf: a news/weather/stock ticker with ids, types, multi-line data
// and heartbeats.

void append_feed_json(std::string& out, rng& r, std::string_view type, std::uint64_t id) {
  const std::size_t start = out.size();
  const std::size_t target = r.between(250, 350) - 2;  // 2: the closing `"}`
  out += R"({"type":")";
  out += type;
  out += R"(","id":)";
  append_uint(out, id);
  out += R"(,"ts":")";
  append_timestamp(out, 21600 + id * 3);
  out += '"';
  std::string_view pad_field;
  if (type == "news") {
    out += R"(,"source":")";
    out += pick(r, sources);
    out += R"(","headline":")";
    std::string headline;
    append_words(headline, r, r.between(30, 70), 2000);
    out += headline;
    pad_field = R"(","summary":")";
  } else if (type == "weather") {
    out += R"(,"city":")";
    out += pick(r, cities);
    out += R"(","temp_c":)";
    append_fixed(out, static_cast<std::int64_t>(r.between(0, 450)) - 100, 1);
    out += R"(,"humidity":)";
    append_uint(out, r.between(20, 100));
    out += R"(,"wind_kph":)";
    append_fixed(out, static_cast<std::int64_t>(r.between(0, 600)), 1);
    out += R"(,"conditions":")";
    out += pick(r, conditions);
    out += R"(","forecast":[)";
    for (int h = 1; h <= 3; ++h) {
      if (h > 1) out += ',';
      out += R"({"h":)";
      append_uint(out, static_cast<std::uint64_t>(h));
      out += R"(,"temp_c":)";
      append_fixed(out, static_cast<std::int64_t>(r.between(0, 450)) - 100, 1);
      out += '}';
    }
    out += ']';
    pad_field = R"(,"note":")";
  } else {
    const auto price = static_cast<std::int64_t>(r.between(1000, 90000));
    out += R"(,"symbol":")";
    out += pick(r, symbols);
    out += R"(","exchange":"NASDAQ","price":)";
    append_fixed(out, price, 2);
    out += R"(,"change":)";
    append_fixed(out, static_cast<std::int64_t>(r.between(0, 800)) - 400, 2);
    out += R"(,"volume":)";
    append_uint(out, r.between(1000, 50000000));
    out += R"(,"bid":)";
    append_fixed(out, price - 1, 2);
    out += R"(,"ask":)";
    append_fixed(out, price + 1, 2);
    pad_field = R"(,"comment":")";
  }
  out += pad_field;
  std::string text;
  const std::size_t used = out.size() - start;
  append_words(text, r, used < target ? target - used : 1, 2000);
  out += text;
  out += R"("})";
}

workload generate_feed_with_eol(std::string_view name, std::string_view eol, std::size_t size) {
  workload w;
  w.name = std::string(name);
  w.bytes.reserve(size + 4096);
  stream_builder b{w, eol};
  rng r{0x5353454b49540002u};  // the same for feed and crlf: same events
  constexpr std::array<std::string_view, 3> types = {"news", "weather", "stock"};
  std::string line;
  for (std::uint64_t id = 1; b.size() < size; ++id) {
    if (id == 1) b.retry(5000);
    if (id > 1 && r.one_in(12)) {
      b.comment(" heartbeat");
      b.dispatch();  // dispatches nothing: no data
    }
    b.field("id", std::to_string(id));
    const std::string_view type = pick(r, types);
    b.field("event", type);
    const std::uint64_t lines = r.between(1, 3);
    for (std::uint64_t i = 0; i < lines; ++i) {
      line.clear();
      append_feed_json(line, r, type, id);
      b.data(line);
    }
    b.dispatch();
  }
  return w;
}

workload generate_feed(std::size_t size) { return generate_feed_with_eol("feed", "\n", size); }
workload generate_crlf(std::size_t size) { return generate_feed_with_eol("crlf", "\r\n", size); }

// ---------------------------------------------------------------------------
// big: 64 KiB documents spread over hundreds of data lines, so every event
// spans chunks and its data has to be assembled in the parser's buffer.

workload generate_big(std::size_t size) {
  workload w;
  w.name = "big";
  w.bytes.reserve(size + 128 * 1024);
  stream_builder b{w, "\n"};
  rng r{0x5353454b49540003u};
  std::string line;
  for (std::uint64_t id = 1; b.size() < size; ++id) {
    b.field("id", std::to_string(id));
    b.field("event", "document");
    std::size_t data = 0;
    while (data < 64 * 1024) {
      line.clear();
      append_words(line, r, r.between(60, 200), 4000);
      b.data(line);
      data += line.size() + 1;
    }
    b.dispatch();
  }
  return w;
}

constexpr std::array<workload_info, 4> registry = {{
    {"llm", "OpenAI chat-completion chunks (~200 B, one data line each), ends with [DONE]",
     generate_llm},
    {"feed", "id + event type + 1-3 data lines of ~300 B JSON, heartbeat comments, one retry",
     generate_feed},
    {"big", "64 KiB events over ~500 data lines of 60-200 B text", generate_big},
    {"crlf", "the feed workload with CRLF line ends", generate_crlf},
}};

}  // namespace

std::span<const workload_info> all_workloads() noexcept { return registry; }

const workload_info* find_workload(std::string_view name) noexcept {
  for (const auto& info : registry) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace ssekit::bench
