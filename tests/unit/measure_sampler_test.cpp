// The sampler's peak arithmetic (peak_tracker) on hand-written snapshots, the process-tree test on
// this process, and the out-of-memory advice (replan.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/planner/replan.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = 1024ULL * 1024 * 1024;
using std::chrono::milliseconds;

gpu_snapshot one_gpu(std::uint64_t used, std::vector<gpu_process> processes, bool known = true,
                     gpu_state state = gpu_state::ok) {
    gpu_snapshot s;
    s.source = probe_source::nvml;
    gpu_device d;
    d.index = 0;
    d.name = "NVIDIA GeForce RTX 3090";
    d.total_bytes = 24 * gib;
    d.used_bytes = used;
    d.processes = std::move(processes);
    d.processes_known = known;
    d.state = state;
    s.gpus.push_back(d);
    return s;
}

// pids 100 and 101 are the job's; 200 is another visible process; 300 is not visible.
const peak_tracker::pid_tests tests{[](std::uint32_t pid) { return pid == 100 || pid == 101; },
                                    [](std::uint32_t pid) { return pid != 300; }};

TEST(PeakTracker, KeepsThePeakOfTheTreeSumAndItsTime) {
    peak_tracker t;
    t.baseline(one_gpu(gib, {}));
    t.add(one_gpu(3 * gib, {{100, 2 * gib, ""}}), milliseconds(50), tests);
    t.add(one_gpu(6 * gib, {{100, 2 * gib, ""}, {101, 3 * gib, ""}, {200, 4 * gib, ""}}), milliseconds(100), tests);
    t.add(one_gpu(2 * gib, {{100, gib, ""}}), milliseconds(150), tests);
    const auto r = t.report();
    ASSERT_EQ(r.gpus.size(), 1U);
    EXPECT_EQ(r.gpus[0].method, peak_method::process_tree);
    EXPECT_EQ(r.gpus[0].peak_bytes, 5 * gib);  // 2 + 3; pid 200's 4 GiB is not the job's
    EXPECT_EQ(r.gpus[0].peak_at, milliseconds(100));
    EXPECT_EQ(r.gpus[0].baseline_bytes, gib);
    EXPECT_EQ(r.gpus[0].device_delta_peak_bytes, 5 * gib);  // 6 − 1
    EXPECT_EQ(r.samples, 3U);
    EXPECT_EQ(r.misses, 0U);
}

TEST(PeakTracker, DeviceDeltaWhenTheProcessListIsUnavailable) {
    peak_tracker t;
    t.baseline(one_gpu(gib, {}));
    t.add(one_gpu(4 * gib, {}, false), milliseconds(50), tests);
    t.add(one_gpu(3 * gib, {}, false), milliseconds(100), tests);
    const auto r = t.report();
    EXPECT_EQ(r.gpus[0].method, peak_method::device_delta);
    EXPECT_EQ(r.gpus[0].peak_bytes, 3 * gib);
    EXPECT_EQ(r.gpus[0].peak_at, milliseconds(50));
    ASSERT_FALSE(r.gpus[0].notes.empty());
}

TEST(PeakTracker, DeviceDeltaWhenNvmlPidsAreInvisible) {
    peak_tracker t;
    t.baseline(one_gpu(0, {}));
    t.add(one_gpu(2 * gib, {{300, 2 * gib, ""}}), milliseconds(50), tests);
    const auto r = t.report();
    EXPECT_EQ(r.gpus[0].method, peak_method::device_delta);
    EXPECT_EQ(r.gpus[0].peak_bytes, 2 * gib);
    EXPECT_NE(r.gpus[0].notes.back().find("PID namespace"), std::string::npos);
}

TEST(PeakTracker, DeviceDeltaWhenTheJobsMemoryIsNotAvailable) {
    peak_tracker t;
    t.baseline(one_gpu(0, {}));
    t.add(one_gpu(gib, {{100, std::nullopt, ""}}), milliseconds(50), tests);
    EXPECT_EQ(t.report().gpus[0].method, peak_method::device_delta);
    EXPECT_EQ(t.report().gpus[0].peak_bytes, gib);
}

TEST(PeakTracker, KeepsThePeakWhenTheGpuIsLostAndCountsMisses) {
    peak_tracker t;
    t.baseline(one_gpu(0, {}));
    t.add(one_gpu(3 * gib, {{100, 3 * gib, ""}}), milliseconds(50), tests);
    t.add(one_gpu(0, {}, false, gpu_state::lost), milliseconds(100), tests);
    t.add(one_gpu(9 * gib, {{100, 9 * gib, ""}}), milliseconds(150), tests);  // stays lost for this run
    gpu_snapshot none;
    t.add(none, milliseconds(200), tests);
    t.add(one_gpu(0, {}, false, gpu_state::lost), milliseconds(250), tests, true);
    const auto r = t.report();
    EXPECT_EQ(r.gpus[0].peak_bytes, 3 * gib);
    ASSERT_TRUE(r.gpus[0].lost_at.has_value());
    EXPECT_EQ(*r.gpus[0].lost_at, milliseconds(100));
    EXPECT_EQ(r.misses, 2U);  // the failed snapshot and the late one
}

