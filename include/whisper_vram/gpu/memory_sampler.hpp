#pragma once
/// @file memory_sampler.hpp
/// What a job really used on the GPU: a thread that reads a gpu_probe (NVML) every interval while
/// the job runs and keeps, per GPU, the peak of the job's memory and when it happened.
///
/// The job's memory on a GPU is the sum of NVML's per-process used memory over the job's process
/// tree (the root process, its descendants and its process group, read from /proc at each
/// sample). Where per-process figures are not available (the process list is not supported, a
/// process reports "not available", or NVML's pids are not visible here: another PID namespace)
/// the figure is the device-wide used memory above the baseline read just before the job started
/// (method device_delta, marked as such: other processes' allocations count too).
///
/// The peak arithmetic (peak_tracker) is separate from the thread (memory_sampler) so that it can
/// be tested with hand-written snapshots.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {

/// How a peak was measured.
enum class peak_method {
    process_tree,  ///< Σ NVML per-process used memory over the job's process tree
    device_delta,  ///< device used memory − the baseline taken before the job started
};

/// "process_tree" or "device_delta".
constexpr std::string_view to_string(peak_method method) noexcept {
    return method == peak_method::process_tree ? "process_tree" : "device_delta";
}

/// Sampling interval limits of `measure --interval-ms` (and the default).
inline constexpr std::chrono::milliseconds min_sample_interval{10};
inline constexpr std::chrono::milliseconds max_sample_interval{10000};
inline constexpr std::chrono::milliseconds default_sample_interval{50};

/// What a job used on one GPU.
struct gpu_measurement {
    unsigned index = 0;  ///< NVML index
    std::string name;    ///< as NVML names it
    std::string uuid;
    std::optional<compute_capability> capability;
    std::uint64_t total_bytes = 0;
    std::uint64_t baseline_bytes = 0;  ///< device used memory just before the job started
    std::uint64_t peak_bytes = 0;      ///< the job's peak by `method`
    peak_method method = peak_method::process_tree;
    std::chrono::milliseconds peak_at{0};  ///< since the job started
    std::uint64_t process_tree_peak_bytes = 0;
    std::uint64_t device_delta_peak_bytes = 0;
    std::optional<std::chrono::milliseconds> lost_at;  ///< when the GPU vanished (GPU_IS_LOST)
    std::vector<std::string> notes;                    ///< why device_delta, when it vanished, …
};

/// What a sampling run saw.
struct measurement_report {
    std::vector<gpu_measurement> gpus;
    std::uint64_t samples = 0;  ///< snapshots taken (the baseline not counted)
    std::uint64_t misses = 0;   ///< samples that failed, or came more than one interval late
    std::chrono::milliseconds interval{default_sample_interval};
    std::chrono::milliseconds duration{0};    ///< from start to stop
    std::chrono::nanoseconds sampler_cpu{0};  ///< CPU time the sampling thread used
};

/// True when @p pid belongs to the job: it is @p root, a descendant of @p root, or in process
/// group @p root (the job leads its group). Reads /proc/PID/stat; false when it is not visible.
[[nodiscard]] bool in_process_tree(std::uint32_t pid, std::uint32_t root);

/// True when /proc/@p pid exists in this PID namespace.
[[nodiscard]] bool process_visible(std::uint32_t pid);

/// The peak arithmetic of a sampling run (no clock, no thread).
class peak_tracker {
public:
    /// Which pids are the job's, and which are visible at all (defaults: /proc).
    struct pid_tests {
        std::function<bool(std::uint32_t)> in_job;
        std::function<bool(std::uint32_t)> visible;
    };
    /// Tracks the GPUs with NVML indices @p indices (empty: every GPU of the baseline).
    explicit peak_tracker(std::vector<unsigned> indices = {}) : indices_(std::move(indices)) {}

    /// The baseline: device used memory per GPU now (before the job starts).
    void baseline(const gpu_snapshot& snapshot);
    /// One sample taken @p at after the job started. @p late: it came more than an interval late.
    void add(const gpu_snapshot& snapshot, std::chrono::milliseconds at, const pid_tests& tests, bool late = false);
    /// The report so far (samples, misses, per-GPU peaks and methods).
    [[nodiscard]] measurement_report report() const;

private:
    struct gpu_state_t {
        gpu_measurement m;
        std::chrono::milliseconds tree_peak_at{0};
        std::chrono::milliseconds delta_peak_at{0};
        bool per_process_unavailable = false;  // process list unreadable at some sample
        bool value_not_available = false;      // a job pid reported "not available"
        bool invisible_pids = false;           // NVML listed pids that /proc does not show
    };
    std::vector<unsigned> indices_;
    std::vector<gpu_state_t> gpus_;
    std::uint64_t samples_ = 0;
    std::uint64_t misses_ = 0;
};

/// The sampling thread. Not copyable; stop() (or the destructor) ends the thread.
class memory_sampler {
public:
    /// Samples @p probe (which must outlive the sampler; used only by the sampler while it runs) on the GPUs with NVML
    /// indices
    /// @p indices (empty: all) every @p interval.
    memory_sampler(gpu_probe& probe, std::vector<unsigned> indices, std::chrono::milliseconds interval);
    ~memory_sampler();
    memory_sampler(const memory_sampler&) = delete;
    memory_sampler& operator=(const memory_sampler&) = delete;
    memory_sampler(memory_sampler&&) = delete;
    memory_sampler& operator=(memory_sampler&&) = delete;

    /// Reads the baseline now (call just before the job starts); returns that snapshot.
    gpu_snapshot take_baseline();
    /// Starts sampling the process tree of @p root (the job's pid = its process group).
    void start(pid_t root);
    /// Stops the thread and returns what it saw. Idempotent.
    measurement_report stop();

    struct state;

private:
    std::unique_ptr<state> state_;
};

}  // namespace whisper_vram
