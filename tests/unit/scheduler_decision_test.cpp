// The scheduler's decision (decide()) driven directly: no threads, no clocks, no ledger. Each test
// builds the state one poll sees and checks the verdict, the GPU and the reason.
#include <gtest/gtest.h>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/admission_decision.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;
using std::chrono::milliseconds;

gpu_capacity gpu(unsigned index, std::uint64_t available, bool usable = true) {
    gpu_capacity c;
    c.gpu_uuid = "GPU-" + std::to_string(index);
    c.gpu_index = index;
    c.gpu_name = "test";
    c.usable = usable;
    c.total_bytes = 24 * gib;
    c.available_bytes = usable ? available : 0;
    return c;
}

waiter_record waiter(std::uint64_t id, std::vector<std::string> gpus) {
    waiter_record w;
    w.id = id;
    w.bytes = 16 * gib;
    w.gpu_uuids = std::move(gpus);
    return w;
}

// 8 GiB for "m" on GPU-0 (24 GiB total) with @p available bytes free now; no queue, no deadline.
admission_input request(std::uint64_t available) {
    admission_input in;
    in.bytes = 8 * gib;
    in.model = "m";
    in.gpu_uuids = {"GPU-0"};
    in.largest_total_bytes = 24 * gib;
    in.gpus = {gpu(0, available)};
    in.cuda_indices = {0};
    return in;
}

TEST(AdmissionDecision, GrantsTheHeadThatFits) {
    auto in = request(10 * gib);
    in.cuda_indices = {3};  // CUDA numbers it 3 (CUDA_VISIBLE_DEVICES): the message says so
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::grant);
    ASSERT_TRUE(d.gpu.has_value());
    EXPECT_EQ(*d.gpu, 0U);
    EXPECT_TRUE(d.final());
    EXPECT_EQ(d.message, "reserved 8.00 GiB on GPU 3 (test) for m");
    EXPECT_EQ(d.progress.queue_position, 0U);
    EXPECT_EQ(d.progress.best_available_bytes, 10 * gib);
    EXPECT_TRUE(d.progress.reason.empty());
    // Exactly the available bytes still fit (≤).
    in.bytes = 10 * gib;
    EXPECT_EQ(decide(in).verdict, admission_verdict::grant);
}

TEST(AdmissionDecision, AStaleWaiterIsPassedOverAndCountsAgainOnceItBeats) {
    auto in = request(10 * gib);
    in.now_wall_ms = 1'000'000;
    std::vector<waiter_record> queue{waiter(5, {"GPU-0"}), waiter(6, {"GPU-0"})};
    queue[0].heartbeat_ms = in.now_wall_ms - waiter_stale_after_ms - 1;  // stopped: silent for 10.001 s
    queue[1].heartbeat_ms = in.now_wall_ms - waiter_stale_after_ms;      // exactly 10 s: still fresh
    in.waiters = queue;
    in.waiter_id = 9;
    auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::keep_waiting);
    EXPECT_EQ(d.progress.queue_position, 1U);       // only waiter 6 counts
    queue[1].heartbeat_ms = queue[0].heartbeat_ms;  // both stopped: the head of the live queue goes
    d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::grant);
    queue[0].heartbeat_ms = in.now_wall_ms;  // waiter 5 beats again: it is ahead once more
    d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::keep_waiting);
    EXPECT_EQ(d.progress.queue_position, 1U);
}

TEST(AdmissionDecision, NotFittingEnqueuesThenKeepsWaiting) {
    auto in = request(4 * gib);
    auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::enqueue);
    EXPECT_FALSE(d.final());
    EXPECT_FALSE(d.gpu.has_value());
    EXPECT_EQ(d.progress.reason, "needs 8.00 GiB, at most 4.00 GiB available");
    in.waiter_id = 7;  // has its place now
    d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::keep_waiting);
    EXPECT_EQ(d.progress.best_gpu_uuid, "GPU-0");
}

