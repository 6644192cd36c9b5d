// The contract between the WebAssembly bridge (bridge_parser.cpp, bridge_encoder.hpp)
// and js/src/parser.cjs: record kinds and flags, record sizes, and the word
// offsets of a parser's header. This is its one source: gen_abi.cpp prints
// these lists (and the core's error table) as js/dist/bridge-abi.cjs at build
// time, and the static_asserts below pin struct header to the offsets JS
// reads. The layout itself is described at the top of bridge_encoder.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

// X(name, value)
#define SSEKIT_BRIDGE_CONSTANTS(X)                                                         \
  X(RECORD_EVENT, 1u)     /* [tag, type start, length, data start, length, id start, length] */ \
  X(RECORD_COMMENT, 2u)   /* [tag, start, length] */                                        \
  X(RECORD_RETRY, 3u)     /* [tag, low 32 bits, high 32 bits] */                            \
  X(RECORD_KIND_MASK, 0xffu)                                                               \
  X(EVENT_WORDS, 7u)                                                                       \
  X(COMMENT_WORDS, 3u)                                                                     \
  X(RETRY_WORDS, 3u)                                                                       \
  X(TYPE_MESSAGE, 1u << 8)  /* the type is "message" */                                     \
  X(ID_SAME, 1u << 9)       /* the id is the previous event record's */                     \
  X(TYPE_CACHED, 1u << 10)  /* the type is the one in slot tag >> TYPE_SLOT_SHIFT */        \
  X(TYPE_STORE, 1u << 11)   /* keep this type in slot tag >> TYPE_SLOT_SHIFT (short ones) */ \
  X(WIDE_TYPE, 1u << 12)    /* the type (or a comment) is in the non-ASCII text */          \
  X(WIDE_DATA, 1u << 13)                                                                   \
  X(WIDE_ID, 1u << 14)                                                                     \
  X(TAKEN_TYPE, 1u << 15)   /* the type went to JS through ssekit_take; start = its index */ \
  X(TAKEN_DATA, 1u << 16)   /* the data, likewise */                                        \
  X(TAKEN_ID, 1u << 17)     /* the id, likewise */                                          \
  X(TYPE_SLOT_SHIFT, 18u)                                                                  \
  X(TYPE_SLOTS, 8u)

// X(NAME, field): the parser's header, one uint32 word each, in this order.
#define SSEKIT_BRIDGE_HEADER(X)                                              \
  X(STATUS, status)         /* errc of the last call (sticky error included) */ \
  X(RECORDS, records)       /* address of the record buffer */                 \
  X(WORDS, words)           /* words in the record buffer */                   \
  X(ERROR_LOW, error_low)   /* error offset, low 32 bits */                    \
  X(ERROR_HIGH, error_high) /* error offset, high 32 bits */                   \
  X(STRING_PTR, string_ptr) /* ssekit_parser_last_event_id()'s result */       \
  X(STRING_LEN, string_len)                                                    \
  X(ASCII_PTR, ascii_ptr)   /* the ASCII text: address, length in bytes */     \
  X(ASCII_LEN, ascii_len)                                                      \
  X(WIDE_PTR, wide_ptr)     /* the other text: address, length in bytes */     \
  X(WIDE_LEN, wide_len)                                                        \
  X(CUTS_PTR, cuts_ptr)     /* where JS cuts the other text: uint32 byte offsets */ \
  X(CUTS_COUNT, cuts_count)

namespace ssekit::bridge {

#define SSEKIT_BRIDGE_CONSTANT(name, value) inline constexpr std::uint32_t name = value;
SSEKIT_BRIDGE_CONSTANTS(SSEKIT_BRIDGE_CONSTANT)
#undef SSEKIT_BRIDGE_CONSTANT

// WIDE_TYPE, WIDE_DATA, WIDE_ID by field: 0 type or comment, 1 data, 2 id.
constexpr std::uint32_t wide_flag(int field) { return WIDE_TYPE << field; }
// TAKEN_TYPE, TAKEN_DATA, TAKEN_ID by field, as wide_flag.
constexpr std::uint32_t taken_flag(int field) { return TAKEN_TYPE << field; }
constexpr std::uint32_t type_slot(std::uint32_t slot) { return slot << TYPE_SLOT_SHIFT; }

static_assert(WIDE_DATA == wide_flag(1) && WIDE_ID == wide_flag(2));
static_assert(TAKEN_DATA == taken_flag(1) && TAKEN_ID == taken_flag(2));
static_assert((RECORD_EVENT | RECORD_COMMENT | RECORD_RETRY) <= RECORD_KIND_MASK);
static_assert(TYPE_SLOTS <= (1u << (32 - TYPE_SLOT_SHIFT)));
static_assert((TAKEN_ID >> TYPE_SLOT_SHIFT) == 0, "flags must stay below the type slot");

// Word indexes into the header: HEADER_STATUS, HEADER_RECORDS, ...
enum header_word : std::uint32_t {
#define SSEKIT_BRIDGE_WORD(NAME, field) HEADER_##NAME,
  SSEKIT_BRIDGE_HEADER(SSEKIT_BRIDGE_WORD)
#undef SSEKIT_BRIDGE_WORD
  HEADER_WORD_COUNT
};

struct header {
#define SSEKIT_BRIDGE_FIELD(NAME, field) std::uint32_t field;
  SSEKIT_BRIDGE_HEADER(SSEKIT_BRIDGE_FIELD)
#undef SSEKIT_BRIDGE_FIELD
};

// JS reads the header as uint32 words at these indexes.
#define SSEKIT_BRIDGE_OFFSET(NAME, field) \
  static_assert(offsetof(header, field) == 4 * std::size_t{HEADER_##NAME}, "header." #field " is not at word HEADER_" #NAME);
SSEKIT_BRIDGE_HEADER(SSEKIT_BRIDGE_OFFSET)
#undef SSEKIT_BRIDGE_OFFSET
static_assert(sizeof(header) == 4 * std::size_t{HEADER_WORD_COUNT});

}  // namespace ssekit::bridge
