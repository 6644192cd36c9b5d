// Request targets parsed by Boost.URL (compiled once in ssekit::native's
// client/boost_url.cpp; this file includes only its headers).
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "content.hpp"

namespace ssekit::demo::detail {

std::optional<target> parse_target(std::string_view raw) {
  // Origin-form ("/path?query"), or absolute-form, which RFC 9112 3.2.2
  // says a server must accept ("http://host/path?query": its path and
  // query count; an empty path is "/").
  boost::system::result<boost::urls::url_view> parsed = boost::urls::parse_origin_form(raw);
  if (!parsed) {
    parsed = boost::urls::parse_absolute_uri(raw);
    if (!parsed || !parsed->has_authority() ||
        (parsed->scheme_id() != boost::urls::scheme::http && parsed->scheme_id() != boost::urls::scheme::https))
      return std::nullopt;
  }
  const boost::urls::url_view& u = *parsed;
  target result;
  result.path = u.path();  // decoded
  if (result.path.empty()) result.path.push_back('/');
  for (const auto& param : u.params()) {  // decoded, '+' as a space
    if (param.key.empty() && !param.has_value) continue;  // "?&a" or a trailing '&'
    result.params.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  return result;
}

}  // namespace ssekit::demo::detail
