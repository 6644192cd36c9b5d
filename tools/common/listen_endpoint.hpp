// Where a server listens, from its --address: shared by sse-serve and the
// contract service. Header-only: both already compile Asio, this keeps it
// out of the command-line tools' common library.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>

#include <cstdint>
#include <string>

namespace ssekit::tools {

// An IP literal as is, also in a URL's brackets ("[::1]"); a name
// (localhost) resolved, preferring its first IPv4 address (a name with
// both families then serves the clients that try IPv6 first too: their
// refused ::1 falls back at once), else its first. Throws
// boost::system::system_error when the name does not resolve.
inline boost::asio::ip::tcp::endpoint resolve_listen_endpoint(const boost::asio::any_io_executor& executor, std::string address,
                                                              std::uint16_t port) {
  using tcp = boost::asio::ip::tcp;
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(address, ec);
  if (!ec) return {ip, port};
  tcp::resolver resolver(executor);
  const auto results = resolver.resolve(address, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service);
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_v4()) return entry.endpoint();
  }
  if (results.empty()) throw boost::system::system_error(boost::asio::error::host_not_found);
  return results.begin()->endpoint();
}

// How a URL names the address a server listens on: an IPv6 one in
// brackets, its zone's '%' as "%25" (RFC 6874).
inline std::string url_host(const boost::asio::ip::address& address) {
  if (!address.is_v6()) return address.to_string();
  std::string text = address.to_string();
  if (const auto zone = text.find('%'); zone != std::string::npos) text.insert(zone + 1, "25");
  return '[' + text + ']';
}

}  // namespace ssekit::tools
