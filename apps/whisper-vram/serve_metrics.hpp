#pragma once
// GET /metrics of `whisper-vram serve`: the Prometheus text format 0.0.4, written here (no client
// library). The counters (requests, admissions) are kept by http_metrics; render_metrics() turns a
// snapshot of everything into the text, purely (tested and benchmarked without a socket).

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace whisper_vram::cli {

/// Upper bounds (seconds) of whisper_vram_http_request_duration_seconds' buckets (+Inf implied).
inline constexpr std::array<double, 14> request_duration_buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/// One histogram: cumulative counts are made when rendered.
struct duration_histogram {
    std::array<std::uint64_t, request_duration_buckets.size()> bucket_counts{};  ///< per bucket, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    /// Counts one observation of @p seconds.
    void observe(double seconds) noexcept;
};

/// Request and admission counters, thread-safe.
class http_metrics {
public:
    /// Counts one response of @p handler with @p code; @p seconds (when known) into the histogram.
    void observe_request(const std::string& handler, int code, std::optional<double> seconds);
    /// Counts one lease admission ending in @p result (granted, timed_out, never_fits, …).
    void count_admission(const std::string& result);

    /// A copy of the counters.
    struct snapshot_type {
        std::map<std::pair<std::string, int>, std::uint64_t> requests;  ///< (handler, code) → count
        std::map<std::string, duration_histogram> durations;            ///< handler → histogram
        std::map<std::string, std::uint64_t> admissions;                ///< result → count
    };
    [[nodiscard]] snapshot_type snapshot() const;

private:
    mutable std::mutex mutex_;
    snapshot_type counters_;
};

/// One GPU's memory figures (bytes).
struct gpu_metrics {
    std::string gpu;  ///< the `gpu` label: the NVML index, as dcgm-exporter's
    std::string uuid;
    std::string model_name;
    std::uint64_t total_bytes = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t free_bytes = 0;
    std::uint64_t reserved_bytes = 0;    ///< Σ whisper-vram reservations (ledger)
    std::uint64_t admittable_bytes = 0;  ///< what a new reservation may take now
};

/// Everything /metrics shows, at one moment.
struct metrics_input {
    bool nvml_up = false;  ///< GPU information could be read (NVML or simulated)
    std::vector<gpu_metrics> gpus;
    std::size_t leases = 0;                                           ///< leases this server holds
    std::size_t waiting_requests = 0;                                 ///< waiters in the ledger's FIFO (every process)
    std::vector<std::pair<std::string, std::uint64_t>> job_capacity;  ///< profile → jobs that fit now
    http_metrics::snapshot_type counters;
    std::string version;
    std::string driver_version;
    std::string cuda_driver_version;
};

/// @p value escaped for a label value: backslash, double quote and newline as \\, \" and \n.
std::string escape_label_value(std::string_view value);

/// The text format 0.0.4: HELP and TYPE for every family, then its samples.
std::string render_metrics(const metrics_input& input);

}  // namespace whisper_vram::cli
