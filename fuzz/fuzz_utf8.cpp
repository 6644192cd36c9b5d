// fuzz_utf8: ssekit's UTF-8 validation and repair against the reference
// decoder (a literal transcription of the WHATWG Encoding standard's UTF-8
// decoder, tests/reference), re-encoded:
// - utf8_append_replacing_invalid(x) == reference repair of x, appended after
//   whatever `out` already held;
// - utf8_is_valid(x) == (repair(x) == x);
// - the repair is always valid, and repairing it again changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz_common.hpp"
#include "ssekit/utf8.hpp"

using namespace ssekit::fuzz;

namespace {

[[noreturn]] void utf8_fail(const char* what, std::string_view input, const std::string& got, const std::string& want) {
  std::fprintf(stderr, "\n*** %s\n  input=\"%s\"\n  got  =\"%s\"\n  want =\"%s\"\n", what,
               escape_bytes(std::string(input)).c_str(), escape_bytes(got).c_str(), escape_bytes(want).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An exact-size copy, so reading one byte past the end is an ASan report.
  std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const std::string_view input(copy.get(), size);

  const std::string want = ssekit::test::reference_utf8_repair(input);

  const std::string prefix = "\xC3\xA9x";  // repair must append, not replace
  std::string out = prefix;
  ssekit::utf8_append_replacing_invalid(out, input);
  if (out.compare(0, prefix.size(), prefix) != 0) utf8_fail("utf8_append_replacing_invalid clobbered `out`", input, out, prefix);
  const std::string got = out.substr(prefix.size());
  if (got != want) utf8_fail("utf8_append_replacing_invalid differs from the reference decoder", input, got, want);

  const bool valid = ssekit::utf8_is_valid(input);
  if (valid != (want == input)) utf8_fail(valid ? "utf8_is_valid accepted invalid UTF-8" : "utf8_is_valid rejected valid UTF-8", input, got, want);
  if (!ssekit::utf8_is_valid(got)) utf8_fail("repair is not valid UTF-8", input, got, want);

  std::string twice;
  ssekit::utf8_append_replacing_invalid(twice, got);
  if (twice != got) utf8_fail("repair is not idempotent", input, twice, got);
  return 0;
}
