// The input region of either WebAssembly module (bridge_common.hpp).
#include <cstdint>
#include <vector>

#include "bridge_common.hpp"

namespace {
std::vector<char> input_region;
}  // namespace

extern "C" SSEKIT_COLD char* ssekit_input(std::uint32_t size) {
  if (input_region.size() < size) input_region.resize(size);
  return input_region.data();
}
