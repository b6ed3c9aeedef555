// Re-plan advice after an out-of-memory failure (see replan.hpp).

#include "whisper_vram/planner/replan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

// The line of @p text around position @p at, trimmed of its newline.
std::string line_at(std::string_view text, std::size_t at) {
    const auto begin = text.rfind('\n', at);
    const auto from = begin == std::string_view::npos ? 0 : begin + 1;
    const auto end = text.find('\n', at);
    std::string line(text.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    constexpr std::size_t max_line = 300;
    if (line.size() > max_line) line = line.substr(0, max_line) + "…";
    return line;
}

// Precisions, widest first (bfloat16 ranks with float16).
constexpr auto precision_order = std::to_array<std::string_view>({"float32", "float16", "int8", "int4"});

std::size_t precision_rank(std::string_view name) {
    const std::string_view key = name == "bfloat16" ? "float16" : name;
    const auto* it = std::find(precision_order.begin(), precision_order.end(), key);
    return static_cast<std::size_t>(it - precision_order.begin());
}

}  // namespace

std::optional<std::string> find_out_of_memory_message(std::string_view text) {
    for (const std::string_view needle :
         {"CUDA out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "cudaErrorMemoryAllocation"}) {
        if (const auto at = text.find(needle); at != std::string_view::npos) return line_at(text, at);
    }
    for (auto at = text.find("ggml_cuda"); at != std::string_view::npos; at = text.find("ggml_cuda", at + 1)) {
        const std::string line = line_at(text, at);
        if (line.find("failed to allocate") != std::string::npos || line.find("out of memory") != std::string::npos) {
            return line;
        }
    }
    return std::nullopt;
}

oom_advice replan_after_oom(const estimate_request& request, const oom_situation& situation, std::string message) {
    oom_advice advice;
    advice.message = std::move(message);
    advice.situation = situation;
    advice.failed = estimate(request);
    const estimate_request& r = advice.failed.request;
    if (situation.peak_bytes && advice.failed.total_required_bytes > 0 &&
        *situation.peak_bytes > advice.failed.total_required_bytes) {
        advice.correction =
            static_cast<double>(*situation.peak_bytes) / static_cast<double>(advice.failed.total_required_bytes);
        advice.notes.push_back(fmt::format(
            "the job's measured peak ({}) exceeded its estimate ({}) by a factor {:.2f}: each change's figure is "
            "scaled by it (corrected_bytes)",
            format_gib(*situation.peak_bytes), format_gib(advice.failed.total_required_bytes), *advice.correction));
    }
    if (!advice.correction && advice.failed.recommended_bytes <= situation.available_bytes) {
        advice.notes.push_back(fmt::format(
            "the estimate says this configuration fits ({} recommended, {} available): it is low for this job, so "
            "the figures below are optimistic; measure the job (whisper-vram measure) and calibrate the estimates",
            format_gib(advice.failed.recommended_bytes), format_gib(situation.available_bytes)));
    }
    const auto add = [&](std::string change, const estimate_request& config, std::uint64_t available,
                         const std::string& what) {
        memory_estimate e;
        try {
            e = estimate(config);
        } catch (const usage_error&) {
            return false;  // the engine refuses this change
        }
        replan_suggestion s;
        s.change = std::move(change);
        s.config = e.request;
        s.recommended_bytes = e.recommended_bytes;
        if (advice.correction) {
            s.corrected_bytes =
                static_cast<std::uint64_t>(std::ceil(static_cast<double>(e.recommended_bytes) * *advice.correction));
        }
        s.available_bytes = available;
        s.fits = s.corrected_bytes.value_or(s.recommended_bytes) <= available;
        s.text = fmt::format("{}: recommended {}{} — {} in {} on GPU {}", what, format_gib(s.recommended_bytes),
                             s.corrected_bytes ? fmt::format(" ({} corrected)", format_gib(*s.corrected_bytes)) : "",
                             s.fits ? "fits" : "does not fit", format_gib(available), situation.gpu_index);
        advice.suggestions.push_back(std::move(s));
        return true;
    };
    const std::uint64_t available = situation.available_bytes;
    // 1. A smaller batch: halved.
    if (r.batch_size > 1) {
        estimate_request c = r;
        c.batch_size = r.batch_size / 2;
        add("batch_size", c, available, fmt::format("batch {} (from {})", c.batch_size, r.batch_size));
    }
    // 2. A lower precision: the first narrower one the engine accepts that needs less.
    for (std::size_t i = precision_rank(r.precision) + 1; i < precision_order.size(); ++i) {
        estimate_request c = r;
        c.precision = std::string(precision_order[i]);
        try {
            if (estimate(c).recommended_bytes >= advice.failed.recommended_bytes) continue;
        } catch (const usage_error&) {
            continue;
        }
        if (add("precision", c, available, fmt::format("precision {} (from {})", precision_order[i], r.precision))) {
            break;
        }
    }
    // 3. A smaller model: the next one down the engine's ladder with fewer parameters.
    if (const whisper_model* current = try_find_model(r.model)) {
        for (const auto& name : model_ladder(r.engine, current->english_only)) {
            const whisper_model* m = try_find_model(name);
            if (m == nullptr || m->published_parameters >= current->published_parameters) continue;
            estimate_request c = r;
            c.model = name;
            if (add("model", c, available, fmt::format("model {} (from {})", name, r.model))) break;
        }
    }
    // 4. Fewer concurrent jobs: the other reservations on the GPU gone.
    if (situation.other_jobs > 0) {
        add("concurrent_jobs", r, available + situation.other_jobs_bytes,
            fmt::format("no other whisper-vram job beside it (now {}, {} reserved)", situation.other_jobs,
                        format_gib(situation.other_jobs_bytes)));
    } else {
        advice.notes.emplace_back(
            "no other whisper-vram job holds memory on this GPU: fewer concurrent jobs cannot help");
    }
    return advice;
}

}  // namespace whisper_vram
