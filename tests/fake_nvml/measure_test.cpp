// whisper-vram measure, run --record, the peak-over-reservation warning and the out-of-memory advice,
// against the fake libnvidia-ml.so.1's live timeline: each scripted job writes its own usage into
// the live folder (see fake_nvml.cpp), the fake reports it at every NVML query.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fake_nvml/fake_nvml_support.hpp"
#include "support/run_cli.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/measurement_record.hpp"

namespace whisper_vram {
namespace {

using test::gib;
using test::run_cli;

class Measure : public test::fake_nvml_fixture {
protected:
    void SetUp() override {
        std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        dir_ = std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/measure-" + std::to_string(::getpid()) + "-" + name;
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ + "/live");
        std::filesystem::create_directories(dir_ + "/state");
    }
    void TearDown() override {
        std::filesystem::remove_all(dir_);
        fake_nvml_fixture::TearDown();
    }
    // One 24 GiB GPU with 1 GiB used by others, the live timeline in dir_/live; @p gpu_extra is
    // appended to the gpu line, @p more to the scenario.
    void scenario(const std::string& gpu_extra = "", const std::string& more = "") {
        write_scenario("set live_dir=" + dir_ + "/live\n" +
                       "gpu name=NVIDIA GeForce RTX 3090;uuid=GPU-8a3f0000-1111-2222-3333-444455556666;"
                       "total=25769803776;used=1073741824" +
                       gpu_extra + "\n" + more);
    }
    // A job script: `use GPU BYTES` sets this shell's usage (atomically: a dot-file renamed).
    std::string script(const std::string& name, const std::string& body) const {
        const std::string path = dir_ + "/" + name;
        std::ofstream out(path);
        out << "D='" << dir_ << "/live'\n"
            << "use() { printf '%s %s\\n' \"$1\" \"$2\" > \"$D/.t$$\" && mv \"$D/.t$$\" \"$D/$$\"; }\n"
            << body << '\n';
        return path;
    }
    std::string env() const { return env_prefix() + " WHISPER_VRAM_STATE_DIR='" + dir_ + "/state'"; }
    std::string history() const { return dir_ + "/history.jsonl"; }
    static std::vector<std::string> read_lines(const std::string& path) {
        std::ifstream in(path);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        return lines;
    }
    static nlohmann::json read_json(const std::string& path) {
        std::ifstream in(path);
        return nlohmann::json::parse(in);
    }

