#pragma once
// Leases of `whisper-vram serve`: reservations in the ledger `run` uses (the facade's scheduler),
// held by the serve process on behalf of clients that cannot share its /proc (containers, other
// hosts), each with a TTL the client extends by heartbeats. Waiting requests wait in the ledger's
// FIFO with `run`'s. A lease not heartbeated within its TTL is released by reap_expired() (a
// thread of the server calls it); if the server dies, its records are reaped as a dead pid's.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "serve_api.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {

/// A lease request: the job (an estimate request's fields), where it may go and for how long.
struct lease_request {
    estimate_request job;
    std::string gpus;  ///< GPU ids as `run --gpus` takes them; empty = every visible GPU
    placement_policy policy = placement_policy::best_fit;
    std::chrono::milliseconds ttl{60000};  ///< the lease expires this long after its last heartbeat
    std::chrono::milliseconds wait{0};     ///< how long to wait in the FIFO; 0 = now or never
};

/// Limits of lease requests.
struct lease_limits {
    std::chrono::seconds default_ttl{60};
    std::chrono::seconds max_ttl{86400};
    std::chrono::seconds max_wait{3600};
};

/// The lease request of @p fields: estimate fields (model, segment, batch, precision, engine, …
/// as /api/v1/estimate takes them) plus `gpus`, `policy`, `ttl_seconds` and `wait_seconds`.
/// @p env gives the defaults the CLI takes from it (WHISPER_VRAM_ENGINE, CUDA_MODULE_LOADING).
/// @throws api_error 400 naming the bad field or value and what is allowed.
lease_request parse_lease_request(const nlohmann::json& fields, const environment& env, const lease_limits& limits);

/// The fields a lease request accepts, sorted.
std::vector<std::string> lease_fields();

/// The leases one server holds.
class lease_book {
public:
    /// Reserves through @p manager's scheduler; @p now is the clock TTLs run on (steady).
    lease_book(const gpu_manager& manager, std::function<std::chrono::steady_clock::time_point()> now = {});
    ~lease_book();
    lease_book(const lease_book&) = delete;
    lease_book& operator=(const lease_book&) = delete;

    /// Reserves @p request (waiting up to request.wait, or until @p cancelled): 201 with the lease;
    /// 409 `never_fits` when larger than every listed GPU; 503 `not_admitted` (Retry-After) when not
    /// admitted in time; 503 `gpu_unavailable`; 503 `shutting_down` when cancelled.
    /// @p result receives the admission result's name (granted, timed_out, …) for the metrics.
    api_response acquire(const lease_request& request, const std::function<bool()>& cancelled, std::string& result);
    /// Extends lease @p id by @p ttl (its own TTL when nullopt): 200 with it, 404 when unknown/expired.
    api_response heartbeat(const std::string& id, std::optional<std::chrono::milliseconds> ttl);
    /// Releases lease @p id: 200 `{"released": lease}`, 404 when unknown.
    api_response release(const std::string& id);
    /// `{"leases": [...]}`, oldest first.
    api_response list() const;
    /// Releases every lease past its TTL; returns how many.
    std::size_t reap_expired();
    /// Releases every lease (shutdown); returns how many.
    std::size_t release_all();
    /// Leases held now.
    [[nodiscard]] std::size_t size() const;

private:
    struct held {
        lease granted;
        std::string id;
        std::chrono::milliseconds ttl{0};
        std::chrono::steady_clock::time_point expires;
        std::uint64_t sequence = 0;
    };
    [[nodiscard]] nlohmann::ordered_json to_json(const held& h) const;

    const gpu_manager& manager_;
    std::function<std::chrono::steady_clock::time_point()> now_;
    mutable std::mutex mutex_;
    std::map<std::string, held> leases_;
    std::uint64_t sequence_ = 0;
};

}  // namespace whisper_vram::cli
