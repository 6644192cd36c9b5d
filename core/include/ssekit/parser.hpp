// Incremental event-stream parser, per the WHATWG HTML standard section
// "Interpreting an event stream". Pure: no I/O, no threads, no exceptions of
// its own (only std::bad_alloc can escape).
//
//   my_handler h;
//   ssekit::parser p{h};
//   for (each chunk received) if (auto err = p.feed(chunk)) { report(err); break; }
//   p.finish();   // at end of stream: an unterminated event is discarded
//   p.reset();    // before reading a new connection; keeps the last event id
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ssekit/error.hpp"

namespace ssekit {

// One dispatched event. All three views are BORROWED: they point into the
// chunk being fed or into the parser's own buffers and are valid only until
// the handler call that receives them returns. Copy what you keep.
struct event {
  std::string_view type;           // "message" when the stream gave no event type
  std::string_view data;           // data lines joined by LF, no trailing LF
  std::string_view last_event_id;  // the id in force when the event was dispatched
};

// Receives what the parser finds, in stream order. The default
// implementations ignore everything. Callbacks must not call feed(),
// finish() or reset() on the parser that is calling them: such a call does
// nothing but fail with errc::called_from_callback, and so does the feed()
// that made the callback (call reset() after it returns). An exception
// thrown by a callback propagates out of feed(), and that parser's feed()
// and finish() then fail with errc::feed_interrupted until reset(). A
// callback may destroy the parser (see ~parser).
class handler {
 public:
  virtual ~handler() = default;
  // A complete event (see `event` for the lifetime of the views).
  virtual void on_event(const event& ev) { (void)ev; }
  // A comment line: everything after the leading ':' (no space stripped).
  // BORROWED, valid only during the call. Servers send these as heartbeats.
  virtual void on_comment(std::string_view text) { (void)text; }
  // A valid `retry:` field: the server's reconnection time in milliseconds
  // (values beyond 2^64-1 saturate).
  virtual void on_retry(std::uint64_t milliseconds) { (void)milliseconds; }
};

struct parser_options {
  // Longest accepted line in bytes, line end excluded. Bounds the buffer
  // that holds a line split across chunks. Real streams carry multi-megabyte
  // single-line JSON events, hence the generous default.
  std::size_t max_line_length = 32 * 1024 * 1024;
  // Largest accepted event in bytes: its data (data lines joined by LF)
  // plus its event type plus the id given since the previous dispatch (a
  // later `event:` or `id:` line replaces the earlier one's bytes). Counted
  // as received, before UTF-8 repair, which can make the delivered text up
  // to 3x larger (each invalid byte may become U+FFFD, 3 bytes). Together
  // with max_line_length this bounds the parser's memory: about twice the
  // event's delivered size (measured by bench/event_memory.cpp), so at
  // most about 4x max(max_line_length, max_event_size) when every byte is
  // invalid UTF-8. A comment line counts against max_line_length only.
  std::size_t max_event_size = 32 * 1024 * 1024;
  // false (default): text is delivered as valid UTF-8, invalid sequences
  // replaced by U+FFFD exactly as TextDecoder does. true: raw bytes as sent.
  bool raw_bytes = false;
};

class parser {
 public:
  explicit parser(handler& h, parser_options options = {});
  // A handler may destroy the parser that calls it (its stream is over):
  // the feed() that made the call then returns at once, ok, touching
  // nothing of it. The views the handler got may point into the parser:
  // copy what it still needs first.
  ~parser();
  parser(const parser&) = delete;
  parser& operator=(const parser&) = delete;

  // Parses the next chunk of the stream; chunks may be split anywhere.
  // Handler calls happen inside feed(). After an error, feed() keeps
  // returning that error until reset().
  parse_error feed(std::string_view chunk);

  // End of stream: drops an unterminated line and a pending, undispatched
  // event (as the standard requires). Returns the sticky error, if any; it
  // finds a new one only when max_line_length is below 3 and the stream
  // was just the start of a BOM.
  parse_error finish();

