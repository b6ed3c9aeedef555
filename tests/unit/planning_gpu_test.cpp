// Every plan is sized for its GPU (issue 11 item 1) and one view of capacity (issue 12 item 9):
// check, run/reserve, solve and recommend apply each target GPU's compute capability and plan on
// the memory `run` would admit (free less whisper-vram's reservations). Simulated GPUs only.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "support/cli_in_process.hpp"
#include "support/run_cli.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/planner/planner.hpp"
#include "whisper_vram/sched/admission_decision.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;
using test::cli;
using test::cli_json;
using test::run_cli;

constexpr std::uint64_t gib = 1ULL << 30;
constexpr std::uint64_t mib = 1ULL << 20;

// Each test gets its own state folder (the ledger), so reservations of other tests never count.
class PlanningGpu : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::path(WHISPER_VRAM_TEST_BINARY_DIR) /
               (std::string("planning-") + info->name() + "-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        state_ = dir_ / "state";
    }
    void TearDown() override { fs::remove_all(dir_); }

    [[nodiscard]] environment env() const {
        environment e = test::no_gpu_environment();
        e.state_dir = state_.string();
        return e;
    }
    // The shell prefix for the spawned binary (run forks: not in-process).
    [[nodiscard]] std::string env_prefix(const std::string& simulate) const {
        return "env -u CUDA_VISIBLE_DEVICES WHISPER_VRAM_NVML_LIBRARY=/nonexistent WHISPER_VRAM_STATE_DIR='" +
               state_.string() + "' WHISPER_VRAM_SIMULATE='" + simulate + "'";
    }
    // calc --gpu NAME's recommended_bytes: what the card needs for the configuration.
    [[nodiscard]] std::uint64_t calc_bytes(const std::string& args) const {
        return cli_json("calc " + args + " --json", env())["recommended_bytes"].get<std::uint64_t>();
    }

    fs::path dir_;
    fs::path state_;
};

TEST_F(PlanningGpu, CheckOnASimulatedGtx1070SizesFloat16AsFloat32) {
    // CTranslate2 runs float16 as float32 on CC 6.1: large-v3 needs calc --gpu "GTX 1070"'s 9.85 GiB
    // (lazy module loading stated; more when it is not), more than the card's 8110 MiB, not the
    // 5.30 GiB of a card that runs float16.
    const std::uint64_t on_1070 =
        calc_bytes("large-v3 --engine faster-whisper --cuda-module-loading lazy --gpu \"GTX 1070\"");
    const std::uint64_t anywhere = calc_bytes("large-v3 --engine faster-whisper --cuda-module-loading lazy");
    EXPECT_NEAR(bytes_to_gib(on_1070), 9.85, 0.01);
    EXPECT_NEAR(bytes_to_gib(anywhere), 5.30, 0.01);

    const auto r = cli("check large-v3 --engine faster-whisper --simulate \"GTX 1070\"", env());
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("float16 runs as float32"), std::string::npos) << r.out;
    const auto j =
        nlohmann::json::parse(cli("check large-v3 --engine faster-whisper --simulate \"GTX 1070\" --json", env()).out);
    EXPECT_FALSE(j["sufficient"].get<bool>());
    // check sizes what calc --gpu sizes for the same inputs (module loading not stated: eager).
    const std::uint64_t on_1070_unstated = calc_bytes("large-v3 --engine faster-whisper --gpu \"GTX 1070\"");
    EXPECT_GT(on_1070_unstated, on_1070);
    EXPECT_EQ(j["gpus"][0]["required_bytes"].get<std::uint64_t>(), on_1070_unstated);
    EXPECT_EQ(j["required"]["recommended_bytes"].get<std::uint64_t>(), on_1070_unstated);
    EXPECT_EQ(j["required"]["precision"], "float16");  // asked float16; the note says what runs
}

