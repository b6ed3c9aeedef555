#pragma once
/// @file scheduler.hpp
/// Memory-aware admission: reservations of GPU memory, RAII leases, placement over several GPUs
/// and FIFO waiting, for threads of one program and (through a file ledger) for processes.
///
/// ## Admission rule
/// A request of R bytes fits on GPU g when
///
///     R ≤ available(g) = total − used_by_unmanaged − Σ outstanding reservations on g
///
/// where, with NVML's reading of g (used = total − free, the driver/firmware reserve included):
///
///     used_by_unmanaged = used − Σ over reservations r on g of min(seen(r), reserved(r))
///
/// seen(r) is the GPU memory NVML reports for r's processes (its holder pid and the child the
/// holder runs, see lease::attach_child), 0 when per-process usage is not visible (no process
/// list, "not available", other pid namespace). Substituting, a reservation counts as
/// max(seen(r), reserved(r)) — exactly once:
///   - reserved, not yet allocated (seen 0): its reservation counts;
///   - allocated within its reservation (seen ≤ reserved): its reservation counts, and the same
///     bytes are not counted again in `used`;
///   - allocated MORE than it reserved (seen > reserved): the larger, seen, counts — those bytes
///     are really in use and no other job can have them.
/// Memory used by other programs (and the driver) is always respected: it stays in
/// used_by_unmanaged. Where per-process usage is not visible the rule errs on the safe side: an
/// allocated reservation then counts twice (in `used` and as a reservation), which can delay a job
/// but never overcommits. Simulated GPUs have no processes: their `used` is all unmanaged. Computed
/// as available = free + Σ min(seen, reserved) − Σ reserved, saturating at 0 (admission_capacity()).
///
/// ## Placement (never splits a task across GPUs)
/// best_fit (default): the GPU whose available memory exceeds R by the least (keeps large holes
/// for large jobs); most_free: the GPU with the most available memory (spreads load). Ties go to
/// the lower NVML index.
///
/// ## Waiting
/// A blocking reserve waits in a strict FIFO queue kept in the ledger (so it spans processes):
/// a request is admitted only when no earlier waiter whose GPU set overlaps its own is still
/// waiting. A later small request that would fit does NOT jump a waiting large one, so the large one
/// is never starved (requests on disjoint GPU sets do not block each other). A request larger than
/// the total memory of every listed GPU can never fit: it fails at once with status never_fits.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {

// ---- pure core: admission and placement ---------------------------------------------------------

/// Admission figures of one GPU (bytes).
struct gpu_capacity {
    std::string gpu_uuid;
    unsigned gpu_index = 0;  ///< NVML index
    std::string gpu_name;
    bool usable = true;  ///< false when the GPU is lost, has no dedicated memory…
    std::string unusable_reason;
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;             ///< as probed
    std::uint64_t reserved_bytes = 0;         ///< Σ reservations on this GPU
    std::uint64_t seen_managed_bytes = 0;     ///< Σ min(seen, reserved): reserved bytes already in `used`
    std::uint64_t counted_managed_bytes = 0;  ///< Σ max(seen, reserved): what the reservations occupy
    std::uint64_t unmanaged_used_bytes = 0;   ///< used − Σ min(seen, reserved)
    std::uint64_t available_bytes = 0;        ///< what a new request may take
    std::size_t reservation_count = 0;
};

/// Applies the admission rule (see the file comment) to @p gpu and the reservations; those on
/// other GPUs (by UUID) are ignored. Pure.
gpu_capacity admission_capacity(const gpu_device& gpu, const std::vector<reservation_record>& reservations);

/// True when @p bytes fits: usable and bytes ≤ available_bytes.
[[nodiscard]] bool admits(const gpu_capacity& capacity, std::uint64_t bytes) noexcept;

/// Placement policy (see the file comment).
enum class placement_policy { best_fit, most_free };

/// "best-fit" / "most-free".
std::string_view to_string(placement_policy policy) noexcept;

/// Parses "best-fit" or "most-free" (also with '_').
/// @throws usage_error naming the bad value and the accepted ones.
placement_policy parse_placement_policy(std::string_view text);

/// The index in @p gpus of the GPU @p policy picks for @p bytes; nullopt when none admits it.
std::optional<std::size_t> choose_gpu(const std::vector<gpu_capacity>& gpus, std::uint64_t bytes,
                                      placement_policy policy);

