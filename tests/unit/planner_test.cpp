// The planner: best model, exact inverse solvers, per-GPU recommendations, the guide's presets.
//
// Hand arithmetic used below. With b = base model (GiB), k = segment / 30 s, B = batch:
//   audio = 0.15·b·k;  total = b + audio + (0.2 + audio·B) + 0.25·(b + 0.2 + audio·B)
//                            = 1.25·b + 0.25 + audio·(1 + 1.25·B);   recommended = 1.2 · total
// At 30 s, batch 1: total = 1.5875·b + 0.25, recommended = 1.905·b + 0.3:
//   tiny 0.8 → 1.824, base 1.0 → 2.205, small 1.5 → 3.1575, medium 2.5 → 5.0625, large 5.0 → 9.825.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "planner/planner_detail.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t GiB = bytes_per_gib;

estimate_request req(std::string_view model, double segment = 30, int batch = 1,
                     std::string_view precision = "float16") {
    return make_guide_request(model, segment, batch, precision);
}

std::uint64_t rec_bytes(const estimate_request& r) { return estimate(r).recommended_bytes; }

// ---- best model -----------------------------------------------------------------------------------

TEST(PlannerBestModel, GuideLadderPicksByMemory) {
    // 8 GiB: large 9.825 > 8, medium 5.0625 ≤ 8 → medium.
    auto r = assign_optimal_model(8 * GiB, {});
    EXPECT_EQ(r.model, "medium");
    EXPECT_TRUE(r.fits);
    EXPECT_DOUBLE_EQ(r.estimate.recommended_gib, 5.0625);
    // 4 GiB: medium 5.0625 > 4, small 3.1575 ≤ 4 → small.
    r = assign_optimal_model(4 * GiB, {});
    EXPECT_EQ(r.model, "small");
    EXPECT_TRUE(r.fits);
    // 1 GiB: tiny needs 1.824 > 1 → the guide answers tiny, and it does not fit.
    r = assign_optimal_model(1 * GiB, {});
    EXPECT_EQ(r.model, "tiny");
    EXPECT_FALSE(r.fits);
    EXPECT_NE(r.message.find("nothing fits"), std::string::npos) << r.message;
    // 9.825 GiB exactly is enough for large (recommended_bytes ≤ available).
    r = assign_optimal_model(rec_bytes(req("large")), {});
    EXPECT_EQ(r.model, "large");
    r = assign_optimal_model(rec_bytes(req("large")) - 1, {});
    EXPECT_EQ(r.model, "medium");
}

TEST(PlannerBestModel, LaddersAreDocumentedOrders) {
    EXPECT_EQ(model_ladder("guide"), (std::vector<std::string>{"large", "medium", "small", "base", "tiny"}));
    EXPECT_EQ(model_ladder("faster-whisper"),
              (std::vector<std::string>{"large-v3", "large-v3-turbo", "medium", "small", "base", "tiny"}));
    const auto english = model_ladder("transformers", true);
    ASSERT_GE(english.size(), 3U);
    EXPECT_EQ(english[2], "distil-large-v3");
    EXPECT_EQ(english.back(), "tiny.en");
    // Every rung is a catalog model.
    for (const auto* engine : {"guide", "openai-whisper"}) {
        for (const bool en : {false, true}) {
            for (const auto& m : model_ladder(engine, en)) EXPECT_NE(try_find_model(m), nullptr) << m;
        }
    }
}

TEST(PlannerBestModel, SegmentAndPrecisionChangeTheAnswer) {
    // 8 GiB at int8: large int8 (b = 2.5) needs 5.0625 → large.
    EXPECT_EQ(assign_optimal_model(8 * GiB, req("x", 30, 1, "int8")).model, "large");
    // 8 GiB at 300 s float16: medium needs 14.175; small: 1.875 + 0.25 + 2.25·2.25 = 7.1875 → 8.625 > 8;
    // base: 1.25 + 0.25 + 1.5·2.25 = 4.875 → 5.85 ≤ 8 → base.
    EXPECT_EQ(assign_optimal_model(8 * GiB, req("x", 300)).model, "base");
    EXPECT_THROW((void)assign_optimal_model(8 * GiB, req("x", 30, 1, "fp8")), usage_error);
}

// ---- solvers: hand-computed -------------------------------------------------------------------------

