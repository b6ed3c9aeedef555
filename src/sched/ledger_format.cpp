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
#include <set>
#include <sstream>

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

constexpr std::string_view format_name = "whisper-vram-ledger";
constexpr int format_version = 1;

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

nlohmann::ordered_json identity_fields(nlohmann::ordered_json j, const process_identity& who) {
    j["pid"] = who.pid;
    j["start_time"] = who.start_time;
    return j;
}

template <typename T>
bool get_to(const nlohmann::json& j, const char* key, T& out) {
    const auto it = j.find(key);
    if (it == j.end()) return false;
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) return false;
    } else if constexpr (std::is_unsigned_v<T>) {
        if (!it->is_number_unsigned()) return false;
    } else {
        if (!it->is_number_integer()) return false;
    }
    out = it->get<T>();
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
    if (r.id == 0 || r.gpu_uuid.empty() || r.holder.pid == 0 || r.bytes == 0) return std::nullopt;
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
    if (w.id == 0 || w.holder.pid == 0 || w.gpu_uuids.empty()) return std::nullopt;
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
    auto j = identity_fields(std::move(head), r.holder);
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
    out += sealed_line({{"format", format_name}, {"version", format_version}, {"next_id", state.next_id}});
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
    std::set<std::uint64_t> ids;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto body = open_line(lines[i]);
        if (i == 0) {
            std::int64_t version = 0;
            std::string name;
            if (body && get_to(*body, "format", name) && name == format_name && get_to(*body, "version", version) &&
                version == format_version && get_to(*body, "next_id", header_next_id)) {
                continue;
            }
            if (body && name == format_name) {
                warnings.push_back(
                    fmt::format("unsupported ledger version (this program reads version {})", format_version));
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
        if (type == "reservation") {
            if (auto r = to_reservation(*body); r && ids.insert(r->id).second) {
                id = r->id;
                state.reservations.push_back(std::move(*r));
            }
        } else if (type == "waiter") {
            if (auto w = to_waiter(*body); w && ids.insert(w->id).second) {
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
    if (bad_lines > 0) {
        warnings.push_back(fmt::format("{} unreadable line(s) (bad checksum, not a record, or garbage)", bad_lines));
    }
    if (!end_count) {
        warnings.emplace_back("no end marker (the file is truncated)");
    } else if (bad_lines == 0 && *end_count != records) {
        warnings.push_back(fmt::format("the end marker counts {} records but {} were found", *end_count, records));
    }
    std::uint64_t max_id = 0;
    for (const auto id : ids) max_id = std::max(max_id, id);
    state.next_id = std::max<std::uint64_t>({header_next_id, max_id + 1, 1});
    std::sort(state.reservations.begin(), state.reservations.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    std::sort(state.waiters.begin(), state.waiters.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return state;
}

void reap_dead(ledger_state& state, const process_table& processes, ledger_access& access,
               const std::optional<process_identity>& self) {
    std::erase_if(state.reservations, [&](const reservation_record& r) {
        if ((self && r.holder == *self) || processes.alive(r.holder)) return false;
        if (r.child_pid != 0 && processes.group_alive(r.child_pid)) return false;  // the job outlives run
        access.reaped_reservations.push_back(r);
        return true;
    });
    std::erase_if(state.waiters, [&](const waiter_record& w) {
        if ((self && w.holder == *self) || processes.alive(w.holder)) return false;
        access.reaped_waiters.push_back(w);
        return true;
    });
}

ledger_state ledger::read(ledger_access* access) {
    ledger_state copy;
    auto result = update([&](ledger_state& state) {
        copy = state;
        return false;
    });
    if (access != nullptr) *access = std::move(result);
    return copy;
}

std::string format_utc_iso8601(std::int64_t since_ms) {
    const auto seconds = static_cast<std::time_t>(since_ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

}  // namespace whisper_vram
