#pragma once
// Properties every GPU selection result must have (the GPU selection harnesses share them).

#include <set>
#include <vector>

#include "harness.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram::fuzz {

/// @p chosen holds only GPUs of @p from, each once.
inline void require_subset_once(const std::vector<visible_gpu>& chosen, const std::vector<visible_gpu>& from) {
    std::set<unsigned> nvml_indices;
    for (const auto& c : chosen) {
        require(nvml_indices.insert(c.device.index).second, "a GPU selected twice");
        bool known = false;
        for (const auto& f : from) known = known || (f.cuda_index == c.cuda_index && f.device.uuid == c.device.uuid);
        require(known, "a selected GPU that is not one of the visible GPUs (or with another CUDA index)");
    }
}

}  // namespace whisper_vram::fuzz