TEST_F(PlanningGpu, CheckSizesEachGpuForItsOwnCard) {
    const std::uint64_t on_1070 = calc_bytes("medium --engine faster-whisper --gpu \"GTX 1070\"");
    const std::uint64_t on_3090 = calc_bytes("medium --engine faster-whisper --gpu \"RTX 3090\"");
    ASSERT_GT(on_1070, on_3090);  // float32 weights on the 1070
    const auto j = cli_json("check medium --engine faster-whisper --simulate \"GTX 1070,RTX 3090\" --json", env());
    ASSERT_EQ(j["gpus"].size(), 2U);
    EXPECT_EQ(j["gpus"][0]["required_bytes"].get<std::uint64_t>(), on_1070);
    EXPECT_EQ(j["gpus"][1]["required_bytes"].get<std::uint64_t>(), on_3090);
    EXPECT_EQ(j["required"]["recommended_bytes"].get<std::uint64_t>(), on_1070);  // the larger of the two
    EXPECT_TRUE(j["sufficient"].get<bool>());
}

TEST_F(PlanningGpu, Bfloat16OnASimulatedT4IsRefusedByCheck) {
    const auto r = cli("check large-v3 --engine faster-whisper --precision bfloat16 --simulate T4", env());
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("bfloat16"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("CC 7.5"), std::string::npos) << r.err;
    // One card of two refuses: that GPU does not fit (unsupported), the other is checked.
    const auto mixed =
        cli("check medium --engine faster-whisper --precision bfloat16 --simulate \"T4,RTX 3090\" --json", env());
    EXPECT_EQ(mixed.status, 1) << mixed.err;
    const auto j = nlohmann::json::parse(mixed.out);
    EXPECT_FALSE(j["gpus"][0]["supported"].get<bool>());
    EXPECT_FALSE(j["gpus"][0]["fits"].get<bool>());
    EXPECT_NE(j["gpus"][0]["reason"].get<std::string>().find("unsupported on T4"), std::string::npos);
    EXPECT_TRUE(j["gpus"][1]["fits"].get<bool>());
}

TEST_F(PlanningGpu, RunOnASimulatedGtx1070ReservesTheFloat32Size) {
    const std::uint64_t on_1070 = calc_bytes("medium --engine faster-whisper --gpu \"GTX 1070\"");
    ASSERT_NE(on_1070, calc_bytes("medium --engine faster-whisper"));
    const auto r = run_cli("run --model medium --engine faster-whisper -- sh -c 'echo $WHISPER_VRAM_RESERVED_BYTES'",
                           env_prefix("GTX 1070"));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, std::to_string(on_1070) + "\n");
    // large-v3 in float32 (9.85 GiB) can never fit the 8 GiB card: run says so instead of reserving 5.30.
    const std::uint64_t large = calc_bytes("large-v3 --engine faster-whisper --gpu \"GTX 1070\"");
    const auto never = run_cli("run --model large-v3 --engine faster-whisper -- true", env_prefix("GTX 1070"));
    EXPECT_EQ(never.status, 1) << never.err;
    EXPECT_NE(never.err.find(format_gib(large)), std::string::npos) << never.err;
}

TEST_F(PlanningGpu, Bfloat16OnASimulatedT4IsRefusedByRun) {
    const auto r = run_cli("run --model medium --engine faster-whisper --precision bfloat16 -- true", env_prefix("T4"));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("bfloat16"), std::string::npos) << r.err;
}

