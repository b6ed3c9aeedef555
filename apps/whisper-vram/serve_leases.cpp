// Leases of `whisper-vram serve` in the ledger `run` uses (serve_leases.hpp).

#include "serve_leases.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <random>

#include "cli_common.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram::cli {
namespace {

using steady = std::chrono::steady_clock;

// The options a lease request is parsed with: `run`'s job options (--model, the estimate options,
// --gpus, --policy) and the lease's own.
struct lease_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> gpus;
    std::string policy = "best-fit";
    std::optional<std::string> ttl_seconds;
    std::optional<std::string> wait_seconds;
};

void add_lease_options(CLI::App& app, lease_options& o) {
    app.add_option("--model", o.model, "model name")->required();
    add_estimate_options(app, o.estimate);
    app.add_option("--gpus", o.gpus, "GPU ids, comma-separated (default: every visible GPU)");
    app.add_option("--policy", o.policy, "best-fit or most-free");
    app.add_option("--ttl-seconds", o.ttl_seconds, "lease TTL");
    app.add_option("--wait-seconds", o.wait_seconds, "how long to wait in the FIFO");
}

// Decimal seconds, 0 < s ≤ max (0 allowed when @p zero_ok): "30", "0.5"; no sign, exponent, nan.
std::chrono::milliseconds parse_seconds(const std::string& field, const std::string& text, std::chrono::seconds max,
                                        bool zero_ok) {
    const auto bad = [&] {
        return api_error(400, "bad_request",
                         fmt::format("field '{}' is '{}': expected seconds, a number from {} to {}", field, text,
                                     zero_ok ? "0" : "0 (exclusive)", max.count()));
    };
    if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos) throw bad();
    double value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(value)) throw bad();
    if (value < 0 || (!zero_ok && value <= 0) || value > static_cast<double>(max.count())) throw bad();
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(value * 1000.0)));
}

std::string new_lease_id() {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return fmt::format("{:016x}{:016x}", engine(), engine());
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const auto seconds = static_cast<std::time_t>(ms / 1000);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), ms % 1000);
}

api_response json_response(int status, const nlohmann::ordered_json& j) { return {status, j.dump(2) + '\n'}; }

}  // namespace

std::vector<std::string> lease_fields() {
    CLI::App app{"lease"};
    lease_options o;
    add_lease_options(app, o);
    return command_fields(app);
}

lease_request parse_lease_request(const nlohmann::json& fields, const environment& env, const lease_limits& limits) {
    CLI::App app{"lease"};
    lease_options o;
    add_lease_options(app, o);
    auto args = fields_to_args(app, fields, {}, "/api/v1/leases");
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        std::string what = e.what();
        if (what.find("--model") != std::string::npos && what.find("required") != std::string::npos) {
            what = "field 'model' is required";
        }
        throw api_error(400, "bad_request", what);
    }
    o.estimate.env = &env;
    lease_request r;
    try {
        r.job = to_request(o.estimate, o.model);
        r.policy = parse_placement_policy(o.policy);
        if (o.gpus) {
            if (o.gpus->find_first_not_of(" \t") == std::string::npos) (void)split_list(*o.gpus, "gpus");
            r.gpus = *o.gpus;
        }
    } catch (const usage_error& e) {
        throw api_error(400, "bad_request", e.what());
    }
    r.ttl = o.ttl_seconds ? parse_seconds("ttl_seconds", *o.ttl_seconds, limits.max_ttl, false)
                          : std::chrono::milliseconds(limits.default_ttl);
    r.wait = o.wait_seconds ? parse_seconds("wait_seconds", *o.wait_seconds, limits.max_wait, true)
                            : std::chrono::milliseconds(0);
    return r;
}

lease_book::lease_book(const gpu_manager& manager, std::function<steady::time_point()> now)
    : manager_(manager), now_(now ? std::move(now) : [] { return steady::now(); }) {}

lease_book::~lease_book() { (void)release_all(); }

nlohmann::ordered_json lease_book::to_json(const held& h) const {
    // The lease's JSON (the API's own object, beside the reservation's fields as `run --json` names them).
    const auto& info = h.granted.info();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(h.expires - now_());
    nlohmann::ordered_json j;
    j["id"] = h.id;
    j["reservation_id"] = info.id;
    j["gpu_uuid"] = info.gpu_uuid;
    j["cuda_index"] = info.cuda_index;
    j["gpu_index"] = info.gpu_index;
    j["gpu_name"] = info.gpu_name;
    j["bytes"] = info.bytes;
    j["model"] = info.model;
    j["ttl_seconds"] = static_cast<double>(h.ttl.count()) / 1000.0;
    j["expires_at"] = rfc3339(std::chrono::system_clock::now() + left);
    j["expires_in_seconds"] = static_cast<double>(std::max<std::int64_t>(0, left.count())) / 1000.0;
    return j;
}

