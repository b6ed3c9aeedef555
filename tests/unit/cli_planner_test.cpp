// whisper-vram, in-process: best-model, solve, recommend, presets, calc --preset, check
// (exit statuses 0 fits / 1 does not fit / 2 usage / 3 unavailable, JSON keys, messages).
// Numbers are derived by hand in planner_test.cpp and planner_check_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support/cli_in_process.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"

namespace whisper_vram {
namespace {

using test::cli;

TEST(CliPlanner, BestModel) {
    auto r = cli("best-model --memory 8 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["model"], "medium");
    EXPECT_TRUE(j["fits"].get<bool>());
    EXPECT_DOUBLE_EQ(j["recommended"].get<double>(), 5.0625);
    EXPECT_DOUBLE_EQ(j["memory"].get<double>(), 8.0);
    r = cli("best-model --memory 4GiB --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["model"], "small");
    r = cli("best-model --memory 1 --json");
    EXPECT_EQ(r.status, 1);
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["model"], "tiny");
    EXPECT_FALSE(j["fits"].get<bool>());
    EXPECT_NE(r.err.find("nothing fits"), std::string::npos) << r.err;
    r = cli("best-model --memory 1");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("none fits"), std::string::npos) << r.out;
    r = cli("best-model --memory lots");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--memory"), std::string::npos) << r.err;
    EXPECT_EQ(cli("best-model").status, 2);  // --memory is required
    // English ladder: large 9.825 > 8, medium.en 5.0625 ≤ 8.
    r = cli("best-model --memory 8 --english --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["model"], "medium.en");
    EXPECT_EQ(cli("best-model --memory 8 --precision fp8").status, 2);
}

TEST(CliPlanner, SolveEachQuantity) {
    auto r = cli("solve max-segment medium --memory 8 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["value"], 117);
    EXPECT_EQ(j["model"], "medium");
    EXPECT_EQ(j["unit"], "s");
    r = cli("solve max-batch medium --memory 8 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["value"], 6);
    r = cli("solve max-concurrent medium --memory 24 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["value"], 4);
    r = cli("solve min-memory medium --segment 300 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_NEAR(j["value"].get<double>(), 14.175, 1e-9);
    EXPECT_EQ(j["segment_duration"], 300);
    r = cli("solve max-segment large --memory 24");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("max_segment: 240"), std::string::npos) << r.out;
    // Even the smallest step does not fit: exit 1 with a message.
    r = cli("solve max-segment large --memory 1");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("nothing fits"), std::string::npos) << r.err;
    EXPECT_EQ(cli("solve max-concurrent large --memory 9").status, 1);
    // Usage errors.
    EXPECT_EQ(cli("solve").status, 2);
    EXPECT_EQ(cli("solve max-segment medium").status, 2);                          // no --memory
    EXPECT_EQ(cli("solve max-segment medium --memory 8 --segment 30").status, 2);  // the solved input
    EXPECT_EQ(cli("solve max-batch medium --memory 8 --batch 2").status, 2);
    EXPECT_EQ(cli("solve max-width medium --memory 8").status, 2);
    EXPECT_EQ(cli("solve max-segment mediun --memory 8").status, 2);
}

TEST(CliPlanner, RecommendCatalogSimulatedAndLive) {
    auto r = cli("recommend --gpu \"RTX 3090\" --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["gpus"].size(), 1U);
    const auto& g = j["gpus"][0];
    EXPECT_EQ(g["gpu"], "RTX 3090");
    EXPECT_DOUBLE_EQ(g["memory"].get<double>(), 24.0);
    EXPECT_EQ(g["model"], "large");
    EXPECT_EQ(g["max_segment"], 240);
    EXPECT_EQ(g["max_concurrent"], 2);
    EXPECT_EQ(g["int8"]["max_concurrent"], 4);
    r = cli("recommend --all --json");
    ASSERT_EQ(r.status, 0) << r.err;
    // Every catalog GPU but the unified-memory ones (no fixed memory to plan on).
    const auto planned = std::count_if(gpu_catalog().begin(), gpu_catalog().end(),
                                       [](const gpu_model& g) { return !g.unified_memory(); });
    EXPECT_EQ(nlohmann::json::parse(r.out)["gpus"].size(), static_cast<std::size_t>(planned));
    r = cli("recommend --gpu \"GTX 1660,RTX 3060 8GB,RTX 3070,RTX 3080 10GB,RTX 3090,RTX 4090\"");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("RTX 3080 10GB"), std::string::npos) << r.out;
    r = cli("recommend --simulate \"24GiB:used=14GiB\" --json");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["source"], "simulated");
    EXPECT_EQ(j["gpus"][0]["model"], "large");  // 10 GiB free
    EXPECT_EQ(j["gpus"][0]["max_segment"], 32);
    // A GPU with nothing that fits: exit 1.
    EXPECT_EQ(cli("recommend --simulate 1GiB").status, 1);
    // Live GPUs without GPU information: exit 3 with the reason.
    r = cli("recommend");
    EXPECT_EQ(r.status, 3);
    EXPECT_FALSE(r.err.empty());
    // Usage errors.
    EXPECT_EQ(cli("recommend --gpu \"RTX 9999\"").status, 2);
    EXPECT_EQ(cli("recommend --gpu T4 --all").status, 2);
    EXPECT_EQ(cli("recommend --simulate 8GiB --all").status, 2);
}

TEST(CliPlanner, PresetsAndCalcPreset) {
    auto r = cli("presets --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out)["presets"];
    ASSERT_EQ(j.size(), 3U);
    EXPECT_EQ(j[0]["name"], "high_performance");
    EXPECT_NEAR(j[0]["recommended_all"].get<double>(), 96.6, 1e-9);
    EXPECT_FALSE(j[0]["fits_target"].get<bool>());
    EXPECT_DOUBLE_EQ(j[1]["total_required"].get<double>(), 11.8125);
    EXPECT_NEAR(j[1]["recommended"].get<double>(), 14.175, 1e-9);
    EXPECT_FALSE(j[1]["fits_target"].get<bool>());
    EXPECT_TRUE(j[2]["fits_target"].get<bool>());
    r = cli("presets");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("does NOT fit its target RTX 3070"), std::string::npos) << r.out;

    r = cli("calc --preset balanced --json");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["model"], "medium");
    EXPECT_EQ(j["segment_duration"], 300);
    EXPECT_DOUBLE_EQ(j["total_required"].get<double>(), 11.8125);
    EXPECT_EQ(j["preset"]["max_concurrent"], 1);
    r = cli("calc --preset efficient");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("2.64"), std::string::npos) << r.out;
    // Conflicts and unknown presets.
    r = cli("calc --preset balanced --segment 60");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--segment"), std::string::npos) << r.err;
    EXPECT_EQ(cli("calc medium --preset balanced").status, 2);
    EXPECT_EQ(cli("calc --preset balanced --precision int8").status, 2);
    r = cli("calc --preset fastest");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("high_performance"), std::string::npos) << r.err;
    EXPECT_EQ(cli("calc").status, 2);
}

TEST(CliPlanner, CheckExitStatuses) {
    auto r = cli("check medium --segment 300 --simulate 8GiB --json");
    EXPECT_EQ(r.status, 1) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_FALSE(j["sufficient"].get<bool>());
    EXPECT_EQ(j["suggestions"][0]["change"], "segment_duration");
    EXPECT_EQ(j["suggestions"][0]["config"]["segment_duration"], 117);
    EXPECT_NEAR(j["gpus"][0]["shortfall"].get<double>(), 6.175, 1e-9);
    EXPECT_NEAR(j["required"]["recommended"].get<double>(), 14.175, 1e-9);
    EXPECT_FALSE(j["optimization_suggestions"].empty());
    // Each suggested configuration, checked again, fits.
    for (const auto& s : j["suggestions"]) {
        const auto& c = s["config"];
        const auto again = cli("check " + c["model"].get<std::string>() + " --segment " +
                               std::to_string(c["segment_duration"].get<double>()) + " --batch " +
                               std::to_string(c["batch_size"].get<int>()) + " --precision " +
                               c["precision"].get<std::string>() + " --simulate 8GiB");
        EXPECT_EQ(again.status, 0) << s.dump() << again.out << again.err;
    }
    r = cli("check medium --segment 300 --simulate 8GiB");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("shorten segments to 117 s"), std::string::npos) << r.out;
    EXPECT_EQ(cli("check medium --segment 300 --simulate 24GiB").status, 0);
    EXPECT_EQ(cli("check medium --segment 300 --gpus 0,1 --simulate 24GiB,8GiB").status, 1);
    EXPECT_EQ(cli("check medium --segment 300 --gpus 0", test::simulated_environment("24GiB,8GiB")).status, 0);
    r = cli("check medium --gpus 3 --simulate 24GiB,8GiB");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("'3'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Simulated GPU 8.00 GiB"), std::string::npos) << r.err;
    r = cli("check medium");
    EXPECT_EQ(r.status, 3);
    EXPECT_FALSE(r.err.empty());
    EXPECT_EQ(cli("check mediun --simulate 8GiB").status, 2);
    // CUDA_VISIBLE_DEVICES="" hides every GPU: nothing to check on, exit 3 saying why. The binary:
    // check's GPU selection below the CLI still reads CUDA_VISIBLE_DEVICES from the process.
    r = test::run_cli("check medium --simulate 8GiB", "env -u WHISPER_VRAM_SIMULATE CUDA_VISIBLE_DEVICES=");
    EXPECT_EQ(r.status, 3);
    EXPECT_NE(r.err.find("CUDA_VISIBLE_DEVICES"), std::string::npos) << r.err;
    // CUDA_VISIBLE_DEVICES=1 renumbers: the 8 GiB GPU is CUDA index 0 (300 s medium does not fit there).
    EXPECT_EQ(test::run_cli("check medium --segment 300 --gpus 0 --simulate 24GiB,8GiB",
                            "env -u WHISPER_VRAM_SIMULATE CUDA_VISIBLE_DEVICES=1")
                  .status,
              1);
    EXPECT_EQ(cli("check").status, 2);
}

TEST(CliPlanner, HelpShowsExamples) {
    for (const auto* command : {"best-model", "solve", "solve max-segment", "recommend", "presets", "check"}) {
        const auto r = cli(std::string(command) + " --help");
        EXPECT_EQ(r.status, 0) << command;
        EXPECT_NE(r.out.find("whisper-vram "), std::string::npos) << command << ": " << r.out;
    }
}

}  // namespace
}  // namespace whisper_vram