TEST_F(PlanningGpu, ReserveAdmitsEachGpuWithItsOwnSize) {
    // Two simulated GPUs: a GTX 1070 (float16 runs as float32) and an RTX 3090. Each is offered its own size.
    const auto probe = std::shared_ptr<gpu_probe>(make_simulated_probe("GTX 1070,RTX 3090"));
    gpu_manager manager(probe, env());
    const estimate_request job = [] {
        estimate_request r = make_guide_request("medium");
        r.engine = "faster-whisper";
        return r;
    }();
    const reserve_request sized = manager.sized_reserve_request(job, "");
    const auto snap = probe->snapshot();
    ASSERT_EQ(sized.gpu_bytes.size(), 2U);
    EXPECT_EQ(sized.gpu_bytes[0].first, snap.gpus[0].uuid);
    EXPECT_EQ(sized.gpu_bytes[0].second, calc_bytes("medium --engine faster-whisper --gpu \"GTX 1070\""));
    EXPECT_EQ(sized.gpu_bytes[1].second, calc_bytes("medium --engine faster-whisper --gpu \"RTX 3090\""));
    EXPECT_EQ(sized.bytes, sized.gpu_bytes[0].second);  // the largest

    // best-fit on the 3090 only (--gpus 1): the lease holds the 3090's size, not the 1070's.
    reserve_options options;
    options.request = job;
    options.gpu_ids = "1";
    options.timeout_seconds = 0;
    auto result = manager.reserve(options);
    ASSERT_TRUE(result.granted()) << result.message;
    EXPECT_EQ(result.granted_lease.info().bytes, sized.gpu_bytes[1].second);
}

TEST(PlanningAdmission, PerGpuSizesPlaceByTheirOwnSizeAndNeverFitsOnlyWhenNoneHolds) {
    // A request of 10 GiB on GPU a and 4 GiB on GPU b: a has 12 GiB available, b 5 GiB.
    admission_input in;
    in.bytes = 10 * gib;
    in.gpu_bytes = {{"GPU-a", 10 * gib}, {"GPU-b", 4 * gib}};
    in.gpu_uuids = {"GPU-a", "GPU-b"};
    in.largest_total_bytes = 16 * gib;
    gpu_capacity a;
    a.gpu_uuid = "GPU-a";
    a.gpu_index = 0;
    a.total_bytes = 16 * gib;
    a.available_bytes = 12 * gib;
    gpu_capacity b = a;
    b.gpu_uuid = "GPU-b";
    b.gpu_index = 1;
    b.total_bytes = 8 * gib;
    b.available_bytes = 5 * gib;
    in.gpus = {a, b};
    in.cuda_indices = {0, 1};
    // best fit by what is left: a leaves 2 GiB, b leaves 1 GiB → b.
    auto d = decide(in);
    ASSERT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(*d.gpu, 1U);
    EXPECT_EQ(request_bytes_on(in, "GPU-b"), 4 * gib);
    EXPECT_EQ(request_bytes_on(in, "GPU-x"), 10 * gib);  // not listed: the request's bytes
    in.policy = placement_policy::most_free;
    d = decide(in);
    ASSERT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(*d.gpu, 0U);
    // b's own size 9 GiB > its 8 GiB total, a's 17 GiB > 16: never fits, though 9 GiB < largest total 16.
    in.gpu_bytes = {{"GPU-a", 17 * gib}, {"GPU-b", 9 * gib}};
    EXPECT_EQ(decide(in).verdict, admission_verdict::never_fits);
    in.gpu_bytes = {{"GPU-a", 16 * gib}, {"GPU-b", 9 * gib}};  // a holds it when empty: wait
    EXPECT_NE(decide(in).verdict, admission_verdict::never_fits);
}

