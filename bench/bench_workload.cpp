// bench-workload: writes a benchmark workload to stdout, so benchmarks in
// other languages (the JS one) parse exactly the bytes ssekit-bench parses.
//
//   bench-workload NAME [BYTES]          the stream itself
//   bench-workload --info NAME [BYTES]   one JSON line: what a parser must report
//   bench-workload --list                the workload names and descriptions
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "workloads.hpp"

namespace {

int usage() {
  std::fputs(
      "usage: bench-workload NAME [BYTES]\n"
      "       bench-workload --info NAME [BYTES]\n"
      "       bench-workload --list\n"
      "BYTES defaults to 67108864 (64 MiB); the stream ends up slightly longer.\n",
      stderr);
  return 2;
}

bool parse_size(const char* text, std::size_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v == 0) return false;
  out = static_cast<std::size_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ssekit::bench;
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "--list") {
    for (const auto& info : all_workloads()) {
      std::printf("%-6.*s %.*s\n", static_cast<int>(info.name.size()), info.name.data(),
                  static_cast<int>(info.description.size()), info.description.data());
    }
    return 0;
  }
  bool info_only = false;
  if (i < argc && std::string_view(argv[i]) == "--info") {
    info_only = true;
    ++i;
  }
  if (i >= argc || argc - i > 2) return usage();
  const workload_info* info = find_workload(argv[i]);
  if (info == nullptr) {
    std::fprintf(stderr, "bench-workload: unknown workload '%s' (see --list)\n", argv[i]);
    return 2;
  }
  std::size_t size = default_workload_size;
  if (i + 1 < argc && !parse_size(argv[i + 1], size)) {
    std::fprintf(stderr, "bench-workload: BYTES must be a positive integer, got '%s'\n",
                 argv[i + 1]);
    return 2;
  }

  const workload w = info->generate(size);
  if (info_only) {
    std::printf(
        "{\"name\":\"%s\",\"bytes\":%zu,\"events\":%llu,\"data_bytes\":%llu,"
        "\"comments\":%llu,\"retries\":%llu,\"newlines\":%llu}\n",
        w.name.c_str(), w.bytes.size(), static_cast<unsigned long long>(w.events),
        static_cast<unsigned long long>(w.data_bytes),
        static_cast<unsigned long long>(w.comments),
        static_cast<unsigned long long>(w.retries),
        static_cast<unsigned long long>(w.newlines));
    return 0;
  }
  if (std::fwrite(w.bytes.data(), 1, w.bytes.size(), stdout) != w.bytes.size() ||
      std::fflush(stdout) != 0) {
    std::perror("bench-workload: write");
    return 1;
  }
  return 0;
}
