// The reservation ledger's pure part: record format, checksums, recovery, reaping (against a
// process_table interface), /proc/PID/stat parsing and the records' JSON. No files, clocks or
// environment: the OS side (process table, clocks, in-memory ledger, state folder) is in
// ledger_system.cpp, the file-backed ledger in ledger_file.cpp.

#include "whisper_vram/sched/ledger.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

constexpr std::string_view format_name = "whisper-vram-ledger";
constexpr int format_version = 2;
constexpr int oldest_format_version = 1;  // no pid_ns, boot_id, heartbeat_ms

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib's crc32().
std::uint32_t crc32(std::string_view data) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFU;
    for (const char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (c >> 8U);
    return c ^ 0xFFFFFFFFU;
}

}  // namespace

std::uint32_t ledger_line_checksum(std::string_view body) noexcept { return crc32(body); }

namespace {

std::string sealed_line(const nlohmann::ordered_json& j) {
    // One line: dump() without indent escapes control characters; invalid UTF-8 is replaced, not thrown.
    const std::string body = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    return fmt::format("{}\t{:08x}\n", body, crc32(body));
}

// The JSON body of a sealed line, or nullopt when the checksum does not match or it is not JSON.
std::optional<nlohmann::json> open_line(std::string_view line) {
    const auto tab = line.rfind('\t');
    if (tab == std::string_view::npos || line.size() - tab - 1 != 8) return std::nullopt;
    std::uint32_t stored = 0;
    const auto* first = line.data() + tab + 1;
    const auto [ptr, ec] = std::from_chars(first, first + 8, stored, 16);
    if (ec != std::errc{} || ptr != first + 8) return std::nullopt;
    const std::string_view body = line.substr(0, tab);
    if (crc32(body) != stored) return std::nullopt;
    auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
    return parsed;
}

nlohmann::ordered_json identity_fields(nlohmann::ordered_json j, const process_identity& who, const host_identity& host,
                                       std::int64_t heartbeat_ms) {
    j["pid"] = who.pid;
    j["start_time"] = who.start_time;
    j["pid_ns"] = host.pid_namespace;
    j["boot_id"] = host.boot_id;
    j["heartbeat_ms"] = heartbeat_ms;
    return j;
}

template <typename T>
bool get_to(const nlohmann::json& j, const char* key, T& out) {
    const auto it = j.find(key);
    if (it == j.end()) return false;
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) return false;
        out = it->get<T>();
    } else if constexpr (std::is_unsigned_v<T>) {
        // In range for T, never narrowed: "pid":4294967297 is not pid 1.
        if (!it->is_number_unsigned() || it->get<std::uint64_t>() > std::numeric_limits<T>::max()) return false;
        out = static_cast<T>(it->get<std::uint64_t>());
    } else {
        if (!it->is_number_integer()) return false;
        if (it->is_number_unsigned()) {
            if (it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
            out = static_cast<T>(it->get<std::uint64_t>());
        } else {
            const auto v = it->get<std::int64_t>();
            if constexpr (sizeof(T) < sizeof(std::int64_t)) {
                if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
            }
            out = static_cast<T>(v);
        }
    }
    return true;
}

// The version-2 liveness fields; absent (version 1): unknown host, heartbeat = since_ms. Present
// but of the wrong type: the record is damaged.
template <typename Record>
bool get_liveness(const nlohmann::json& j, Record& r) {
    r.heartbeat_ms = r.since_ms;
    if (j.contains("pid_ns") && !get_to(j, "pid_ns", r.host.pid_namespace)) return false;
    if (j.contains("boot_id") && !get_to(j, "boot_id", r.host.boot_id)) return false;
    if (j.contains("heartbeat_ms") && !get_to(j, "heartbeat_ms", r.heartbeat_ms)) return false;
    return true;
}

std::optional<reservation_record> to_reservation(const nlohmann::json& j) {
    reservation_record r;
    if (!get_to(j, "id", r.id) || !get_to(j, "gpu", r.gpu_uuid) || !get_to(j, "gpu_index", r.gpu_index) ||
        !get_to(j, "pid", r.holder.pid) || !get_to(j, "start_time", r.holder.start_time) ||
        !get_to(j, "child_pid", r.child_pid) || !get_to(j, "bytes", r.bytes) || !get_to(j, "model", r.model) ||
        !get_to(j, "since_ms", r.since_ms)) {
        return std::nullopt;
    }
    if (r.id == 0 || r.gpu_uuid.empty() || r.holder.pid == 0 || r.bytes == 0 || !get_liveness(j, r)) {
        return std::nullopt;
    }
    return r;
}