TEST(AdmissionDecision, FifoHeadBlocksLaterArrivals) {
    auto in = request(10 * gib);  // 8 GiB would fit…
    const std::vector<waiter_record> queue{waiter(5, {"GPU-0"}), waiter(6, {"GPU-0", "GPU-1"})};
    in.waiters = queue;
    auto d = decide(in);  // …but two earlier waiters share GPU-0: no bypass, take a place behind them
    EXPECT_EQ(d.verdict, admission_verdict::enqueue);
    EXPECT_EQ(d.progress.queue_position, 2U);
    EXPECT_EQ(d.progress.reason, "behind 2 earlier request(s) in the queue");
    in.waiter_id = 9;  // queued after both
    EXPECT_EQ(decide(in).verdict, admission_verdict::keep_waiting);
    in.waiter_id = 6;  // only 5 is ahead
    d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::keep_waiting);
    EXPECT_EQ(d.progress.queue_position, 1U);
    in.waiter_id = 5;  // the head: granted
    EXPECT_EQ(decide(in).verdict, admission_verdict::grant);
}

TEST(AdmissionDecision, WaitersOnOtherGpusDoNotBlock) {
    auto in = request(10 * gib);
    const std::vector<waiter_record> queue{waiter(1, {"GPU-1"}), waiter(2, {"GPU-2", "GPU-3"})};
    in.waiters = queue;
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(d.progress.queue_position, 0U);
    EXPECT_TRUE(gpu_sets_overlap({"GPU-1", "GPU-0"}, {"GPU-0"}));
    EXPECT_FALSE(gpu_sets_overlap({"GPU-1"}, {"GPU-0", "GPU-2"}));
    EXPECT_FALSE(gpu_sets_overlap({}, {"GPU-0"}));
}

TEST(AdmissionDecision, NeverFitsBeforeAnythingElse) {
    auto in = request(24 * gib);
    in.bytes = 24 * gib + 1;
    const std::vector<waiter_record> queue{waiter(5, {"GPU-0"})};
    in.waiters = queue;
    in.cancelled = true;
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::never_fits);
    EXPECT_TRUE(d.final());
    EXPECT_EQ(to_reserve_status(d.verdict), reserve_status::never_fits);
    EXPECT_EQ(d.message,
              "m needs 24.00 GiB but the largest listed GPU has 24.00 GiB in total: it can never fit; use a "
              "smaller configuration or another GPU");
    // Nothing of the queue or the GPUs is reported for it.
    EXPECT_EQ(d.progress.queue_position, 0U);
    EXPECT_EQ(d.progress.best_available_bytes, 0U);
    EXPECT_TRUE(d.progress.reason.empty());
    in.bytes = 24 * gib;  // the total itself can fit one day
    EXPECT_NE(decide(in).verdict, admission_verdict::never_fits);
}

TEST(AdmissionDecision, TimesOutAtTheDeadlineNotBefore) {
    auto in = request(4 * gib);
    in.waiter_id = 7;
    in.deadline = in.started + milliseconds(1500);
    in.now = in.started + milliseconds(1499);
    EXPECT_EQ(decide(in).verdict, admission_verdict::keep_waiting);
    in.now = in.started + milliseconds(1500);
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::timed_out);
    EXPECT_EQ(to_reserve_status(d.verdict), reserve_status::timed_out);
    EXPECT_EQ(d.progress.waited, milliseconds(1500));
    EXPECT_EQ(d.message, "timed out after 1.5 s waiting for 8.00 GiB (m): needs 8.00 GiB, at most 4.00 GiB available");
    // Without a deadline it never times out.
    in.deadline.reset();
    in.now = in.started + milliseconds(86'400'000);
    EXPECT_EQ(decide(in).verdict, admission_verdict::keep_waiting);
}

TEST(AdmissionDecision, TimeoutZeroIsNotAdmittedNowAndNeverQueues) {
    auto in = request(4 * gib);
    in.may_wait = false;
    in.model.clear();
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::timed_out);
    EXPECT_EQ(d.message,
              "not admitted now after 0.0 s waiting for 8.00 GiB (the task): needs 8.00 GiB, at most 4.00 GiB "
              "available");
}

