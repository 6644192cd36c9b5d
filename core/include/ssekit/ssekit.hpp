// Everything in ssekit::core.
#pragma once

#include "ssekit/error.hpp"
#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"
#include "ssekit/utf8.hpp"
