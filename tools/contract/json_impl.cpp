// Boost.JSON compiled once, header-only style (its documented way to avoid
// linking a Boost.JSON library): the service and its tests include
// <boost/json.hpp> and link ssekit_contract.
#include <boost/json/src.hpp>
