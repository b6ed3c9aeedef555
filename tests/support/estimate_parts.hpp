#pragma once
// Reading an estimate's breakdown and notes, for tests that assert on them.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "whisper_vram/core/estimate.hpp"

namespace whisper_vram::test {

/// The breakdown line @p key of @p e, or nullptr.
inline const memory_component* find_component(const memory_estimate& e, const std::string& key) {
    const auto it =
        std::find_if(e.breakdown.begin(), e.breakdown.end(), [&](const memory_component& c) { return c.key == key; });
    return it == e.breakdown.end() ? nullptr : &*it;
}

/// Bytes of the breakdown line @p key of @p e; a test failure (and 0) when there is none.
inline std::uint64_t component(const memory_estimate& e, const std::string& key) {
    const auto* c = find_component(e, key);
    if (c == nullptr) ADD_FAILURE() << "no component " << key;
    return c == nullptr ? 0 : c->bytes;
}

/// True when a note of @p e contains @p text.
inline bool has_note(const memory_estimate& e, const std::string& text) {
    return std::any_of(e.notes.begin(), e.notes.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

}  // namespace whisper_vram::test
