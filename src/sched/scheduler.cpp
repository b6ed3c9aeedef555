// The scheduler: reserve with FIFO waiting (waiters live in the ledger, so the queue spans
// processes), leases, and ledger-wide release.

#include "whisper_vram/sched/scheduler.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram {
namespace detail {

class scheduler_core {
public:
    scheduler_core(std::shared_ptr<gpu_probe> probe, std::shared_ptr<ledger> ledger, scheduler_options options)
        : probe_(std::move(probe)), ledger_(std::move(ledger)), options_(std::move(options)) {
        if (!probe_) throw usage_error("scheduler: a GPU probe is required");
        if (!ledger_) throw usage_error("scheduler: a ledger is required");
        if (!options_.processes) options_.processes = std::make_shared<system_process_table>();
        if (!options_.clock) options_.clock = system_wall_clock_ms;
        if (options_.poll_interval <= std::chrono::milliseconds(0))
            options_.poll_interval = std::chrono::milliseconds(1);
        self_ = options_.processes->self();
    }

    gpu_snapshot snapshot() {
        const std::lock_guard lock(probe_mutex_);  // probes need not be thread-safe
        return probe_->snapshot();
    }

    // Wakes waiters of this process (a release or a grant changed the queue or the capacity).
    void notify() {
        {
            const std::lock_guard lock(wake_mutex_);
            ++generation_;
        }
        wake_.notify_all();
    }
    std::uint64_t generation() {
        const std::lock_guard lock(wake_mutex_);
        return generation_;
    }
    void wait_for_change(std::uint64_t seen_generation, std::chrono::steady_clock::duration limit) {
        std::unique_lock lock(wake_mutex_);
        wake_.wait_for(lock, limit, [&] { return generation_ != seen_generation; });
    }

    void release(std::uint64_t id) {
        ledger_->update([&](ledger_state& state) {
            return std::erase_if(state.reservations, [&](const reservation_record& r) { return r.id == id; }) > 0;
        });
        notify();
    }

    void attach_child(std::uint64_t id, std::uint32_t pid) {
        ledger_->update([&](ledger_state& state) {
            for (auto& r : state.reservations) {
                if (r.id == id) {
                    r.child_pid = pid;
                    return true;
                }
            }
            return false;
        });
    }

    reserve_result reserve(const std::shared_ptr<scheduler_core>& self, const reserve_request& request);

    std::shared_ptr<gpu_probe> probe_;
    std::shared_ptr<ledger> ledger_;
    scheduler_options options_;
    process_identity self_;

private:
    std::mutex probe_mutex_;
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::uint64_t generation_ = 0;
};

namespace {

struct candidate {
    std::string uuid;
    unsigned cuda_index = 0;
};

bool overlaps(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return std::any_of(a.begin(), a.end(),
                       [&](const std::string& x) { return std::find(b.begin(), b.end(), x) != b.end(); });
}

std::string gib(std::uint64_t bytes) { return format_gib(bytes); }

}  // namespace

reserve_result scheduler_core::reserve(const std::shared_ptr<scheduler_core>& self, const reserve_request& request) {
    if (request.bytes == 0)
        throw usage_error("reserve: the request is 0 bytes; reserve an estimate's recommended_bytes (> 0)");
    const auto started = std::chrono::steady_clock::now();
    reserve_result result;
    result.requested_bytes = request.bytes;
    result.last.needed_bytes = request.bytes;
    const auto elapsed = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    };

    gpu_snapshot snap = snapshot();
    if (!snap.available()) {
        result.status = reserve_status::gpu_unavailable;
        result.message = fmt::format("GPU information unavailable: {}", snap.unavailable_reason);
        return result;
    }
    const auto selected = select_gpus(visible_gpus(snap, options_.cuda_visible_devices), request.gpu_ids);
    std::vector<candidate> candidates;
    std::vector<std::string> uuids;
    std::uint64_t largest_total = 0;
    std::vector<std::string> unusable;
    for (const auto& v : selected) {
        const auto c = admission_capacity(v.device, {});
        if (!c.usable) {
            unusable.push_back(fmt::format("GPU {} ({}): {}", v.cuda_index, v.device.name, c.unusable_reason));
            continue;
        }
        candidates.push_back({v.device.uuid, v.cuda_index});
        uuids.push_back(v.device.uuid);
        largest_total = std::max(largest_total, v.device.total_bytes);
    }
    if (candidates.empty()) {
        result.status = reserve_status::gpu_unavailable;
        result.message = selected.empty() ? "no GPU is visible"
                                          : fmt::format("no listed GPU is usable ({})", fmt::join(unusable, "; "));
        return result;
    }
    if (request.bytes > largest_total) {
        result.status = reserve_status::never_fits;
        result.message = fmt::format(
            "{} needs {} but the largest listed GPU has {} in total: it can never fit; use a "
            "smaller configuration or another GPU",
            request.model.empty() ? "the task" : request.model, gib(request.bytes), gib(largest_total));
        return result;
    }

