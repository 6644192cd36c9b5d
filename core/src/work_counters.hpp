// Optional instrumentation for the work-bound tests: counts bytes the parser
// scans and copies, so a test can prove linear work without timing anything.
// Compiled in only with SSEKIT_WORK_COUNTERS (a test-only build of the core).
#pragma once

#include <cstdint>

namespace ssekit::detail {

struct work_counters {
  std::uint64_t bytes_scanned = 0;  // looked at by a line-end scan or a UTF-8 check
  std::uint64_t bytes_copied = 0;   // copied into one of the parser's buffers
};

#if defined(SSEKIT_WORK_COUNTERS)
extern work_counters counters;
#define SSEKIT_COUNT_WORK(field, n) (::ssekit::detail::counters.field += static_cast<std::uint64_t>(n))
#else
#define SSEKIT_COUNT_WORK(field, n) ((void)0)
#endif

}  // namespace ssekit::detail
