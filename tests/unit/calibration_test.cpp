// Calibration (issue 13, items 3, 4, 6): history parsing, the fit (known parameters recovered,
// held-out error, safety lift), the profile, `calibrate` and estimates that use a profile.
#include "whisper_vram/core/calibration.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_in_process.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/calibration_file.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;
using test::cli;

constexpr const char* rtx3090 = "NVIDIA GeForce RTX 3090";

measurement_record record(const std::string& model, std::uint64_t peak, const std::string& engine = "faster-whisper",
                          int batch = 1) {
    measurement_record r;
    r.engine = engine;
    r.model = model;
    r.precision = "float16";
    r.batch_size = batch;
    r.beam_size = 5;
    r.gpu_name = rtx3090;
    r.peak_bytes = peak;
    r.cuda_module_loading = "lazy";
    return r;
}

/// The library's uncalibrated total for @p r's configuration.
std::uint64_t library_estimate(const measurement_record& r) {
    return estimate(request_for_record(r)).total_required_bytes;
}

std::vector<located_record> located(const std::vector<measurement_record>& records) {
    std::vector<located_record> out;
    for (std::size_t i = 0; i < records.size(); ++i) out.push_back({"mem.jsonl", i + 1, records[i]});
    return out;
}

/// A fresh folder for one test (removed at the end).
class temp_folder {
public:
    temp_folder() {
        path_ = fs::temp_directory_path() / ("wv-calibration-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~temp_folder() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }
    [[nodiscard]] std::string file(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
        return (path_ / name).string();
    }
    /// An environment whose state folder is this folder (no default profile leaks from /tmp).
    [[nodiscard]] environment env() const {
        environment e = test::no_gpu_environment();
        e.state_dir = path_.string();
        return e;
    }

private:
    fs::path path_;
};

std::string history(const std::vector<measurement_record>& records) {
    std::string text;
    for (const auto& r : records) text += to_json_line(r) + "\n";
    return text;
}

const std::vector<std::string> five_models = {"tiny", "base", "small", "medium", "large-v3"};

// ---- history parsing -------------------------------------------------------------------------------

TEST(CalibrationHistory, BlankLinesAndLastLineWithoutNewline) {
    const auto a = to_json_line(record("tiny", 1000));
    const auto b = to_json_line(record("base", 2000));
    const auto result = parse_history("\n" + a + "\n  \n\r\n" + b, "h.jsonl");
    ASSERT_FALSE(result.error) << result.error->text();
    ASSERT_EQ(result.records.size(), 2U);
    EXPECT_EQ(result.records[0].line, 2U);
    EXPECT_EQ(result.records[1].line, 5U);
    EXPECT_EQ(result.records[1].record.model, "base");
    EXPECT_TRUE(parse_history("", "empty").records.empty());
}

TEST(CalibrationHistory, FirstBadLineNamedWithFileLineField) {
    const auto good = to_json_line(record("tiny", 1000));
    auto bad = good;
    bad.replace(bad.find("\"peak_bytes\":1000"), 17, "\"peak_bytes\":-1000");
    const auto result = parse_history(good + "\n" + good + "\n" + bad + "\n" + good.substr(0, 30) + "\n", "h.jsonl");
    ASSERT_TRUE(result.error);
    EXPECT_TRUE(result.records.empty());
    EXPECT_EQ(result.error->line, 3U);
    EXPECT_EQ(result.error->field, "peak_bytes");
    EXPECT_EQ(result.error->text().rfind("h.jsonl:3: peak_bytes: -1000 is negative", 0), 0U) << result.error->text();
}

TEST(CalibrationHistory, HostileFilesRefusedCleanly) {
    const auto good = to_json_line(record("tiny", 1000));
    const std::vector<std::pair<std::string, std::string>> cases = {
        {good.substr(0, good.size() - 3), "not one JSON object"},      // truncated line
        {R"({"version":1,"peak_bytes":NaN})", "not one JSON object"},  // NaN
        {good.substr(0, good.size() - 1) + R"(,"duration_s":-Infinity})", "not one JSON object"},
        {good.substr(0, good.size() - 1) + R"(,"duration_s":-3})", "duration_s: -3"},  // negative
        {good.substr(0, good.size() - 1) + R"(,"beam_size":"5"})", "duplicate key"},   // duplicate (beam_size)
        {good.substr(0, good.size() - 1) + R"(,"exit_status":true})", "exit_status"},  // wrong type
        {good.substr(0, good.size() - 1) + ",\"notes\":\"\xff\"}", "invalid UTF-8"},
        {std::string(max_record_line_bytes + 1, ' ') + "x", "at most 65536 bytes"},
        {"[]", "one JSON object per line"},
        {good.substr(0, good.size() - 1) + R"(,"duration_s":1e999})", "not one JSON object"},  // beyond a double
    };
    for (const auto& [line, expected] : cases) {
        const auto result = parse_history(good + "\n" + line + "\n", "h.jsonl");
        ASSERT_TRUE(result.error) << line.substr(0, 80);
        EXPECT_EQ(result.error->line, 2U);
        EXPECT_NE(result.error->text().find(expected), std::string::npos) << result.error->text();
    }
}

TEST(CalibrationHistory, TextOverTheSizeLimitRefused) {
    const std::string big(max_history_file_bytes + 1, '\n');
    const auto result = parse_history(big, "big.jsonl");
    ASSERT_TRUE(result.error);
    EXPECT_EQ(result.error->line, 0U);
    EXPECT_NE(result.error->text().find("at most 67108864 bytes (64 MiB)"), std::string::npos) << result.error->text();
}

TEST(CalibrationHistory, OneGigabyteFileRefusedBySizeBeforeReading) {
    const temp_folder folder;
    const fs::path big = folder.path() / "huge.jsonl";
    { std::ofstream(big).put('\n'); }
    fs::resize_file(big, 1ULL << 30U);  // sparse: no GiB written or read
    try {
        (void)read_history_file(big);
        FAIL() << "a 1 GiB history was read";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("1.00 GiB (1073741824 bytes), not allowed: at most 64 MiB"),
                  std::string::npos)
            << e.what();
    }
    const auto r = cli("calibrate " + big.string() + " --out " + (folder.path() / "p.json").string(), folder.env());
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_FALSE(fs::exists(folder.path() / "p.json"));
}

// ---- the fit ---------------------------------------------------------------------------------------

TEST(CalibrationFit, RecoversFactorAndOffsetFromSyntheticRecords) {
    constexpr double k = 1.15;
    constexpr double c = 300.0 * 1024 * 1024;  // 300 MiB
    std::vector<measurement_record> records;
    for (const auto& model : five_models) {
        auto r = record(model, 0);
        r.peak_bytes = static_cast<std::uint64_t>(std::llround((k * static_cast<double>(library_estimate(r))) + c));
        records.push_back(r);
    }
    const auto profile = fit_calibration(located(records));
    ASSERT_EQ(profile.groups.size(), 1U);
    const auto& g = profile.groups[0];
    EXPECT_EQ(g.engine, "faster-whisper");
    EXPECT_EQ(g.kind, correction_kind::factor_offset);
    EXPECT_NEAR(g.factor, k, 1e-8);
    EXPECT_NEAR(g.offset_bytes, c, 16.0);  // peaks rounded to whole bytes
    EXPECT_LT(g.safety_lift_bytes, 16.0);  // exact records: nothing to lift
    EXPECT_EQ(g.runs, 5U);
    ASSERT_TRUE(g.held_out_error_pct);
    EXPECT_LT(*g.held_out_error_pct, 1e-4);  // exact line: each record predicted from the other four
    for (const auto& row : profile.records) {
        EXPECT_GE(row.calibrated_bytes, row.peak_bytes);
        EXPECT_LT(row.calibrated_bytes - row.peak_bytes, 32U);
        EXPECT_NEAR(row.error_before_pct,
                    (static_cast<double>(row.estimate_bytes) - static_cast<double>(row.peak_bytes)) /
                        static_cast<double>(row.peak_bytes) * 100.0,
                    1e-9);
    }
}

TEST(CalibrationFit, FewRecordsFitOneFactor) {
    const auto tiny = record("tiny", 0);
    auto r = tiny;
    r.peak_bytes = library_estimate(r) * 2;
    const auto one = fit_calibration(located({r}));
    ASSERT_EQ(one.groups.size(), 1U);
    EXPECT_EQ(one.groups[0].kind, correction_kind::factor);
    EXPECT_DOUBLE_EQ(one.groups[0].factor, 2.0);
    EXPECT_EQ(one.groups[0].safety_lift_bytes, 0.0);
    EXPECT_FALSE(one.groups[0].held_out_error_pct);  // n/a: one record
    EXPECT_EQ(one.records[0].calibrated_bytes, r.peak_bytes);
    // Four records of one size: no spread, so no offset.
    const auto four = fit_calibration(located({r, r, r, r}));
    EXPECT_EQ(four.groups[0].kind, correction_kind::factor);
}

TEST(CalibrationFit, HeldOutErrorOfTwoRecordsByHand) {
    // Record 1 measured exactly its estimate, record 2 twice its estimate. Leave-one-out with one
    // factor: record 1 predicted with k = 2 (from record 2) → +100%; record 2 with k = 1 → −50%.
    auto a = record("tiny", 0);
    a.peak_bytes = library_estimate(a);
    auto b = record("large-v3", 0);
    b.peak_bytes = library_estimate(b) * 2;
    const auto profile = fit_calibration(located({a, b}));
    ASSERT_EQ(profile.records.size(), 2U);
    EXPECT_NEAR(*profile.records[0].held_out_error_pct, 100.0, 1e-6);
    EXPECT_NEAR(*profile.records[1].held_out_error_pct, -50.0, 1e-6);
    EXPECT_NEAR(*profile.groups[0].held_out_error_pct, 75.0, 1e-6);
}

TEST(CalibrationFit, SafetyLiftKeepsEveryRecordAtOrAboveItsPeak) {
    // One factor by least squares through the origin: k = (e1² + 2·e2²) / (e1² + e2²) < 2, so
    // record 2 (measured 2·e2) would be underestimated by (2 − k)·e2: that is the lift.
    auto a = record("tiny", 0);
    const double e1 = static_cast<double>(library_estimate(a));
    a.peak_bytes = library_estimate(a);
    auto b = record("large-v3", 0);
    const double e2 = static_cast<double>(library_estimate(b));
    b.peak_bytes = library_estimate(b) * 2;
    const auto profile = fit_calibration(located({a, b}));
    const auto& g = profile.groups[0];
    const double k = ((e1 * e1) + (2.0 * e2 * e2)) / ((e1 * e1) + (e2 * e2));
    EXPECT_NEAR(g.factor, k, 1e-12);
    EXPECT_NEAR(g.safety_lift_bytes, (2.0 - k) * e2, 2.0);
    EXPECT_GT(g.safety_lift_bytes, 0.0);
    EXPECT_LE(profile.records[1].calibrated_bytes - b.peak_bytes, 1U);  // at the peak, rounded up
    EXPECT_GE(profile.records[0].calibrated_bytes, a.peak_bytes);
    EXPECT_GE(profile.records[0].error_after_pct, 0.0);
}

TEST(CalibrationFit, SplitsByArchitectureOnlyWithEnoughRecordsEach) {
    std::vector<measurement_record> records;
    for (const auto& model : {"tiny", "base", "small", "medium"}) {
        auto ampere = record(model, 0);
        ampere.peak_bytes = library_estimate(ampere) * 2;
        records.push_back(ampere);
        auto turing = record(model, 0);
        turing.gpu_name = "Tesla T4";
        turing.peak_bytes = library_estimate(turing);
        records.push_back(turing);
    }
    const auto profile = fit_calibration(located(records));
    ASSERT_EQ(profile.groups.size(), 3U);  // the engine, then 7.x and 8.x
    EXPECT_FALSE(profile.groups[0].cc_major);
    EXPECT_EQ(profile.groups[1].cc_major, 7);
    EXPECT_NEAR(profile.groups[1].factor, 1.0, 1e-9);
    EXPECT_EQ(profile.groups[2].cc_major, 8);
    EXPECT_NEAR(profile.groups[2].factor, 2.0, 1e-9);
    EXPECT_EQ(profile.find("faster-whisper", 8), &profile.groups[2]);
    EXPECT_EQ(profile.find("faster-whisper", 9), &profile.groups[0]);
    EXPECT_EQ(profile.find("transformers", 8), nullptr);
    // Three records per architecture: the engine's group only.
    records.resize(6);
    EXPECT_EQ(fit_calibration(located(records)).groups.size(), 1U);
}

TEST(CalibrationFit, UnestimableRecordsRefusedWithTheReason) {
    auto guide = record("tiny", 1000, "guide");
    try {
        (void)fit_calibration(located({record("tiny", 1000), guide}));
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("mem.jsonl:2: cannot be estimated: engine: 'guide' is not allowed"),
                  std::string::npos)
            << e.what();
    }
    auto unknown = record("huge-v9", 1000);
    try {
        (void)fit_calibration(located({unknown}));
        FAIL();
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("mem.jsonl:1: cannot be estimated:"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("huge-v9"), std::string::npos) << e.what();
    }
    auto zero = record("tiny", 0);
    EXPECT_THROW((void)fit_calibration(located({zero})), usage_error);
    auto odd_gpu = record("tiny", 1000);
    odd_gpu.gpu_name = "Mystery Accelerator 9000";
    EXPECT_THROW((void)fit_calibration(located({odd_gpu})), usage_error);
    odd_gpu.compute_capability = "8.9";  // not in the catalog, but its architecture is known
    EXPECT_EQ(fit_calibration(located({odd_gpu})).records[0].cc_major, 8);
}

