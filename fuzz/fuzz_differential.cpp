// fuzz_differential: two ways of getting the same answer must agree.
// 1. The fast parser, fed in the chunks the input chooses, against the slow
//    reference parser written from the standard's words (tests/reference).
// 2. The fast parser fed the whole stream at once against the same chunked run.
// Records, last event id and error must all be equal; abort() otherwise.
// Input layout: see read_setup() in fuzz_common.hpp.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.hpp"

using namespace ssekit::fuzz;

namespace {

bool same(const run_result& a, const std::vector<record>& records, const std::string& id, ssekit::parse_error e) {
  return a.records == records && a.last_event_id == id && a.error == e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz_setup s = read_setup(data, size);
  const run_result chunked = run_fast(s.stream, s.chunks, s.options);
  const run_result whole_run = run_fast(s.stream, whole(s.stream), s.options);
  const ssekit::test::reference_result ref = ssekit::test::reference_parse(s.stream, s.options);

  const bool chunked_ok = same(chunked, ref.records, ref.last_event_id, ref.error);
  const bool whole_ok = same(whole_run, ref.records, ref.last_event_id, ref.error);
  if (chunked_ok && whole_ok) return 0;

  std::string sizes;
  for (std::size_t n : s.chunks) sizes += std::to_string(n) + ' ';
  std::fprintf(stderr, "\n*** fast parser %s the reference parser\n  chunks: %s\n",
               !whole_ok ? "(whole stream) differs from" : "(chunked) differs from", sizes.c_str());
  print_result("reference", ref.records, ref.last_event_id, ref.error);
  print_result("fast, whole", whole_run.records, whole_run.last_event_id, whole_run.error);
  print_result("fast, chunked", chunked.records, chunked.last_event_id, chunked.error);
  fail("mismatch", s.stream, s.options);
}
