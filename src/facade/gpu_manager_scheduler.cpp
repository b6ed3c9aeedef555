// The facade's concurrency methods: can_run_concurrent_task (corrected accounting), reserve,
// release_all_memory and release hooks.

#include <fmt/format.h>
#include <unistd.h>
#include <cmath>
#include <mutex>
#include <utility>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/planner/slurm.hpp"

namespace whisper_vram {
namespace detail {

struct concurrency_state {
    std::mutex mutex;
    std::shared_ptr<scheduler> sched;
    std::vector<std::pair<std::string, std::function<void()>>> hooks;
};

std::shared_ptr<concurrency_state> make_concurrency_state() { return std::make_shared<concurrency_state>(); }

}  // namespace detail

namespace {

std::vector<release_gpu_memory> free_memory(const gpu_snapshot& snap) {
    std::vector<release_gpu_memory> out;
    for (const auto& g : snap.gpus) out.push_back({g.index, g.uuid, g.name, g.free_bytes, 0});
    return out;
}

}  // namespace

scheduler& gpu_manager::get_scheduler() const {
    const std::lock_guard lock(concurrency_->mutex);
    if (!concurrency_->sched) {
        if (!options_.state_dir_error.empty()) throw usage_error(options_.state_dir_error);
        scheduler_options options;
        options.cuda_visible_devices = options_.cuda_visible_devices;
        if (const auto cap = job_cap_from_slurm(options_.slurm_job_id, options_.slurm_shards_on_node,
                                                options_.shard_granule_bytes)) {
            options.job_cap_bytes = cap->bytes;
            options.job_cap_source = cap->source;
        }
        const auto state_dir =
            options_.state_dir.empty() ? default_state_dir(std::nullopt, std::nullopt, ::getuid()) : options_.state_dir;
        auto ledger = std::make_shared<file_ledger>(state_dir, nullptr, options_.warnings);
        concurrency_->sched = std::make_shared<scheduler>(probe_, std::move(ledger), std::move(options));
    }
    return *concurrency_->sched;
}

void gpu_manager::use_scheduler(std::shared_ptr<scheduler> sched) const {
    if (!sched) throw usage_error("use_scheduler: the scheduler is null; pass a scheduler");
    const std::lock_guard lock(concurrency_->mutex);
    concurrency_->sched = std::move(sched);
}

concurrent_task_check gpu_manager::can_run_concurrent_task(std::string_view model_name,
                                                           const std::vector<std::string>& current_tasks_models) const {
    concurrent_task_check check;
    const auto new_task = calculate_memory_usage(model_name);
    check.model = new_task.request.model;
    check.new_task_bytes = new_task.recommended_bytes;
    check.current_tasks = current_tasks_models;
    for (const auto& m : current_tasks_models) check.current_tasks_bytes += calculate_memory_usage(m).recommended_bytes;

    const auto snap = probe_->snapshot();
    if (!snap.available()) {
        throw gpu_unavailable_error(fmt::format("GPU information unavailable: {}", snap.unavailable_reason));
    }
    const auto visible = visible_gpus(snap, options_.cuda_visible_devices);
    if (visible.empty()) throw gpu_unavailable_error("no GPU is visible (CUDA_VISIBLE_DEVICES hides them all)");
    const auto& gpu = visible.front();
    const auto capacity = admission_capacity(gpu.device, get_scheduler().reservations());
    check.gpu_uuid = gpu.device.uuid;
    check.gpu_index = gpu.cuda_index;
    check.free_bytes = capacity.free_bytes;
    check.ledger_reserved_bytes = capacity.reserved_bytes;
    check.available_bytes = capacity.available_bytes;
    check.can_run = admits(capacity, check.new_task_bytes);
    check.guide_result = check.current_tasks_bytes + check.new_task_bytes <= check.free_bytes;
    check.message = fmt::format(
        "{}: {} needs {}, GPU {} has {} available ({} free, {} reserved not yet in use); the {} running task(s) ({}) "
        "are "
        "already in used memory and are not counted again{}",
        check.can_run ? "can run" : "cannot run", check.model, format_gib(check.new_task_bytes), check.gpu_index,
        format_gib(check.available_bytes), format_gib(check.free_bytes),
        format_gib(check.free_bytes - std::min(check.free_bytes, check.available_bytes)), current_tasks_models.size(),
        format_gib(check.current_tasks_bytes),
        check.guide_result != check.can_run
            ? fmt::format(" (the guide's double counting would say {})", check.guide_result ? "yes" : "no")
            : "");
    return check;
}

reserve_result gpu_manager::reserve(const reserve_options& options) const {
    // At most 366 days, as the CLI's --timeout: a larger one (1e29 from Python) would overflow the
    // milliseconds below and the deadline (undefined behaviour) instead of waiting "forever".
    constexpr double max_timeout_seconds = 366.0 * 86400;
    if (options.timeout_seconds && (!std::isfinite(*options.timeout_seconds) || *options.timeout_seconds < 0 ||
                                    *options.timeout_seconds > max_timeout_seconds)) {
        throw usage_error(
            fmt::format("timeout {} s is invalid: must be a number of seconds from 0 to 31622400 (366 "
                        "days), or none to wait without limit",
                        *options.timeout_seconds));
    }
    // Sized for each listed GPU's card (compute capability), as `run` sizes it.
    reserve_request request = sized_reserve_request(options.request, options.gpu_ids);
    request.policy = options.policy;
    request.cancelled = options.cancelled;
    if (options.timeout_seconds) {
        request.timeout =
            std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*options.timeout_seconds * 1000.0)));
    }
    return get_scheduler().reserve(request);
}

