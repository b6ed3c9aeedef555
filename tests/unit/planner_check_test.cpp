// check_gpu_memory_sufficient on simulated GPUs: per-GPU rows, sufficiency, computed suggestions.
//
// medium float16 300 s (guide example 3): audio = 0.375·10 = 3.75; total = 3.125 + 0.25 + 3.75·2.25
// = 11.8125; recommended 14.175 GiB. On 8 GiB: 6.175 GiB short.
#include <gtest/gtest.h>

#include <cstdlib>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t GiB = bytes_per_gib;

class PlannerCheck : public ::testing::Test {
protected:
    // An id means a CUDA index; keep the host's CUDA_VISIBLE_DEVICES out of these tests.
    void SetUp() override { ::unsetenv("CUDA_VISIBLE_DEVICES"); }

    static gpu_manager simulated(const char* spec) { return gpu_manager(make_simulated_probe(spec)); }

    // Every suggestion, re-checked through the facade on the same GPUs, is sufficient.
    static void expect_suggestions_fit(const gpu_manager& manager, const check_result& r,
                                       const std::vector<std::string>& ids) {
        for (const auto& s : r.suggestions) {
            SCOPED_TRACE(s.text);
            if (s.change == "free_memory") continue;  // needs other processes to free memory first
            const auto again = manager.check_gpu_memory_sufficient(s.config, ids);
            EXPECT_TRUE(again.sufficient) << again.message;
            EXPECT_EQ(again.required.recommended_bytes, s.recommended_bytes);
        }
    }
};

