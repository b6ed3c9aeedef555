// find_model / try_find_model (core/models.hpp) on any name: usage_error (naming the name) or a
// catalog entry; the two agree, and the entry found answers to its own canonical name.

#include <string>

#include "harness.hpp"
#include "whisper_vram/core/models.hpp"

namespace whisper_vram::fuzz {

void fuzz_model_names(const std::uint8_t* data, std::size_t size) {
    const auto name = as_text(data, size);
    const whisper_model* found = nullptr;
    const bool ok = expected_outcome([&] { found = &find_model(name); });
    const whisper_model* tried = try_find_model(name);
    require(ok == (tried != nullptr), "find_model and try_find_model disagree");
    if (!ok) return;
    require(found == tried, "find_model and try_find_model return different entries");
    require(&find_model(found->name) == found, "an entry does not answer to its canonical name");
    bool in_catalog = false;
    for (const auto& m : model_catalog()) in_catalog = in_catalog || &m == found;
    require(in_catalog, "find_model returned an entry outside the catalog");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("model_names", fuzz_model_names)