api_response lease_book::acquire(const lease_request& request, const std::function<bool()>& cancelled,
                                 std::string& result) {
    reserve_request r;
    try {
        r = manager_.sized_reserve_request(request.job, request.gpus);
    } catch (const usage_error& e) {
        result = "bad_request";
        throw api_error(400, "bad_request", e.what());
    }
    r.timeout = request.wait;
    r.policy = request.policy;
    r.cancelled = cancelled;
    reserve_result res;
    try {
        res = manager_.get_scheduler().reserve(r);
    } catch (const usage_error& e) {
        result = "bad_request";
        throw api_error(400, "bad_request", e.what());
    }
    result = std::string(to_string(res.status));
    const nlohmann::ordered_json refused{{"requested_bytes", res.requested_bytes},
                                         {"waited_seconds", static_cast<double>(res.waited.count()) / 1000.0}};
    switch (res.status) {
        case reserve_status::granted:
            break;
        case reserve_status::never_fits: {
            auto j = nlohmann::ordered_json{{"error", "never_fits"}, {"detail", res.message}};
            j.update(refused);
            return json_response(409, j);
        }
        case reserve_status::timed_out: {
            auto j = nlohmann::ordered_json{{"error", "not_admitted"}, {"detail", res.message}};
            j.update(refused);
            return json_response(503, j);
        }
        case reserve_status::gpu_unavailable:
            return json_response(503, {{"error", "gpu_unavailable"}, {"detail", res.message}});
        case reserve_status::cancelled:
            return json_response(503, {{"error", "shutting_down"}, {"detail", "the server is stopping"}});
    }
    const std::lock_guard lock(mutex_);
    held h;
    h.granted = std::move(res.granted_lease);
    h.id = new_lease_id();
    h.ttl = request.ttl;
    h.expires = now_() + request.ttl;
    h.sequence = ++sequence_;
    auto j = to_json(h);
    j["waited_seconds"] = static_cast<double>(res.waited.count()) / 1000.0;
    leases_.emplace(h.id, std::move(h));
    return json_response(201, j);
}

api_response lease_book::heartbeat(const std::string& id, std::optional<std::chrono::milliseconds> ttl) {
    const std::lock_guard lock(mutex_);
    const auto it = leases_.find(id);
    if (it == leases_.end() || it->second.expires <= now_()) {
        throw api_error(404, "not_found", fmt::format("no lease '{}' (expired, released or never granted)", id));
    }
    if (ttl) it->second.ttl = *ttl;
    it->second.expires = now_() + it->second.ttl;
    return json_response(200, to_json(it->second));
}

api_response lease_book::release(const std::string& id) {
    std::optional<held> h;
    {
        const std::lock_guard lock(mutex_);
        const auto it = leases_.find(id);
        if (it == leases_.end()) {
            throw api_error(404, "not_found", fmt::format("no lease '{}' (expired, released or never granted)", id));
        }
        h.emplace(std::move(it->second));
        leases_.erase(it);
    }
    auto j = to_json(*h);
    h->granted.release();
    return json_response(200, {{"released", j}});
}

api_response lease_book::list() const {
    std::vector<const held*> order;
    const std::lock_guard lock(mutex_);
    for (const auto& [id, h] : leases_) order.push_back(&h);
    std::sort(order.begin(), order.end(), [](const held* a, const held* b) { return a->sequence < b->sequence; });
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto* h : order) list.push_back(to_json(*h));
    return json_response(200, {{"leases", list}});
}

std::size_t lease_book::reap_expired() {
    std::vector<held> expired;
    {
        const std::lock_guard lock(mutex_);
        const auto now = now_();
        for (auto it = leases_.begin(); it != leases_.end();) {
            if (it->second.expires <= now) {
                expired.push_back(std::move(it->second));
                it = leases_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& h : expired) h.granted.release();
    return expired.size();
}

std::size_t lease_book::release_all() {
    std::map<std::string, held> all;
    {
        const std::lock_guard lock(mutex_);
        all.swap(leases_);
    }
    for (auto& [id, h] : all) h.granted.release();
    return all.size();
}

std::size_t lease_book::size() const {
    const std::lock_guard lock(mutex_);
    return leases_.size();
}

}  // namespace whisper_vram::cli
