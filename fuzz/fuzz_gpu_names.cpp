// GPU names (core/gpu_catalog.hpp): find_gpu_model on any name (usage_error or a catalog row that
// answers to its own name), and match_nvml_name on any NVML name with a total memory taken from
// the input's first 8 bytes (never throws; a match is a catalog row).

#include <cstring>
#include <string>

#include "harness.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"

namespace whisper_vram::fuzz {
namespace {

bool in_catalog(const gpu_model* row) {
    for (const auto& g : gpu_catalog()) {
        if (&g == row) return true;
    }
    return false;
}

}  // namespace

void fuzz_gpu_names(const std::uint8_t* data, std::size_t size) {
    const auto name = as_text(data, size);
    const gpu_model* found = nullptr;
    if (expected_outcome([&] { found = &find_gpu_model(name); })) {
        require(in_catalog(found), "find_gpu_model returned a row outside the catalog");
        require(&find_gpu_model(found->name) == found, "a catalog row does not answer to its own name");
    }
    if (size >= sizeof(std::uint64_t)) {
        std::uint64_t total = 0;
        std::memcpy(&total, data, sizeof total);
        const gpu_model* matched = match_nvml_name(as_text(data + sizeof total, size - sizeof total), total);
        require(matched == nullptr || in_catalog(matched), "match_nvml_name returned a row outside the catalog");
    }
    // The name as NVML could report it, with the memory of the row it names (or none).
    const gpu_model* self = match_nvml_name(name, found != nullptr ? found->memory_bytes : 0);
    require(self == nullptr || in_catalog(self), "match_nvml_name returned a row outside the catalog");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("gpu_names", fuzz_gpu_names)