reserve_result gpu_manager::reserve(std::string_view model_name, double segment_duration, int batch_size,
                                    std::string_view precision, std::string gpu_ids,
                                    std::optional<double> timeout_seconds, placement_policy policy) const {
    reserve_options options;
    options.request = make_guide_request(model_name, segment_duration, batch_size, precision);
    options.gpu_ids = std::move(gpu_ids);
    options.timeout_seconds = timeout_seconds;
    options.policy = policy;
    return reserve(options);
}

void gpu_manager::register_release_hook(std::string name, std::function<void()> hook) const {
    if (name.empty()) throw usage_error("release hook name is empty; give each hook a name");
    if (!hook) throw usage_error(fmt::format("release hook '{}' is empty; pass a callable", name));
    const std::lock_guard lock(concurrency_->mutex);
    for (auto& [n, h] : concurrency_->hooks) {
        if (n == name) {
            h = std::move(hook);
            return;
        }
    }
    concurrency_->hooks.emplace_back(std::move(name), std::move(hook));
}

release_report gpu_manager::release_all_memory() const {
    release_report report;
    const auto before = probe_->snapshot();
    report.reservations_dropped = get_scheduler().release_own_reservations();
    std::vector<std::pair<std::string, std::function<void()>>> hooks;
    {
        const std::lock_guard lock(concurrency_->mutex);
        hooks = concurrency_->hooks;
    }
    for (const auto& [name, hook] : hooks) {
        report.hooks_called.push_back(name);
        try {
            hook();
        } catch (const std::exception& e) {
            report.hook_errors.push_back(fmt::format("{}: {}", name, e.what()));
        } catch (...) {
            report.hook_errors.push_back(fmt::format("{}: unknown exception", name));
        }
    }
    const auto after = probe_->snapshot();
    if (!before.available()) {
        report.gpu_info_unavailable_reason = before.unavailable_reason;
    } else {
        report.gpus = free_memory(before);
        for (auto& g : report.gpus) {
            for (const auto& a : after.gpus) {
                if (a.uuid == g.uuid) g.free_after_bytes = a.free_bytes;
            }
        }
    }
    report.cannot_free = {
        "this library allocates no CUDA memory of its own: what it owns are reservations, and those of this process "
        "were dropped",
        "CUDA memory of this process held by a framework (model weights, PyTorch's caching allocator) is freed only by "
        "a release hook that deletes the models and empties the cache",
        "the CUDA context of a process (typically 0.3-0.5 GiB per GPU) is freed only when that process exits",
        "memory and reservations of other processes: only they can free their memory; `whisper-vram release-all "
        "--force` drops their reservations (not their memory)",
    };
    if (report.hooks_called.empty()) {
        report.cannot_free.emplace_back("no release hook is registered: nothing else was freed");
    }
    if (before.source == probe_source::simulated) {
        report.cannot_free.emplace_back("simulated GPUs: free memory does not change");
    }
    return report;
}

}  // namespace whisper_vram
