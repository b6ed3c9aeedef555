// The runtime an engine estimate assumes (issue 11, item 2): CUDA module loading lazy / eager /
// not stated, the older library paths sized when the version is not stated, and the property that
// estimates do not fall below the published device-wide peaks of 2023-era setups.
#include <gtest/gtest.h>

#include <string>

#include "support/estimate_parts.hpp"
#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/engines/engines.hpp"

namespace whisper_vram {
namespace {

using test::component;
using test::find_component;
using test::has_note;
using test::usage_message_of;

estimate_request engine_request(const std::string& engine, const std::string& model) {
    estimate_request r;
    r.engine = engine;
    r.model = model;
    return r;
}

memory_estimate with_loading(const std::string& engine, const std::string& model,
                             const std::optional<std::string>& loading) {
    auto r = engine_request(engine, model);
    r.cuda_module_loading = loading;
    return estimate(r);
}

TEST(EngineRuntime, ParsesCudaModuleLoadingAsCudaDoes) {
    EXPECT_EQ(parse_cuda_module_loading("LAZY"), "lazy");
    EXPECT_EQ(parse_cuda_module_loading(" eager "), "eager");
    EXPECT_EQ(parse_cuda_module_loading("Default"), "lazy");  // CUDA: DEFAULT is equivalent to LAZY
    const std::string message =
        usage_message_of([] { (void)parse_cuda_module_loading("sometimes", "CUDA_MODULE_LOADING"); });
    EXPECT_NE(message.find("CUDA_MODULE_LOADING 'sometimes' is invalid"), std::string::npos) << message;
    EXPECT_NE(message.find("lazy, eager, default"), std::string::npos) << message;
    auto r = engine_request("faster-whisper", "tiny");
    r.cuda_module_loading = "maybe";
    EXPECT_NE(usage_message_of([&] { (void)estimate(r); }).find("'maybe' is invalid"), std::string::npos);
}

// Eager loading costs more than lazy for every PyTorch engine (and the others), the difference is
// exactly the cuda_module_loading_eager component, and its description names the source.
TEST(EngineRuntime, EagerIsMoreThanLazyWithTheDifferenceExplained) {
    struct expected {
        const char* engine;
        std::uint64_t extra;
        const char* source;
    };
    // PyTorch: 1000 MiB (ptrblck, pytorch#107667) − 287,047,680 − 128 MiB = 627,310,592 B.
    // CTranslate2 / ggml: PR #86509's eager − lazy, 666,632,192 − 287,047,680 = 379,584,512 B.
    const expected cases[] = {
        {"openai-whisper", 627'310'592, "#107667"},
        {"transformers", 627'310'592, "#107667"},
        {"whisperx", 627'310'592 + 379'584'512, "#107667"},
        {"faster-whisper", 379'584'512, "#86509"},
        {"whisper.cpp", 379'584'512, "#86509"},
    };
    for (const auto& c : cases) {
        const auto lazy = with_loading(c.engine, "medium", "lazy");
        const auto eager = with_loading(c.engine, "medium", "EAGER");
        EXPECT_GT(eager.total_required_bytes, lazy.total_required_bytes) << c.engine;
        EXPECT_EQ(eager.total_required_bytes - lazy.total_required_bytes, c.extra) << c.engine;
        EXPECT_EQ(component(eager, "cuda_module_loading_eager"), c.extra) << c.engine;
        EXPECT_EQ(component(lazy, "cuda_module_loading_eager"), 0U) << c.engine;
        const auto* explained = find_component(eager, "cuda_module_loading_eager");
        ASSERT_NE(explained, nullptr);
        EXPECT_NE(explained->description.find("eager module loading (stated)"), std::string::npos)
            << explained->description;
        EXPECT_NE(explained->description.find(c.source), std::string::npos) << explained->description;
        EXPECT_NE(find_component(lazy, "cuda_module_loading_eager")->description.find("lazy"), std::string::npos);
        EXPECT_EQ(eager.request.cuda_module_loading, "eager");
        EXPECT_EQ(lazy.request.cuda_module_loading, "lazy");
        EXPECT_FALSE(has_note(lazy, "not stated: sized as eager")) << c.engine;
    }
}

// Not stated → sized as eager, said in the notes; lazy ≤ unstated for every engine.
TEST(EngineRuntime, UnstatedLoadingIsSizedAsEagerAndSaysSo) {
    for (const char* engine : {"openai-whisper", "transformers", "faster-whisper", "whisper.cpp", "whisperx"}) {
        const auto unstated = with_loading(engine, "large-v2", std::nullopt);
        const auto eager = with_loading(engine, "large-v2", "eager");
        const auto lazy = with_loading(engine, "large-v2", "lazy");
        EXPECT_EQ(unstated.total_required_bytes, eager.total_required_bytes) << engine;
        EXPECT_LE(lazy.recommended_bytes, unstated.recommended_bytes) << engine;
        EXPECT_TRUE(has_note(unstated, "CUDA module loading not stated: sized as eager (+")) << engine;
        EXPECT_TRUE(has_note(unstated, "--cuda-module-loading lazy")) << engine;
        EXPECT_NE(find_component(unstated, "cuda_module_loading_eager")->description.find("not stated"),
                  std::string::npos);
    }
}

// Published device-wide peaks from CUDA 11.x-era setups (2023) for openai-whisper medium and
// large-v2 fp16 and faster-whisper medium fp16 are 15-25% above this project's estimates before
// issue 11 (issue 11, "Some engine estimates fall below real peaks"). Those figures are not in the
// fact sheets, so the pre-change totals stand in for them: total_required_bytes of
// `whisper-vram calc MODEL --engine ENGINE --json` at commit c8478bb (default inputs), measured for
// this test. With default inputs recommended must cover 1.25 × that (the top of the 15-25% range).
TEST(EngineRuntime, DefaultRecommendedCoversThePublishedPeaksOfOlderSetups) {
    struct published_peak_proxy {
        const char* engine;
        const char* model;
        std::uint64_t pre_change_total;  // bytes, commit c8478bb
    };
    const published_peak_proxy cases[] = {
        {"openai-whisper", "medium", 5'118'001'281},
        {"openai-whisper", "large-v2", 9'810'039'425},
        {"faster-whisper", "medium", 2'771'147'048},
    };
    for (const auto& c : cases) {
        const auto e = estimate(engine_request(c.engine, c.model));
        EXPECT_GE(static_cast<double>(e.recommended_bytes), 1.25 * static_cast<double>(c.pre_change_total))
            << c.engine << " " << c.model;
        // Stated lazy on today's libraries may be lower; never higher than the unstated default.
        auto lazy = engine_request(c.engine, c.model);
        lazy.cuda_module_loading = "lazy";
        EXPECT_LE(estimate(lazy).recommended_bytes, e.recommended_bytes);
    }
}

// openai-whisper without a stated release: the pre-SDPA encoder (fp32 scores) and, before
// v20230918, audio features and cross-attention K/V repeated per beam; --flash-attention on
// (v20240930 or later) drops both.
TEST(EngineRuntime, OpenaiWhisperUnstatedReleaseTakesTheOlderPaths) {
    auto r = engine_request("openai-whisper", "large-v2");
    r.batch_size = 4;
    const auto unstated = estimate(r);
    EXPECT_EQ(unstated.request.flash_attention, false);
    // cross: 2 × 32 × 1500 × 1280 × 2 B = 245,760,000 per item, × batch 4 × beams 5.
    EXPECT_EQ(component(unstated, "cross_attention_cache"), 20ULL * 245'760'000);
    // audio features 1500 × 1280 × 2 B = 3,840,000 per item, × 4 × 5.
    EXPECT_EQ(component(unstated, "encoder_output"), 20ULL * 3'840'000);
    EXPECT_TRUE(has_note(unstated, "openai-whisper release not stated"));
    r.flash_attention = true;
    const auto sdpa = estimate(r);
    EXPECT_EQ(component(sdpa, "cross_attention_cache"), 4ULL * 245'760'000);
    EXPECT_LT(sdpa.total_required_bytes, unstated.total_required_bytes);
    EXPECT_FALSE(has_note(sdpa, "release not stated"));
}

// The guide's formula has no runtime input: it stays exactly the guide's, and refuses the fields.
TEST(EngineRuntime, GuideIsUnchangedAndRefusesRuntimeFields) {
    estimate_request r;  // medium, guide
    EXPECT_DOUBLE_EQ(estimate(r).total_required_gib, 4.21875);
    EXPECT_DOUBLE_EQ(estimate(r).recommended_gib, 5.0625);
    r.cuda_module_loading = "lazy";
    const std::string message = usage_message_of([&] { (void)estimate(r); });
    EXPECT_NE(message.find("not inputs of the guide formula"), std::string::npos) << message;
    EXPECT_NE(message.find("--engine openai-whisper"), std::string::npos) << message;
}

TEST(EngineRuntime, DefaultEngineFromTheEnvironment) {
    EXPECT_EQ(default_engine(std::nullopt), "guide");
    EXPECT_EQ(default_engine(std::string("")), "guide");
    EXPECT_EQ(default_engine(std::string(" CT2 ")), "faster-whisper");
    EXPECT_EQ(default_engine(std::string("whisperx")), "whisperx");
    const std::string message = usage_message_of([] { (void)default_engine(std::string("vllm")); });
    EXPECT_NE(message.find("WHISPER_VRAM_ENGINE='vllm' is invalid"), std::string::npos) << message;
    EXPECT_NE(message.find("faster-whisper"), std::string::npos) << message;
    EXPECT_EQ(default_batch_size("whisperx"), 16);
    EXPECT_EQ(default_batch_size("faster-whisper"), 1);
    EXPECT_EQ(default_batch_size("guide"), 1);
}

}  // namespace
}  // namespace whisper_vram