TEST(PlannerSolvers, MediumOnEightGiB) {
    // max segment: 1.2·(3.375 + 0.84375·k) ≤ 8 → k ≤ 3.9012 → s ≤ 117.04 → 117 s.
    // 117 s: 1.2·(3.375 + 0.84375·3.9) = 7.99875 ≤ 8; 118 s: 1.2·(3.375 + 0.84375·3.9333) = 8.0325 > 8.
    auto s = solve_max_segment(req("medium"), 8 * GiB);
    EXPECT_EQ(s.value, 117U);
    EXPECT_TRUE(s.fits);
    ASSERT_TRUE(s.at_value);
    EXPECT_NEAR(s.at_value->recommended_gib, 7.99875, 1e-12);
    ASSERT_TRUE(s.next_step_bytes);
    EXPECT_NEAR(bytes_to_gib(*s.next_step_bytes), 8.0325, 1e-9);
    // max batch at 30 s: total = 3.75 + 0.46875·B; B = 6: 7.875 ≤ 8; B = 7: 8.4375 > 8 → 6.
    auto b = solve_max_batch(req("medium"), 8 * GiB);
    EXPECT_EQ(b.value, 6U);
    EXPECT_NEAR(b.at_value->recommended_gib, 7.875, 1e-12);
    // 24 GiB / 5.0625 = 4.74 → 4 tasks (4 × 5.0625 = 20.25; 5 × 5.0625 = 25.3125 > 24).
    auto c = solve_max_concurrent(req("medium"), 24 * GiB);
    EXPECT_EQ(c.value, 4U);
    EXPECT_EQ(*c.next_step_bytes, 5 * rec_bytes(req("medium")));
    // min memory = recommended: 5.0625 GiB = 5435817984 bytes exactly.
    auto m = solve_min_memory(req("medium"));
    EXPECT_EQ(m.value, 5435817984ULL);
}

TEST(PlannerSolvers, LargeOnRtx3090) {
    // large float16, b = 5: total = 6.5 + 1.6875·k; 1.2·total ≤ 24 → k ≤ 8 → exactly 240 s
    // (recommended 24.0 GiB, equal to the card: fits); 241 s needs 24.0675.
    const auto& card = find_gpu_model("RTX 3090");
    EXPECT_EQ(card.memory_bytes, 24 * GiB);
    auto best = assign_optimal_model(card.memory_bytes, {});
    EXPECT_EQ(best.model, "large");
    EXPECT_EQ(solve_max_segment(req("large"), card.memory_bytes).value, 240U);
    // 2 × 9.825 = 19.65 ≤ 24 < 3 × 9.825 = 29.475 → 2 concurrent.
    EXPECT_EQ(solve_max_concurrent(req("large"), card.memory_bytes).value, 2U);
    const auto plan = plan_for_memory(card.memory_bytes, {});
    EXPECT_EQ(plan.best.model, "large");
    EXPECT_EQ(plan.max_segment_seconds, 240U);
    EXPECT_EQ(plan.max_concurrent, 2U);
}

TEST(PlannerSolvers, NothingFitsIsAValue) {
    auto s = solve_max_segment(req("large"), 1 * GiB);  // even 1 s needs ≈ 7.8 GiB
    EXPECT_FALSE(s.fits);
    EXPECT_EQ(s.value, 0U);
    EXPECT_NE(s.message.find("nothing fits"), std::string::npos);
    auto b = solve_max_batch(req("medium", 600), 8 * GiB);  // batch 1 at 600 s needs 24.3
    EXPECT_FALSE(b.fits);
    auto c = solve_max_concurrent(req("large"), 9 * GiB);  // 9.825 > 9
    EXPECT_FALSE(c.fits);
    EXPECT_EQ(c.value, 0U);
}

TEST(PlannerSolvers, LimitsAreTheEstimatorsOwn) {
    // tiny int4 (b = 0.2) in 80 GiB: 1.2·(0.5 + 0.0675·k) ≤ 80 → k ≤ 980.247 → 29407.4 → 29407 s; batch at 30 s:
    // 1.2·(0.5 + 0.03 + 0.0375·B) ≤ 80 → B ≤ 1763.7 → 1763.
    EXPECT_EQ(solve_max_segment(req("tiny", 30, 1, "int4"), 80 * GiB).value, 29407U);
    EXPECT_EQ(solve_max_batch(req("tiny", 30, 1, "int4"), 80 * GiB).value, 1763U);
    // In 4 TiB everything is capped at the limits, with a note.
    auto s = solve_max_segment(req("tiny"), 4096 * GiB);
    EXPECT_EQ(s.value, max_segment_limit_seconds);
    EXPECT_FALSE(s.next_step_bytes);
    ASSERT_FALSE(s.notes.empty());
    EXPECT_NE(s.notes.front().find("capped"), std::string::npos);
    EXPECT_EQ(solve_max_batch(req("tiny"), 4096 * GiB).value, max_batch_limit);
}