TEST_F(PlanningGpu, CheckAndGpusCountOutstandingReservations) {
    // 19.35 of 24 GiB reserved through the real ledger API, by this (live) process.
    const auto probe = std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB"));
    auto sched = std::make_shared<scheduler>(probe, std::make_shared<file_ledger>(state_));
    reserve_request hold;
    hold.bytes = static_cast<std::uint64_t>(std::llround(19.35 * static_cast<double>(gib)));
    hold.model = "other job";
    hold.timeout = std::chrono::milliseconds(0);
    auto held = sched->reserve(hold);
    ASSERT_TRUE(held.granted()) << held.message;
    const std::uint64_t admittable = 24 * gib - hold.bytes;

    // large float16 30 s needs 9.825 GiB: it fits the free 24 GiB, not the admittable 4.65 GiB.
    const auto r = cli("check large --simulate 24GiB", env());
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("planned on admittable memory"), std::string::npos) << r.out;
    const auto ignoring = cli("check large --simulate 24GiB --ignore-reservations", env());
    EXPECT_EQ(ignoring.status, 0) << ignoring.out << ignoring.err;
    EXPECT_NE(ignoring.out.find("reservations ignored"), std::string::npos) << ignoring.out;

    const auto j = cli_json("check large --simulate 24GiB --ignore-reservations --json", env());
    EXPECT_EQ(j["memory_basis"], "free");
    const auto short_j = nlohmann::json::parse(cli("check large --simulate 24GiB --json", env()).out);
    EXPECT_EQ(short_j["memory_basis"], "admittable");
    EXPECT_EQ(short_j["gpus"][0]["ledger_reserved_bytes"].get<std::uint64_t>(), hold.bytes);
    EXPECT_EQ(short_j["gpus"][0]["available_bytes"].get<std::uint64_t>(), admittable);
    EXPECT_EQ(short_j["gpus"][0]["free_bytes"].get<std::uint64_t>(), 24 * gib);

    const auto g = cli_json("gpus --simulate 24GiB --json", env());
    EXPECT_EQ(g["gpus"][0]["ledger_reserved_bytes"].get<std::uint64_t>(), hold.bytes);
    EXPECT_EQ(g["gpus"][0]["admittable_bytes"].get<std::uint64_t>(), admittable);
    EXPECT_EQ(g["gpus"][0]["reservations"], 1);
    const auto text = cli("gpus --simulate 24GiB", env());
    EXPECT_NE(text.out.find("admittable GiB"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("19.35"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("4.65"), std::string::npos) << text.out;

    // recommend plans on the admittable 4.65 GiB too (medium's 5.1 GiB does not fit there).
    const auto rec = cli_json("recommend --simulate 24GiB --json", env());
    EXPECT_EQ(rec["memory_basis"], "admittable");
    EXPECT_EQ(rec["gpus"][0]["memory_bytes"].get<std::uint64_t>(), admittable);
    const auto rec_card = cli_json("recommend --simulate 24GiB --ignore-reservations --json", env());
    EXPECT_EQ(rec_card["gpus"][0]["memory_bytes"].get<std::uint64_t>(), 24 * gib);

    // Released: the full card is admittable again.
    held.granted_lease.release();
    EXPECT_EQ(cli("check large --simulate 24GiB", env()).status, 0);
}

TEST_F(PlanningGpu, SolveTakesItsMemoryFromTheGpu) {
    // --gpu: the catalog card's memory, and the estimate sized for it.
    const auto t4 = cli_json("solve max-batch large-v3 --engine faster-whisper --gpu T4 --json", env());
    // (a T4 reports 15360 MiB, not its marketed 16 GiB: gpu-skus.md)
    const auto by_memory = cli_json("solve max-batch large-v3 --engine faster-whisper --gpu T4 --memory " +
                                        std::to_string(15360 * mib) + "B --json",
                                    env());
    EXPECT_EQ(t4["value"], by_memory["value"]);
    EXPECT_GT(t4["value"].get<std::uint64_t>(), 1U);
    // --simulate: the GPU's admittable memory; same answer as --memory 24GiB.
    const auto sim = cli_json("solve max-segment medium --simulate 24GiB --json", env());
    const auto mem = cli_json("solve max-segment medium --memory 24 --json", env());
    EXPECT_EQ(sim["value"], mem["value"]);
    // --memory wins over the GPU.
    const auto wins = cli_json("solve max-segment medium --simulate 24GiB --memory 8 --json", env());
    EXPECT_EQ(wins["value"], cli_json("solve max-segment medium --memory 8 --json", env())["value"]);
    // A simulated GTX 1070 sizes faster-whisper for CC 6.1 (float32 weights): a smaller batch than the 3090's 8 GiB.
    const auto on_1070 =
        cli_json("solve max-batch medium --engine faster-whisper --simulate \"GTX 1070\" --json", env());
    const auto on_8 = cli_json("solve max-batch medium --engine faster-whisper --memory 8 --json", env());
    EXPECT_LT(on_1070["value"].get<std::uint64_t>(), on_8["value"].get<std::uint64_t>());
    // Several GPUs: say which one.
    const auto several = cli("solve max-segment medium --simulate \"8GiB,24GiB\"", env());
    EXPECT_EQ(several.status, 2);
    EXPECT_NE(several.err.find("--gpus"), std::string::npos) << several.err;
    EXPECT_EQ(cli_json("solve max-segment medium --simulate \"8GiB,24GiB\" --gpus 1 --json", env())["value"],
              mem["value"]);
    // best-model the same way: a simulated GTX 1070 is its usable 8110 MiB (catalog), sized for CC 6.1.
    const auto best_sim = cli_json("best-model --engine faster-whisper --simulate \"GTX 1070\" --json", env());
    const auto best_card = cli_json("best-model --engine faster-whisper --gpu \"GTX 1070\" --json", env());
    const auto best_mem = cli_json(
        "best-model --engine faster-whisper --gpu \"GTX 1070\" --memory " + std::to_string(8110 * mib) + "B --json",
        env());
    EXPECT_EQ(best_sim["model"], best_mem["model"]);
    EXPECT_EQ(best_sim["recommended_bytes"], best_mem["recommended_bytes"]);
    EXPECT_EQ(best_card["recommended_bytes"], best_mem["recommended_bytes"]);
    EXPECT_EQ(best_sim["memory_bytes"].get<std::uint64_t>(), 8110 * mib);
    EXPECT_EQ(cli("best-model", env()).status, 2);
    // Nothing given: what to pass.
    const auto none = cli("solve max-segment medium", env());
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("--memory"), std::string::npos) << none.err;
    EXPECT_NE(none.err.find("--gpu NAME"), std::string::npos) << none.err;
}

