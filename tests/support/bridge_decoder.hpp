// Reads what the WebAssembly bridge's encoder (wasm/bridge_encoder.hpp)
// produced the way js/src/parser.cjs does: strings sliced out of the texts
// by UTF-16 offsets, types from their slots, ids carried over,
// big data, types and ids from the take list. Natively, so tests/bridge_encoder_test.cpp
// and fuzz/fuzz_bridge.cpp can compare the result with the core's own
// parser on the same chunks. It also checks the layout rules JS relies on
// (ranges, cuts at character boundaries, the ASCII text being ASCII) and
// reports the first one broken.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge_abi.hpp"
#include "bridge_encoder.hpp"
#include "ssekit/parser.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {

// The byte offset of every UTF-16 unit of valid UTF-8 (the bridge's texts
// always are), plus the end; npos for the second unit of a surrogate pair,
// where no slice may start or end. So UTF-16 slices are taken in bytes.
inline std::vector<std::size_t> utf16_offsets(std::string_view s) {
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    at.push_back(i);
    if (n == 4) at.push_back(std::string_view::npos);
    i += n;
  }
  at.push_back(s.size());
  return at;
}

class bridge_decoder {
 public:
  // Decodes one call's output into `out`; returns "" or the rule broken.
  std::string decode(const bridge::bridge_parser& p, const std::vector<std::string>& taken, std::vector<record>& out) {
    using namespace bridge;
    const std::string_view ascii = p.ascii();
    for (const char c : ascii) {
      if (static_cast<unsigned char>(c) >= 0x80) return "a byte >= 0x80 in the ASCII text";
    }
    const std::string_view wide_text = p.wide();
    // JS decodes the other text in pieces cut at these byte offsets.
    std::size_t previous = 0;
    for (const std::uint32_t cut : p.cuts()) {
      if (cut <= previous || cut >= wide_text.size()) return "a cut out of order or out of range";
      if ((static_cast<unsigned char>(wide_text[cut]) & 0xC0u) == 0x80u) return "a cut inside a character";
      previous = cut;
    }
    const std::vector<std::size_t> wide_at = utf16_offsets(wide_text);
    const std::size_t wide_units = wide_at.size() - 1;
    const std::span<const std::uint32_t> w = p.records();
    std::string problem;
    // [start, start + length) of the ASCII text or the other one, as UTF-8.
    const auto slice = [&](std::uint32_t tag, std::uint32_t wide_flag_bit, std::uint32_t start, std::uint32_t length) {
      std::string s;
      if (tag & wide_flag_bit) {
        if (start > wide_units || length > wide_units - start) {
          problem = "a string out of the other text's range";
        } else if (wide_at[start] == std::string_view::npos || wide_at[start + length] == std::string_view::npos) {
          problem = "a string that splits a surrogate pair";
        } else {
          s = std::string(wide_text.substr(wide_at[start], wide_at[start + length] - wide_at[start]));
        }
      } else if (start > ascii.size() || length > ascii.size() - start) {
        problem = "a string out of the ASCII text's range";
      } else {
        s = std::string(ascii.substr(start, length));
      }
      return s;
    };
    // A string from the take list, or from a text.
    const auto string = [&](std::uint32_t tag, int field, std::uint32_t start, std::uint32_t length) {
      if (!(tag & taken_flag(field))) return slice(tag, wide_flag(field), start, length);
      if (start >= taken.size() || length != 0) {
        problem = "a taken index out of range";
        return std::string();
      }
      return taken[start];
    };
    for (std::size_t i = 0; i < w.size() && problem.empty();) {
      const std::uint32_t tag = w[i];
      const std::uint32_t kind = tag & RECORD_KIND_MASK;
      const std::size_t words = kind == RECORD_EVENT ? EVENT_WORDS : kind == RECORD_COMMENT ? COMMENT_WORDS : RETRY_WORDS;
      if (kind < RECORD_EVENT || kind > RECORD_RETRY) return "an unknown record kind";
      if (w.size() - i < words) return "a record cut short";
      if (kind == RECORD_EVENT) {
        const std::uint32_t slot = tag >> TYPE_SLOT_SHIFT;
        if (slot >= TYPE_SLOTS) return "a type slot out of range";
        std::string type = "message";
        if (tag & TYPE_CACHED) {
          type = types_[slot];
        } else if (!(tag & TYPE_MESSAGE)) {
          if ((tag & TYPE_STORE) && (tag & TAKEN_TYPE)) return "a taken type to store";
          type = string(tag, 0, w[i + 1], w[i + 2]);
          if (tag & TYPE_STORE) types_[slot] = type;
        }
        if (!(tag & ID_SAME)) id_ = string(tag, 2, w[i + 5], w[i + 6]);
        const std::string data = string(tag, 1, w[i + 3], w[i + 4]);
        out.push_back(record::make_event(type, data, id_));
      } else if (kind == RECORD_COMMENT) {
        out.push_back(record::make_comment(slice(tag, WIDE_TYPE, w[i + 1], w[i + 2])));
      } else {
        out.push_back(record::make_retry(w[i + 1] | (std::uint64_t{w[i + 2]} << 32)));
      }
      i += words;
    }
    return problem;
  }

 private:
  std::string types_[bridge::TYPE_SLOTS];
  std::string id_;
};

struct bridge_run {
  std::vector<record> records;
  std::string last_event_id;
  ssekit::parse_error error;
  std::string problem;  // a layout rule broken, "" when none
};

// Feeds `chunks` (sizes) of `stream` through the encoder and decodes every
// call, as parser.cjs does; stops at the first error, as feed() throws.
inline bridge_run run_bridge(std::string_view stream, const std::vector<std::size_t>& chunks, ssekit::parser_options options,
                             std::size_t take_min = bridge::taken_min) {
  std::vector<std::string> taken;
  const auto take = [](void* context, std::string_view data) {
    auto& list = *static_cast<std::vector<std::string>*>(context);
    list.emplace_back(data);
    return static_cast<std::uint32_t>(list.size() - 1);
  };
  bridge::bridge_parser p(options, take, &taken, take_min);
  bridge_decoder decoder;
  bridge_run run;
  const auto call = [&](ssekit::parse_error err) {
    if (run.problem.empty()) run.problem = decoder.decode(p, taken, run.records);
    taken.clear();
    run.error = err;
    return !err;
  };
  std::size_t at = 0;
  bool ok = true;
  for (const std::size_t n : chunks) {
    ok = call(p.feed(stream.substr(at, n)));
    at += n;
    if (!ok) break;
  }
  if (ok) call(p.finish());
  run.last_event_id = std::string(p.last_event_id());
  return run;
}

// The core's parser on the same chunks, for comparison.
inline bridge_run run_core(std::string_view stream, const std::vector<std::size_t>& chunks, ssekit::parser_options options) {
  recorder rec;
  ssekit::parser p(rec, options);
  bridge_run run;
  std::size_t at = 0;
  bool ok = true;
  for (const std::size_t n : chunks) {
    run.error = p.feed(stream.substr(at, n));
    at += n;
    if (run.error) {
      ok = false;
      break;
    }
  }
  if (ok) run.error = p.finish();
  run.records = std::move(rec.records);
  run.last_event_id = std::string(p.last_event_id());
  return run;
}

}  // namespace ssekit::test