    const bool may_wait = !request.timeout || request.timeout->count() > 0;
    const auto deadline = request.timeout ? started + *request.timeout : std::chrono::steady_clock::time_point::max();
    std::uint64_t waiter_id = 0;
    // Leaves the queue however the wait ends (grant excepted: the grant removes the waiter itself).
    struct waiter_guard {
        scheduler_core& core;
        std::uint64_t& id;
        ~waiter_guard() {
            if (id == 0) return;
            try {
                core.ledger_->update([&](ledger_state& state) {
                    return std::erase_if(state.waiters, [&](const waiter_record& w) { return w.id == id; }) > 0;
                });
                core.notify();
            } catch (...) {  // the record is reaped when this process exits
            }
        }
    } guard{*this, waiter_id};

    for (bool first = true;; first = false) {
        if (!first) snap = snapshot();
        const auto gen = generation();
        std::optional<lease_info> granted;
        wait_progress progress;
        progress.needed_bytes = request.bytes;
        ledger_->update([&](ledger_state& state) {
            bool changed = false;
            if (waiter_id != 0 && std::none_of(state.waiters.begin(), state.waiters.end(),
                                               [&](const waiter_record& w) { return w.id == waiter_id; })) {
                // Our place was lost (the ledger was rebuilt): take it again with the same number.
                state.waiters.push_back({waiter_id, self_, request.bytes, uuids, request.model, options_.clock()});
                std::sort(state.waiters.begin(), state.waiters.end(),
                          [](const auto& a, const auto& b) { return a.id < b.id; });
                state.next_id = std::max(state.next_id, waiter_id + 1);
                changed = true;
            }
            for (const auto& w : state.waiters) {
                if ((waiter_id == 0 || w.id < waiter_id) && overlaps(w.gpu_uuids, uuids)) ++progress.queue_position;
            }
            std::vector<gpu_capacity> caps;
            std::vector<unsigned> cuda_indices;
            for (const auto& c : candidates) {
                const auto it = std::find_if(snap.gpus.begin(), snap.gpus.end(),
                                             [&](const gpu_device& g) { return g.uuid == c.uuid; });
                if (it == snap.gpus.end()) continue;  // the GPU vanished: not a candidate now
                caps.push_back(admission_capacity(*it, state.reservations));
                cuda_indices.push_back(c.cuda_index);
                if (caps.back().usable &&
                    (progress.best_gpu_uuid.empty() || caps.back().available_bytes > progress.best_available_bytes)) {
                    progress.best_available_bytes = caps.back().available_bytes;
                    progress.best_gpu_uuid = caps.back().gpu_uuid;
                    progress.best_gpu_index = caps.back().gpu_index;
                }
            }
            const auto chosen = choose_gpu(caps, request.bytes, request.policy);
            if (progress.queue_position > 0) {
                progress.reason = fmt::format("behind {} earlier request(s) in the queue", progress.queue_position);
            } else if (!chosen) {
                progress.reason = fmt::format("needs {}, at most {} available", gib(request.bytes),
                                              gib(progress.best_available_bytes));
            }
            if (progress.queue_position == 0 && chosen) {
                const auto& cap = caps[*chosen];
                reservation_record r;
                r.id = waiter_id != 0 ? waiter_id : state.take_id();
                r.gpu_uuid = cap.gpu_uuid;
                r.gpu_index = cap.gpu_index;
                r.holder = self_;
                r.bytes = request.bytes;
                r.model = request.model;
                r.since_ms = options_.clock();
                state.reservations.push_back(r);
                std::erase_if(state.waiters, [&](const waiter_record& w) { return w.id == waiter_id; });
                granted = lease_info{r.id,         cap.gpu_uuid, cap.gpu_index, cuda_indices[*chosen],
                                     cap.gpu_name, r.bytes,      r.model};
                return true;
            }
            if (waiter_id == 0 && may_wait) {
                waiter_id = state.take_id();
                state.waiters.push_back({waiter_id, self_, request.bytes, uuids, request.model, options_.clock()});
                return true;
            }
            return changed;
        });
        progress.waited = elapsed();
        result.last = progress;
        result.waited = progress.waited;
        if (granted) {
            waiter_id = 0;  // the grant consumed the waiter record
            notify();       // the queue moved: the next waiter may go now
            result.status = reserve_status::granted;
            result.message = fmt::format("reserved {} on GPU {} ({}) for {}", gib(request.bytes), granted->cuda_index,
                                         granted->gpu_name, request.model.empty() ? "the task" : request.model);
            result.granted_lease = lease(self, std::move(*granted));
            return result;
        }
        const bool cancelled = request.cancelled && request.cancelled();
        // Report before the deadline check, so a request that waits at all reports at least once.
        if (may_wait && !cancelled && request.on_wait) request.on_wait(progress);
        if (cancelled || !may_wait || std::chrono::steady_clock::now() >= deadline) {
            result.status = cancelled ? reserve_status::cancelled : reserve_status::timed_out;
            const std::string what = cancelled ? "cancelled" : may_wait ? "timed out" : "not admitted now";
            result.message = fmt::format("{} after {:.1f} s waiting for {} ({}): {}", what,
                                         static_cast<double>(result.waited.count()) / 1000.0, gib(request.bytes),
                                         request.model.empty() ? "the task" : request.model, progress.reason);
            return result;
        }
        const auto now = std::chrono::steady_clock::now();
        const auto limit = std::min<std::chrono::steady_clock::duration>(options_.poll_interval, deadline - now);
        wait_for_change(gen, limit);
    }
}

}  // namespace detail

