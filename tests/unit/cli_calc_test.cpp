// whisper-vram calc / models, in-process: the contract (exit statuses, JSON keys, messages).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support/cli_in_process.hpp"

namespace whisper_vram {
namespace {

using test::cli;

TEST(CliCalc, JsonHasTheContractKeysUnrounded) {
    const auto r = cli("calc large --segment 600 --batch 2 --precision int8 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["model"], "large");
    EXPECT_EQ(j["precision"], "int8");
    EXPECT_EQ(j["segment_duration"], 600);
    EXPECT_EQ(j["batch_size"], 2);
    EXPECT_EQ(j["unit"], "GiB");
    EXPECT_DOUBLE_EQ(j["total_required"].get<double>(), 29.625);
    EXPECT_DOUBLE_EQ(j["recommended"].get<double>(), 35.55);
    EXPECT_NE(r.out.find("35.55"), std::string::npos) << "printed unrounded: " << r.out;
    const auto& b = j["breakdown"];
    ASSERT_EQ(b.size(), 4U);
    auto it = b.begin();
    EXPECT_EQ(it.key(), "audio_processing");  // nlohmann::json sorts keys; order checked below on text
    EXPECT_DOUBLE_EQ(b["base_model"].get<double>(), 2.5);
    EXPECT_DOUBLE_EQ(b["batch_overhead"].get<double>(), 15.2);
    EXPECT_DOUBLE_EQ(b["pytorch_overhead"].get<double>(), 4.425);
    // The four components appear in the guide's order in the printed JSON.
    const auto p0 = r.out.find("\"base_model\"");
    const auto p1 = r.out.find("\"audio_processing\"");
    const auto p2 = r.out.find("\"batch_overhead\"");
    const auto p3 = r.out.find("\"pytorch_overhead\"");
    EXPECT_TRUE(p0 < p1 && p1 < p2 && p2 < p3);
}

TEST(CliCalc, HumanTableHasTwoDecimals) {
    const auto r = cli("calc medium");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("total_required"), std::string::npos);
    EXPECT_NE(r.out.find("4.22"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("5.06"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pytorch_overhead"), std::string::npos);
}

TEST(CliCalc, SweepsPrintOneTableOrArray) {
    auto r = cli("calc medium --segment 30,60,120,300,600 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 5U);
    // k = segment/30: audio 0.375k; batch 0.2 + 0.375k; pytorch (2.7 + 0.375k)·0.25 = 0.675 + 0.09375k
    // total = 3.375 + 0.84375k → 4.21875, 5.0625, 6.75, 11.8125, 20.25; recommended ×1.2:
    const double expected[] = {5.0625, 6.075, 8.1, 14.175, 24.3};
    for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(j[i]["recommended"].get<double>(), expected[i], 1e-12) << i;
    r = cli("calc large --precision all --json");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 4U);
    EXPECT_EQ(j[3]["precision"], "int4");
    EXPECT_NEAR(j[3]["recommended"].get<double>(), 1.2 * (1.5875 * 1.25 + 0.25), 1e-12);
    r = cli("calc medium --segment 30,300 --precision float16,int8");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("recommended GiB"), std::string::npos) << r.out;
}

TEST(CliCalc, UsageErrorsExitTwoWithTheMessage) {
    test::expect_usage_errors({
        {"calc mediun", "did you mean 'medium'"},
        {"calc medium --segment 0", "segment duration"},
        {"calc medium --segment -5", "segment duration"},
        {"calc medium --segment nan", "segment duration 'nan'"},
        {"calc medium --segment 90000", "86400"},
        {"calc medium --batch 0", "batch size 0"},
        {"calc medium --batch 2.5", "batch size '2.5'"},
        {"calc medium --batch 5000", "1 to 4096"},
        {"calc medium --precision fp8", "unknown precision 'fp8'"},
        {"calc medium --margin 11", "margin 11"},
        {"calc medium --segment 30,,60", "empty item"},
        {"calc turbo", "no row in the guide"},
        {"calc", "model is required"},
        {"calc medium --bogus", "bogus"},
        {"frobnicate", "unknown subcommand 'frobnicate'"},
    });
}

TEST(CliCalc, HelpShowsAnExample) {
    auto r = cli("calc --help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("whisper-vram calc large --segment 600"), std::string::npos) << r.out;
    r = cli("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("Examples"), std::string::npos);
}

TEST(CliModels, ListsTheCatalog) {
    auto r = cli("models --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    bool saw_turbo = false;
    for (const auto& m : j["models"]) {
        if (m["name"] == "large-v3-turbo") {
            saw_turbo = true;
            EXPECT_EQ(m["parameters"], 808878080ULL);
            EXPECT_EQ(m["aliases"][0], "turbo");
            EXPECT_TRUE(m["guide_row"].is_null());
        }
        if (m["name"] == "medium.en") {
            EXPECT_EQ(m["guide_row"], "medium");
        }
    }
    EXPECT_TRUE(saw_turbo);
    r = cli("models");
    ASSERT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("distil-small.en"), std::string::npos);
}

// The guide's answer ends with one line giving what each real engine needs for the same job.
TEST(CliCalc, GuideOutputEndsWithTheRealEnginesLine) {
    const auto r = test::cli("calc large-v3");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
    EXPECT_EQ(last.rfind("Real engines for the same job (recommended): openai-whisper ", 0), 0U) << last;
    // The figures are the engines' own recommended sizes for large-v3, 30 s, batch 1.
    const auto fw = test::cli_json("calc large-v3 --engine faster-whisper --json");
    EXPECT_NE(last.find(fmt::format("faster-whisper {:.2f} GiB", fw["recommended"].get<double>())), std::string::npos)
        << last;
    EXPECT_NE(last.find("whisper.cpp "), std::string::npos) << last;
    EXPECT_NE(last.find(" GiB (f16)"), std::string::npos) << last;  // whisper.cpp's name for float16
    EXPECT_NE(last.find("choose one with --engine, or set WHISPER_VRAM_ENGINE"), std::string::npos) << last;
    // int4 maps to each engine's nearest precision, said in brackets; --json and engine runs have no such line.
    const auto int4 = test::cli("calc large-v3 --precision int4");
    EXPECT_NE(int4.out.find("faster-whisper "), std::string::npos) << int4.out;
    EXPECT_NE(int4.out.find("(int8)"), std::string::npos) << int4.out;
    EXPECT_NE(int4.out.find("(q4_0)"), std::string::npos) << int4.out;
    EXPECT_EQ(test::cli("calc large-v3 --json").out.find("Real engines"), std::string::npos);
    EXPECT_EQ(test::cli("calc large-v3 --engine ct2").out.find("Real engines"), std::string::npos);
}

}  // namespace
}  // namespace whisper_vram