TEST(ProcessTree, ThisProcessAndItsChildren) {
    const auto self = static_cast<std::uint32_t>(::getpid());
    EXPECT_TRUE(in_process_tree(self, self));
    EXPECT_TRUE(in_process_tree(self, static_cast<std::uint32_t>(::getppid())));   // a descendant of its parent
    EXPECT_FALSE(in_process_tree(static_cast<std::uint32_t>(::getppid()), self));  // the parent is not
    EXPECT_TRUE(process_visible(self));
    EXPECT_FALSE(process_visible(0x7ffffff0U));
}

TEST(OomMessage, FindsTheUsualMessages) {
    EXPECT_EQ(find_out_of_memory_message("x\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20 MiB\ny"),
              "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20 MiB");
    EXPECT_TRUE(find_out_of_memory_message("RuntimeError: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"));
    EXPECT_TRUE(find_out_of_memory_message("error: cudaErrorMemoryAllocation"));
    EXPECT_EQ(find_out_of_memory_message("ggml_cuda_init: found 1 device\n"
                                         "ggml_cuda_host_malloc: failed to allocate 512.00 MiB of pinned memory\n"),
              "ggml_cuda_host_malloc: failed to allocate 512.00 MiB of pinned memory");
    EXPECT_FALSE(find_out_of_memory_message("ggml_cuda_init: found 1 device\nout of disk space"));
    EXPECT_FALSE(find_out_of_memory_message("file not found"));
}

TEST(Replan, EachChangeAloneReEstimated) {
    const auto request = make_guide_request("medium", 30, 8, "float16");
    oom_situation s;
    s.gpu_index = 0;
    s.gpu_name = "RTX 3090";
    s.available_bytes = estimate(make_guide_request("medium", 30, 4)).recommended_bytes;  // batch 4 just fits
    const auto a = replan_after_oom(request, s, "CUDA out of memory");
    ASSERT_EQ(a.suggestions.size(), 3U);  // batch, precision, model; no other job → no concurrency change
    EXPECT_EQ(a.suggestions[0].change, "batch_size");
    EXPECT_EQ(a.suggestions[0].config.batch_size, 4);
    EXPECT_EQ(a.suggestions[0].recommended_bytes, s.available_bytes);
    EXPECT_TRUE(a.suggestions[0].fits);  // exactly the available amount fits
    EXPECT_EQ(a.suggestions[1].change, "precision");
    EXPECT_EQ(a.suggestions[1].config.precision, "int8");
    EXPECT_EQ(a.suggestions[1].recommended_bytes,
              estimate(make_guide_request("medium", 30, 8, "int8")).recommended_bytes);
    EXPECT_EQ(a.suggestions[2].change, "model");
    EXPECT_EQ(a.suggestions[2].config.model, "small");
    EXPECT_FALSE(a.notes.empty());
}

TEST(Replan, FewerConcurrentJobsAndTheMeasuredCorrection) {
    const auto request = make_guide_request("small", 30, 1, "int4");  // nothing narrower, batch 1
    const auto failed = estimate(request);
    oom_situation s;
    s.available_bytes = failed.recommended_bytes - 1;
    s.other_jobs = 2;
    s.other_jobs_bytes = 4 * gib;
    s.peak_bytes = failed.total_required_bytes * 2;  // the job used twice its estimate
    const auto a = replan_after_oom(request, s, "CUDA out of memory");
    ASSERT_TRUE(a.correction.has_value());
    EXPECT_DOUBLE_EQ(*a.correction, 2.0);
    const auto concurrent = std::find_if(a.suggestions.begin(), a.suggestions.end(),
                                         [](const replan_suggestion& x) { return x.change == "concurrent_jobs"; });
    ASSERT_NE(concurrent, a.suggestions.end());
    EXPECT_EQ(concurrent->available_bytes, s.available_bytes + 4 * gib);
    EXPECT_EQ(concurrent->corrected_bytes, failed.recommended_bytes * 2);
    EXPECT_EQ(concurrent->fits, failed.recommended_bytes * 2 <= s.available_bytes + 4 * gib);
    for (const auto& x : a.suggestions) EXPECT_NE(x.change, "batch_size");
}

}  // namespace
}  // namespace whisper_vram
