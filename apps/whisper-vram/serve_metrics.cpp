// The Prometheus text format 0.0.4 of `whisper-vram serve` (serve_metrics.hpp).

#include "serve_metrics.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <iterator>

namespace whisper_vram::cli {

void duration_histogram::observe(double seconds) noexcept {
    const auto* bound = std::lower_bound(request_duration_buckets.begin(), request_duration_buckets.end(), seconds);
    if (bound != request_duration_buckets.end()) {
        ++bucket_counts[static_cast<std::size_t>(std::distance(request_duration_buckets.begin(), bound))];
    }
    ++count;
    sum += seconds;
}

void http_metrics::observe_request(const std::string& handler, int code, std::optional<double> seconds) {
    const std::lock_guard lock(mutex_);
    ++counters_.requests[{handler, code}];
    if (seconds) counters_.durations[handler].observe(*seconds);
}

void http_metrics::count_admission(const std::string& result) {
    const std::lock_guard lock(mutex_);
    ++counters_.admissions[result];
}

http_metrics::snapshot_type http_metrics::snapshot() const {
    const std::lock_guard lock(mutex_);
    return counters_;
}

std::string escape_label_value(std::string_view value) {
    std::string escaped;
    escaped.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                escaped += "\\\\";
                break;
            case '"':
                escaped += "\\\"";
                break;
            case '\n':
                escaped += "\\n";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// A float as the text format writes it: shortest round-trip, +Inf spelled out.
std::string number(double value) { return fmt::format("{}", value); }

std::string gpu_labels(const gpu_metrics& g) {
    return fmt::format(R"(gpu="{}",uuid="{}",model_name="{}")", escape_label_value(g.gpu), escape_label_value(g.uuid),
                       escape_label_value(g.model_name));
}

}  // namespace

std::string render_metrics(const metrics_input& in) {
    std::string out;
    out.reserve(4096 + in.gpus.size() * 1024);
    const auto back = std::back_inserter(out);

    struct gpu_family {
        const char* name;
        const char* help;
        std::uint64_t gpu_metrics::*field;
    };
    static constexpr gpu_family gpu_families[] = {
        {"whisper_vram_gpu_memory_total_bytes", "GPU memory as NVML reports it (memory.total; dcgm FB total)",
         &gpu_metrics::total_bytes},
        {"whisper_vram_gpu_memory_used_bytes", "GPU memory in use, by every process (dcgm FB used)",
         &gpu_metrics::used_bytes},
        {"whisper_vram_gpu_memory_free_bytes", "GPU memory free (dcgm FB free)", &gpu_metrics::free_bytes},
        {"whisper_vram_gpu_memory_reserved_bytes", "GPU memory reserved by whisper-vram (run, leases, library)",
         &gpu_metrics::reserved_bytes},
        {"whisper_vram_gpu_memory_admittable_bytes",
         "GPU memory a new whisper-vram reservation may take now (free less reservations not yet in use)",
         &gpu_metrics::admittable_bytes},
    };
    for (const auto& f : gpu_families) {
        family(out, f.name, "gauge", f.help);
        for (const auto& g : in.gpus) fmt::format_to(back, "{}{{{}}} {}\n", f.name, gpu_labels(g), g.*(f.field));
    }

    family(out, "whisper_vram_leases", "gauge", "leases held by this server (POST /api/v1/leases)");
    fmt::format_to(back, "whisper_vram_leases {}\n", in.leases);
    family(out, "whisper_vram_waiting_requests", "gauge", "requests waiting in the ledger's FIFO (every process)");
    fmt::format_to(back, "whisper_vram_waiting_requests {}\n", in.waiting_requests);

    family(out, "whisper_vram_job_capacity", "gauge",
           "how many more jobs of the profile (model:engine:precision:batch) would be admitted now");
    for (const auto& [profile, jobs] : in.job_capacity) {
        fmt::format_to(back, "whisper_vram_job_capacity{{profile=\"{}\"}} {}\n", escape_label_value(profile), jobs);
    }

    family(out, "whisper_vram_admissions_total", "counter", "lease requests by result");
    for (const auto& [result, count] : in.counters.admissions) {
        fmt::format_to(back, "whisper_vram_admissions_total{{result=\"{}\"}} {}\n", escape_label_value(result), count);
    }

    family(out, "whisper_vram_http_requests_total", "counter", "HTTP responses by handler and status code");
    for (const auto& [key, count] : in.counters.requests) {
        fmt::format_to(back, "whisper_vram_http_requests_total{{handler=\"{}\",code=\"{}\"}} {}\n",
                       escape_label_value(key.first), key.second, count);
    }

    family(out, "whisper_vram_http_request_duration_seconds", "histogram",
           "time from the request's headers to its response, by handler");
    for (const auto& [handler, h] : in.counters.durations) {
        const std::string label = escape_label_value(handler);
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < request_duration_buckets.size(); ++i) {
            cumulative += h.bucket_counts[i];
            fmt::format_to(back, "whisper_vram_http_request_duration_seconds_bucket{{handler=\"{}\",le=\"{}\"}} {}\n",
                           label, number(request_duration_buckets[i]), cumulative);
        }
        fmt::format_to(back, "whisper_vram_http_request_duration_seconds_bucket{{handler=\"{}\",le=\"+Inf\"}} {}\n",
                       label, h.count);
        fmt::format_to(back, "whisper_vram_http_request_duration_seconds_sum{{handler=\"{}\"}} {}\n", label,
                       number(h.sum));
        fmt::format_to(back, "whisper_vram_http_request_duration_seconds_count{{handler=\"{}\"}} {}\n", label, h.count);
    }

    family(out, "whisper_vram_nvml_up", "gauge", "1 when GPU information could be read (NVML or simulated), else 0");
    fmt::format_to(back, "whisper_vram_nvml_up {}\n", in.nvml_up ? 1 : 0);
    family(out, "whisper_vram_build_info", "gauge", "whisper-vram version and the NVIDIA driver it sees (always 1)");
    fmt::format_to(back,
                   "whisper_vram_build_info{{version=\"{}\",driver_version=\"{}\",cuda_driver_version=\"{}\"}} 1\n",
                   escape_label_value(in.version), escape_label_value(in.driver_version),
                   escape_label_value(in.cuda_driver_version));
    return out;
}

}  // namespace whisper_vram::cli