    std::string dir_;
};

TEST_F(Measure, FindsTheScriptedPeakWithinOneSample) {
    scenario();
    const auto job = script("job.sh",
                            "use 0 2147483648; sleep 0.3; use 0 5368709120; sleep 0.3; use 0 1073741824; "
                            "sleep 0.3");
    const auto r =
        run_cli("measure --model small --interval-ms 20 --out '" + history() + "' --json -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["measurement"]["gpus"].size(), 1U);
    const auto& g = j["measurement"]["gpus"][0];
    EXPECT_EQ(g["peak_method"], "process_tree");
    EXPECT_EQ(g["peak_bytes"], 5 * gib);  // held 300 ms, sampled every 20 ms: exactly the scripted step
    EXPECT_EQ(g["baseline_bytes"], gib);
    EXPECT_GE(g["peak_at_seconds"].get<double>(), 0.2);
    EXPECT_LE(g["peak_at_seconds"].get<double>(), 0.8);
    EXPECT_GE(j["measurement"]["samples"].get<int>(), 10);
    EXPECT_EQ(j["exit_status"], 0);
    // Beside it the estimate and the error: (estimate − peak) / peak.
    const auto e = estimate(make_guide_request("small"));
    EXPECT_EQ(j["estimate"]["total_required_bytes"], e.total_required_bytes);
    const double expected = (static_cast<double>(e.total_required_bytes) - 5.0 * gib) / (5.0 * gib) * 100.0;
    EXPECT_NEAR(j["errors"][0]["error_percent"].get<double>(), expected, 1e-9);
}

TEST_F(Measure, SumsTheProcessTreeAndNothingElse) {
    // pid 1 (not the job's) uses 7 GiB; the wrapper shell 1 GiB and its child 3 GiB.
    scenario("", "process gpu=0;pid=1;used=7516192768\n");
    const auto child = script("child.sh", "use 0 3221225472; sleep 0.5");
    const auto job = script("job.sh", "use 0 1073741824; sh '" + child + "'; sleep 0.1");
    const auto r = run_cli("measure --model small --out '" + history() + "' --json -- sh -c 'sh " + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto g = nlohmann::json::parse(r.out)["measurement"]["gpus"][0];
    EXPECT_EQ(g["peak_method"], "process_tree");
    EXPECT_EQ(g["peak_bytes"], 4 * gib);
}

TEST_F(Measure, FallsBackToTheDeviceDeltaWhenPerProcessIsUnsupported) {
    scenario(";processes=not_supported");
    const auto job = script("job.sh", "use 0 2147483648; sleep 0.4");
    const auto r = run_cli("measure --model small --out '" + history() + "' --json -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto g = nlohmann::json::parse(r.out)["measurement"]["gpus"][0];
    EXPECT_EQ(g["peak_method"], "device_delta");
    EXPECT_EQ(g["peak_bytes"], 2 * gib);  // 3 GiB used − the 1 GiB baseline
    EXPECT_EQ(g["baseline_bytes"], gib);
    ASSERT_FALSE(g["notes"].empty());
    EXPECT_NE(g["notes"][0].get<std::string>().find("per-process"), std::string::npos);
    const auto lines = read_lines(history());
    ASSERT_EQ(lines.size(), 1U);
    const auto parsed = parse_measurement_record(lines[0]);
    ASSERT_TRUE(parsed.ok()) << lines[0];
    EXPECT_EQ(parsed.record->peak_method, peak_method_kind::device_delta);
}

TEST_F(Measure, SurvivesTheGpuDisappearingMidRun) {
    scenario();
    const auto job = script("job.sh", "use 0 3221225472; sleep 0.3; touch \"$D/lost-0\"; sleep 0.3; exit 0");
    const auto r =
        run_cli("measure --model small --interval-ms 20 --out '" + history() + "' --json -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto g = nlohmann::json::parse(r.out)["measurement"]["gpus"][0];
    EXPECT_EQ(g["peak_bytes"], 3 * gib);  // the peak seen until it vanished
    ASSERT_FALSE(g["lost_at_seconds"].is_null());
    EXPECT_GE(g["lost_at_seconds"].get<double>(), 0.25);
    EXPECT_NE(g["notes"].dump().find("vanished"), std::string::npos);
}

TEST_F(Measure, PassesTheExitStatusThrough) {
    scenario();
    EXPECT_EQ(run_cli("measure --out '" + history() + "' -- sh -c 'exit 7'", env()).status, 7);
    EXPECT_EQ(run_cli("measure --out '" + history() + "' -- sh -c 'kill -TERM $$'", env()).status, 128 + 15);
    EXPECT_EQ(run_cli("measure --out '" + history() + "' -- /nonexistent/job", env()).status, 127);
}

TEST_F(Measure, ExitsThreeWithoutAGpu) {
    write_scenario("set init=9\n");  // NVML_ERROR_DRIVER_NOT_LOADED
    const std::string marker = dir_ + "/ran";
    const auto r = run_cli("measure --model small --out '" + history() + "' -- touch '" + marker + "'", env());
    EXPECT_EQ(r.status, 3) << r.err;
    EXPECT_NE(r.err.find("unavailable"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(marker));  // not started
}

TEST_F(Measure, AppendsAParseableRecord) {
    scenario();
    const auto job = script("job.sh", "use 0 5368709120; sleep 0.3");
    for (int i = 0; i < 2; ++i) {
        const auto r = run_cli(
            "measure --model small --batch 2 --precision float32 --out '" + history() + "' -- sh '" + job + "'", env());
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_NE(r.out.find("process_tree"), std::string::npos) << r.out;
    }
    const auto lines = read_lines(history());
    ASSERT_EQ(lines.size(), 2U);
    const auto parsed = parse_measurement_record(lines[1]);
    ASSERT_TRUE(parsed.ok()) << lines[1];
    const auto& rec = *parsed.record;
    EXPECT_EQ(rec.engine, "guide");
    EXPECT_EQ(rec.model, "small");
    EXPECT_EQ(rec.precision, "float32");
    EXPECT_EQ(rec.batch_size, 2);
    EXPECT_EQ(rec.gpu_name, "NVIDIA GeForce RTX 3090");
    EXPECT_EQ(rec.peak_bytes, 5 * gib);
    EXPECT_EQ(rec.peak_method, peak_method_kind::process_tree);
    EXPECT_EQ(rec.baseline_bytes, gib);
    EXPECT_EQ(rec.exit_status, 0);
    EXPECT_EQ(rec.compute_capability, "8.6");
    EXPECT_EQ(rec.gpu_uuid, "GPU-8a3f0000-1111-2222-3333-444455556666");
    EXPECT_EQ(rec.estimate_total_bytes, estimate(make_guide_request("small", 30, 2, "float32")).total_required_bytes);
    ASSERT_TRUE(rec.time.has_value());
    EXPECT_EQ(rec.time->size(), 20U);  // 2026-12-02T04:50:39Z
}

TEST_F(Measure, DefaultHistoryIsInTheStateFolder) {
    scenario();
    const auto r = run_cli("measure --model small -- true", env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_lines(dir_ + "/state/measurements.jsonl").size(), 1U);
}

TEST_F(Measure, RefusesAnOutThatIsNotAHistory) {
    scenario();
    {
        std::ofstream out(history());
        out << "hello, not a record\n";
    }
    const std::string marker = dir_ + "/ran";
    const auto r = run_cli("measure --model small --out '" + history() + "' -- touch '" + marker + "'", env());
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("not a measurement history"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(marker));
    std::filesystem::create_symlink(history(), dir_ + "/link.jsonl");
    EXPECT_EQ(run_cli("measure --model small --out '" + dir_ + "/link.jsonl' -- true", env()).status, 2);
}

TEST_F(Measure, RangeChecksTheInterval) {
    scenario();
    for (const char* bad : {"9", "10001", "abc", "-5", "20.5", "''"}) {
        const auto r = run_cli(std::string("measure --interval-ms ") + bad + " -- true", env());
        EXPECT_EQ(r.status, 2) << bad;
        EXPECT_NE(r.err.find("--interval-ms"), std::string::npos) << r.err;
    }
    EXPECT_EQ(run_cli("measure --interval-ms 10 --out '" + history() + "' -- true", env()).status, 0);
}

TEST_F(Measure, RunRecordAppendsARecord) {
    scenario();
    const auto job = script("job.sh", "use 0 1073741824; sleep 0.3");
    const auto r = run_cli("run --model tiny --record --out '" + history() + "' -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto lines = read_lines(history());
    ASSERT_EQ(lines.size(), 1U);
    const auto parsed = parse_measurement_record(lines[0]);
    ASSERT_TRUE(parsed.ok()) << lines[0];
    EXPECT_EQ(parsed.record->model, "tiny");
    EXPECT_EQ(parsed.record->peak_bytes, gib);
    // Without --record nothing is appended.
    ASSERT_EQ(run_cli("run --model tiny -- sh '" + job + "'", env()).status, 0);
    EXPECT_EQ(read_lines(history()).size(), 1U);
}

TEST_F(Measure, RunWarnsWhenThePeakExceedsTheReservation) {
    scenario();
    const auto job = script("job.sh", "use 0 21474836480; sleep 0.3");  // 20 GiB, far above tiny's estimate
    const std::string out = dir_ + "/outcome.json";
    const auto r = run_cli("run --model tiny --json-out '" + out + "' -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("exceeded its reservation"), std::string::npos) << r.err;
    const auto j = read_json(out);
    EXPECT_TRUE(j["peak_over_reservation"].get<bool>());
    EXPECT_EQ(j["measurement"]["gpus"][0]["peak_bytes"], 20 * gib);
    EXPECT_EQ(j["warnings"].size(), 1U);
    // Within the reservation: no warning.
    const auto small = script("small.sh", "use 0 1048576; sleep 0.2");
    const auto quiet = run_cli("run --model tiny --json-out '" + out + "' -- sh '" + small + "'", env());
    ASSERT_EQ(quiet.status, 0);
    EXPECT_EQ(quiet.err.find("exceeded"), std::string::npos) << quiet.err;
    EXPECT_FALSE(read_json(out)["peak_over_reservation"].get<bool>());
}

TEST_F(Measure, RunAdvisesAfterCudaOutOfMemory) {
    scenario();
    const auto job = script("oom.sh",
                            "echo 'loading model' >&2\n"
                            "echo 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2\n"
                            "exit 1");
    const std::string out = dir_ + "/outcome.json";
    const auto r = run_cli("run --model medium --batch 8 --json-out '" + out + "' -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("ran out of GPU memory"), std::string::npos) << r.err;
    const auto j = read_json(out);
    ASSERT_FALSE(j["oom_advice"].is_null()) << j.dump(2);
    const auto& a = j["oom_advice"];
    EXPECT_NE(a["message"].get<std::string>().find("CUDA out of memory"), std::string::npos);
    // Each change alone, re-estimated: batch halved gives the estimator's figure for batch 4.
    bool batch = false;
    bool precision = false;
    bool model = false;
    for (const auto& s : a["suggestions"]) {
        if (s["change"] == "batch_size") {
            batch = true;
            EXPECT_EQ(s["config"]["batch_size"], 4);
            EXPECT_EQ(s["recommended_bytes"], estimate(make_guide_request("medium", 30, 4)).recommended_bytes);
        } else if (s["change"] == "precision") {
            precision = true;
            EXPECT_EQ(s["config"]["precision"], "int8");
            EXPECT_EQ(s["recommended_bytes"], estimate(make_guide_request("medium", 30, 8, "int8")).recommended_bytes);
        } else if (s["change"] == "model") {
            model = true;
            EXPECT_EQ(s["config"]["model"], "small");
            EXPECT_EQ(s["recommended_bytes"], estimate(make_guide_request("small", 30, 8)).recommended_bytes);
        }
        EXPECT_EQ(s["fits"].get<bool>(),
                  s["recommended_bytes"].get<std::uint64_t>() <= a["available_bytes"].get<std::uint64_t>());
    }
    EXPECT_TRUE(batch && precision && model) << a.dump(2);
    // No advice when the job fails for another reason.
    const auto other = script("fail.sh", "echo 'file not found' >&2; exit 1");
    ASSERT_EQ(run_cli("run --model medium --json-out '" + out + "' -- sh '" + other + "'", env()).status, 1);
    EXPECT_TRUE(read_json(out)["oom_advice"].is_null());
}

TEST_F(Measure, RunPassesStderrThroughByteExact) {
    scenario();
    const auto job = script("bytes.sh",
                            "printf 'a\\000b\\r\\n\\377' >&2\n"
                            "head -c 200000 /dev/zero | tr '\\000' x >&2\n"
                            "printf 'no newline at the end' >&2");
    const auto r = run_cli("run --model tiny -- sh '" + job + "'", env());
    ASSERT_EQ(r.status, 0);
    const std::string expected = std::string("a\0b\r\n\377", 6) + std::string(200000, 'x') + "no newline at the end";
    EXPECT_EQ(r.err.size(), expected.size());
    EXPECT_TRUE(r.err == expected);
}

}  // namespace
}  // namespace whisper_vram
