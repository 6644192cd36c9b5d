// Request targets parsed by Boost.URL (compiled once in ssekit::native's
// client/boost_url.cpp; this file includes only its headers).
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "content.hpp"

namespace ssekit::demo::detail {

std::optional<target> parse_target(std::string_view raw) {
  const auto parsed = boost::urls::parse_origin_form(raw);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  target result;
  result.path = u.path();  // decoded
  for (const auto& param : u.params()) {  // decoded, '+' as a space
    if (param.key.empty() && !param.has_value) continue;  // "?&a" or a trailing '&'
    result.params.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  return result;
}

}  // namespace ssekit::demo::detail