std::optional<waiter_record> to_waiter(const nlohmann::json& j) {
    waiter_record w;
    if (!get_to(j, "id", w.id) || !get_to(j, "pid", w.holder.pid) || !get_to(j, "start_time", w.holder.start_time) ||
        !get_to(j, "bytes", w.bytes) || !get_to(j, "model", w.model) || !get_to(j, "since_ms", w.since_ms)) {
        return std::nullopt;
    }
    const auto gpus = j.find("gpus");
    if (gpus == j.end() || !gpus->is_array()) return std::nullopt;
    for (const auto& g : *gpus) {
        if (!g.is_string()) return std::nullopt;
        w.gpu_uuids.push_back(g.get<std::string>());
    }
    if (w.id == 0 || w.holder.pid == 0 || w.bytes == 0 || w.gpu_uuids.empty() || !get_liveness(j, w)) {
        return std::nullopt;
    }
    return w;
}

}  // namespace

// ---- process table ------------------------------------------------------------------------------

std::optional<std::uint64_t> parse_proc_stat_start_time(std::string_view stat) {
    // "PID (COMM) S PPID …": COMM may itself contain ") ", so split after the LAST ')'.
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos || close + 2 >= stat.size()) return std::nullopt;
    std::string_view rest = stat.substr(close + 2);
    // rest starts at field 3 (state); field 22 (starttime) is the 20th field of rest.
    std::vector<std::string_view> fields;
    while (!rest.empty() && fields.size() < 20) {
        const auto space = rest.find(' ');
        fields.push_back(rest.substr(0, space));
        if (space == std::string_view::npos) break;
        rest = rest.substr(space + 1);
    }
    if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
    if (fields[0] == "Z" || fields[0] == "X" || fields[0] == "x") return std::nullopt;  // zombie/dead: not a holder
    std::uint64_t start = 0;
    const auto f = fields[19];
    const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), start);
    if (ec != std::errc{} || ptr != f.data() + f.size()) return std::nullopt;
    return start;
}

// ---- format ---------------------------------------------------------------------------------------

namespace {

// One record line, fields in the file's order: @p head (type, id and what comes before the holder),
// pid and start_time, @p before_bytes, bytes, @p after_bytes, model, since_ms. Reservations and
// waiters share everything but the fields in @p head, @p before_bytes and @p after_bytes.
template <typename Record>
std::string record_line(nlohmann::ordered_json head, const Record& r, const nlohmann::ordered_json& before_bytes,
                        const nlohmann::ordered_json& after_bytes) {
    auto j = identity_fields(std::move(head), r.holder, r.host, r.heartbeat_ms);
    for (const auto& field : before_bytes.items()) j[field.key()] = field.value();
    j["bytes"] = r.bytes;
    for (const auto& field : after_bytes.items()) j[field.key()] = field.value();
    j["model"] = r.model;
    j["since_ms"] = r.since_ms;
    return sealed_line(j);
}

}  // namespace

std::string serialize_ledger(const ledger_state& state) {
    std::string out;
    out += sealed_line({{"format", format_name},
                        {"version", format_version},
                        {"next_id", state.next_id},
                        {"generation", state.generation}});
    const auto none = nlohmann::ordered_json::object();
    for (const auto& r : state.reservations) {
        out += record_line({{"type", "reservation"}, {"id", r.id}, {"gpu", r.gpu_uuid}, {"gpu_index", r.gpu_index}}, r,
                           {{"child_pid", r.child_pid}}, none);
    }
    for (const auto& w : state.waiters) {
        out += record_line({{"type", "waiter"}, {"id", w.id}}, w, none, {{"gpus", w.gpu_uuids}});
    }
    out += sealed_line({{"type", "end"}, {"records", state.reservations.size() + state.waiters.size()}});
    return out;
}

