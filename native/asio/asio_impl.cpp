// The compiled parts of Asio, its SSL layer and Beast, built once here
// instead of in every file that includes them (BOOST_*_SEPARATE_COMPILATION,
// set on the ssekit_asio target): Beast headers cost ~10 s per file.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