// ---- leases -----------------------------------------------------------------------------------

namespace detail {
class scheduler_core;
}

/// What a lease holds.
struct lease_info {
    std::uint64_t id = 0;  ///< reservation id in the ledger
    std::string gpu_uuid;
    unsigned gpu_index = 0;   ///< NVML index
    unsigned cuda_index = 0;  ///< CUDA index in this process (after CUDA_VISIBLE_DEVICES)
    std::string gpu_name;
    std::uint64_t bytes = 0;
    std::string model;
};

/// A reservation held by this process: released when the lease is destroyed, or by release().
/// Movable, not copyable. Safe to outlive the scheduler that granted it.
class lease {
public:
    lease() noexcept = default;
    ~lease();
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    /// Drops the reservation (idempotent; never throws: if the ledger cannot be written, the
    /// reservation is reaped once this process exits).
    void release() noexcept;
    /// True until released (or moved from).
    [[nodiscard]] bool active() const noexcept { return core_ != nullptr; }
    /// The reservation (ids and sizes stay readable after release()).
    [[nodiscard]] const lease_info& info() const noexcept { return info_; }
    /// Records @p pid as a worker of this reservation, so its NVML per-process usage is counted
    /// against the reservation instead of as unmanaged memory (whisper-vram run does this).
    void attach_child(std::uint32_t pid);

private:
    friend class detail::scheduler_core;
    lease(std::shared_ptr<detail::scheduler_core> core, lease_info info)
        : core_(std::move(core)), info_(std::move(info)) {}
    std::shared_ptr<detail::scheduler_core> core_;
    lease_info info_;
};

// ---- scheduler --------------------------------------------------------------------------------

/// Progress of a waiting request (passed to reserve_request::on_wait on every poll).
struct wait_progress {
    std::uint64_t needed_bytes = 0;
    std::uint64_t best_available_bytes = 0;  ///< the most any listed GPU has available now
    std::string best_gpu_uuid;               ///< that GPU
    unsigned best_gpu_index = 0;
    std::size_t queue_position = 0;  ///< earlier waiters ahead (overlapping GPUs); 0 = head
    std::chrono::milliseconds waited{0};
    std::string reason;  ///< one line: why it is not admitted yet
};

/// A request for memory.
struct reserve_request {
    std::uint64_t bytes = 0;  ///< memory to reserve (an estimate's recommended_bytes)
    /// Per-GPU sizes (GPU UUID → bytes) when the estimate depends on the card (compute capability):
    /// a listed GPU found here is admitted, placed and reserved with its own size; one not found
    /// with @ref bytes. Empty: @ref bytes everywhere. gpu_manager::sized_reserve_request() fills it.
    std::vector<std::pair<std::string, std::uint64_t>> gpu_bytes;
    std::string model;    ///< what it is for (shown by `tasks`)
    std::string gpu_ids;  ///< select_gpus() ids ("0,1", UUIDs, PCI ids); empty = every visible GPU
    /// nullopt: wait without limit; 0: try once, no waiting (and no place in the queue).
    std::optional<std::chrono::milliseconds> timeout;
    placement_policy policy = placement_policy::best_fit;
    std::function<void(const wait_progress&)> on_wait;  ///< called on each poll while waiting
    std::function<bool()> cancelled;                    ///< polled while waiting; true stops waiting
};

/// How a reserve ended.
enum class reserve_status {
    granted,          ///< lease holds the reservation
    timed_out,        ///< not admitted before the timeout (or at once, for timeout 0)
    never_fits,       ///< larger than the total memory of every listed GPU
    cancelled,        ///< reserve_request::cancelled returned true
    gpu_unavailable,  ///< no GPU information, or no listed GPU is usable
};

/// "granted", "timed_out", "never_fits", "cancelled", "gpu_unavailable".
std::string_view to_string(reserve_status status) noexcept;

/// Result of reserve().
struct reserve_result {
    reserve_status status = reserve_status::timed_out;
    lease granted_lease;  ///< active when granted (move it out to keep it)
    std::uint64_t requested_bytes = 0;
    std::string message;  ///< one line for people
    wait_progress last;   ///< the last admission attempt (why it was not admitted)
    std::chrono::milliseconds waited{0};
    [[nodiscard]] bool granted() const noexcept { return status == reserve_status::granted; }
};