TEST(AdmissionDecision, CancelledUnlessGrantedInTheSamePoll) {
    auto in = request(4 * gib);
    in.waiter_id = 7;
    in.cancelled = true;
    in.deadline = in.started;  // also past the deadline: cancelled is the reason given
    auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::cancelled);
    EXPECT_EQ(to_reserve_status(d.verdict), reserve_status::cancelled);
    EXPECT_EQ(d.message.rfind("cancelled after 0.0 s", 0), 0U) << d.message;
    in.gpus = {gpu(0, 8 * gib)};  // the memory is there: the grant wins
    d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(to_reserve_status(d.verdict), reserve_status::granted);
}

TEST(AdmissionDecision, BestFitTakesTheTightestMostFreeTheLargestTiesToLowerIndex) {
    auto in = request(0);
    in.gpu_uuids = {"GPU-0", "GPU-1", "GPU-2", "GPU-3"};
    // In vector order: index 2 (12 GiB), index 1 (12 GiB), index 3 (20 GiB), index 0 (unusable).
    in.gpus = {gpu(2, 12 * gib), gpu(1, 12 * gib), gpu(3, 20 * gib), gpu(0, 0, false)};
    in.cuda_indices = {2, 1, 3, 0};
    in.policy = placement_policy::best_fit;
    auto d = decide(in);  // 12 − 8 < 20 − 8; the two 12s tie: lower NVML index 1
    ASSERT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(*d.gpu, 1U);
    EXPECT_EQ(d.message, "reserved 8.00 GiB on GPU 1 (test) for m");
    in.policy = placement_policy::most_free;
    d = decide(in);
    ASSERT_EQ(d.verdict, admission_verdict::grant);
    EXPECT_EQ(*d.gpu, 2U);  // index 3, 20 GiB
    in.gpus.erase(in.gpus.begin() + 2);
    in.cuda_indices.erase(in.cuda_indices.begin() + 2);
    d = decide(in);  // most_free between equals: lower index too
    EXPECT_EQ(*d.gpu, 1U);
    EXPECT_EQ(d.progress.best_gpu_index, 2U);  // the best noted is the first of equals, as listed
}

TEST(AdmissionDecision, UnusableGpusAreNeverChosenNorReportedAsBest) {
    auto in = request(0);
    in.gpu_uuids = {"GPU-0", "GPU-1"};
    in.gpus = {gpu(0, 0, false), gpu(1, 6 * gib)};
    in.cuda_indices = {0, 1};
    const auto d = decide(in);
    EXPECT_EQ(d.verdict, admission_verdict::enqueue);
    EXPECT_EQ(d.progress.best_gpu_uuid, "GPU-1");
    EXPECT_EQ(d.progress.best_available_bytes, 6 * gib);
    // A vanished GPU (no figures this poll) leaves nothing to choose: wait.
    in.gpus.clear();
    in.cuda_indices.clear();
    const auto none = decide(in);
    EXPECT_EQ(none.verdict, admission_verdict::enqueue);
    EXPECT_EQ(none.progress.reason, "needs 8.00 GiB, at most 0.00 GiB available");
}

TEST(AdmissionDecision, VerdictNames) {
    EXPECT_EQ(to_string(admission_verdict::grant), "grant");
    EXPECT_EQ(to_string(admission_verdict::enqueue), "enqueue");
    EXPECT_EQ(to_string(admission_verdict::keep_waiting), "keep_waiting");
    EXPECT_EQ(to_string(admission_verdict::never_fits), "never_fits");
    EXPECT_EQ(to_string(admission_verdict::timed_out), "timed_out");
    EXPECT_EQ(to_string(admission_verdict::cancelled), "cancelled");
    EXPECT_EQ(to_string(static_cast<admission_verdict>(42)), "?");
    EXPECT_EQ(to_string(reserve_status::gpu_unavailable), "gpu_unavailable");
    EXPECT_EQ(to_string(static_cast<reserve_status>(42)), "?");
    EXPECT_EQ(to_string(placement_policy::most_free), "most-free");
}

}  // namespace
}  // namespace whisper_vram
