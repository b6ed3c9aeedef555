// gpu_manager::get_cuda_debug_info with simulated GPUs and without any NVML library.
#include <gtest/gtest.h>

#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram {
namespace {

TEST(CudaDebug, SimulatedGpusAreReportedAsSuch) {
    const gpu_manager manager(std::shared_ptr<gpu_probe>(make_simulated_probe("A100 80GB:used=10GiB,T4")));
    debug_environment env;
    env.cuda_visible_devices = "1";
    env.cuda_device_order = "PCI_BUS_ID";
    const auto info = manager.get_cuda_debug_info(env);
    EXPECT_EQ(info.source, probe_source::simulated);
    EXPECT_TRUE(info.library_attempts.empty());  // NVML not loaded
    const auto j = to_json(info);
    EXPECT_EQ(j["source"], "simulated");
    EXPECT_EQ(j["nvml"]["status"], "not_consulted");
    EXPECT_EQ(j["gpu_count"], 2);
    EXPECT_EQ(j["visible_gpu_count"], 1);
    EXPECT_TRUE(j["gpus"][0]["cuda_index"].is_null());
    EXPECT_EQ(j["gpus"][1]["cuda_index"], 0);
    // The A100 80GB's usable 81251 MiB (the catalog's NVML figure) - 10 GiB = 71011 MiB.
    EXPECT_EQ(j["gpus"][0]["free_bytes"], 71011ULL * 1024 * 1024);
    EXPECT_EQ(j["environment"]["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
    const std::string notes = j["notes"].dump();
    EXPECT_NE(notes.find("simulated"), std::string::npos);
    // PCI_BUS_ID order: no numbering warning even though the models differ.
    EXPECT_EQ(notes.find("CUDA_DEVICE_ORDER is not PCI_BUS_ID"), std::string::npos) << notes;
}

TEST(CudaDebug, NoneProbeLoadsNvmlAndReportsWhy) {
    const gpu_manager manager(std::shared_ptr<gpu_probe>(make_unavailable_probe("test")));
    debug_environment env;
    env.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    const auto info = manager.get_cuda_debug_info(env);
    EXPECT_EQ(info.source, probe_source::none);
    EXPECT_EQ(info.nvml, nvml_status::library_not_found);
    ASSERT_EQ(info.library_attempts.size(), 1U);
    EXPECT_EQ(info.library_attempts[0].error,
              "/nonexistent/libnvidia-ml.so.1: cannot open shared object file: No such file or directory");
    EXPECT_TRUE(info.snapshot.gpus.empty());
}

}  // namespace
}  // namespace whisper_vram