TEST_F(PlannerCheck, MediumThreeHundredSecondsOnEightGiB) {
    const auto manager = simulated("8GiB");
    const auto r = manager.check_gpu_memory_sufficient("medium", {"0"}, 300, 1, "float16");
    EXPECT_FALSE(r.sufficient);
    EXPECT_NEAR(r.required.recommended_gib, 14.175, 1e-12);
    ASSERT_EQ(r.gpus.size(), 1U);
    EXPECT_FALSE(r.gpus[0].fits);
    EXPECT_EQ(r.gpus[0].free_bytes, 8 * GiB);
    EXPECT_EQ(r.gpus[0].shortfall_bytes, r.required.recommended_bytes - 8 * GiB);
    EXPECT_NEAR(bytes_to_gib(r.gpus[0].shortfall_bytes), 6.175, 1e-9);
    // The guide prints f"not enough: {message}", so the message itself has no such prefix.
    EXPECT_EQ(r.message.find("not enough"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("needs 14.175 GiB recommended"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("6.175 GiB short"), std::string::npos) << r.message;

    // Guide's order: segment, (batch is 1: none), precision, model; no freeing (14.175 > the whole 8 GiB).
    ASSERT_EQ(r.suggestions.size(), 3U);
    EXPECT_EQ(r.suggestions[0].change, "segment_duration");
    EXPECT_EQ(r.suggestions[0].config.segment_seconds, 117.0);  // see planner_test: 7.99875 ≤ 8 < 8.0325
    EXPECT_NEAR(r.suggestions[0].recommended_gib, 7.99875, 1e-12);
    // int8: b = 1.25, audio 1.875; total = 1.5625 + 0.25 + 1.875·2.25 = 6.03125 → 7.2375 ≤ 8.
    EXPECT_EQ(r.suggestions[1].change, "precision");
    EXPECT_EQ(r.suggestions[1].config.precision, "int8");
    EXPECT_NEAR(r.suggestions[1].recommended_gib, 7.2375, 1e-12);
    // small at 300 s: 7.1875 → 8.625 > 8; base: 4.875 → 5.85 ≤ 8.
    EXPECT_EQ(r.suggestions[2].change, "model");
    EXPECT_EQ(r.suggestions[2].config.model, "base");
    EXPECT_NEAR(r.suggestions[2].recommended_gib, 5.85, 1e-12);
    EXPECT_EQ(r.optimization_suggestions.size(), 4U);  // three changes + "freeing memory cannot help"
    EXPECT_NE(r.optimization_suggestions[0].find("117 s"), std::string::npos);
    EXPECT_NE(r.optimization_suggestions[3].find("freeing memory cannot help"), std::string::npos);
    expect_suggestions_fit(manager, r, {"0"});
}

TEST_F(PlannerCheck, FitsOnTwentyFourGiB) {
    const auto r = simulated("24GiB").check_gpu_memory_sufficient("medium", {}, 300, 1, "float16");
    EXPECT_TRUE(r.sufficient);
    EXPECT_TRUE(r.gpus[0].fits);
    EXPECT_EQ(r.gpus[0].shortfall_bytes, 0U);
    EXPECT_TRUE(r.suggestions.empty());
    EXPECT_TRUE(r.optimization_suggestions.empty());
    EXPECT_EQ(r.source, "simulated");
}

TEST_F(PlannerCheck, MultiGpuWithOneTightGpuIsInsufficient) {
    // Each GPU runs its own copy: the 24 GiB fits, the one with 7 GiB free does not.
    const auto manager = simulated("24GiB,8GiB:used=1GiB");
    const auto r = manager.check_gpu_memory_sufficient("medium", {"0", "1"}, 300, 2, "float16");
    EXPECT_FALSE(r.sufficient);
    ASSERT_EQ(r.gpus.size(), 2U);
    EXPECT_TRUE(r.gpus[0].fits);
    EXPECT_FALSE(r.gpus[1].fits);
    EXPECT_EQ(r.gpus[1].free_bytes, 7 * GiB);
    // batch 2 at 300 s: total = 3.375 + 3.75·(1 + 2.5) = 16.5 → 19.8; tightest 7 GiB free.
    // segment: 1.2·(3.375 + 0.375k·3.5) ≤ 7 → k ≤ 1.873 → 56 s. Batch 1 at 300 s: 14.175 > 7 → no batch
    // suggestion.
    ASSERT_FALSE(r.suggestions.empty());
    EXPECT_EQ(r.suggestions[0].change, "segment_duration");
    EXPECT_EQ(r.suggestions[0].config.segment_seconds, 56.0);
    for (const auto& s : r.suggestions) EXPECT_NE(s.change, "batch_size");
    expect_suggestions_fit(manager, r, {"0", "1"});
    // All GPUs by default.
    EXPECT_EQ(manager.check_gpu_memory_sufficient("medium", {}, 300, 2).gpus.size(), 2U);
}

TEST_F(PlannerCheck, BatchAndFreeMemorySuggestions) {
    // medium 30 s batch 8 on a 3090 with 14 GiB used (10 GiB free): total = 3.75 + 0.46875·8 = 7.5 → 9
    // fits. batch 12: 3.75 + 5.625 = 9.375 → 11.25 > 10 → largest batch: 3.75 + 0.46875B ≤ 8.333 → B ≤ 9.78 → 9.
    const auto manager = simulated("RTX 3090:used=14GiB");
    const auto r = manager.check_gpu_memory_sufficient("medium", {}, 30, 12);
    EXPECT_FALSE(r.sufficient);
    const auto batch = std::find_if(r.suggestions.begin(), r.suggestions.end(),
                                    [](const check_suggestion& s) { return s.change == "batch_size"; });
    ASSERT_NE(batch, r.suggestions.end());
    EXPECT_EQ(batch->config.batch_size, 9);
    // Freeing: 11.25 − 10 = 1.25 GiB from other processes.
    ASSERT_EQ(r.suggestions.back().change, "free_memory");
    EXPECT_EQ(r.suggestions.back().free_needed_bytes, r.required.recommended_bytes - 10 * GiB);
    EXPECT_NEAR(bytes_to_gib(r.suggestions.back().free_needed_bytes), 1.25, 1e-9);
    expect_suggestions_fit(manager, r, {});
    const auto j = to_json(r);
    EXPECT_EQ(j["suggestions"].back()["change"], "free_memory");
    EXPECT_NEAR(j["suggestions"].back()["free_needed"].get<double>(), 1.25, 1e-9);
    for (const auto* key : {"sufficient", "message", "optimization_suggestions", "suggestions", "gpus", "required"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    const auto& s0 = j["suggestions"][0];
    for (const auto* key : {"model", "segment_duration", "batch_size", "precision"}) {
        EXPECT_TRUE(s0["config"].contains(key)) << key;
    }
}

TEST_F(PlannerCheck, NothingFitsIsSaidPlainly) {
    // 0.5 GiB: even tiny int4 1 s batch 1 needs 1.2·(0.5 + 0.00225) = 0.6027 GiB.
    const auto r = simulated("0.5GiB").check_gpu_memory_sufficient("large", {}, 600);
    EXPECT_FALSE(r.sufficient);
    EXPECT_TRUE(r.suggestions.empty());
    ASSERT_FALSE(r.optimization_suggestions.empty());
    EXPECT_NE(r.optimization_suggestions.back().find("not even the smallest configuration"), std::string::npos)
        << r.optimization_suggestions.back();
}

TEST_F(PlannerCheck, UnusableGpusDoNotFitWithTheReason) {
    auto snapshot = make_simulated_probe("24GiB,24GiB")->snapshot();
    snapshot.gpus[1].state = gpu_state::lost;
    snapshot.gpus[1].state_detail = "GPU is lost (NVML_ERROR_GPU_IS_LOST)";
    estimate_request request;  // medium 30 s: 5.0625
    const auto r = check_memory(request, visible_gpus(snapshot, std::nullopt), probe_source::nvml);
    EXPECT_FALSE(r.sufficient);
    EXPECT_TRUE(r.gpus[0].fits);
    EXPECT_FALSE(r.gpus[1].fits);
    EXPECT_EQ(r.gpus[1].state, "lost");
    EXPECT_NE(r.gpus[1].reason.find("NVML_ERROR_GPU_IS_LOST"), std::string::npos);
    EXPECT_TRUE(r.suggestions.empty());  // no configuration change fixes a lost GPU
    ASSERT_EQ(r.optimization_suggestions.size(), 1U);
    EXPECT_NE(r.optimization_suggestions[0].find("leave GPU 1"), std::string::npos);
}

TEST_F(PlannerCheck, BadIdAndUnavailableGpuInformation) {
    const auto manager = simulated("8GiB,24GiB");
    try {
        (void)manager.check_gpu_memory_sufficient("medium", {"5"});
        FAIL() << "expected usage_error";
    } catch (const usage_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("'5'"), std::string::npos) << what;
        EXPECT_NE(what.find("Simulated GPU 24.00 GiB"), std::string::npos) << what;  // names the GPUs there are
    }
    const gpu_manager none(make_unavailable_probe("NVML library not found"));
    try {
        (void)none.check_gpu_memory_sufficient("medium");
        FAIL() << "expected gpu_unavailable_error";
    } catch (const gpu_unavailable_error& e) {
        EXPECT_NE(std::string(e.what()).find("NVML library not found"), std::string::npos);
    }
    // Bad input is a usage error even without GPU information.
    EXPECT_THROW((void)none.check_gpu_memory_sufficient("mediun"), usage_error);
}

TEST(PlannerCheckAdmittable, PlansOnTheAdmittableFigureAndSuggestsForIt) {
    // One 24 GiB GPU, all free, with 19.35 GiB reserved through whisper-vram: 4.65 GiB admittable.
    const auto snapshot = make_simulated_probe("24GiB")->snapshot();
    const std::vector<visible_gpu> gpus{{0, snapshot.gpus[0]}};
    const std::uint64_t reserved = 19 * GiB + 35 * GiB / 100;
    const std::vector<gpu_admittable> figures{{reserved, 24 * GiB - reserved}};
    const estimate_request large = make_guide_request("large");  // 9.825 GiB recommended
    const auto on_free = check_memory(large, gpus, probe_source::simulated);
    EXPECT_TRUE(on_free.sufficient);
    EXPECT_EQ(on_free.memory_basis, "free");
    const auto r = check_memory(large, gpus, probe_source::simulated, figures);
    EXPECT_FALSE(r.sufficient);
    EXPECT_EQ(r.memory_basis, "admittable");
    EXPECT_EQ(r.gpus[0].free_bytes, 24 * GiB);
    EXPECT_EQ(r.gpus[0].reserved_bytes, reserved);
    EXPECT_EQ(r.gpus[0].available_bytes, 24 * GiB - reserved);
    EXPECT_EQ(r.gpus[0].shortfall_bytes, r.required.recommended_bytes - (24 * GiB - reserved));
    // Every suggestion fits the admittable 4.65 GiB, not the free 24: small (3.1575) but not medium (5.0625).
    bool model = false;
    for (const auto& s : r.suggestions) {
        if (s.change == "free_memory") {
            EXPECT_NE(s.text.find("reserved through whisper-vram"), std::string::npos) << s.text;
            continue;
        }
        EXPECT_LE(s.recommended_bytes, 24 * GiB - reserved) << s.text;
        if (s.change == "model") {
            model = true;
            EXPECT_EQ(s.config.model, "small") << s.text;
        }
    }
    EXPECT_TRUE(model);
    // One figure per GPU, or none.
    const std::vector<gpu_admittable> two{figures[0], figures[0]};
    EXPECT_THROW((void)check_memory(large, gpus, probe_source::simulated, two), usage_error);
}

}  // namespace
}  // namespace whisper_vram
