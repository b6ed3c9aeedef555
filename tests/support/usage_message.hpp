#pragma once
// The message of the usage_error an action throws, for tests that assert on it.

#include <string>

#include "whisper_vram/core/error.hpp"

namespace whisper_vram::test {

/// What @p action's usage_error says, or "<no usage_error>" when it throws none.
template <typename F>
std::string usage_message_of(F&& action) {
    try {
        action();
    } catch (const usage_error& e) {
        return e.what();
    }
    return "<no usage_error>";
}

}  // namespace whisper_vram::test