  // Prepares for a new stream (a reconnect): clears all stream state and
  // any error, keeps the options and the last event id. The new stream
  // starts with that id in force, as browsers do (Chromium hands it to the
  // new connection's parser), so events without `id:` keep it.
  void reset();

  // The last event id: the value of the last `id:` field that was followed by
  // a dispatch (an empty line), even if that dispatch delivered no event.
  std::string_view last_event_id() const noexcept { return last_event_id_.view(); }
  // Sets the last event id, e.g. the one a client was told to start from.
  // Allowed from a callback, where it ends the validity of the event's
  // last_event_id view (copy that first if it is still needed). An id the
  // format can't carry (CR, LF or NUL in it) is refused with
  // errc::invalid_event_id, as serialize_event() refuses it, and changes
  // nothing. It also replaces an `id:` of an event not yet dispatched (the
  // latest id wins, as the spec's last event ID buffer holds one).
  errc set_last_event_id(std::string_view id);
  // Counts the times the last event id was set (by a dispatch after an `id:`
  // field, or set_last_event_id()), even to the same value: while it stays
  // the same, so does the id, and a consumer that keeps a long id needs no
  // copy of it to tell (the WebAssembly bridge hands one to JS only once).
  std::uint64_t last_event_id_version() const noexcept { return last_event_id_version_; }

  // Bytes fed since construction or the last reset(); once feed() has
  // returned an error, later chunks are not counted.
  std::uint64_t bytes_fed() const noexcept { return stream_offset_; }
  const parser_options& options() const noexcept { return options_; }

 private:
  // A field value that is borrowed from the chunk being fed while possible
  // and copied into owned storage only when it must outlive the chunk.
  // Invalid UTF-8 is repaired on the way in, so no second copy is needed.
  class field_buffer {
   public:
    void assign(std::string_view value, bool borrow);
    void assign_repaired(std::string_view value);  // owned, invalid UTF-8 replaced
    void append_line(std::string_view value);      // LF, then value
    void append_line_repaired(std::string_view value);
    void append(const char* p, std::size_t n);     // owned: the bytes as they are
    void push_back(char c);
    // Owned: where appended bytes go, with at least `min_room` bytes of
    // capacity there (*room gets all of it); commit(n) then adds n bytes
    // written there to the value.
    char* tail(std::size_t min_room, std::size_t* room);
    void commit(std::size_t n) noexcept { owned_size_ += n; }
    // Owned: replaces invalid UTF-8 in the bytes from `start` on.
    void repair_from(std::size_t start, std::string& scratch);
    void own();                                    // copy a borrowed value
    void clear() noexcept;
    void release();                                // clear and drop large storage
    void swap(field_buffer& other) noexcept;
    bool borrowed() const noexcept { return borrowed_; }
    std::size_t size() const noexcept { return borrowed_ ? view_.size() : owned_size_; }
    std::string_view view() const noexcept {
      return borrowed_ ? view_ : std::string_view(owned_.get(), owned_size_);
    }

   private:
    // Owned bytes in a plain buffer: appending a data line is then one
    // capacity check and one copy, where std::string paid several calls.
    char* extend(std::size_t n);  // makes room for n more bytes, returns where they go
    void grow(std::size_t needed);
    // new[]/delete[], but malloc/realloc/free in WebAssembly (parser.cpp says why).
    struct free_bytes {
      void operator()(char* p) const noexcept;
    };
    std::string_view view_;
    std::unique_ptr<char, free_bytes> owned_;
    std::size_t owned_size_ = 0;
    std::size_t owned_capacity_ = 0;
    bool borrowed_ = false;
  };

  // What the line that continues into the next chunk is, once its field
  // name is known: data, event and id values go straight into their buffers
  // as they arrive (one copy, memory bounded by max_event_size); comments,
  // retry fields and names still being read wait in partial_line_.
  enum class line_kind : unsigned char { none, name, data, event, id, comment, retry, ignored };

