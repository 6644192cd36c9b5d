// Boost.URL compiled header-only, once, in ssekit::native: everything that
// parses URLs (the client, the demo server, the contract service) links it
// instead of compiling its own copy (two copies would be duplicate symbols).
#include <boost/url/src.hpp>
