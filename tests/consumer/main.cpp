// Parses a tiny stream with the installed library; exits 0 only if the
// event arrives intact.
#include <ssekit/ssekit.hpp>

#include <cstdio>
#include <string>

struct last_event : ssekit::handler {
  std::string type, data;
  void on_event(const ssekit::event& ev) override {
    type = ev.type;
    data = ev.data;
  }
};

int main() {
  last_event h;
  ssekit::parser p{h};
  std::string wire;
  ssekit::serialize_event(wire, {.data = "installed\nand found", .type = "check"});
  if (p.feed(wire) || p.finish()) return 1;
  const bool ok = h.type == "check" && h.data == "installed\nand found";
  std::puts(ok ? "consumer: ok" : "consumer: wrong event");
  return ok ? 0 : 1;
}
