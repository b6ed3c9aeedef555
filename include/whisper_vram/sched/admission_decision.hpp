#pragma once
/// @file admission_decision.hpp
/// The scheduler's decision for one poll of a reserve, as a pure function: what the ledger holds,
/// what the listed GPUs have available, the request and the time in; grant / enqueue / keep waiting /
/// never fits / timed out / cancelled (with the reason) out. The scheduler's loop only reads the
/// state, calls decide(), applies the verdict to the ledger and waits; unit tests drive decide()
/// directly, without threads or clocks.
///
/// ## Rules, in the order they apply
/// 1. never_fits: bytes > the largest total memory of the usable listed GPUs. Checked first and on
///    every poll; the totals are those at the start of the reserve, so a request that can fit once
///    keeps waiting even if a GPU is lost meanwhile (it may come back). With per-GPU sizes
///    (gpu_bytes): when no present listed GPU's total holds its own size. Rule 3 then places by
///    each GPU's own size (best_fit: least left over) and the reservation records that size.
/// 2. FIFO: queue_position = the waiters in the ledger that arrived earlier (lower id; every waiter
///    when this request has no place yet) AND may use one of this request's GPUs. A request behind
///    anyone is not granted even if it fits: a later small request never jumps a waiting large one.
///    Disjoint GPU sets do not block each other. A waiter whose heartbeat is stale at now_wall_ms
///    (waiter_stale(): silent for more than waiter_stale_after_ms — stopped by Ctrl-Z, docker pause or
///    a debugger) is passed over: it does not count, and keeps its place for when it beats again.
/// 3. grant: queue_position = 0 and choose_gpu() (best_fit / most_free, ties to the lower NVML
///    index; see scheduler.hpp) finds a GPU that admits the request. A grant wins over a
///    cancellation or a deadline seen in the same poll: the memory is there, the caller gets it.
/// 4. cancelled: the caller's cancelled() returned true.
/// 5. timed_out: timeout 0 (may_wait false: "not admitted now", no place in the queue), or
///    now ≥ deadline.
/// 6. enqueue: the request may wait and has no place yet: it takes one (the next ledger id).
/// 7. keep_waiting: otherwise.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {

/// What decide() says to do now.
enum class admission_verdict {
    grant,         ///< reserve on gpus[gpu] (and leave the queue)
    enqueue,       ///< take a place in the FIFO queue, then wait
    keep_waiting,  ///< stay in the queue and wait
    never_fits,    ///< larger than every listed GPU: fail at once
    timed_out,     ///< the deadline passed (or timeout 0 and not admitted now)
    cancelled,     ///< the caller cancelled
};

/// "grant", "enqueue", "keep_waiting", "never_fits", "timed_out", "cancelled".
std::string_view to_string(admission_verdict verdict) noexcept;

/// Everything one decision depends on (values only: copied or viewed from the loop's state).
struct admission_input {
    std::uint64_t bytes = 0;  ///< the request (> 0)
    /// Per-GPU sizes by UUID (reserve_request::gpu_bytes); a GPU not listed takes @ref bytes.
    std::vector<std::pair<std::string, std::uint64_t>> gpu_bytes;
    std::string model;  ///< for the messages ("the task" when empty)
    placement_policy policy = placement_policy::best_fit;
    std::vector<std::string> gpu_uuids;     ///< the request's GPU set (usable listed GPUs), for FIFO overlap
    std::uint64_t largest_total_bytes = 0;  ///< the largest total of those GPUs (at the start of the reserve)
    /// Admission figures now of those GPUs still present (admission_capacity() over the ledger's reservations).
    std::vector<gpu_capacity> gpus;
    /// CUDA index of each entry of @ref gpus (same size and order); used in the grant message.
    std::vector<unsigned> cuda_indices;
    std::span<const waiter_record> waiters;         ///< the ledger's queue (any order)
    std::int64_t now_wall_ms = 0;                   ///< wall clock of this poll: judges waiters' heartbeats
    std::uint64_t waiter_id = 0;                    ///< this request's place in it; 0 = none yet
    bool may_wait = true;                           ///< false for timeout 0
    bool cancelled = false;                         ///< what reserve_request::cancelled returned for this poll
    std::chrono::steady_clock::time_point started;  ///< when the reserve began
    std::chrono::steady_clock::time_point now;      ///< this poll
    /// nullopt: no limit. Past it (now ≥ deadline) a request that was not granted times out.
    std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// The verdict and why.
struct admission_decision {
    admission_verdict verdict = admission_verdict::keep_waiting;
    std::optional<std::size_t> gpu;  ///< for grant: the index in admission_input::gpus
    wait_progress progress;          ///< queue position, best available GPU, waited, reason (empty when granted)
    std::string message;             ///< one line for people: the reserve_result message this verdict ends with
    /// True for the verdicts that end the reserve (grant, never_fits, timed_out, cancelled).
    [[nodiscard]] bool final() const noexcept {
        return verdict != admission_verdict::enqueue && verdict != admission_verdict::keep_waiting;
    }
};

/// Applies the rules of the file comment to @p input. Pure: no clock, no ledger, no threads.
[[nodiscard]] admission_decision decide(const admission_input& input);

/// The reserve_status a final verdict ends with (grant → granted…); timed_out for the others.
[[nodiscard]] reserve_status to_reserve_status(admission_verdict verdict) noexcept;

/// The size of @p input's request on the GPU @p gpu_uuid: its admission_input::gpu_bytes entry, else bytes.
[[nodiscard]] std::uint64_t request_bytes_on(const admission_input& input, std::string_view gpu_uuid) noexcept;

/// True when the GPU sets @p a and @p b share a GPU (UUIDs).
[[nodiscard]] bool gpu_sets_overlap(const std::vector<std::string>& a, const std::vector<std::string>& b);

}  // namespace whisper_vram
