// select_gpus (gpu/gpu_selection.hpp, --gpus) with any id list over a fixed set of visible GPUs:
// usage_error or a selection; a selection is never empty, holds only visible GPUs, each once, and
// a single all-digit id selects exactly the GPU with that CUDA index. The first byte's low bit
// picks the visible set: every GPU of the fixture, or CUDA_VISIBLE_DEVICES="3,GPU-8a3e,0".

#include <string>

#include "gpu_fixture.hpp"
#include "harness.hpp"
#include "selection_checks.hpp"

namespace whisper_vram::fuzz {

void fuzz_gpu_ids(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    const auto snapshot = fixture_snapshot();
    const bool reordered = (data[0] & 1U) != 0;
    const auto visible = visible_gpus(snapshot, reordered ? std::optional<std::string>("3,GPU-8a3e,0") : std::nullopt);
    require(visible.size() == (reordered ? 3U : 4U), "the fixture's visible GPUs changed");
    const auto ids = as_text(data + 1, size - 1);
    std::vector<visible_gpu> chosen;
    if (!expected_outcome([&] { chosen = select_gpus(visible, ids); })) return;
    require(!chosen.empty(), "an accepted id list selected nothing");
    require_subset_once(chosen, visible);
    if (!ids.empty() && ids.size() < 4 && ids.find_first_not_of("0123456789") == std::string_view::npos) {
        require(chosen.size() == 1 &&
                    std::to_string(chosen.front().cuda_index) == std::to_string(std::stoul(std::string(ids))),
                "an index id did not select the GPU with that CUDA index");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("gpu_ids", fuzz_gpu_ids)