TEST_F(PlanningGpu, RecommendWithABatchedEngineShowsTheLargestBatch) {
    const auto j = cli_json("recommend --gpu T4 --engine faster-whisper --json", env());
    const std::string model = j["gpus"][0]["model"];
    const auto batch = cli_json("solve max-batch " + model + " --engine faster-whisper --gpu T4 --json", env());
    EXPECT_EQ(j["gpus"][0]["max_batch"], batch["value"]);
    EXPECT_GT(j["gpus"][0]["max_batch"].get<std::uint64_t>(), 1U);
    const auto text = cli("recommend --gpu T4 --engine faster-whisper", env());
    EXPECT_NE(text.out.find("max batch"), std::string::npos) << text.out;
    EXPECT_EQ(text.out.find("86400"), std::string::npos) << text.out;
    // The guide's formula is not batched: its segment column stays, no max_batch.
    const auto guide = cli_json("recommend --gpu T4 --json", env());
    EXPECT_TRUE(guide["gpus"][0]["max_batch"].is_null());
}

TEST(PlanningRequestForGpu, EnginesGetTheProbedCardTheGuideDoesNot) {
    gpu_device d;
    d.name = "NVIDIA GeForce GTX 1070";
    d.total_bytes = 8 * gib;
    d.capability = compute_capability{6, 1};
    estimate_request r = make_guide_request("medium");
    EXPECT_FALSE(request_for_gpu(r, d).target_gpu.has_value());  // the guide
    r.engine = "faster-whisper";
    const auto sized = request_for_gpu(r, d);
    ASSERT_TRUE(sized.target_gpu.has_value());
    EXPECT_EQ(sized.target_gpu->cc_major, 6);
    EXPECT_EQ(sized.target_gpu->cc_minor, 1);
    // A live name that is not a catalog name is fine: the estimate echoes no gpu_name for it.
    const auto e = estimate(sized);
    EXPECT_FALSE(e.request.gpu_name.has_value());
    EXPECT_EQ(e.recommended_bytes, [&] {
        estimate_request c = r;
        c.gpu_name = "GTX 1070";
        return estimate(c).recommended_bytes;
    }());
    // No capability reported: the catalog row; a named card (--gpu) wins.
    d.capability.reset();
    d.catalog_name = "GTX 1070";
    EXPECT_EQ(request_for_gpu(r, d).gpu_name, "GTX 1070");
    r.gpu_name = "RTX 3090";
    EXPECT_EQ(request_for_gpu(r, d).gpu_name, "RTX 3090");
}

