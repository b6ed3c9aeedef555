// k8s_api_error_message (planner/kubernetes.hpp) on any API server body: it never throws, and what it
// returns is printable: valid UTF-8, no control character (escaped), bounded (400 bytes of the
// message, each escaped to at most 4 characters, plus "..."), and nothing for an empty body.

#include <string>

#include "harness.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram::fuzz {

void fuzz_k8s_api_error(const std::uint8_t* data, std::size_t size) {
    const auto body = as_text(data, size);
    const auto message = k8s_api_error_message(body);
    if (body.empty()) require(!message.has_value(), "a message from an empty body");
    if (!message) return;
    require(message->size() <= 400 * 4 + 3, "an API error message longer than its bound");
    require(escape_invalid_utf8(*message) == *message, "an API error message that is not valid UTF-8");
    for (const char c : *message) {
        const auto byte = static_cast<unsigned char>(c);
        require(byte >= 0x20 && byte != 0x7f, "a control character in an API error message");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("k8s_api_error", fuzz_k8s_api_error)
