// The scheduler: reserve with FIFO waiting (waiters live in the ledger, so the queue spans
// processes), leases, and ledger-wide release.

#include "whisper_vram/sched/scheduler.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/sched/admission_decision.hpp"

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
        if (!options_.monotonic_clock) options_.monotonic_clock = [] { return std::chrono::steady_clock::now(); };
        if (options_.poll_interval <= std::chrono::milliseconds(0)) {
            options_.poll_interval = std::chrono::milliseconds(1);
        }
        self_ = options_.processes->self();
        host_ = options_.processes->host();
    }

    ~scheduler_core() {
        {
            const std::lock_guard lock(beat_mutex_);
            stop_ = true;
        }
        beat_cv_.notify_all();
        if (beat_thread_.joinable()) beat_thread_.join();
        for (const int fd : idle_watches_) ::close(fd);
    }

    // An inotify descriptor watching the ledger's folder, drained (-1: none possible).
    int borrow_watch() {
        {
            const std::lock_guard lock(watch_mutex_);
            if (!idle_watches_.empty()) {
                const int fd = idle_watches_.back();
                idle_watches_.pop_back();
                std::array<char, 4096> events{};
                while (::read(fd, events.data(), events.size()) > 0) {
                }
                return fd;
            }
        }
        const auto folder = ledger_->watch_folder();
        if (!folder) return -1;
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd >= 0 && ::inotify_add_watch(fd, folder->c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }
    void return_watch(int fd) {
        if (fd < 0) return;
        const std::lock_guard lock(watch_mutex_);
        idle_watches_.push_back(fd);
    }
    scheduler_core(const scheduler_core&) = delete;
    scheduler_core& operator=(const scheduler_core&) = delete;

    // A lease or a waiting reserve of this process starts (hold) or ends (unhold): the heartbeat
    // thread beats while any is active.
    void hold() {
        if (options_.heartbeat_interval <= std::chrono::milliseconds(0)) return;
        {
            const std::lock_guard lock(beat_mutex_);
            ++active_;
            if (!beat_thread_.joinable()) beat_thread_ = std::thread([this] { beat_loop(); });
        }
        beat_cv_.notify_all();
    }
    void unhold() {
        if (options_.heartbeat_interval <= std::chrono::milliseconds(0)) return;
        const std::lock_guard lock(beat_mutex_);
        if (active_ > 0) --active_;
    }

    std::size_t beat_now() {
        std::size_t n = 0;
        ledger_->update([&](ledger_state& state) {
            n = beat(state, self_, host_, options_.clock());
            return n > 0;
        });
        return n;
    }

    // The room for one more record (reservations + waiters): refused beyond max_ledger_records.
    static void check_room(const ledger_state& state) {
        if (state.reservations.size() + state.waiters.size() >= max_ledger_records) {
            throw state_error(
                fmt::format("the ledger holds {} records, its limit; no more can be admitted or queued until some end "
                            "(see whisper-vram tasks; release stale ones with whisper-vram tasks release ID)",
                            state.reservations.size() + state.waiters.size()));
        }
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
        unhold();
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

    // The ledger was rebuilt and this request's place lost: take it again with the same number, so
    // the FIFO order stands. Returns whether the state changed.
    bool rejoin_queue(ledger_state& state, const admission_input& in) const {
        if (in.waiter_id == 0 || std::any_of(state.waiters.begin(), state.waiters.end(),
                                             [&](const waiter_record& w) { return w.id == in.waiter_id; })) {
            return false;
        }
        check_room(state);
        const auto now = options_.clock();
        state.waiters.push_back({in.waiter_id, self_, in.bytes, in.gpu_uuids, in.model, now, host_, now});
        std::sort(state.waiters.begin(), state.waiters.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        state.next_id = std::max(state.next_id, in.waiter_id + 1);
        return true;
    }

    // Writes decision @p d into the ledger state (a grant: the reservation, out of the queue; an
    // enqueue: the waiter record, its id into in.waiter_id). Returns whether the state changed.
    bool apply(const admission_decision& d, admission_input& in, ledger_state& state,
               std::optional<lease_info>& granted) const {
        if (d.verdict == admission_verdict::enqueue) {
            check_room(state);
            in.waiter_id = state.take_id();
            const auto now = options_.clock();
            state.waiters.push_back({in.waiter_id, self_, in.bytes, in.gpu_uuids, in.model, now, host_, now});
            return true;
        }
        if (d.verdict != admission_verdict::grant) return false;
        const auto& cap = in.gpus[*d.gpu];
        if (in.waiter_id == 0) check_room(state);  // a waiter's grant replaces its record
        reservation_record r;
        r.id = in.waiter_id != 0 ? in.waiter_id : state.take_id();
        r.gpu_uuid = cap.gpu_uuid;
        r.gpu_index = cap.gpu_index;
        r.holder = self_;
        r.bytes = request_bytes_on(in, cap.gpu_uuid);
        r.model = in.model;
        r.since_ms = options_.clock();
        r.host = host_;
        r.heartbeat_ms = r.since_ms;
        state.reservations.push_back(r);
        std::erase_if(state.waiters, [&](const waiter_record& w) { return w.id == r.id; });
        granted =
            lease_info{r.id, cap.gpu_uuid, cap.gpu_index, in.cuda_indices[*d.gpu], cap.gpu_name, r.bytes, r.model};
        return true;
    }

    // Waits up to @p limit: through the injected sleeper when there is one, else until this
    // scheduler changes the queue or the capacity (a release or a grant in this process) or the limit passes.
    // With @p watch (an inotify descriptor on the ledger's folder, see ledger_watch) the wait also
    // ends when any process rewrites the ledger.
    void wait(std::uint64_t seen_generation, std::chrono::steady_clock::duration limit, int watch) {
        const auto ms = std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(limit));
        if (options_.sleeper) {
            options_.sleeper(ms);
            return;
        }
        if (watch < 0) {
            wait_for_change(seen_generation, limit);
            return;
        }
        // The inotify descriptor sees this process's writes too (a release by another thread).
        pollfd p{watch, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(ms.count(), 60'000))) > 0) {
            std::array<char, 4096> events{};
            while (::read(watch, events.data(), events.size()) > 0) {
            }
        }
    }

    std::shared_ptr<gpu_probe> probe_;
    std::shared_ptr<ledger> ledger_;
    scheduler_options options_;
    process_identity self_;
    host_identity host_;

private:
    void beat_loop() {
        std::unique_lock lock(beat_mutex_);
        while (!stop_) {
            if (active_ == 0) {
                beat_cv_.wait(lock, [&] { return stop_ || active_ > 0; });
                continue;
            }
            if (beat_cv_.wait_for(lock, options_.heartbeat_interval, [&] { return stop_; })) break;
            if (active_ == 0) continue;
            lock.unlock();
            try {
                beat_now();
            } catch (...) {  // a ledger that cannot be written now: the next beat tries again
            }
            lock.lock();
        }
    }

    std::mutex watch_mutex_;
    std::vector<int> idle_watches_;
    std::mutex beat_mutex_;
    std::condition_variable beat_cv_;
    std::size_t active_ = 0;
    bool stop_ = false;
    std::thread beat_thread_;

    std::mutex probe_mutex_;
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::uint64_t generation_ = 0;
};

namespace {

// The request's GPUs at the start: the usable listed ones (the FIFO set and the never-fits totals),
// or why there are none.
struct request_gpus {
    std::vector<std::string> uuids;
    std::vector<unsigned> cuda_indices;  ///< of each uuid
    std::uint64_t largest_total_bytes = 0;
    std::string unavailable;  ///< non-empty: no usable GPU (the message)
};

request_gpus usable_gpus(const std::vector<visible_gpu>& selected) {
    request_gpus out;
    std::vector<std::string> unusable;
    for (const auto& v : selected) {
        const auto c = admission_capacity(v.device, {});
        if (!c.usable) {
            unusable.push_back(fmt::format("GPU {} ({}): {}", v.cuda_index, v.device.name, c.unusable_reason));
            continue;
        }
        out.uuids.push_back(v.device.uuid);
        out.cuda_indices.push_back(v.cuda_index);
        out.largest_total_bytes = std::max(out.largest_total_bytes, v.device.total_bytes);
    }
    if (out.uuids.empty()) {
        out.unavailable = selected.empty() ? "no GPU is visible"
                                           : fmt::format("no listed GPU is usable ({})", fmt::join(unusable, "; "));
    }
    return out;
}

// The decision's GPU figures now: the request's GPUs still in the snapshot (a vanished one is not a
// candidate this poll), over the ledger's reservations.
void fill_capacities(admission_input& in, const request_gpus& gpus, const gpu_snapshot& snap,
                     const std::vector<reservation_record>& reservations) {
    in.gpus.clear();
    in.cuda_indices.clear();
    for (std::size_t i = 0; i < gpus.uuids.size(); ++i) {
        const auto it = std::find_if(snap.gpus.begin(), snap.gpus.end(),
                                     [&](const gpu_device& g) { return g.uuid == gpus.uuids[i]; });
        if (it == snap.gpus.end()) continue;
        in.gpus.push_back(admission_capacity(*it, reservations));
        in.cuda_indices.push_back(gpus.cuda_indices[i]);
    }
}

// An inotify descriptor on the ledger's folder (renames into it and closed writes), borrowed from
// the core's pool for one waiting reserve (closing an inotify descriptor waits for an RCU grace
// period, milliseconds: they are kept for reuse). fd() is -1 when the ledger has no folder or
// inotify is unavailable (then: polling).
class ledger_watch {
public:
    explicit ledger_watch(scheduler_core& core) : core_(core), fd_(core.borrow_watch()) {}
    ~ledger_watch() { core_.return_watch(fd_); }
    ledger_watch(const ledger_watch&) = delete;
    ledger_watch& operator=(const ledger_watch&) = delete;
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    scheduler_core& core_;
    int fd_;
};

// Counts a waiting reserve as active for the heartbeat thread while it runs.
struct holds_while_waiting {
    scheduler_core& core;
    explicit holds_while_waiting(scheduler_core& c) : core(c) { core.hold(); }
    ~holds_while_waiting() { core.unhold(); }
    holds_while_waiting(const holds_while_waiting&) = delete;
    holds_while_waiting& operator=(const holds_while_waiting&) = delete;
};

// Leaves the queue however the wait ends (a grant excepted: the grant removes the waiter itself,
// and sets the id to 0). A failure to write is ignored: the record is reaped when this process exits.
struct leaves_queue_at_exit {
    scheduler_core& core;
    const std::uint64_t& id;
    ~leaves_queue_at_exit() {
        if (id == 0) return;
        try {
            core.ledger_->update([&](ledger_state& state) {
                return std::erase_if(state.waiters, [&](const waiter_record& w) { return w.id == id; }) > 0;
            });
            core.notify();
        } catch (...) {
        }
    }
};

}  // namespace

reserve_result scheduler_core::reserve(const std::shared_ptr<scheduler_core>& self, const reserve_request& request) {
    if (request.bytes == 0) {
        throw usage_error("reserve: the request is 0 bytes; reserve an estimate's recommended_bytes (> 0)");
    }
    if (request.bytes > max_record_bytes) {
        throw usage_error(
            fmt::format("reserve: the request is {} bytes, more than any GPU can hold (the limit is "
                        "2^50 = {} bytes); reserve an estimate's recommended_bytes",
                        request.bytes, max_record_bytes));
    }
    admission_input in;
    in.started = options_.monotonic_clock();
    in.bytes = request.bytes;
    in.gpu_bytes = request.gpu_bytes;
    in.model = request.model;
    in.policy = request.policy;
    in.may_wait = !request.timeout || request.timeout->count() > 0;
    if (request.timeout) in.deadline = in.started + *request.timeout;
    reserve_result result;
    result.requested_bytes = request.bytes;
    result.last.needed_bytes = request.bytes;
    if (options_.job_cap_bytes) {
        // Per-GPU sizes: the smallest one decides (it may be the GPU the job gets).
        std::uint64_t smallest = request.bytes;
        for (const auto& [uuid, bytes] : request.gpu_bytes) smallest = std::min(smallest, bytes);
        if (smallest > *options_.job_cap_bytes) {
            result.status = reserve_status::never_fits;
            result.message = fmt::format(
                "{} needs {}, more than {} allow ({}): ask the job for more shards (whisper-vram slurm request)",
                request.model.empty() ? std::string("the request") : request.model, format_gib(smallest),
                options_.job_cap_source.empty() ? std::string("the job's cap") : options_.job_cap_source,
                format_gib(*options_.job_cap_bytes));
            return result;
        }
    }

    gpu_snapshot snap = snapshot();
    if (!snap.available()) {
        result.status = reserve_status::gpu_unavailable;
        result.message = fmt::format("GPU information unavailable: {}", snap.unavailable_reason);
        return result;
    }
    const auto gpus = usable_gpus(select_gpus(visible_gpus(snap, options_.cuda_visible_devices), request.gpu_ids));
    if (!gpus.unavailable.empty()) {
        result.status = reserve_status::gpu_unavailable;
        result.message = gpus.unavailable;
        return result;
    }
    in.gpu_uuids = gpus.uuids;
    in.largest_total_bytes = gpus.largest_total_bytes;

    const leaves_queue_at_exit guard{*this, in.waiter_id};
    std::optional<ledger_watch> watch;  // taken when the reserve first has to wait
    std::optional<holds_while_waiting> beating;
    std::int64_t last_beat_ms = options_.clock();

    for (bool first = true;; first = false) {
        if (!first) snap = snapshot();
        const auto gen = generation();
        // Asked outside the ledger lock: the caller's callback may take its time.
        in.cancelled = request.cancelled && request.cancelled();
        in.now = options_.monotonic_clock();
        in.now_wall_ms = options_.clock();
        // A waiter beats on its polls, every heartbeat interval (a stopped one goes stale).
        const auto interval = options_.heartbeat_interval > std::chrono::milliseconds(0)
                                  ? options_.heartbeat_interval.count()
                                  : heartbeat_interval_ms;
        const bool beat_due = in.waiter_id != 0 && in.now_wall_ms - last_beat_ms >= interval;
        admission_decision d;
        std::optional<lease_info> granted;
        ledger_->update([&](ledger_state& state) {
            bool rejoined = rejoin_queue(state, in);
            if (beat_due) {
                for (auto& w : state.waiters) {
                    if (w.id == in.waiter_id) {
                        w.heartbeat_ms = in.now_wall_ms;
                        rejoined = true;
                    }
                }
            }
            fill_capacities(in, gpus, snap, state.reservations);
            in.waiters = state.waiters;
            d = decide(in);
            in.waiters = {};  // the view ends with the lock
            return apply(d, in, state, granted) || rejoined;
        });
        if (beat_due) last_beat_ms = in.now_wall_ms;
        result.last = d.progress;
        result.waited = d.progress.waited;
        if (d.verdict == admission_verdict::grant) {
            hold();            // the lease's heartbeat (released by lease::release)
            in.waiter_id = 0;  // the grant consumed the waiter record
            notify();          // the queue moved: the next waiter may go now
            result.status = reserve_status::granted;
            result.message = d.message;
            result.granted_lease = lease(self, std::move(*granted));
            return result;
        }
        // Report before a final verdict, so a request that waits at all reports at least once.
        if (in.may_wait && !in.cancelled && d.verdict != admission_verdict::never_fits && request.on_wait) {
            request.on_wait(d.progress);
        }
        if (d.final()) {
            result.status = to_reserve_status(d.verdict);
            result.message = d.message;
            return result;
        }
        if (!beating) beating.emplace(*this);
        if (!watch && !options_.sleeper) {
            // Watching from now on; a change since the look above would be missed: look again first.
            watch.emplace(*this);
            if (watch->fd() >= 0) continue;
        }
        const auto now = options_.monotonic_clock();
        auto limit = std::chrono::steady_clock::duration(options_.poll_interval);
        if (in.deadline) limit = std::min(limit, *in.deadline - now);
        wait(gen, limit, watch ? watch->fd() : -1);
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

std::size_t scheduler::beat_now() { return core_->beat_now(); }

ledger& scheduler::reservation_ledger() const noexcept { return *core_->ledger_; }

}  // namespace whisper_vram