TEST_F(PlanningGpu, CheckSweepsBatchesLikeSegments) {
    const auto j =
        cli_json("check medium --engine faster-whisper --simulate \"RTX 3090\" --batch 1,2,4,8,16 --json", env());
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 5U);
    const int batches[] = {1, 2, 4, 8, 16};
    for (std::size_t i = 0; i < 5; ++i) {
        const std::string b = std::to_string(batches[i]);
        EXPECT_EQ(j[i]["required"]["batch_size"], batches[i]);
        EXPECT_EQ(j[i]["gpus"][0]["required_bytes"].get<std::uint64_t>(),
                  calc_bytes("medium --engine faster-whisper --gpu \"RTX 3090\" --batch " + b))
            << "batch " << b;
    }
    EXPECT_LT(j[0]["gpus"][0]["required_bytes"].get<std::uint64_t>(),
              j[4]["gpus"][0]["required_bytes"].get<std::uint64_t>());
    // best-model sweeps the batch too: one answer per batch.
    const auto best = cli_json("best-model --memory 16 --engine faster-whisper --gpu T4 --batch 1,16 --json", env());
    ASSERT_EQ(best.size(), 2U);
    EXPECT_EQ(best[0]["batch_size"], 1);
    EXPECT_EQ(best[1]["batch_size"], 16);
}

TEST_F(PlanningGpu, PrecisionAllMarksWhatTheGpuCannotRunAndGoesOn) {
    const auto r = cli("check medium --engine faster-whisper --simulate T4 --precision all", env());
    EXPECT_EQ(r.status, 0) << r.out << r.err;  // every precision the T4 runs fits its 16 GiB
    EXPECT_NE(r.out.find("unsupported on T4 (CC 7.5): bfloat16"), std::string::npos) << r.out;
    const auto j = nlohmann::json::parse(
        cli("check medium --engine faster-whisper --simulate T4 --precision all --json", env()).out);
    std::size_t unsupported = 0;
    std::size_t checked = 0;
    for (const auto& point : j) {
        if (point.contains("unsupported")) {
            ++unsupported;
            EXPECT_NE(point["precision"].get<std::string>().find("bfloat16"), std::string::npos) << point.dump();
        } else {
            ++checked;
            EXPECT_TRUE(point["sufficient"].get<bool>()) << point.dump();
        }
    }
    EXPECT_EQ(unsupported, 2U);  // bfloat16 and int8_bfloat16
    EXPECT_GE(checked, 4U);
    const auto best = cli("best-model --memory 16 --engine faster-whisper --gpu T4 --precision all", env());
    EXPECT_EQ(best.status, 0) << best.err;
    EXPECT_NE(best.out.find("unsupported on T4 (CC 7.5): bfloat16"), std::string::npos) << best.out;
    // A single bfloat16 stays an error: the user asked for it.
    EXPECT_EQ(cli("best-model --memory 16 --engine faster-whisper --gpu T4 --precision bfloat16", env()).status, 2);
}

}  // namespace
}  // namespace whisper_vram
