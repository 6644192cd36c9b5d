// The program's own compiled Asio: consumer_asio_separate defines
// BOOST_ASIO_SEPARATE_COMPILATION, as a program that compiles Asio once does.
#include <boost/asio/impl/src.hpp>
