// visible_gpus (gpu/gpu_selection.hpp) with any CUDA_VISIBLE_DEVICES value over a fixed snapshot:
// never throws (CUDA stops at the first invalid entry, it does not fail); the result renumbers
// from 0 in order, holds each GPU at most once, and only GPUs of the snapshot.

#include <set>
#include <string>

#include "gpu_fixture.hpp"
#include "harness.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram::fuzz {

void fuzz_cuda_visible_devices(const std::uint8_t* data, std::size_t size) {
    const auto snapshot = fixture_snapshot();
    std::vector<visible_gpu> visible;
    // Not even a usage_error: an unusable value hides GPUs, as with CUDA.
    try {
        visible = visible_gpus(snapshot, std::string(as_text(data, size)));
    } catch (const std::exception& e) {
        finding(std::string("visible_gpus threw: ") + e.what());
    }
    require(visible.size() <= snapshot.gpus.size(), "more visible GPUs than GPUs");
    std::set<std::string> uuids;
    for (std::size_t i = 0; i < visible.size(); ++i) {
        require(visible[i].cuda_index == i, "CUDA indices not renumbered from 0");
        require(uuids.insert(visible[i].device.uuid).second, "a GPU visible twice");
        bool known = false;
        for (const auto& g : snapshot.gpus) {
            known = known || (g.uuid == visible[i].device.uuid && g.index == visible[i].device.index);
        }
        require(known, "a visible GPU that is not in the snapshot");
    }
    // Selecting "every GPU" from what is visible is what is visible.
    std::vector<visible_gpu> all;
    require(expected_outcome([&] { all = select_gpus(visible, ""); }), "select_gpus(visible, \"\") failed");
    require(all.size() == visible.size(), "select_gpus(visible, \"\") is not every visible GPU");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("cuda_visible_devices", fuzz_cuda_visible_devices)