// ---- the profile file ------------------------------------------------------------------------------

TEST(CalibrationProfile, RoundTripAndBadProfilesNamed) {
    auto r = record("small", 0);
    r.peak_bytes = library_estimate(r) * 3 / 2;
    const auto fitted = fit_calibration(located({r}));
    const temp_folder folder;
    // What calibrate writes parses back to the same groups.
    const auto written = parse_calibration_profile(to_json(fitted).dump(2), "w.json");
    ASSERT_EQ(written.groups.size(), 1U);
    EXPECT_EQ(written.groups[0].factor, fitted.groups[0].factor);
    EXPECT_EQ(written.groups[0].runs, 1U);
    EXPECT_EQ(written.groups[0].min_estimate_bytes, fitted.groups[0].min_estimate_bytes);
    const auto path = folder.path() / "p.json";
    write_calibration_profile(path, "{\"kind\":\"whisper-vram-calibration-profile\",\"version\":1,\"groups\":[]}");
    const auto read_back = read_calibration_profile(path);
    EXPECT_TRUE(read_back.groups.empty());
    EXPECT_EQ(read_back.source, path.string());
    for (
        const auto& [bad, expected] : std::vector<std::pair<std::string, std::string>>{
            {"{", "not JSON"},
            {R"({"kind":"other","version":1,"groups":[]})", "not a calibration profile"},
            {R"({"kind":"whisper-vram-calibration-profile","version":2,"groups":[]})", "version"},
            {R"({"kind":"whisper-vram-calibration-profile","kind":"whisper-vram-calibration-profile","version":1,"groups":[]})",
             "duplicate key kind"},
            {R"({"kind":"whisper-vram-calibration-profile","version":1,"groups":[{"engine":"guide"}]})",
             "group key engine"},
            {R"({"kind":"whisper-vram-calibration-profile","version":1e666,"groups":[]})", "not JSON"},  // fuzz finding
        }) {
        try {
            (void)parse_calibration_profile(bad, "x.json");
            FAIL() << bad;
        } catch (const usage_error& e) {
            EXPECT_NE(std::string(e.what()).find("calibration profile x.json: "), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    }
}

// ---- calibrate (CLI, in-process) ------------------------------------------------------------------

TEST(CalibrateCommand, WritesProfileAndPrintsErrorsBeforeAfterAndHeldOut) {
    const temp_folder folder;
    std::vector<measurement_record> records;
    for (const auto& model : five_models) {
        auto r = record(model, 0);
        r.peak_bytes = library_estimate(r) * 11 / 10 + (256ULL << 20U);
        records.push_back(r);
    }
    const auto file = folder.file("mem.jsonl", history(records));
    const auto out = (folder.path() / "profile.json").string();
    const auto r = cli("calibrate " + file + " --out " + out, folder.env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("calibrate: 5 records from 1 file"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("faster-whisper: factor+offset from 5 runs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("held-out error"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(file + ":5"), std::string::npos) << r.out;
    const auto profile = read_calibration_profile(out);
    ASSERT_EQ(profile.groups.size(), 1U);
    EXPECT_NEAR(profile.groups[0].factor, 1.1, 1e-6);
    EXPECT_NEAR(profile.groups[0].offset_bytes, 256.0 * 1024 * 1024, 64.0);
    // --json: the profile, with where it went.
    const auto j = test::cli_json("calibrate " + file + " --out " + out + " --json", folder.env());
    EXPECT_EQ(j["kind"], "whisper-vram-calibration-profile");
    EXPECT_EQ(j["version"], 1);
    EXPECT_EQ(j["written_to"], out);
    EXPECT_EQ(j["records"].size(), 5U);
    EXPECT_EQ(j["groups"][0]["runs"], 5);
    // Without --out: the state folder's calibration.json, the default profile.
    ASSERT_EQ(cli("calibrate " + file, folder.env()).status, 0);
    EXPECT_TRUE(fs::exists(folder.path() / "calibration.json"));
}

TEST(CalibrateCommand, OneRecordSaysHeldOutNotAvailable) {
    const temp_folder folder;
    auto rec = record("tiny", 0);
    rec.peak_bytes = library_estimate(rec) + 1;
    const auto file = folder.file("one.jsonl", history({rec}));
    const auto r = cli("calibrate " + file + " --out " + (folder.path() / "p.json").string(), folder.env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("held-out error n/a: one record"), std::string::npos) << r.out;
}

TEST(CalibrateCommand, BadRecordWritesNothing) {
    const temp_folder folder;
    const auto good = folder.file("good.jsonl", history({record("tiny", 1ULL << 30U)}));
    const auto bad = folder.file("bad.jsonl", history({record("tiny", 1ULL << 30U)}) + "{\"version\":1}\n");
    const auto out = folder.path() / "p.json";
    const auto r = cli("calibrate " + good + " " + bad + " --out " + out.string(), folder.env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find(bad + ":2: engine: missing"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_EQ(
        cli("calibrate " + (folder.path() / "absent.jsonl").string() + " --out " + out.string(), folder.env()).status,
        2);
}

TEST(CalibrateCommand, OutRefusesAFileItDidNotWrite) {
    const temp_folder folder;
    const auto file = folder.file("mem.jsonl", history({record("tiny", 1ULL << 30U)}));
    const auto foreign = folder.file("settings.json", "{\"version\": 1, \"mine\": true}\n");
    const auto r = cli("calibrate " + file + " --out " + foreign, folder.env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("is not a calibration profile"), std::string::npos) << r.err;
    std::stringstream kept;
    kept << std::ifstream(foreign).rdbuf();
    EXPECT_EQ(kept.str(), "{\"version\": 1, \"mine\": true}\n");
    // Its own profile it replaces.
    const auto own = (folder.path() / "own.json").string();
    ASSERT_EQ(cli("calibrate " + file + " --out " + own, folder.env()).status, 0);
    EXPECT_EQ(cli("calibrate " + file + " --out " + own, folder.env()).status, 0);
}

// ---- estimates that use a profile -----------------------------------------------------------------

/// A profile with factor 2 for faster-whisper, fitted on one small record (its estimate range is that one figure).
std::string factor_two_profile(const temp_folder& folder) {
    auto rec = record("small", 0);
    rec.peak_bytes = library_estimate(rec) * 2;
    const auto file = folder.file("two.jsonl", history({rec}));
    const auto out = (folder.path() / "two.json").string();
    EXPECT_EQ(cli("calibrate " + file + " --out " + out, folder.env()).status, 0);
    return out;
}

TEST(CalibratedEstimates, CalcJsonCarriesCalibratedAndUncalibratedFigures) {
    const temp_folder folder;
    const auto profile = factor_two_profile(folder);
    const std::string args =
        "calc small --engine faster-whisper --precision float16 --beam 5 --gpu 'RTX 3090' "
        "--cuda-module-loading lazy --json";
    const auto plain = test::cli_json(args, folder.env());
    const auto calibrated = test::cli_json(args + " --calibration " + profile, folder.env());
    const auto uncal_total = plain["total_required_bytes"].get<std::uint64_t>();
    EXPECT_EQ(calibrated["total_required_bytes"], uncal_total * 2);
    EXPECT_EQ(calibrated["uncalibrated"]["total_required_bytes"], uncal_total);
    EXPECT_EQ(calibrated["uncalibrated"]["recommended_bytes"], plain["recommended_bytes"]);
    EXPECT_EQ(calibrated["recommended_bytes"],
              static_cast<std::uint64_t>(std::ceil(static_cast<double>(uncal_total * 2) * 1.2)));
    EXPECT_EQ(calibrated["calibration"]["runs"], 1);
    EXPECT_TRUE(calibrated["calibration"]["held_out_error_pct"].is_null());
    EXPECT_EQ(calibrated["calibration"]["extrapolated"], false);
    EXPECT_EQ(calibrated["calibration"]["profile"], profile);
    EXPECT_FALSE(plain.contains("calibration"));
    // Another model lies outside the one estimate the profile covers: extrapolated, and said.
    const auto medium = test::cli_json(
        "calc medium --engine faster-whisper --gpu 'RTX 3090' --json --calibration " + profile, folder.env());
    EXPECT_EQ(medium["calibration"]["extrapolated"], true);
    EXPECT_NE(medium["notes"].dump().find("extrapolated"), std::string::npos);
    // Human output says it.
    const auto human =
        cli("calc small --engine faster-whisper --gpu 'RTX 3090' --calibration " + profile, folder.env());
    EXPECT_NE(human.out.find("calibrated from 1 run"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("held-out error n/a: one run"), std::string::npos) << human.out;
}

TEST(CalibratedEstimates, ExtrapolatedCorrectionsRaiseButNeverLower) {
    // Fitted on one small run that used half its estimate: factor 0.5, covering only that estimate.
    const temp_folder folder;
    auto rec = record("small", 0);
    rec.peak_bytes = library_estimate(rec) / 2;
    const auto file = folder.file("half.jsonl", history({rec}));
    const auto profile = (folder.path() / "half.json").string();
    ASSERT_EQ(cli("calibrate " + file + " --out " + profile, folder.env()).status, 0);
    // Inside the covered range the correction applies (the run itself: at least its peak, below the estimate).
    const std::string small =
        "calc small --engine faster-whisper --precision float16 --beam 5 --gpu 'RTX 3090' "
        "--cuda-module-loading lazy --json --calibration " +
        profile;
    const auto in_range = test::cli_json(small, folder.env());
    EXPECT_EQ(in_range["calibration"]["extrapolated"], false);
    EXPECT_GE(in_range["total_required_bytes"].get<std::uint64_t>(), rec.peak_bytes);
    EXPECT_LT(in_range["total_required_bytes"].get<std::uint64_t>(),
              in_range["uncalibrated"]["total_required_bytes"].get<std::uint64_t>());
    // Outside it (large-v3) the lowering is refused: the uncalibrated total is kept, and said.
    const auto far = test::cli_json(
        "calc large-v3 --engine faster-whisper --gpu 'RTX 3090' --json --calibration " + profile, folder.env());
    EXPECT_EQ(far["calibration"]["extrapolated"], true);
    EXPECT_EQ(far["total_required_bytes"], far["uncalibrated"]["total_required_bytes"]);
    EXPECT_EQ(far["recommended_bytes"], far["uncalibrated"]["recommended_bytes"]);
    EXPECT_NE(far["notes"].dump().find("the uncalibrated total"), std::string::npos) << far["notes"];
}

TEST(CalibratedEstimates, GuideFormulaIsNeverCalibrated) {
    const temp_folder folder;
    const auto profile = factor_two_profile(folder);
    const auto plain = test::cli_json("calc small --json", folder.env());
    const auto with = test::cli_json("calc small --json --calibration " + profile, folder.env());
    EXPECT_EQ(with, plain);
    fs::copy_file(profile, folder.path() / "calibration.json");  // the default profile, too
    EXPECT_EQ(test::cli_json("calc small --json", folder.env()), plain);
    EXPECT_EQ(test::cli_json("calc --preset balanced --json", folder.env()),
              test::cli_json("calc --preset balanced --json"));
}

TEST(CalibratedEstimates, ProfileFromVariableOrStateFolderAndErrors) {
    const temp_folder folder;
    const auto profile = factor_two_profile(folder);
    const std::string args = "calc small --engine faster-whisper --gpu 'RTX 3090' --json";
    const auto plain = test::cli_json(args, folder.env());
    auto env = folder.env();
    env.calibration = profile;
    EXPECT_EQ(test::cli_json(args, env)["total_required_bytes"],
              plain["total_required_bytes"].get<std::uint64_t>() * 2);
    EXPECT_EQ(test::cli_json(args + " --calibration none", env), plain);
    // The default profile in the state folder.
    fs::copy_file(profile, folder.path() / "calibration.json");
    EXPECT_EQ(test::cli_json(args, folder.env())["calibration"]["runs"], 1);
    // check plans on the calibrated figure.
    const auto check = test::cli_json("check small --engine faster-whisper --json --simulate 24GiB", folder.env());
    EXPECT_TRUE(check.dump().find("\"calibration\"") != std::string::npos) << check.dump();
    // A missing explicit profile, a missing variable profile, a corrupt default one: exit 2 naming it.
    auto r = cli(args + " --calibration " + (folder.path() / "nope.json").string(), folder.env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("nope.json: no such file"), std::string::npos) << r.err;
    env.calibration = (folder.path() / "gone.json").string();
    r = cli(args, env);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("WHISPER_VRAM_CALIBRATION: calibration profile"), std::string::npos) << r.err;
    (void)folder.file("calibration.json", "{broken");
    r = cli(args, folder.env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("calibration.json: not JSON"), std::string::npos) << r.err;
    // The guide's formula is never calibrated: the default profile is not read for it, corrupt or
    // not, while a profile the user names is, and a bad one is still an error.
    const std::string guide = "calc large-v3 --batch 4 --json";
    EXPECT_EQ(test::cli_json(guide, folder.env()), test::cli_json(guide));
    r = cli(guide + " --calibration " + (folder.path() / "nope.json").string(), folder.env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("nope.json: no such file"), std::string::npos) << r.err;
    // A missing default profile is silently uncalibrated.
    fs::remove(folder.path() / "calibration.json");
    EXPECT_EQ(test::cli_json(args, folder.env()), plain);
}

TEST(CalibratedEstimates, ProfileParsedAgainWheneverItsFileChanges) {
    const temp_folder folder;
    const auto profile_text = [](const std::string& factor) {
        return R"({"kind":"whisper-vram-calibration-profile","version":1,"groups":[{"engine":"faster-whisper",)"
               R"("compute_capability_major":null,"label":"faster-whisper","correction":"factor+offset","factor":)" +
               factor +
               R"(,"offset_bytes":0.0,"safety_lift_bytes":0,"runs":5,"estimate_range_bytes":{"min":1,"max":2},)"
               R"("held_out_error_pct":0.5}],"records":[]})";
    };
    auto env = folder.env();
    env.calibration = folder.file("p.json", profile_text("1.1"));
    const auto factor = [&] { return find_calibration_profile(env, std::nullopt)->groups.at(0).factor; };
    // A file changed just now: parsed on each use (its ctime may not tell a second change in place).
    const auto fresh = find_calibration_profile(env, std::nullopt);
    EXPECT_NE(fresh.get(), find_calibration_profile(env, std::nullopt).get());
    (void)folder.file("p.json", profile_text("1.3"));  // in place, same size, same clock tick maybe
    EXPECT_EQ(factor(), 1.3);
    // Settled (ctime 2 s old): parsed once, then the same profile while the file is the same.
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    const auto settled = find_calibration_profile(env, std::nullopt);
    EXPECT_EQ(settled.get(), find_calibration_profile(env, std::nullopt).get());
    EXPECT_EQ(settled->groups.at(0).factor, 1.3);
    // Changed in place (same size), renamed over (calibrate's way), corrupted: each seen at once.
    (void)folder.file("p.json", profile_text("1.5"));
    EXPECT_EQ(factor(), 1.5);
    write_calibration_profile(*env.calibration, profile_text("1.7"));
    EXPECT_EQ(factor(), 1.7);
    (void)folder.file("p.json", "{broken");
    EXPECT_THROW((void)factor(), usage_error);
}

// ---- the schema and the committed example ---------------------------------------------------------

/// The repository: from this file's path when the compiler gave an absolute one, else (ccache's
/// base_dir makes it relative to the build folder) the first folder above the test binary's that
/// holds the schema.
fs::path repo_root() {
    const fs::path here(__FILE__);
    if (here.is_absolute()) return here.parent_path().parent_path().parent_path();
    for (fs::path dir = WHISPER_VRAM_TEST_BINARY_DIR; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        if (fs::exists(dir / "data" / "schema" / "measurement-record.schema.json")) return dir;
    }
    return fs::current_path();
}

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

TEST(MeasurementRecordSchema, AgreesWithTheParser) {
    const auto schema = read_json(repo_root() / "data" / "schema" / "measurement-record.schema.json");
    EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    const std::vector<std::string> required = schema["required"];
    EXPECT_EQ(required, (std::vector<std::string>{"version", "engine", "model", "precision", "batch_size", "beam_size",
                                                  "gpu_name", "peak_bytes", "peak_method"}));
    const std::vector<std::string> methods = schema["properties"]["peak_method"]["enum"];
    ASSERT_EQ(methods.size(), 2U);
    for (const auto& m : methods) EXPECT_TRUE(parse_peak_method(m)) << m;
    EXPECT_EQ(schema["properties"]["version"]["const"], measurement_record_version);
    // Every required key missing from a valid record is refused, naming it.
    const auto full = nlohmann::json::parse(to_json_line(record("tiny", 1)));
    for (const auto& key : required) {
        auto without = full;
        without.erase(key);
        const auto result = parse_measurement_record(without.dump());
        ASSERT_FALSE(result.ok()) << key;
        EXPECT_EQ(result.error->field, key);
    }
    // Each property's type as the schema says: a string where it wants an integer is refused, and so on.
    for (const auto& [key, property] : schema["properties"].items()) {
        if (!property.contains("type")) continue;
        const auto types = property["type"].is_array() ? property["type"] : nlohmann::json::array({property["type"]});
        auto wrong = full;
        const bool wants_string = std::find(types.begin(), types.end(), "string") != types.end();
        wrong[key] = wants_string ? nlohmann::json(12) : nlohmann::json("12");
        const auto result = parse_measurement_record(wrong.dump());
        EXPECT_FALSE(result.ok()) << key;
        if (!result.ok()) {
            EXPECT_EQ(result.error->field, key);
        }
        // Every property the schema lists is a key the parser knows: it is not kept as unknown.
        if (wants_string && key != "compute_capability" && key != "cuda_module_loading" && key != "time") {
            auto good = full;
            good[key] = "x";
            const auto ok = parse_measurement_record(good.dump());
            ASSERT_TRUE(ok.ok()) << key << ": " << ok.error->message;
            EXPECT_FALSE(ok.record->extra.contains(key)) << key;
        }
    }
}

TEST(CalibrateCommand, CommittedSyntheticExampleCalibrates) {
    const temp_folder folder;
    const auto example = repo_root() / "data" / "measurements" / "examples" / "synthetic-faster-whisper-rtx3090.jsonl";
    const auto j = test::cli_json(
        "calibrate " + example.string() + " --out " + (folder.path() / "p.json").string() + " --json", folder.env());
    ASSERT_EQ(j["groups"].size(), 1U);
    EXPECT_EQ(j["groups"][0]["correction"], "factor+offset");
    EXPECT_EQ(j["groups"][0]["runs"], 6);
    // Written as 1.08 × estimate + 160 MiB with ±1.5% noise: the fit lands near it.
    EXPECT_NEAR(j["groups"][0]["factor"].get<double>(), 1.08, 0.05);
    for (const auto& r : j["records"]) EXPECT_GE(r["calibrated_bytes"], r["peak_bytes"]);
}

}  // namespace
}  // namespace whisper_vram