// ---- solvers: properties over a grid ---------------------------------------------------------------

TEST(PlannerSolvers, PropertyAnswerFitsNextStepDoesNot) {
    const std::vector<std::string> models{"tiny", "base", "small", "medium", "large"};
    const std::vector<std::string> precisions{"float32", "float16", "int8", "int4"};
    std::vector<std::uint64_t> memories;
    for (const double g : {0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 11.0, 12.0, 16.0, 24.0, 40.0, 48.0, 80.0}) {
        memories.push_back(static_cast<std::uint64_t>(g * static_cast<double>(GiB)));
    }
    memories.push_back(8 * GiB - 1);                   // just under a boundary
    memories.push_back(7'999'999'999ULL);              // not a multiple of anything
    memories.push_back(rec_bytes(req("large", 240)));  // exactly the 240 s boundary of large
    int checked = 0;
    for (const auto& model : models) {
        for (const auto& precision : precisions) {
            for (const auto memory : memories) {
                SCOPED_TRACE(model + " " + precision + " " + std::to_string(memory));
                // max segment, at batch 1 and 3
                for (const int batch : {1, 3}) {
                    const auto s = solve_max_segment(req(model, 30, batch, precision), memory);
                    if (s.fits) {
                        EXPECT_LE(rec_bytes(req(model, static_cast<double>(s.value), batch, precision)), memory);
                        if (s.value < max_segment_limit_seconds) {
                            EXPECT_GT(rec_bytes(req(model, static_cast<double>(s.value + 1), batch, precision)),
                                      memory);
                        }
                    } else {
                        EXPECT_EQ(s.value, 0U);
                        EXPECT_GT(rec_bytes(req(model, 1, batch, precision)), memory);
                    }
                    // the closed form agrees with a plain binary search over the same estimator
                    estimate_request generic = req(model, 30, batch, precision);
                    generic.engine = "generic-test";
                    const auto searched = detail::solve_max_segment_with(
                        [](const estimate_request& r) {
                            estimate_request g = r;
                            g.engine = "guide";
                            return estimate(g);
                        },
                        generic, memory);
                    EXPECT_EQ(searched.value, s.value);
                }
                // max batch, at 30 s and 120 s
                for (const double segment : {30.0, 120.0}) {
                    const auto b = solve_max_batch(req(model, segment, 1, precision), memory);
                    if (b.fits) {
                        EXPECT_LE(rec_bytes(req(model, segment, static_cast<int>(b.value), precision)), memory);
                        if (b.value < max_batch_limit) {
                            EXPECT_GT(rec_bytes(req(model, segment, static_cast<int>(b.value + 1), precision)), memory);
                        }
                    } else {
                        EXPECT_GT(rec_bytes(req(model, segment, 1, precision)), memory);
                    }
                }
                // max concurrent: n × recommended ≤ memory < (n + 1) × recommended
                const auto c = solve_max_concurrent(req(model, 30, 1, precision), memory);
                const auto one = rec_bytes(req(model, 30, 1, precision));
                EXPECT_LE(c.value * one, memory);
                EXPECT_GT((c.value + 1) * one, memory);
                // best model: fits, and the rung above does not
                const auto best = assign_optimal_model(memory, req("x", 30, 1, precision));
                const auto ladder = model_ladder("guide");
                const auto at = std::find(ladder.begin(), ladder.end(), best.model) - ladder.begin();
                if (best.fits) {
                    EXPECT_TRUE(fits_in(best.estimate, memory));
                    if (at > 0) {
                        EXPECT_GT(rec_bytes(req(ladder[at - 1], 30, 1, precision)), memory);
                    }
                } else {
                    EXPECT_EQ(best.model, "tiny");
                    EXPECT_GT(rec_bytes(req("tiny", 30, 1, precision)), memory);
                }
                ++checked;
            }
        }
    }
    EXPECT_EQ(checked, 5 * 4 * 18);
}

TEST(PlannerSolvers, PropertyMinMemoryFitsExactly) {
    for (const auto* model : {"tiny", "base", "small", "medium", "large", "large-v3"}) {
        for (const auto* precision : {"float32", "float16", "int8", "int4", "bf16"}) {
            for (const double segment : {1.0, 30.0, 45.5, 300.0, 600.0, 3600.0}) {
                for (const int batch : {1, 2, 8}) {
                    const auto r = req(model, segment, batch, precision);
                    const auto m = solve_min_memory(r);
                    const auto e = estimate(r);
                    EXPECT_TRUE(fits_in(e, m.value));
                    EXPECT_FALSE(fits_in(e, m.value - 1));
                    EXPECT_EQ(solve_max_concurrent(r, m.value).value, 1U);
                    EXPECT_EQ(solve_max_concurrent(r, m.value - 1).value, 0U);
                }
            }
        }
    }
}

// ---- the generic search (engines other than the guide) -------------------------------------------

memory_estimate fake(const estimate_request& r, std::uint64_t bytes) {
    memory_estimate e;
    e.request = r;
    e.recommended_bytes = bytes;
    e.total_required_bytes = bytes;
    e.recommended_gib = bytes_to_gib(bytes);
    e.total_required_gib = e.recommended_gib;
    return e;
}

TEST(PlannerSolvers, GenericSearchOnANonlinearEngine) {
    // A made-up engine: 1 GiB + segment² MiB. In 2 GiB: s² ≤ 1024 → s = 32.
    const auto engine = [](const estimate_request& r) {
        const auto s = static_cast<std::uint64_t>(r.segment_seconds);
        return fake(r, GiB + s * s * bytes_per_mib);
    };
    estimate_request r = req("medium");
    r.engine = "square-test";
    const auto s = detail::solve_max_segment_with(engine, r, 2 * GiB);
    EXPECT_EQ(s.value, 32U);
    EXPECT_TRUE(s.notes.empty());
    EXPECT_FALSE(detail::solve_max_segment_with(engine, r, GiB).fits);  // 1 s needs 1 GiB + 1 MiB
}

TEST(PlannerSolvers, FlatEngineAnswersTheCapWithANote) {
    // An engine that transcribes long audio window by window: memory flat in segment length.
    const auto flat = [](const estimate_request& r) { return fake(r, 3 * GiB); };
    estimate_request r = req("medium");
    r.engine = "flat-test";
    const auto s = detail::solve_max_segment_with(flat, r, 4 * GiB);
    EXPECT_EQ(s.value, max_segment_limit_seconds);
    ASSERT_EQ(s.notes.size(), 1U);
    EXPECT_NE(s.notes.front().find("flat in segment length"), std::string::npos) << s.notes.front();
    EXPECT_FALSE(detail::solve_max_segment_with(flat, r, 2 * GiB).fits);
}

// ---- recommendations -------------------------------------------------------------------------------

TEST(PlannerRecommend, GuideCardsComputedFromTheFormula) {
    std::vector<std::string> names;
    for (const auto n : guide_gpu_names()) names.emplace_back(n);
    const auto r = recommend_for_catalog(names, {});
    ASSERT_EQ(r.gpus.size(), 6U);
    EXPECT_EQ(r.source, "catalog");
    struct row {
        const char* model;
        std::uint64_t segment;
        std::uint64_t concurrent;
    };
    // Planned on the usable memory NVML reports (gpu_catalog.cpp), not the marketed GB:
    // GTX 1660 6010 MiB = 5.8691 GiB: medium 5.0625; 1.2·(3.375 + 0.84375k) ≤ 5.8691 → k ≤ 1.7967 → 53 s; 1 task.
    // RTX 3060 8GB 8188 MiB = 7.9961 GiB: medium; k ≤ 3.8974 → 116 s; RTX 3070 8192 MiB = 8 GiB: k ≤ 3.9012 → 117 s.
    // RTX 3080 10 GiB: large 9.825 ≤ 10; 1.2·(6.5 + 1.6875k) ≤ 10 → k ≤ 1.0864 → 32 s; 1.
    // RTX 3090 24 GiB: large, k ≤ 8 → 240 s, 2; RTX 4090 24564 MiB = 23.9883 GiB: k ≤ 7.9942 → 239 s, 2.
    const row expected[] = {{"medium", 53, 1}, {"medium", 116, 1}, {"medium", 117, 1},
                            {"large", 32, 1},  {"large", 240, 2},  {"large", 239, 2}};
    for (std::size_t i = 0; i < 6; ++i) {
        const auto& g = r.gpus[i];
        SCOPED_TRACE(g.gpu);
        ASSERT_TRUE(g.plan);
        EXPECT_EQ(g.plan->best.model, expected[i].model);
        EXPECT_EQ(g.plan->max_segment_seconds, expected[i].segment);
        EXPECT_EQ(g.plan->max_concurrent, expected[i].concurrent);
        ASSERT_TRUE(g.int8);
        EXPECT_EQ(g.int8->precision, "int8");
    }
    // int8 on 24 GiB: large int8 (b = 2.5) 5.0625; 1.2·(3.375 + 0.84375k) ≤ 24 → k ≤ 19.7037 → 591 s;
    // 24 / 5.0625 → 4 tasks.
    EXPECT_EQ(r.gpus[4].int8->best.model, "large");
    EXPECT_EQ(r.gpus[4].int8->max_segment_seconds, 591U);
    EXPECT_EQ(r.gpus[4].int8->max_concurrent, 4U);
}

TEST(PlannerRecommend, LiveGpusUseFreeMemoryAndSkipBadStates) {
    auto probe = make_simulated_probe("RTX 3090:used=14GiB,8GiB");
    auto snapshot = probe->snapshot();
    ASSERT_EQ(snapshot.gpus.size(), 2U);
    snapshot.gpus.push_back(snapshot.gpus[1]);
    snapshot.gpus[2].index = 2;
    snapshot.gpus[2].uuid = "GPU-lost";
    snapshot.gpus[2].state = gpu_state::lost;
    snapshot.gpus[2].state_detail = "GPU fell off the bus";
    const auto r = recommend_for_gpus(visible_gpus(snapshot, std::nullopt), probe_source::simulated, {});
    ASSERT_EQ(r.gpus.size(), 3U);
    // 10 GiB free on the 3090: large 9.825 fits, 32 s (as the 10 GiB card above).
    EXPECT_EQ(r.gpus[0].memory_bytes, 10 * GiB);
    EXPECT_EQ(r.gpus[0].plan->best.model, "large");
    EXPECT_EQ(r.gpus[0].plan->max_segment_seconds, 32U);
    EXPECT_EQ(r.gpus[1].plan->best.model, "medium");
    EXPECT_FALSE(r.gpus[2].plan);
    EXPECT_EQ(r.gpus[2].state, "lost");
    EXPECT_EQ(r.gpus[2].reason, "GPU fell off the bus");
    const auto j = to_json(r);
    EXPECT_EQ(j["gpus"][0]["model"], "large");
    EXPECT_EQ(j["gpus"][0]["max_segment"], 32);
    EXPECT_EQ(j["gpus"][0]["int8"]["model"], "large");
    EXPECT_FALSE(j["gpus"][2]["fits"].get<bool>());
}

TEST(PlannerRecommend, FacadeNeedsGpuInformation) {
    const gpu_manager none(make_unavailable_probe("library libnvidia-ml.so.1 not found"));
    try {
        (void)none.recommend();
        FAIL() << "expected gpu_unavailable_error";
    } catch (const gpu_unavailable_error& e) {
        EXPECT_NE(std::string(e.what()).find("libnvidia-ml.so.1 not found"), std::string::npos);
    }
    const std::vector<std::string> names{"T4", "A100 80GB"};
    const auto r = none.recommend(names);  // catalog cards need no GPU
    ASSERT_EQ(r.gpus.size(), 2U);
    EXPECT_EQ(r.gpus[1].plan->best.model, "large");
    EXPECT_THROW((void)none.recommend(std::vector<std::string>{"RTX 9999"}), usage_error);
}

// ---- presets -----------------------------------------------------------------------------------------

TEST(PlannerPresets, ExactlyAsTheGuideWithTheirTotals) {
    const auto presets = guide_presets();
    ASSERT_EQ(presets.size(), 3U);
    EXPECT_EQ(presets[0].name, "high_performance");
    EXPECT_EQ(presets[0].model, "large");
    EXPECT_EQ(presets[0].segment_seconds, 600.0);
    EXPECT_EQ(presets[0].max_concurrent, 2);
    EXPECT_EQ(presets[2].precision, "int8");

    // high_performance: large f16 600 s: audio = 0.75·20 = 15; total = 6.25 + 0.25 + 15·2.25 = 40.25;
    // recommended 48.3; × 2 tasks = 80.5 / 96.6 > 24 GiB (RTX 3090): does not fit; 0 tasks fit there;
    // two side by side get 12 GiB each: 1.2·(6.5 + 1.6875k) ≤ 12 → k ≤ 2.074 → 62 s.
    auto hp = evaluate_preset(find_preset("high_performance"));
    EXPECT_DOUBLE_EQ(hp.estimate.total_required_gib, 40.25);
    EXPECT_NEAR(hp.estimate.recommended_gib, 48.3, 1e-12);
    EXPECT_NEAR(hp.recommended_gib, 96.6, 1e-12);
    EXPECT_DOUBLE_EQ(hp.total_required_gib, 80.5);
    EXPECT_EQ(hp.target_memory_bytes, 24 * GiB);
    EXPECT_FALSE(hp.fits_target);
    EXPECT_EQ(hp.max_concurrent_on_target, 0U);
    EXPECT_EQ(hp.max_segment_on_target, 62U);
    EXPECT_NE(hp.message.find("does NOT fit"), std::string::npos);

    // balanced: medium f16 300 s: audio 3.75; total = 3.125 + 0.25 + 3.75·2.25 = 11.8125; × 1.2 = 14.175
    // > 8 GiB (RTX 3070): does not fit; one task fits there up to 117 s.
    auto balanced = evaluate_preset(find_preset("balanced"));
    EXPECT_DOUBLE_EQ(balanced.estimate.total_required_gib, 11.8125);
    EXPECT_NEAR(balanced.estimate.recommended_gib, 14.175, 1e-12);
    EXPECT_NEAR(balanced.recommended_gib, 14.175, 1e-12);
    EXPECT_FALSE(balanced.fits_target);
    EXPECT_EQ(balanced.max_segment_on_target, 117U);

    // efficient: small int8 120 s: b = 0.75, audio = 0.1125·4 = 0.45; total = 0.9375 + 0.25 + 0.45·2.25
    // = 2.2; recommended 2.64 ≤ 6 GiB (GTX 1660): fits; 6 / 2.64 → 2 tasks; one task up to
    // 1.2·(1.1875 + 0.253125k) ≤ 6 → k ≤ 15.06 → 451 s.
    auto efficient = evaluate_preset(find_preset("Efficient"));
    EXPECT_NEAR(efficient.estimate.total_required_gib, 2.2, 1e-12);
    EXPECT_NEAR(efficient.estimate.recommended_gib, 2.64, 1e-12);
    EXPECT_TRUE(efficient.fits_target);
    EXPECT_EQ(efficient.max_concurrent_on_target, 2U);
    EXPECT_EQ(efficient.max_segment_on_target, 451U);

    EXPECT_EQ(&find_preset("high-performance"), &presets[0]);
    EXPECT_THROW((void)find_preset("turbo"), usage_error);
}

TEST(PlannerJson, KeysOfTheResultTypes) {
    const auto best = to_json(assign_optimal_model(8 * GiB, {}));
    for (const auto* key : {"model", "fits", "recommended", "memory"}) EXPECT_TRUE(best.contains(key)) << key;
    EXPECT_EQ(best["memory"], 8.0);
    const auto seg = to_json(solve_max_segment(req("medium"), 8 * GiB));
    EXPECT_EQ(seg["value"], 117);
    EXPECT_EQ(seg["model"], "medium");
    EXPECT_EQ(seg["precision"], "float16");
    EXPECT_EQ(seg["batch_size"], 1);
    EXPECT_EQ(seg["memory"], 8.0);
    const auto conc = to_json(solve_max_concurrent(req("medium"), 24 * GiB));
    EXPECT_EQ(conc["value"], 4);
    EXPECT_DOUBLE_EQ(conc["total"].get<double>(), 20.25);
    const auto preset = to_json(evaluate_preset(find_preset("balanced")));
    EXPECT_DOUBLE_EQ(preset["total_required"].get<double>(), 11.8125);
    EXPECT_FALSE(preset["fits_target"].get<bool>());
}

}  // namespace
}  // namespace whisper_vram
