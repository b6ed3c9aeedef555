// whisper-vram gpus / debug against the fake libnvidia-ml.so.1 (exit statuses, JSON keys).
#include <nlohmann/json.hpp>

#include "fake_nvml/fake_nvml_support.hpp"
#include "support/run_cli.hpp"

namespace whisper_vram {
namespace {

using test::run_cli;

class CliNvml : public test::fake_nvml_fixture {};

const char* const two_gpus =
    "gpu name=NVIDIA GeForce RTX 3090;uuid=GPU-8a3f0000-1111-2222-3333-444455556666;bus=00000000:01:00.0;"
    "total=25769803776;used=2147483648;reserved=314572800;util=37,12\n"
    "gpu name=NVIDIA GeForce RTX 3090;uuid=GPU-9b000000-1111-2222-3333-444455556666;bus=00000000:02:00.0;"
    "total=25769803776;used=0;reserved=0\n";

std::size_t lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST_F(CliNvml, GpusJsonFromNvml) {
    write_scenario(two_gpus);
    const auto r = run_cli("gpus --json", env_prefix());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["source"], "nvml");
    EXPECT_TRUE(j["cuda_visible_devices"].is_null());
    ASSERT_EQ(j["gpus"].size(), 2U);
    const auto& g = j["gpus"][0];
    EXPECT_EQ(g["cuda_index"], 0);
    EXPECT_EQ(g["index"], 0);
    EXPECT_EQ(g["name"], "NVIDIA GeForce RTX 3090");
    EXPECT_EQ(g["uuid"], "GPU-8a3f0000-1111-2222-3333-444455556666");
    EXPECT_EQ(g["total_bytes"], 25769803776ULL);
    EXPECT_EQ(g["used_bytes"], 2147483648ULL);
    EXPECT_EQ(g["free_bytes"], 25769803776ULL - 2147483648ULL - 314572800ULL);
    EXPECT_DOUBLE_EQ(g["total"].get<double>(), 24.0);
    EXPECT_DOUBLE_EQ(g["free"].get<double>(), 24.0 - 2.0 - 300.0 / 1024.0);  // 21.70703125
    EXPECT_EQ(g["reserved_bytes"], 314572800ULL);
    EXPECT_EQ(g["utilization_gpu_percent"], 37);
    EXPECT_EQ(g["state"], "ok");
    EXPECT_EQ(g["catalog_name"], "RTX 3090");
}

TEST_F(CliNvml, GpusHonoursCudaVisibleDevicesWithUuids) {
    write_scenario(two_gpus);
    const auto r = run_cli("gpus --json", env_prefix() + " CUDA_VISIBLE_DEVICES=GPU-9b");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["cuda_visible_devices"], "GPU-9b");
    EXPECT_EQ(j["gpu_count"], 2);
    ASSERT_EQ(j["gpus"].size(), 1U);
    EXPECT_EQ(j["gpus"][0]["cuda_index"], 0);  // what PyTorch calls cuda:0
    EXPECT_EQ(j["gpus"][0]["index"], 1);       // nvidia-smi's GPU 1
}

TEST_F(CliNvml, GpusTableShowsBothIndices) {
    write_scenario(two_gpus);
    const auto r = run_cli("gpus", env_prefix() + " CUDA_VISIBLE_DEVICES=1,0");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("cuda  nvml  name"), std::string::npos) << r.out;
    // First row: CUDA 0 is NVML 1 (the listed order), 21.71 GiB free only on NVML 0.
    const auto row0 = r.out.find("\n0        1  NVIDIA GeForce RTX 3090");
    const auto row1 = r.out.find("\n1        0  NVIDIA GeForce RTX 3090");
    EXPECT_NE(row0, std::string::npos) << r.out;
    EXPECT_NE(row1, std::string::npos) << r.out;
    EXPECT_LT(row0, row1);
    EXPECT_NE(r.out.find("21.71"), std::string::npos) << r.out;
}

