// The scheduler's decision for one poll (pure): see admission_decision.hpp for the rules and
// their order. Inputs are values; the loop in scheduler.cpp reads them and applies the verdict.

#include "whisper_vram/sched/admission_decision.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

// Both arms string_view: `empty() ? "the task" : model` would be a std::string temporary.
std::string_view task_name(const std::string& model) {
    return model.empty() ? std::string_view("the task") : std::string_view(model);
}

// Rule 2: earlier waiters (lower id; all of them while we have no place) that may use one of our GPUs
// and are beating (a stopped one is passed over).
std::size_t queue_position(const admission_input& in) {
    return static_cast<std::size_t>(std::count_if(in.waiters.begin(), in.waiters.end(), [&](const waiter_record& w) {
        return (in.waiter_id == 0 || w.id < in.waiter_id) && w.id != in.waiter_id && !waiter_stale(w, in.now_wall_ms) &&
               gpu_sets_overlap(w.gpu_uuids, in.gpu_uuids);
    }));
}

// The usable GPU with the most available memory (the first of equals: the loop's order).
void note_best_gpu(const std::vector<gpu_capacity>& gpus, wait_progress& progress) {
    for (const auto& c : gpus) {
        if (c.usable && (progress.best_gpu_uuid.empty() || c.available_bytes > progress.best_available_bytes)) {
            progress.best_available_bytes = c.available_bytes;
            progress.best_gpu_uuid = c.gpu_uuid;
            progress.best_gpu_index = c.gpu_index;
        }
    }
}

// choose_gpu() with each GPU's own size (admission_input::gpu_bytes): best_fit keeps the least
// left over, most_free the most; ties to the lower NVML index.
std::optional<std::size_t> choose_sized_gpu(const admission_input& in) {
    std::optional<std::size_t> best;
    std::uint64_t best_left = 0;
    for (std::size_t i = 0; i < in.gpus.size(); ++i) {
        const std::uint64_t need = request_bytes_on(in, in.gpus[i].gpu_uuid);
        if (!admits(in.gpus[i], need)) continue;
        const std::uint64_t left = in.gpus[i].available_bytes - need;
        const bool better = in.policy == placement_policy::best_fit ? left < best_left : left > best_left;
        if (!best || better || (left == best_left && in.gpus[i].gpu_index < in.gpus[*best].gpu_index)) {
            best = i;
            best_left = left;
        }
    }
    return best;
}

// Rule 1 with per-GPU sizes: no present GPU could hold its size even empty.
bool never_fits_sized(const admission_input& in) {
    return !in.gpus.empty() && std::none_of(in.gpus.begin(), in.gpus.end(), [&](const gpu_capacity& c) {
        return request_bytes_on(in, c.gpu_uuid) <= c.total_bytes;
    });
}

}  // namespace

std::uint64_t request_bytes_on(const admission_input& input, std::string_view gpu_uuid) noexcept {
    for (const auto& [uuid, bytes] : input.gpu_bytes) {
        if (uuid == gpu_uuid) return bytes;
    }
    return input.bytes;
}

bool gpu_sets_overlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return std::any_of(a.begin(), a.end(),
                       [&](const std::string& x) { return std::find(b.begin(), b.end(), x) != b.end(); });
}

admission_decision decide(const admission_input& in) {
    admission_decision d;
    d.progress.needed_bytes = in.bytes;
    // Rule 1, before anything else: a request that can never fit reports nothing of the queue or GPUs.
    if (in.gpu_bytes.empty() ? in.bytes > in.largest_total_bytes : never_fits_sized(in)) {
        d.verdict = admission_verdict::never_fits;
        d.message = fmt::format(
            "{} needs {} but the largest listed GPU has {} in total: it can never fit; use a "
            "smaller configuration or another GPU",
            task_name(in.model), format_gib(in.bytes), format_gib(in.largest_total_bytes));
        return d;
    }
    d.progress.waited = std::chrono::duration_cast<std::chrono::milliseconds>(in.now - in.started);
    d.progress.queue_position = queue_position(in);
    note_best_gpu(in.gpus, d.progress);
    const auto chosen = in.gpu_bytes.empty() ? choose_gpu(in.gpus, in.bytes, in.policy) : choose_sized_gpu(in);

    // Rule 3: the head of the queue (for our GPUs) that fits is granted.
    if (d.progress.queue_position == 0 && chosen) {
        d.verdict = admission_verdict::grant;
        d.gpu = chosen;
        const auto& cap = in.gpus[*chosen];
        const unsigned cuda_index = *chosen < in.cuda_indices.size() ? in.cuda_indices[*chosen] : cap.gpu_index;
        d.message = fmt::format("reserved {} on GPU {} ({}) for {}", format_gib(request_bytes_on(in, cap.gpu_uuid)),
                                cuda_index, cap.gpu_name, task_name(in.model));
        return d;
    }
    d.progress.reason = d.progress.queue_position > 0
                            ? fmt::format("behind {} earlier request(s) in the queue", d.progress.queue_position)
                            : fmt::format("needs {}, at most {} available", format_gib(in.bytes),
                                          format_gib(d.progress.best_available_bytes));

    // Rules 4 and 5: the caller gives up, or the time is up.
    const bool past_deadline = in.deadline && in.now >= *in.deadline;
    if (in.cancelled || !in.may_wait || past_deadline) {
        d.verdict = in.cancelled ? admission_verdict::cancelled : admission_verdict::timed_out;
        const std::string_view what = in.cancelled ? "cancelled" : in.may_wait ? "timed out" : "not admitted now";
        d.message = fmt::format("{} after {:.1f} s waiting for {} ({}): {}", what,
                                static_cast<double>(d.progress.waited.count()) / 1000.0, format_gib(in.bytes),
                                task_name(in.model), d.progress.reason);
        return d;
    }
    // Rules 6 and 7.
    d.verdict = in.waiter_id == 0 ? admission_verdict::enqueue : admission_verdict::keep_waiting;
    return d;
}

std::string_view to_string(admission_verdict verdict) noexcept {
    static constexpr auto names =
        std::to_array<std::string_view>({"grant", "enqueue", "keep_waiting", "never_fits", "timed_out", "cancelled"});
    return detail::enum_name(names, verdict);
}

reserve_status to_reserve_status(admission_verdict verdict) noexcept {
    switch (verdict) {
        case admission_verdict::grant:
            return reserve_status::granted;
        case admission_verdict::never_fits:
            return reserve_status::never_fits;
        case admission_verdict::cancelled:
            return reserve_status::cancelled;
        default:
            return reserve_status::timed_out;
    }
}

}  // namespace whisper_vram
