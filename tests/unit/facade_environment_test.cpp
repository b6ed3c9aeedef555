// gpu_manager built from one environment value (read once, never again), its warning sink, and the
// JSON layer's shared helpers and names (gpu_uuid for a lease, ledger_reserved_bytes vs reserved_bytes).
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;

std::filesystem::path fresh_state_dir(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("whisper-vram-facade-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    return dir;
}

environment two_gpus(const std::filesystem::path& state_dir) {
    environment env;
    env.simulate = "24GiB,16GiB:used=4GiB";
    env.cuda_visible_devices = "1";
    env.cuda_device_order = "PCI_BUS_ID";
    env.state_dir = state_dir.string();
    env.uid = 4242;
    return env;
}

TEST(FacadeEnvironment, OptionsComeFromTheEnvironmentValue) {
    environment env = two_gpus("/nonexistent/state");
    env.nvml_library = "";  // empty = unset, as before
    const auto probe = probe_options_from(env);
    EXPECT_EQ(probe.simulate, "24GiB,16GiB:used=4GiB");
    EXPECT_FALSE(probe.nvml_library.has_value());
    const auto options = manager_options_from(env);
    EXPECT_EQ(options.cuda_visible_devices, "1");
    EXPECT_EQ(options.debug.cuda_device_order, "PCI_BUS_ID");
    EXPECT_FALSE(options.debug.nvml_library.has_value());
    EXPECT_EQ(options.state_dir, std::filesystem::path("/nonexistent/state"));
    env.state_dir.reset();
    EXPECT_EQ(manager_options_from(env).state_dir, std::filesystem::path("/tmp/whisper-vram-4242"));
    env.xdg_runtime_dir = "/run/user/4242";
    EXPECT_EQ(manager_options_from(env).state_dir, std::filesystem::path("/run/user/4242/whisper-vram"));
}

TEST(FacadeEnvironment, ManagerKeepsWhatItWasBuiltWithAndNeverRereads) {
    const gpu_manager manager(two_gpus("/nonexistent/state"));
    // Changing the process environment afterwards changes nothing: it was read once, by the edge.
    ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const auto recommended = manager.recommend();
    ::unsetenv("CUDA_VISIBLE_DEVICES");
    ASSERT_EQ(recommended.gpus.size(), 1U);  // CUDA_VISIBLE_DEVICES=1: only the 16 GiB card, as cuda:0
    EXPECT_EQ(recommended.gpus[0].index, 0U);
    EXPECT_EQ(recommended.gpus[0].memory_bytes, 12 * gib);
    const auto check = manager.check_gpu_memory_sufficient("large");
    ASSERT_EQ(check.gpus.size(), 1U);
    EXPECT_EQ(check.gpus[0].nvml_index, 1U);
    const auto debug = to_json(manager.get_cuda_debug_info());
    EXPECT_EQ(debug["environment"]["CUDA_VISIBLE_DEVICES"], "1");
    EXPECT_EQ(debug["environment"]["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
    EXPECT_EQ(debug["visible_gpu_count"], 1);
    // The probe-only constructor (tests, embedding programs) sees every GPU.
    const gpu_manager plain(make_simulated_probe("24GiB,16GiB"));
    EXPECT_EQ(plain.recommend().gpus.size(), 2U);
}

TEST(FacadeEnvironment, LedgerWarningsGoToTheSinkNotToStderr) {
    const auto dir = fresh_state_dir("sink");
    std::vector<std::string> warned;
    const gpu_manager manager(two_gpus(dir), [&](const std::string& w) { warned.push_back(w); });
    auto first = manager.reserve("tiny", 30.0, 1, "float16", "", 0.0);
    ASSERT_TRUE(first.granted()) << first.message;
    EXPECT_TRUE(std::filesystem::exists(dir / "ledger"));
    EXPECT_TRUE(warned.empty());
    {
        std::ofstream out(dir / "ledger", std::ios::app);
        out << "not a ledger line\n";
    }
    auto second = manager.reserve("tiny", 30.0, 1, "float16", "", 0.0);
    ASSERT_TRUE(second.granted()) << second.message;
    ASSERT_EQ(warned.size(), 1U);
    EXPECT_NE(warned[0].find("corrupt"), std::string::npos) << warned[0];
    // An empty sink drops the warnings.
    const gpu_manager quiet(two_gpus(dir));
    {
        std::ofstream out(dir / "ledger", std::ios::app);
        out << "more garbage\n";
    }
    EXPECT_TRUE(quiet.reserve("tiny", 30.0, 1, "float16", "", 0.0).granted());
    EXPECT_EQ(warned.size(), 1U);
    first.granted_lease.release();
    second.granted_lease.release();
    std::filesystem::remove_all(dir);
}

TEST(JsonLayer, PutBytesWritesTheGibAndBytesPair) {
    nlohmann::ordered_json j;
    put_bytes(j, "free", 3 * gib / 2);
    put_bytes(j, "memory", std::optional<std::uint64_t>{});
    put_bytes_grouped(j, {{"total", 2 * gib}, {"recommended", 9.825, gib_to_bytes_ceil(9.825)}});
    EXPECT_EQ(j.dump(), R"({"free":1.5,"free_bytes":1610612736,"memory":null,"memory_bytes":null,"total":2.0,)"
                        R"("recommended":9.825,"total_bytes":2147483648,"recommended_bytes":10549513421})");
}

TEST(JsonLayer, OneNameForOneThing) {
    const auto dir = fresh_state_dir("names");
    const gpu_manager manager(two_gpus(dir));
    auto reserved = manager.reserve("tiny", 30.0, 1, "float16", "", 0.0);
    ASSERT_TRUE(reserved.granted()) << reserved.message;
    const auto lease = to_json(reserved)["lease"];
    EXPECT_EQ(lease["gpu_uuid"], reserved.granted_lease.info().gpu_uuid);  // as Python's Lease.gpu_uuid
    EXPECT_FALSE(lease.contains("gpu"));
    const auto record = to_json(manager.get_scheduler().reservations().at(0));
    EXPECT_EQ(record["gpu_uuid"], reserved.granted_lease.info().gpu_uuid);
    EXPECT_FALSE(record.contains("gpu"));
    // can_run_concurrent_task: ledger reservations are ledger_reserved_bytes; reserved_bytes stays
    // the driver's reserve of a GPU (to_json(gpu_device)).
    const auto check = to_json(manager.can_run_concurrent_task("tiny", {}));
    EXPECT_EQ(check["ledger_reserved_bytes"], reserved.requested_bytes);
    EXPECT_FALSE(check.contains("reserved_bytes"));
    EXPECT_EQ(check["available_bytes"], 12 * gib - reserved.requested_bytes);
    EXPECT_TRUE(to_json(manager.get_gpu_memory_info().gpus[0]).contains("reserved_bytes"));
    reserved.granted_lease.release();
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace whisper_vram
