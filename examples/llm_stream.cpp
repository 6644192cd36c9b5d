// An LLM-style streaming call: POST a JSON prompt with an Authorization
// header, print each event's data as it arrives, stop at `data: [DONE]`
// (such servers often keep the connection open after it), and on a refusal
// (401 bad key, 429 rate limit, ...) print the server's error body.
//
//   llm_stream URL API_KEY PROMPT
//   exit status: 0 done, 1 refused or failed, 2 usage
//   (a server that can't be reached is retried with backoff, quietly, until
//   the 5-minute bound below: connection refused is a refusal worth retrying)
#include <ssekit/client.hpp>

#include <chrono>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: llm_stream URL API_KEY PROMPT\n";
    return 2;
  }
  ssekit::client_options options;
  options.url = argv[1];
  options.method = "POST";
  options.headers = {{"Authorization", std::string("Bearer ") + argv[2]},
                     {"Content-Type", "application/json"}};
  // Real code builds JSON with a JSON library; the prompt here is plain ASCII.
  options.body = std::string(R"({"stream":true,"prompt":")") + argv[3] + R"("})";
  // replay_body stays false: the POST is sent again only after a refusal that
  // came before the server ran it (connection refused; 429/502/503/504 with
  // retry_server_errors), never after its stream opened (a call costs money).
  options.idle_timeout = std::chrono::seconds(30);

  try {
    auto result = ssekit::run_client(
        options,
        [](const ssekit::event& ev) {
          if (ev.data == "[DONE]") return false;  // stop: close the connection
          std::cout << ev.data << '\n' << std::flush;
          return true;
        },
        std::chrono::minutes(5));
    if (result.stopped) return 0;  // saw [DONE]
    if (result.timed_out) {
      std::cerr << "no [DONE] within 5 minutes\n";
      return 1;
    }
    if (result.ended) {  // the server ended the stream (not an error), but before [DONE]
      std::cerr << "the stream ended before [DONE]\n";
      return 1;
    }
    const ssekit::client_error& e = *result.error;
    if (e.reason == ssekit::client_error_reason::http_status)
      std::cerr << "HTTP " << e.status << ": " << e.body << '\n';  // the first KiB of the body
    else
      std::cerr << ssekit::client_error_reason_name(e.reason) << ": " << e.message << '\n';
    return 1;
  } catch (const ssekit::client_options_error& e) {  // a bad URL or header
    std::cerr << e.what() << '\n';
    return 2;
  }
}