/// Options of a scheduler; read from the environment by the edges, not here.
struct scheduler_options {
    std::optional<std::string> cuda_visible_devices;  ///< how index ids are read (see visible_gpus())
    std::chrono::milliseconds poll_interval{
        50};  ///< re-check period while waiting (also bounds how late `cancelled` is seen: Ctrl-C)
    std::shared_ptr<const process_table> processes;  ///< default: system_process_table
    wall_clock clock;                                ///< default: system_wall_clock_ms
    /// The clock timeouts and `waited` are measured on; default: std::chrono::steady_clock::now.
    /// Tests inject a fake one (with @ref sleeper) so FIFO and timeout tests wait no real time.
    std::function<std::chrono::steady_clock::time_point()> monotonic_clock;
    /// Called with how long to wait between polls (≤ poll_interval, ≤ the time left). Default (empty):
    /// the real wait, which also ends early when this scheduler grants or releases (another thread's
    /// release wakes the waiters at once) and, for a file ledger, when any process rewrites the
    /// ledger (inotify on the state folder; the poll stays as the fallback). An injected sleeper is
    /// called instead: it should advance the fake clock.
    std::function<void(std::chrono::milliseconds)> sleeper;
    /// How often a background thread refreshes the heartbeat of this process's reservations while a
    /// lease is held, and a waiting reserve refreshes its waiter's (see ledger.hpp). 0: no thread (a
    /// waiting reserve still beats on its polls); tests drive beats with beat_now().
    std::chrono::milliseconds heartbeat_interval{heartbeat_interval_ms};
    /// The most one reservation may take, whatever the GPU has free: inside a Slurm job, its shards
    /// (SLURM_SHARDS_ON_NODE × granule, planner/slurm.hpp slurm_job_cap_bytes()). A larger request
    /// ends at once with status never_fits and a message naming @ref job_cap_source. nullopt: no cap.
    std::optional<std::uint64_t> job_cap_bytes;
    /// Where the cap comes from, for the message, e.g. "this Slurm job's shards (SLURM_SHARDS_ON_NODE=10 x 1 GiB)".
    std::string job_cap_source;
};

/// Result of release_all_reservations().
struct reservations_release {
    bool forced = false;
    bool refused = false;                     ///< live holders and not forced: nothing dropped
    std::vector<reservation_record> dropped;  ///< dropped now (live holders' when forced)
    std::vector<reservation_record> reaped;   ///< dead holders' records reaped on the way
    std::vector<reservation_record> live;     ///< live holders' records (refused ones when refused)
    [[nodiscard]] std::uint64_t dropped_bytes() const noexcept;
};

/// The scheduler: thread-safe; one per program is enough (several may share a ledger).
class scheduler {
public:
    /// @p probe gives GPU snapshots; @p ledger keeps reservations (memory_ledger for one program,
    /// file_ledger to share with other processes).
    scheduler(std::shared_ptr<gpu_probe> probe, std::shared_ptr<ledger> ledger, scheduler_options options = {});
    ~scheduler();
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    /// Reserves request.bytes on one listed GPU, waiting (FIFO) up to request.timeout.
    /// @throws usage_error for bad gpu ids or a zero-byte request; error when the ledger fails.
    reserve_result reserve(const reserve_request& request);
    /// reserve() with timeout 0: admitted now or not at all.
    reserve_result try_reserve(reserve_request request);

    /// Admission figures of every visible GPU now (empty when GPU information is unavailable).
    std::vector<gpu_capacity> capacities();
    /// Live reservations, oldest first.
    std::vector<reservation_record> reservations();
    /// Live waiters, oldest first.
    std::vector<waiter_record> waiters();
    /// Drops this process's reservations (its leases become no-ops); returns them.
    std::vector<reservation_record> release_own_reservations();
    /// Drops every reservation in the ledger; when holders are alive and !force, drops none
    /// (refused = true) and lists them.
    reservations_release release_all_reservations(bool force);
    /// Refreshes the heartbeat of every record of this process now; returns how many.
    std::size_t beat_now();
    /// The ledger in use.
    [[nodiscard]] ledger& reservation_ledger() const noexcept;

private:
    std::shared_ptr<detail::scheduler_core> core_;
};

}  // namespace whisper_vram
