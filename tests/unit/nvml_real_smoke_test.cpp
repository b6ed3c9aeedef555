// The real libnvidia-ml.so.1, when this machine has one (skipped otherwise): readings are
// self-consistent. The fake-library tests cover the behaviour; this catches ABI surprises.
#include <gtest/gtest.h>

#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {
namespace {

TEST(NvmlRealSmoke, ReadingsAreConsistentWhenADriverIsPresent) {
    std::string error;
    if (!open_dynamic_library("libnvidia-ml.so.1", error)) GTEST_SKIP() << "no NVIDIA driver here: " << error;
    auto probe = make_nvml_probe(std::nullopt);
    const auto s = probe->snapshot();
    if (!s.available()) {
        EXPECT_FALSE(s.unavailable_reason.empty());
        GTEST_SKIP() << "NVML present but unusable: " << s.unavailable_reason;
    }
    for (const auto& g : s.gpus) {
        if (g.state != gpu_state::ok) continue;
        EXPECT_TRUE(g.uuid.starts_with("GPU-")) << g.uuid;
        EXPECT_GT(g.total_bytes, 0U);
        EXPECT_LE(g.free_bytes, g.total_bytes);
        EXPECT_LE(g.used_bytes, g.total_bytes);
        // A scrambled process stride shows up as absurd sizes.
        for (const auto& p : g.processes) {
            if (p.used_bytes) {
                EXPECT_LE(*p.used_bytes, g.total_bytes) << p.pid;
            }
        }
    }
}

}  // namespace
}  // namespace whisper_vram
