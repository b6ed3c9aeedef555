#pragma once
// Shared by every harness in fuzz/: the expected outcomes (usage_error, state_error), the
// findings (anything else), and the two entry points one harness body gets: LLVMFuzzerTestOneInput
// in the libFuzzer build (WHISPER_VRAM_FUZZ_LIBFUZZER) and a registration in the replay driver
// (fuzz_replay.cpp, built with the default build's tests), which runs fuzz/corpus/<parser>/ and
// fuzz/regressions/<parser>/ through the same body.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "whisper_vram/core/error.hpp"

namespace whisper_vram::fuzz {

/// A fuzz input as text (it may hold any byte, NUL included).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::string_view{} : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// Reports a finding (a property the parser broke) and aborts: libFuzzer keeps the input as a
/// crash file, the replay driver fails.
[[noreturn]] inline void finding(std::string_view what) {
    std::fprintf(stderr, "FINDING: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
}

/// Checks @p condition; a false one is a finding named @p what.
inline void require(bool condition, std::string_view what) {
    if (!condition) finding(what);
}

/// Runs @p body; usage_error and state_error are the expected answers to bad input (their message
/// must not be empty), any other exception is a finding. Returns true when @p body returned.
template <typename Body>
bool expected_outcome(Body&& body) {
    try {
        std::forward<Body>(body)();
        return true;
    } catch (const usage_error& e) {
        require(*e.what() != '\0', "usage_error with an empty message");
    } catch (const state_error& e) {
        require(*e.what() != '\0', "state_error with an empty message");
    } catch (const std::exception& e) {
        finding(std::string("unexpected exception: ") + e.what());
    } catch (...) {
        finding("unexpected non-std exception");
    }
    return false;
}

/// One harness: its name (the folder under fuzz/corpus and fuzz/regressions) and its body.
using harness_body = void (*)(const std::uint8_t* data, std::size_t size);

/// Adds a harness to the replay driver's table (a static object in each harness file).
struct registration {
    registration(const char* name, harness_body body) noexcept;
};

}  // namespace whisper_vram::fuzz

#ifdef WHISPER_VRAM_FUZZ_LIBFUZZER
/// libFuzzer build: the file's one body (in namespace whisper_vram::fuzz) is the fuzz target.
#define WHISPER_VRAM_FUZZ_HARNESS(name, body)                                           \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
        whisper_vram::fuzz::body(data, size);                                           \
        return 0;                                                                       \
    }
#else
/// Replay build: every body registers under its name.
#define WHISPER_VRAM_FUZZ_HARNESS(name, body)                                                  \
    namespace {                                                                                \
    const whisper_vram::fuzz::registration registered_harness{name, whisper_vram::fuzz::body}; \
    }
#endif
