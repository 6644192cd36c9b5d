// Every installed header in one TU, compiled with -Wshadow -Wconversion
// -Werror and not as system headers (CMakeLists.txt): a consumer building
// with strict flags gets no warning from ssekit's headers.
#include <ssekit/client.hpp>
#include <ssekit/error.hpp>
#include <ssekit/event_stream.hpp>
#include <ssekit/parser.hpp>
#include <ssekit/serializer.hpp>
#include <ssekit/ssekit.hpp>
#include <ssekit/utf8.hpp>
#include <ssekit/version.hpp>

static_assert(SSEKIT_VERSION_MAJOR >= 0 && SSEKIT_VERSION_MINOR >= 0 && SSEKIT_VERSION_PATCH >= 0);

int main() { return 0; }