// ---- lease ----------------------------------------------------------------------------------------

lease::~lease() { release(); }

lease::lease(lease&& other) noexcept : core_(std::move(other.core_)), info_(std::move(other.info_)) {
    other.core_.reset();
}

lease& lease::operator=(lease&& other) noexcept {
    if (this != &other) {
        release();
        core_ = std::move(other.core_);
        info_ = std::move(other.info_);
        other.core_.reset();
    }
    return *this;
}

void lease::release() noexcept {
    if (!core_) return;
    auto core = std::move(core_);
    core_.reset();
    try {
        core->release(info_.id);
    } catch (...) {  // documented: reaped when this process exits
    }
}

void lease::attach_child(std::uint32_t pid) {
    if (core_) core_->attach_child(info_.id, pid);
}

// ---- scheduler --------------------------------------------------------------------------------------

scheduler::scheduler(std::shared_ptr<gpu_probe> probe, std::shared_ptr<ledger> ledger, scheduler_options options)
    : core_(std::make_shared<detail::scheduler_core>(std::move(probe), std::move(ledger), std::move(options))) {}

scheduler::~scheduler() = default;

reserve_result scheduler::reserve(const reserve_request& request) { return core_->reserve(core_, request); }

reserve_result scheduler::try_reserve(reserve_request request) {
    request.timeout = std::chrono::milliseconds(0);
    return core_->reserve(core_, request);
}

std::vector<gpu_capacity> scheduler::capacities() {
    const auto snap = core_->snapshot();
    const auto state = core_->ledger_->read();
    std::vector<gpu_capacity> caps;
    for (const auto& v : visible_gpus(snap, core_->options_.cuda_visible_devices)) {
        caps.push_back(admission_capacity(v.device, state.reservations));
    }
    return caps;
}

std::vector<reservation_record> scheduler::reservations() { return core_->ledger_->read().reservations; }

std::vector<waiter_record> scheduler::waiters() { return core_->ledger_->read().waiters; }

std::vector<reservation_record> scheduler::release_own_reservations() {
    std::vector<reservation_record> dropped;
    core_->ledger_->update([&](ledger_state& state) {
        std::erase_if(state.reservations, [&](const reservation_record& r) {
            if (r.holder != core_->self_) return false;
            dropped.push_back(r);
            return true;
        });
        return !dropped.empty();
    });
    core_->notify();
    return dropped;
}

reservations_release scheduler::release_all_reservations(bool force) {
    reservations_release report;
    report.forced = force;
    const auto access = core_->ledger_->update([&](ledger_state& state) {
        report.live = state.reservations;
        if (!force && !state.reservations.empty()) {
            report.refused = true;
            return false;
        }
        report.dropped = std::move(state.reservations);
        state.reservations.clear();
        return !report.dropped.empty();
    });
    report.reaped = access.reaped_reservations;
    core_->notify();
    return report;
}

ledger& scheduler::reservation_ledger() const noexcept { return *core_->ledger_; }

}  // namespace whisper_vram