  // feed() in two copies: one compiled for AVX2 (where the CPU has it), so
  // the line-end scan is inlined into the loop instead of called per line.
  template <bool Avx2>
  parse_error feed_impl(std::string_view chunk);
  parse_error feed_avx2(std::string_view chunk);
  parse_error feed_chunk(std::string_view chunk);

  // `ascii`: the line has no byte >= 0x80, so it needs no UTF-8 repair.
  void process_line(std::string_view line, bool ascii, const char* chunk_line);
  void process_other_line(std::string_view line, bool ascii, const char* chunk_line);
  void append_data(std::string_view value, bool ascii, const char* chunk_line);
  void set_type(std::string_view value, bool ascii, const char* chunk_line);
  void set_id(std::string_view value, bool ascii, const char* chunk_line);
  void dispatch();
  void deliver_comment(std::string_view text, bool ascii);
  void deliver_retry(std::uint64_t milliseconds);
  void fail(errc code, std::uint64_t offset) noexcept;
  parse_error refuse_reentry() noexcept;
  // Stream offset of a line: `chunk_line` points at its start in the chunk
  // being fed, or is nullptr for the line assembled in partial_line_.
  std::uint64_t line_offset(const char* chunk_line) const noexcept;
  // The line that goes on past the chunk: more of it, then its end.
  bool continue_line(const char* p, const char* q, bool ascii);
  void start_value(line_kind kind);
  void append_value(const char* p, const char* q);
  void end_line();
  bool needs_repair(bool ascii) const noexcept { return !ascii && !options_.raw_bytes; }

  handler& handler_;
  parser_options options_;

  // Stream position and error state.
  std::uint64_t stream_offset_ = 0;  // bytes fed so far
  std::uint64_t line_start_ = 0;     // offset of the line that goes on past the chunk
  const char* chunk_end_ = nullptr;  // end of the chunk being fed
  parse_error error_{};
  bool finished_ = false;
  bool at_stream_start_ = true;  // still looking for the BOM
  unsigned char bom_held_ = 0;   // bytes of a possible BOM seen so far
  bool skip_lf_ = false;         // the previous chunk ended in CR: a leading LF belongs to it

  // The line that began in an earlier chunk (bounded by max_line_length).
  line_kind pending_ = line_kind::none;
  std::size_t pending_length_ = 0;  // its bytes so far
  bool pending_ascii_ = true;
  bool strip_space_ = false;        // the value's first byte is next; a space there is dropped
  bool over_limit_ = false;         // its value passed max_event_size: event_too_large at its end
  bool id_has_nul_ = false;         // an id line with NUL is ignored as a whole
  std::size_t value_start_ = 0;     // where its value starts in its buffer
  std::size_t value_size_ = 0;      // raw value bytes stored so far
  std::size_t limit_base_ = 0;      // the event's size without this line's value
  std::string partial_line_;        // name, comment or retry line so far

  // The event being assembled: the standard's data buffer (has_data_ tells
  // "empty" from "one empty line"), event type buffer and last event ID
  // buffer (id_, meaningful while id_changed_), all valid UTF-8 unless raw.
  bool has_data_ = false;
  field_buffer data_;
  field_buffer type_;
  field_buffer id_;
  field_buffer id_line_;        // an id line's value until its end shows no NUL
  bool id_changed_ = false;     // an id field arrived since the last dispatch
  bool busy_ = false;           // inside feed(), callbacks included (here, it fills padding)
  unsigned char* stop_ = nullptr;  // inside feed(): its byte that says what a callback did (parser.cpp)
  std::size_t event_size_ = 0;  // raw bytes that count against max_event_size
  std::size_t type_size_ = 0;   // raw bytes of the event type in event_size_
  std::size_t id_size_ = 0;     // raw bytes of the id in event_size_
  field_buffer last_event_id_;  // the standard's "last event ID string"
  std::uint64_t last_event_id_version_ = 0;  // last_event_id_version()

  // Scratch space for UTF-8 repair (reused).
  std::string repaired_comment_;
  std::string repair_scratch_;
};

}  // namespace ssekit
