// The bytes held on the heap, however they were allocated (malloc,
// aligned_alloc, operator new), for tests that bound what something holds:
// counting operator new calls misses malloc'd buffers and Asio's handler
// memory. Header-only: the allocation tests are binaries of their own,
// without the test-support library.
#pragma once

#include <malloc.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define SSEKIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SSEKIT_TEST_ASAN 1
#endif
#endif

#if defined(SSEKIT_TEST_ASAN)
// The sanitizer runtime's (GCC installs no header for it): its allocator
// takes the place of malloc's arenas, which mallinfo2() reports.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace ssekit::test {

inline std::size_t heap_in_use() {
#if defined(SSEKIT_TEST_ASAN)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // hblkhd: blocks too big for an arena, mmap'd
#endif
}

}  // namespace ssekit::test