TEST_F(CliNvml, GpusWithoutDriverExits3WithOneLine) {
    write_scenario("set init=9\n");
    const auto r = run_cli("gpus --json", env_prefix());
    EXPECT_EQ(r.status, 3);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(lines(r.err), 1U) << r.err;
    EXPECT_NE(r.err.find("NVML_ERROR_DRIVER_NOT_LOADED"), std::string::npos) << r.err;
}

TEST(CliNvmlMissing, GpusExits3AndDebugExits0) {
    const std::string env = "env -u WHISPER_VRAM_SIMULATE WHISPER_VRAM_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";
    auto r = run_cli("gpus", env);
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(lines(r.err), 1U) << r.err;
    EXPECT_NE(r.err.find("/nonexistent/libnvidia-ml.so.1: cannot open shared object file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("override (WHISPER_VRAM_NVML_LIBRARY) could not be loaded"), std::string::npos) << r.err;
    r = run_cli("debug --json", env);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["source"], "none");
    EXPECT_EQ(j["nvml"]["status"], "library_not_found");
    EXPECT_EQ(j["nvml"]["library_candidates"][0]["path"], "/nonexistent/libnvidia-ml.so.1");
    r = run_cli("debug", env);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("NVML: library_not_found"), std::string::npos) << r.out;
}

TEST_F(CliNvml, DebugExits0ForEveryFailure) {
    const std::pair<std::string, std::string> cases[] = {
        {"set init=18\n", "init_failed"},
        {"set init=4\n", "init_failed"},
        {"gpu name=NVIDIA L4;total=24152899584;lost=1\n", "ok"},
        {"gpu name=NVIDIA GB10;memory=not_supported\n", "ok"},
    };
    for (const auto& [scenario, status] : cases) {
        write_scenario(scenario);
        const auto r = run_cli("debug --json", env_prefix());
        ASSERT_EQ(r.status, 0) << scenario << r.err;
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["nvml"]["status"], status) << scenario;
    }
}

TEST_F(CliNvml, LostAndUnifiedGpusInGpusJson) {
    write_scenario("gpu name=NVIDIA L4;total=24152899584;lost=1\ngpu name=NVIDIA GB10;memory=not_supported\n");
    const auto r = run_cli("gpus --json", env_prefix());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["gpus"][0]["state"], "lost");
    EXPECT_EQ(j["gpus"][1]["state"], "unified_memory");
    EXPECT_EQ(j["gpus"][1]["total_bytes"], 0);
}

TEST_F(CliNvml, MissingSymbolIsNamedByGpusAndDebug) {
    write_scenario("gpu name=Tesla T4;total=16106127360\n", "broken");
    auto r = run_cli("gpus", env_prefix("broken"));
    EXPECT_EQ(r.status, 3);
    EXPECT_NE(r.err.find("nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)"), std::string::npos) << r.err;
    r = run_cli("debug --json", env_prefix("broken"));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["nvml"]["status"], "missing_symbol");
    EXPECT_EQ(j["nvml"]["missing_symbol"], "nvmlDeviceGetHandleByIndex_v2 (or nvmlDeviceGetHandleByIndex)");
}

TEST_F(CliNvml, SimulateWinsOverNvml) {
    write_scenario("set init=9\n");
    auto r = run_cli("gpus --json --simulate 'RTX 3090:used=2GiB'", env_prefix());
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["source"], "simulated");
    EXPECT_EQ(j["gpus"][0]["free_bytes"], 22ULL * 1024 * 1024 * 1024);
    r = run_cli("debug --json", env_prefix() + " WHISPER_VRAM_SIMULATE='8GiB,T4'");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["source"], "simulated");
    EXPECT_EQ(j["nvml"]["status"], "not_consulted");
    EXPECT_EQ(j["gpu_count"], 2);
    EXPECT_EQ(j["gpus"][1]["name"], "T4");
    EXPECT_NE(j["notes"].dump().find("simulated"), std::string::npos);
}

}  // namespace
}  // namespace whisper_vram
