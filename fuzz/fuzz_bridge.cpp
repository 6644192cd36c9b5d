// fuzz_bridge: the WebAssembly bridge's encoder (wasm/bridge_encoder.hpp),
// read back as js/src/parser.cjs reads it (tests/support/bridge_decoder.hpp),
// delivers exactly what the core's parser delivers on the same chunks: the
// same events, comments and retries, last event id and error, and never a
// layout JS would misread (a range out of its text, a cut inside a
// character, a slice splitting a surrogate pair).
//
// Input: fuzz_common.hpp's 6-byte setup, then the stream. raw_bytes is off
// (the bridge always repairs UTF-8); setup bit 3 lowers the size from which
// data is handed over by take() to 1 + (byte 1 % 64), so that path runs on
// small inputs too.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.hpp"
#include "support/bridge_decoder.hpp"

using namespace ssekit::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_setup setup = read_setup(data, size);
  setup.options.raw_bytes = false;
  const std::size_t take_min = size > 1 && (data[0] & 8) ? 1 + data[1] % 64 : ssekit::bridge::taken_min;
  const ssekit::test::bridge_run ours = ssekit::test::run_bridge(setup.stream, setup.chunks, setup.options, take_min);
  const ssekit::test::bridge_run core = ssekit::test::run_core(setup.stream, setup.chunks, setup.options);
  if (!ours.problem.empty()) fail(ours.problem.c_str(), setup.stream, setup.options);
  if (ours.records != core.records) fail("the bridge's records differ from the core's events", setup.stream, setup.options);
  if (ours.last_event_id != core.last_event_id) fail("last_event_id differs", setup.stream, setup.options);
  if (ours.error != core.error) fail("the error differs", setup.stream, setup.options);
  return 0;
}