ledger_state parse_ledger(std::string_view text, std::vector<std::string>& warnings) {
    ledger_state state;
    if (text.empty()) return state;
    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start < text.size();) {
        const auto nl = text.find('\n', start);
        if (nl == std::string_view::npos) {
            lines.push_back(text.substr(start));
            warnings.emplace_back("the last line is cut off (no newline)");
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    std::uint64_t header_next_id = 0;
    std::size_t bad_lines = 0;
    std::size_t records = 0;
    std::optional<std::uint64_t> end_count;
    bool after_end = false;
    std::size_t oversized = 0;
    std::unordered_set<std::uint64_t> ids;
    ids.reserve(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto body = open_line(lines[i]);
        if (i == 0) {
            std::int64_t version = 0;
            std::string name;
            if (body && get_to(*body, "format", name) && name == format_name && get_to(*body, "version", version) &&
                version >= oldest_format_version && version <= format_version &&
                get_to(*body, "next_id", header_next_id)) {
                if (body->contains("generation")) get_to(*body, "generation", state.generation);
                continue;
            }
            if (body && name == format_name) {
                warnings.push_back(fmt::format("unsupported ledger version (this program reads versions {} to {})",
                                               oldest_format_version, format_version));
                continue;
            }
            warnings.emplace_back("the header is missing or damaged");
            // fall through: the first line may be garbage or an intact record
        }
        if (!body) {
            ++bad_lines;
            continue;
        }
        if (after_end) {
            ++bad_lines;
            continue;
        }
        std::string type;
        get_to(*body, "type", type);
        if (type == "end") {
            std::uint64_t n = 0;
            if (get_to(*body, "records", n)) end_count = n;
            after_end = true;
            continue;
        }
        std::optional<std::uint64_t> id;
        std::uint64_t bytes = 0;
        if ((type == "reservation" || type == "waiter") && get_to(*body, "bytes", bytes) && bytes > max_record_bytes) {
            ++oversized;  // beyond any GPU: damage or an attack; dropped, never summed
            continue;
        }
        if (type == "reservation") {
            if (auto r = to_reservation(*body); r && r->id <= max_record_id && ids.insert(r->id).second) {
                id = r->id;
                state.reservations.push_back(std::move(*r));
            }
        } else if (type == "waiter") {
            if (auto w = to_waiter(*body); w && w->id <= max_record_id && ids.insert(w->id).second) {
                id = w->id;
                state.waiters.push_back(std::move(*w));
            }
        }
        if (!id) {
            ++bad_lines;
            continue;
        }
        ++records;
    }
    if (oversized > 0) {
        warnings.push_back(fmt::format("{} record(s) of more than {} bytes (2^50, beyond any GPU) dropped", oversized,
                                       max_record_bytes));
    }
    if (bad_lines > 0) {
        warnings.push_back(fmt::format("{} unreadable line(s) (bad checksum, not a record, or garbage)", bad_lines));
    }
    if (!end_count) {
        warnings.emplace_back("no end marker (the file is truncated)");
    } else if (bad_lines == 0 && *end_count != records + oversized) {
        warnings.push_back(fmt::format("the end marker counts {} records but {} were found", *end_count, records));
    }
    std::uint64_t max_id = 0;
    for (const auto id : ids) max_id = std::max(max_id, id);
    if (header_next_id > max_record_id + 1) {
        warnings.push_back(fmt::format("the header's next_id {} is beyond {} (damage): ids continue after the records",
                                       header_next_id, max_record_id + 1));
        header_next_id = 0;
    }
    state.next_id = std::max<std::uint64_t>({header_next_id, max_id + 1, 1});  // max_id <= max_record_id
    std::sort(state.reservations.begin(), state.reservations.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    std::sort(state.waiters.begin(), state.waiters.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return state;
}

namespace {

// |from − to| > limit, computed in unsigned: no signed overflow whatever a damaged record holds.
bool farther_than(std::int64_t from, std::int64_t to, std::int64_t limit) noexcept {
    const auto a = static_cast<std::uint64_t>(from);
    const auto b = static_cast<std::uint64_t>(to);
    return (from >= to ? a - b : b - a) > static_cast<std::uint64_t>(limit);
}

}  // namespace

bool waiter_stale(const waiter_record& w, std::int64_t now_ms) noexcept {
    return w.heartbeat_ms < now_ms && farther_than(now_ms, w.heartbeat_ms, waiter_stale_after_ms);
}

std::uint64_t ledger_state::take_id() {
    if (next_id == 0 || next_id > max_record_id) {
        throw state_error(fmt::format("the ledger's next id {} is beyond {}: the ledger is damaged; move it aside",
                                      next_id, max_record_id));
    }
    return next_id++;
}

bool looks_like_ledger(std::string_view text) {
    // The header's first bytes, as serialize_ledger writes them (even when the rest of the line is damaged).
    static constexpr std::string_view header_start = R"({"format":"whisper-vram-ledger")";
    return text.empty() || text.starts_with(header_start);
}

namespace {

// Liveness judged once per pid within one reap (10k records of a few holders: a few /proc reads).
class liveness {
public:
    liveness(const process_table& processes, const std::optional<process_identity>& self, const host_identity& local,
             std::int64_t now_ms)
        : processes_(processes), self_(self), local_(local), now_ms_(now_ms) {}

    bool alive(const process_identity& who, const host_identity& host, std::int64_t heartbeat_ms) {
        if (host.known() && host != local_) {
            return !farther_than(now_ms_, heartbeat_ms, foreign_expiry_ms);
        }
        if (self_ && who == *self_) return true;
        auto it = start_times_.find(who.pid);
        if (it == start_times_.end()) it = start_times_.emplace(who.pid, processes_.start_time(who.pid)).first;
        return it->second && *it->second == who.start_time;
    }

private:
    const process_table& processes_;
    const std::optional<process_identity>& self_;
    const host_identity& local_;
    std::int64_t now_ms_;
    std::unordered_map<std::uint32_t, std::optional<std::uint64_t>> start_times_;
};

}  // namespace

void reap_dead(ledger_state& state, const process_table& processes, ledger_access& access,
               const std::optional<process_identity>& self, const host_identity& local, std::int64_t now_ms) {
    liveness judge(processes, self, local, now_ms);
    std::erase_if(state.reservations, [&](const reservation_record& r) {
        if (judge.alive(r.holder, r.host, r.heartbeat_ms)) return false;
        // The job outlives run for a moment (its guardian kills the group). Local records only: a
        // pgid of another PID namespace names nothing here.
        const bool local_record = !(r.host.known() && r.host != local);
        if (local_record && r.child_pid != 0 && processes.group_alive(r.child_pid)) return false;
        access.reaped_reservations.push_back(r);
        return true;
    });
    std::erase_if(state.waiters, [&](const waiter_record& w) {
        if (judge.alive(w.holder, w.host, w.heartbeat_ms)) return false;
        access.reaped_waiters.push_back(w);
        return true;
    });
}

std::size_t beat(ledger_state& state, const process_identity& self, const host_identity& local, std::int64_t now_ms) {
    std::size_t n = 0;
    const auto ours = [&](const process_identity& who, const host_identity& host) {
        return who == self && (host == local || !host.known());
    };
    for (auto& r : state.reservations) {
        if (ours(r.holder, r.host)) {
            r.heartbeat_ms = now_ms;
            r.host = local;
            ++n;
        }
    }
    for (auto& w : state.waiters) {
        if (ours(w.holder, w.host)) {
            w.heartbeat_ms = now_ms;
            w.host = local;
            ++n;
        }
    }
    return n;
}

ledger_state ledger::read(ledger_access* access) { return read_state(access); }

ledger_state ledger::read_state(ledger_access* access) {
    ledger_state copy;
    auto result = update([&](ledger_state& state) {
        copy = state;
        return false;
    });
    if (access != nullptr) *access = std::move(result);
    return copy;
}

std::optional<reservation_record> release_reservation(ledger& l, std::uint64_t id) {
    std::optional<reservation_record> dropped;
    l.update([&](ledger_state& state) {
        const auto it = std::find_if(state.reservations.begin(), state.reservations.end(),
                                     [&](const reservation_record& r) { return r.id == id; });
        if (it == state.reservations.end()) return false;
        dropped = *it;
        state.reservations.erase(it);
        return true;
    });
    return dropped;
}

std::string format_utc_iso8601(std::int64_t since_ms) {
    const auto seconds = static_cast<std::time_t>(since_ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

}  // namespace whisper_vram
