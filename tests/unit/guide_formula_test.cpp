// The guide formula, checked against numbers worked out by hand from guide.zh.md.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/guide_estimator.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram {
namespace {

memory_estimate calc(const std::string& model, double segment = 30, int batch = 1,
                     const std::string& precision = "float16") {
    estimate_request r;
    r.model = model;
    r.segment_seconds = segment;
    r.batch_size = batch;
    r.precision = precision;
    return estimate(r);
}

double component(const memory_estimate& e, const std::string& key) {
    for (const auto& c : e.breakdown) {
        if (c.key == key) return c.gib;
    }
    ADD_FAILURE() << "no component " << key;
    return NAN;
}

TEST(GuideFormula, MediumDefaultsMatchTheGuide) {
    // base 2.5; audio 2.5*0.15*1 = 0.375; batch 0.2+0.375 = 0.575; pytorch (2.5+0.575)*0.25 = 0.76875
    const auto e = calc("medium");
    ASSERT_EQ(e.breakdown.size(), 4U);
    EXPECT_EQ(e.breakdown[0].key, "base_model");
    EXPECT_EQ(e.breakdown[1].key, "audio_processing");
    EXPECT_EQ(e.breakdown[2].key, "batch_overhead");
    EXPECT_EQ(e.breakdown[3].key, "pytorch_overhead");
    EXPECT_DOUBLE_EQ(e.breakdown[0].gib, 2.5);
    EXPECT_DOUBLE_EQ(e.breakdown[1].gib, 0.375);
    EXPECT_DOUBLE_EQ(e.breakdown[2].gib, 0.575);
    EXPECT_DOUBLE_EQ(e.breakdown[3].gib, 0.76875);
    EXPECT_EQ(e.total_required_gib, 4.21875);          // exact in binary
    EXPECT_EQ(e.recommended_gib, 5.0625);              // exact in binary
    EXPECT_EQ(e.total_required_bytes, 4529848320ULL);  // 4.21875 * 2^30
    EXPECT_EQ(e.recommended_bytes, 5435817984ULL);     // 5.0625 * 2^30
}

TEST(GuideFormula, LargeSixHundredSecondsBatchTwoInt8) {
    // base 2.5; audio 2.5*0.15*20 = 7.5; batch 0.2 + 7.5*2 = 15.2; pytorch (2.5+15.2)*0.25 = 4.425
    const auto e = calc("large", 600, 2, "int8");
    EXPECT_DOUBLE_EQ(component(e, "base_model"), 2.5);
    EXPECT_DOUBLE_EQ(component(e, "audio_processing"), 7.5);
    EXPECT_DOUBLE_EQ(component(e, "batch_overhead"), 15.2);
    EXPECT_DOUBLE_EQ(component(e, "pytorch_overhead"), 4.425);
    EXPECT_DOUBLE_EQ(e.total_required_gib, 29.625);
    EXPECT_DOUBLE_EQ(e.recommended_gib, 35.55);
}

TEST(GuideFormula, MoreHandWorkedCases) {
    // tiny float32 30 s: 1.5 + 0.225 + 0.425 + 0.48125 = 2.63125; ×1.2 = 3.1575
    auto e = calc("tiny", 30, 1, "float32");
    EXPECT_DOUBLE_EQ(e.total_required_gib, 2.63125);
    EXPECT_DOUBLE_EQ(e.recommended_gib, 3.1575);
    // small int4 120 s batch 4: 0.375 + 0.225 + (0.2+0.9) + (0.375+1.1)*0.25 = 2.06875; ×1.2 = 2.4825
    e = calc("small", 120, 4, "int4");
    EXPECT_DOUBLE_EQ(e.total_required_gib, 2.06875);
    EXPECT_DOUBLE_EQ(e.recommended_gib, 2.4825);
    // balanced preset: medium 300 s float16: 2.5 + 3.75 + 3.95 + 1.6125 = 11.8125; ×1.2 = 14.175
    e = calc("medium", 300, 1, "float16");
    EXPECT_DOUBLE_EQ(e.total_required_gib, 11.8125);
    EXPECT_DOUBLE_EQ(e.recommended_gib, 14.175);
    // large 600 s float16 batch 1: 5 + 15 + 15.2 + 5.05 = 40.25; ×1.2 = 48.3 (the guide table's 24 GB claim)
    e = calc("large", 600, 1, "float16");
    EXPECT_DOUBLE_EQ(e.total_required_gib, 40.25);
    EXPECT_DOUBLE_EQ(e.recommended_gib, 48.3);
}

TEST(GuideFormula, EveryModelAndPrecisionOfTheTable) {
    // The guide's table, typed in again from guide.zh.md.
    struct row {
        const char* model;
        std::array<double, 4> gib;
    };
    const std::array<row, 5> table{{{"tiny", {1.5, 0.8, 0.4, 0.2}},
                                    {"base", {2.0, 1.0, 0.5, 0.25}},
                                    {"small", {3.0, 1.5, 0.75, 0.375}},
                                    {"medium", {5.0, 2.5, 1.25, 0.625}},
                                    {"large", {10.0, 5.0, 2.5, 1.25}}}};
    const std::array<const char*, 4> precisions{"float32", "float16", "int8", "int4"};
    for (const auto& r : table) {
        for (std::size_t p = 0; p < 4; ++p) {
            const auto e = calc(r.model, 30, 1, precisions[p]);
            const double b = r.gib[p];
            EXPECT_DOUBLE_EQ(component(e, "base_model"), b) << r.model << " " << precisions[p];
            // At 30 s, batch 1: total = b + 0.15b + (0.2 + 0.15b) + (b + 0.2 + 0.15b)·0.25 = 1.5875b + 0.25
            EXPECT_NEAR(e.total_required_gib, 1.5875 * b + 0.25, 1e-12) << r.model << " " << precisions[p];
            EXPECT_NEAR(e.recommended_gib, 1.2 * (1.5875 * b + 0.25), 1e-12);
        }
    }
}

TEST(GuideFormula, VariantsUseTheirGuideRow) {
    for (const char* name : {"large-v1", "large-v2", "large-v3"}) {
        EXPECT_DOUBLE_EQ(calc(name).total_required_gib, calc("large").total_required_gib) << name;
    }
    for (const char* name : {"tiny.en", "base.en", "small.en", "medium.en"}) {
        std::string row(name);
        row.erase(row.size() - 3);
        EXPECT_DOUBLE_EQ(calc(name).recommended_gib, calc(row).recommended_gib) << name;
    }
}

TEST(GuideFormula, BfloatSizedAsFloat16AndAliasesAccepted) {
    const auto bf = calc("medium", 30, 1, "bf16");
    EXPECT_EQ(bf.request.precision, "bfloat16");
    EXPECT_DOUBLE_EQ(bf.total_required_gib, 4.21875);
    EXPECT_DOUBLE_EQ(calc("medium", 30, 1, "FP32").total_required_gib, 1.5875 * 5.0 + 0.25);
    EXPECT_DOUBLE_EQ(calc("medium", 30, 1, "fp16").total_required_gib, 4.21875);
}

TEST(GuideFormula, MarginIsAdjustable) {
    estimate_request r;
    r.model = "medium";
    r.margin = 0.0;
    EXPECT_DOUBLE_EQ(estimate(r).recommended_gib, 4.21875);
    r.margin = 0.5;
    EXPECT_DOUBLE_EQ(estimate(r).recommended_gib, 4.21875 * 1.5);
    r.margin = 10.0;
    EXPECT_DOUBLE_EQ(estimate(r).recommended_gib, 4.21875 * 11.0);
}

TEST(GuideFormula, FacadeHasTheGuidesSignature) {
    const gpu_manager manager(make_simulated_probe("8GiB"));
    const auto e = manager.calculate_memory_usage("large", 600, 2, "int8");
    EXPECT_DOUBLE_EQ(e.recommended_gib, 35.55);
    EXPECT_EQ(e.request.model, "large");
    EXPECT_EQ(e.request.precision, "int8");
    EXPECT_DOUBLE_EQ(e.request.segment_seconds, 600);
    EXPECT_EQ(e.request.batch_size, 2);
    EXPECT_DOUBLE_EQ(manager.calculate_memory_usage("medium").total_required_gib, 4.21875);
}

TEST(GuideFormula, ComponentsSumToTotalAndBytesRoundUp) {
    for (double segment : {1.0, 7.5, 30.0, 45.5, 600.0, 3600.0}) {
        for (int batch : {1, 3, 16}) {
            const auto e = calc("small", segment, batch, "int8");
            double sum = 0;
            for (const auto& c : e.breakdown) {
                sum += c.gib;
                EXPECT_GE(static_cast<double>(c.bytes), c.gib * 1073741824.0);
                EXPECT_LT(static_cast<double>(c.bytes), c.gib * 1073741824.0 + 1.0);
            }
            EXPECT_NEAR(sum, e.total_required_gib, 1e-9);
            EXPECT_GE(static_cast<double>(e.recommended_bytes), e.recommended_gib * 1073741824.0);
        }
    }
}

// ---- bad input --------------------------------------------------------------------------------

using test::usage_message_of;

TEST(GuideFormulaErrors, SegmentMustBeFinitePositiveAtMostADay) {
    for (double bad : {0.0, -1.0, double(NAN), double(INFINITY), -double(INFINITY), 86400.5}) {
        const auto message = usage_message_of([&] { (void)calc("medium", bad); });
        EXPECT_NE(message.find("segment duration"), std::string::npos) << bad;
        EXPECT_NE(message.find("86400"), std::string::npos) << message;
    }
    EXPECT_DOUBLE_EQ(calc("tiny", 86400).request.segment_seconds, 86400);
}

TEST(GuideFormulaErrors, BatchMustBeAnIntegerFrom1To4096) {
    for (int bad : {0, -1, 4097}) {
        const auto message = usage_message_of([&] { (void)calc("medium", 30, bad); });
        EXPECT_NE(message.find("batch size " + std::to_string(bad)), std::string::npos) << message;
        EXPECT_NE(message.find("1 to 4096"), std::string::npos) << message;
    }
    for (const char* bad : {"2.5", "abc", "", "3x", "1e3"}) {
        const auto message = usage_message_of([&] { (void)parse_batch_size(bad); });
        EXPECT_NE(message.find(std::string("'") + bad + "'"), std::string::npos) << message;
    }
    EXPECT_NE(usage_message_of([] { (void)parse_batch_size("-2"); }).find("batch size -2"), std::string::npos);
    EXPECT_EQ(parse_batch_size("4096"), 4096);
}

TEST(GuideFormulaErrors, MarginRange) {
    estimate_request r;
    for (double bad : {-0.01, 10.01, double(NAN)}) {
        r.margin = bad;
        EXPECT_NE(usage_message_of([&] { (void)estimate(r); }).find("margin"), std::string::npos);
    }
    EXPECT_NE(usage_message_of([] { (void)parse_margin("20%"); }).find("'20%'"), std::string::npos);
}

TEST(GuideFormulaErrors, UnknownModelSuggestsTheNearest) {
    const auto message = usage_message_of([] { (void)calc("mediun"); });
    EXPECT_NE(message.find("unknown model 'mediun'"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'medium'"), std::string::npos) << message;
    EXPECT_NE(message.find("large-v3-turbo"), std::string::npos) << "lists known names: " << message;
    const auto far = usage_message_of([] { (void)calc("gpt-4"); });
    EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
}

TEST(GuideFormulaErrors, UnknownPrecisionListsAccepted) {
    const auto message = usage_message_of([] { (void)calc("medium", 30, 1, "fp8"); });
    EXPECT_NE(message.find("'fp8'"), std::string::npos);
    for (const char* name : {"float32", "float16", "int8", "int4", "bf16"}) {
        EXPECT_NE(message.find(name), std::string::npos) << name;
    }
}

TEST(GuideFormulaErrors, ModelsWithoutAGuideRowPointToEngines) {
    for (const char* name : {"turbo", "large-v3-turbo", "distil-large-v3", "distil-small.en"}) {
        const auto message = usage_message_of([&] { (void)calc(name); });
        EXPECT_NE(message.find("no row in the guide"), std::string::npos) << message;
        EXPECT_NE(message.find("--engine"), std::string::npos) << message;
    }
}

TEST(GuideFormulaErrors, EngineOnlyInputsAreRejectedByTheGuide) {
    estimate_request r;
    r.beam_size = 5;
    EXPECT_NE(usage_message_of([&] { (void)estimate(r); }).find("not inputs of the guide formula"), std::string::npos);
}

}  // namespace
}  // namespace whisper_vram
