// The reservation ledger's pure part: record format, checksums, recovery, reaping (against a
// process_table interface), /proc/PID/stat parsing and the records' JSON. No files, clocks or
// environment: the OS side (process table, clocks, in-memory ledger, state folder) is in
// ledger_system.cpp, the file-backed ledger in ledger_file.cpp.

#include "whisper_vram/sched/ledger.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

constexpr std::string_view format_name = "whisper-vram-ledger";
constexpr int format_version = ledger_format_version;
constexpr int oldest_format_version = 1;  // 1: no pid_ns, boot_id, heartbeat_ms; 2: no journal

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
nlohmann::ordered_json record_json(nlohmann::ordered_json head, const Record& r,
                                   const nlohmann::ordered_json& before_bytes,
                                   const nlohmann::ordered_json& after_bytes) {
    auto j = identity_fields(std::move(head), r.holder, r.host, r.heartbeat_ms);
    for (const auto& field : before_bytes.items()) j[field.key()] = field.value();
    j["bytes"] = r.bytes;
    for (const auto& field : after_bytes.items()) j[field.key()] = field.value();
    j["model"] = r.model;
    j["since_ms"] = r.since_ms;
    return j;
}

nlohmann::ordered_json reservation_json(const reservation_record& r) {
    return record_json({{"type", "reservation"}, {"id", r.id}, {"gpu", r.gpu_uuid}, {"gpu_index", r.gpu_index}}, r,
                       {{"child_pid", r.child_pid}}, nlohmann::ordered_json::object());
}

nlohmann::ordered_json waiter_json(const waiter_record& w) {
    return record_json({{"type", "waiter"}, {"id", w.id}}, w, nlohmann::ordered_json::object(),
                       {{"gpus", w.gpu_uuids}});
}

}  // namespace

std::string serialize_ledger(const ledger_state& state) {
    std::string out;
    out += sealed_line({{"format", format_name},
                        {"version", format_version},
                        {"next_id", state.next_id},
                        {"generation", state.generation}});
    for (const auto& r : state.reservations) out += sealed_line(reservation_json(r));
    for (const auto& w : state.waiters) out += sealed_line(waiter_json(w));
    out += sealed_line({{"type", "end"}, {"records", state.reservations.size() + state.waiters.size()}});
    return out;
}

// ---- journal (version 3) ------------------------------------------------------------------------

std::size_t ledger_delta::ops() const noexcept {
    return dropped_reservations.size() + dropped_waiters.size() + beaten_reservations.size() + beaten_waiters.size() +
           put_reservations.size() + put_waiters.size();
}

std::string serialize_delta(const ledger_delta& delta) {
    nlohmann::ordered_json j{{"type", "ops"}, {"generation", delta.generation}, {"next_id", delta.next_id}};
    if (!delta.dropped_reservations.empty()) j["drop"] = delta.dropped_reservations;
    if (!delta.dropped_waiters.empty()) j["drop_waiters"] = delta.dropped_waiters;
    if (!delta.put_reservations.empty()) {
        auto& put = j["put"] = nlohmann::ordered_json::array();
        for (const auto& r : delta.put_reservations) put.push_back(reservation_json(r));
    }
    if (!delta.put_waiters.empty()) {
        auto& put = j["put_waiters"] = nlohmann::ordered_json::array();
        for (const auto& w : delta.put_waiters) put.push_back(waiter_json(w));
    }
    const auto beats = [](const std::vector<std::pair<std::uint64_t, std::int64_t>>& list) {
        auto a = nlohmann::ordered_json::array();
        for (const auto& [id, ms] : list) a.push_back({id, ms});
        return a;
    };
    if (!delta.beaten_reservations.empty()) j["beat"] = beats(delta.beaten_reservations);
    if (!delta.beaten_waiters.empty()) j["beat_waiters"] = beats(delta.beaten_waiters);
    return sealed_line(j);
}

namespace {

// Records are kept in id order: binary search by id.
template <typename Record>
typename std::vector<Record>::iterator find_id(std::vector<Record>& v, std::uint64_t id) {
    const auto it =
        std::lower_bound(v.begin(), v.end(), id, [](const Record& r, std::uint64_t key) { return r.id < key; });
    return it != v.end() && it->id == id ? it : v.end();
}

template <typename Record>
void put_sorted(std::vector<Record>& v, Record r) {
    if (v.empty() || v.back().id < r.id) {
        v.push_back(std::move(r));
        return;
    }
    const auto it =
        std::lower_bound(v.begin(), v.end(), r.id, [](const Record& x, std::uint64_t key) { return x.id < key; });
    if (it != v.end() && it->id == r.id) {
        *it = std::move(r);
    } else {
        v.insert(it, std::move(r));
    }
}

template <typename Record>
void drop_id(std::vector<Record>& v, std::uint64_t id) {
    const auto it = find_id(v, id);
    if (it != v.end()) v.erase(it);
}

bool get_ids(const nlohmann::json& j, const char* key, std::vector<std::uint64_t>& out) {
    const auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_array()) return false;
    for (const auto& id : *it) {
        if (!id.is_number_unsigned()) return false;
        out.push_back(id.get<std::uint64_t>());
    }
    return true;
}

template <typename Record>
bool apply_beats(const nlohmann::json& j, const char* key, std::vector<Record>& v) {
    const auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_array()) return false;
    for (const auto& pair : *it) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() || !pair[1].is_number_integer()) {
            return false;
        }
        const auto r = find_id(v, pair[0].get<std::uint64_t>());
        if (r != v.end()) r->heartbeat_ms = pair[1].get<std::int64_t>();  // unknown ids: nothing to beat
    }
    return true;
}

bool valid_record_numbers(std::uint64_t id, std::uint64_t bytes) {
    return id <= max_record_id && bytes <= max_record_bytes;
}

// Applies one journal line (an "ops" body) to @p state (records in id order); returns its number of
// entries, nullopt when the line is damaged (then @p state is partly changed: the caller parses again).
std::optional<std::size_t> apply_ops(const nlohmann::json& j, ledger_state& state) {
    std::uint64_t next_id = 0;
    std::uint64_t generation = 0;
    if (!get_to(j, "next_id", next_id) || !get_to(j, "generation", generation) || next_id > max_record_id + 1) {
        return std::nullopt;
    }
    std::vector<std::uint64_t> drops;
    std::vector<std::uint64_t> drop_waiters;
    if (!get_ids(j, "drop", drops) || !get_ids(j, "drop_waiters", drop_waiters)) return std::nullopt;
    for (const auto id : drops) drop_id(state.reservations, id);
    for (const auto id : drop_waiters) drop_id(state.waiters, id);
    if (const auto it = j.find("put"); it != j.end()) {
        if (!it->is_array()) return std::nullopt;
        for (const auto& body : *it) {
            auto r = body.is_object() ? to_reservation(body) : std::nullopt;
            if (!r || !valid_record_numbers(r->id, r->bytes)) return std::nullopt;
            drop_id(state.waiters, r->id);  // ids are unique across both kinds (a grant turns a waiter into a holder)
            put_sorted(state.reservations, std::move(*r));
        }
    }
    if (const auto it = j.find("put_waiters"); it != j.end()) {
        if (!it->is_array()) return std::nullopt;
        for (const auto& body : *it) {
            auto w = body.is_object() ? to_waiter(body) : std::nullopt;
            if (!w || !valid_record_numbers(w->id, w->bytes)) return std::nullopt;
            drop_id(state.reservations, w->id);
            put_sorted(state.waiters, std::move(*w));
        }
    }
    if (!apply_beats(j, "beat", state.reservations) || !apply_beats(j, "beat_waiters", state.waiters)) {
        return std::nullopt;
    }
    std::uint64_t max_id = 0;
    if (!state.reservations.empty()) max_id = state.reservations.back().id;
    if (!state.waiters.empty()) max_id = std::max(max_id, state.waiters.back().id);
    state.next_id = std::max<std::uint64_t>({state.next_id, next_id, max_id + 1});
    state.generation = std::max(state.generation, generation);
    std::size_t entries = drops.size() + drop_waiters.size();
    for (const char* key : {"put", "put_waiters", "beat", "beat_waiters"}) {
        if (const auto it = j.find(key); it != j.end()) entries += it->size();
    }
    return entries;
}

std::size_t live_records(const ledger_state& s) { return s.reservations.size() + s.waiters.size(); }

}  // namespace

journal_replay replay_journal(ledger_state& state, std::string_view tail) {
    journal_replay out;
    while (out.consumed < tail.size()) {
        const auto nl = tail.find('\n', out.consumed);
        if (nl == std::string_view::npos) break;  // a torn last line (a writer died mid-write): not applied
        const auto body = open_line(tail.substr(out.consumed, nl - out.consumed));
        std::string type;
        const auto entries =
            body && get_to(*body, "type", type) && type == "ops" ? apply_ops(*body, state) : std::nullopt;
        if (!entries) {
            out.damaged = true;
            return out;
        }
        out.ops += *entries;
        out.consumed = nl + 1;
        if (live_records(state) > max_ledger_records) {
            out.over_limit = live_records(state);
            return out;
        }
    }
    return out;
}

std::optional<std::int64_t> ledger_header_version(std::string_view text) {
    const auto nl = text.find('\n');
    const auto body = open_line(text.substr(0, nl));
    std::string name;
    std::int64_t version = 0;
    if (!body || !get_to(*body, "format", name) || name != format_name || !get_to(*body, "version", version)) {
        return std::nullopt;
    }
    return version;
}

ledger_parse parse_ledger_file(std::string_view text) {
    ledger_parse out;
    ledger_state& state = out.state;
    auto& warnings = out.problems;
    if (text.empty()) return out;
    if (const auto v = ledger_header_version(text); v && *v > format_version) {
        out.version = static_cast<int>(std::min<std::int64_t>(*v, std::numeric_limits<int>::max()));
        return out;  // a newer program's file: not parsed (the caller refuses it)
    }
    std::uint64_t header_next_id = 0;
    std::size_t bad_lines = 0;
    std::size_t records = 0;
    std::optional<std::uint64_t> end_count;
    std::size_t oversized = 0;
    std::unordered_set<std::uint64_t> ids;
    bool sorted = false;  // sorted once the snapshot ends (before the journal is replayed)
    const auto sort_snapshot = [&] {
        if (sorted) return;
        sorted = true;
        std::sort(state.reservations.begin(), state.reservations.end(),
                  [](const auto& a, const auto& b) { return a.id < b.id; });
        std::sort(state.waiters.begin(), state.waiters.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        std::uint64_t max_id = 0;
        for (const auto id : ids) max_id = std::max(max_id, id);
        if (header_next_id > max_record_id + 1) {
            warnings.push_back(
                fmt::format("the header's next_id {} is beyond {} (damage): ids continue after the records",
                            header_next_id, max_record_id + 1));
            header_next_id = 0;
        }
        state.next_id = std::max<std::uint64_t>({header_next_id, max_id + 1, 1});  // max_id <= max_record_id
        ids = {};
    };
    for (std::size_t start = 0, i = 0; start < text.size(); ++i) {
        const auto nl = text.find('\n', start);
        if (nl == std::string_view::npos) {
            // Cut off: after the end marker of a version-3 file, a journal line a writer did not finish
            // (killed mid-write): ignored, and cut away by the next write. Anywhere else: damage.
            if (!(end_count && out.version >= 3)) warnings.emplace_back("the last line is cut off (no newline)");
            break;
        }
        const std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        const auto body = open_line(line);
        if (i == 0) {
            std::int64_t version = 0;
            std::string name;
            if (body && get_to(*body, "format", name) && name == format_name && get_to(*body, "version", version) &&
                version >= oldest_format_version && version <= format_version &&
                get_to(*body, "next_id", header_next_id)) {
                out.version = static_cast<int>(version);
                if (body->contains("generation")) get_to(*body, "generation", state.generation);
                out.intact_bytes = start;
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
        std::string type;
        get_to(*body, "type", type);
        if (end_count) {  // after the end marker: the journal (version 3), or damage
            if (out.version >= 3 && type == "ops") {
                sort_snapshot();
                if (const auto entries = apply_ops(*body, state)) {
                    out.journal_ops += *entries;
                    out.intact_bytes = start;
                    if (live_records(state) > max_ledger_records) {
                        out.over_limit = live_records(state);
                        return out;
                    }
                    continue;
                }
            }
            ++bad_lines;
            continue;
        }
        if (type == "end") {
            std::uint64_t n = 0;
            end_count = get_to(*body, "records", n) ? n : std::numeric_limits<std::uint64_t>::max();
            out.snapshot_bytes = start;
            out.intact_bytes = start;
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
        if (records > max_ledger_records) {  // beyond what any writer leaves: refused, not parsed on
            out.over_limit = records;
            return out;
        }
        out.intact_bytes = start;
    }
    sort_snapshot();
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
    return out;
}

ledger_state parse_ledger(std::string_view text, std::vector<std::string>& warnings) {
    auto parsed = parse_ledger_file(text);
    if (parsed.version > format_version) {
        warnings.push_back(fmt::format("unsupported ledger version {} (this program reads versions {} to {})",
                                       parsed.version, oldest_format_version, format_version));
    } else if (parsed.over_limit > 0) {
        warnings.push_back(fmt::format("more than {} records (the limit); the rest was not read", max_ledger_records));
    }
    for (auto& p : parsed.problems) warnings.push_back(std::move(p));
    return std::move(parsed.state);
}

// ---- changes as journal lines -----------------------------------------------------------------------

namespace {

// Every field of a record but its heartbeat, visited in order by a sink: a sizer, a writer (into the
// snapshot's buffer) or a matcher (against it). A beat alone is then a short journal entry.
template <typename Sink>
void visit(Sink& k, const reservation_record& r) {
    k.raw(r.id);
    k.text(r.gpu_uuid);
    k.raw(r.gpu_index);
    k.raw(r.holder.pid);
    k.raw(r.holder.start_time);
    k.raw(r.child_pid);
    k.raw(r.bytes);
    k.text(r.model);
    k.raw(r.since_ms);
    k.raw(r.host.pid_namespace);
    k.text(r.host.boot_id);
}

template <typename Sink>
void visit(Sink& k, const waiter_record& w) {
    k.raw(w.id);
    k.raw(w.holder.pid);
    k.raw(w.holder.start_time);
    k.raw(w.bytes);
    k.raw(w.gpu_uuids.size());
    for (const auto& g : w.gpu_uuids) k.text(g);
    k.text(w.model);
    k.raw(w.since_ms);
    k.raw(w.host.pid_namespace);
    k.text(w.host.boot_id);
}

struct sizer {
    std::size_t n = 0;
    template <typename T>
    void raw(const T& /*v*/) {
        n += sizeof(T);
    }
    void text(const std::string& s) { n += sizeof(std::size_t) + s.size(); }
};

struct writer {
    char* p;
    template <typename T>
    void raw(const T& v) {
        std::memcpy(p, &v, sizeof v);
        p += sizeof v;
    }
    void text(const std::string& s) {
        raw(s.size());
        std::memcpy(p, s.data(), s.size());
        p += s.size();
    }
};

struct matcher {
    const char* p;
    const char* end;
    bool same = true;
    template <typename T>
    void raw(const T& v) {
        if (!same) return;
        T stored{};
        if (static_cast<std::size_t>(end - p) < sizeof v) {
            same = false;
            return;
        }
        std::memcpy(&stored, p, sizeof stored);
        same = stored == v;
        p += sizeof v;
    }
    void text(const std::string& s) {
        raw(s.size());
        if (!same) return;
        if (static_cast<std::size_t>(end - p) < s.size() || std::memcmp(p, s.data(), s.size()) != 0) {
            same = false;
            return;
        }
        p += s.size();
    }
};

template <typename Record>
bool in_id_order(const std::vector<Record>& v) {
    return std::is_sorted(v.begin(), v.end(), [](const Record& a, const Record& b) { return a.id < b.id; });
}

// Merges the base's prints with @p now (both in id order) into @p drops, @p beats and @p puts.
template <typename Record>
void diff(const char* arena, const std::vector<ledger_snapshot::print>& base, const std::vector<Record>& now,
          std::vector<std::uint64_t>& drops, std::vector<std::pair<std::uint64_t, std::int64_t>>& beats,
          std::vector<Record>& puts) {
    std::size_t i = 0;
    for (const auto& r : now) {
        while (i < base.size() && base[i].id < r.id) drops.push_back(base[i++].id);
        if (i < base.size() && base[i].id == r.id) {
            const auto& b = base[i++];
            matcher m{arena + b.offset, arena + b.offset + b.size};
            visit(m, r);
            if (!m.same || m.p != m.end) {
                puts.push_back(r);
            } else if (b.heartbeat_ms != r.heartbeat_ms) {
                beats.emplace_back(r.id, r.heartbeat_ms);
            }
        } else {
            puts.push_back(r);
        }
    }
    while (i < base.size()) drops.push_back(base[i++].id);
}

template <typename Record>
std::size_t bytes_of(const std::vector<Record>& v) {
    sizer z;
    for (const auto& r : v) visit(z, r);
    return z.n;
}

// Appends the records' bytes to @p arena (sized for them already from @p at) and their prints.
template <typename Record>
void take_prints(char* arena, std::size_t at, std::vector<ledger_snapshot::print>& prints,
                 const std::vector<Record>& v) {
    prints.reserve(v.size());
    writer w{arena + at};
    for (const auto& r : v) {
        const auto offset = static_cast<std::size_t>(w.p - arena);
        visit(w, r);
        prints.push_back({r.id, r.heartbeat_ms, offset, static_cast<std::size_t>(w.p - arena) - offset});
    }
    const auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
    if (!std::is_sorted(prints.begin(), prints.end(), by_id)) std::sort(prints.begin(), prints.end(), by_id);
}

template <typename Record>
void sort_by_id(std::vector<Record>& v) {
    const auto by_id = [](const Record& a, const Record& b) { return a.id < b.id; };
    const auto tail = std::is_sorted_until(v.begin(), v.end(), by_id);
    if (tail == v.end()) return;
    std::sort(tail, v.end(), by_id);  // usually a few appended records: sort them and merge
    std::inplace_merge(v.begin(), tail, v.end(), by_id);
}

}  // namespace

ledger_snapshot::ledger_snapshot(const ledger_state& state) : next_id_(state.next_id) {
    const auto reservation_bytes = bytes_of(state.reservations);
    arena_ = std::make_unique_for_overwrite<char[]>(reservation_bytes +
                                                    bytes_of(state.waiters));  // NOLINT(*-avoid-c-arrays)
    take_prints(arena_.get(), 0, reservations_, state.reservations);
    take_prints(arena_.get(), reservation_bytes, waiters_, state.waiters);
}

ledger_delta ledger_snapshot::delta_to(const ledger_state& now) const {
    ledger_delta d;
    d.next_id = now.next_id;
    d.generation = now.generation;
    d.next_id_changed = now.next_id != next_id_;
    if (!in_id_order(now.reservations) || !in_id_order(now.waiters)) {
        throw state_error("ledger_snapshot::delta_to: records out of id order (call sort_records first)");
    }
    diff(arena_.get(), reservations_, now.reservations, d.dropped_reservations, d.beaten_reservations,
         d.put_reservations);
    diff(arena_.get(), waiters_, now.waiters, d.dropped_waiters, d.beaten_waiters, d.put_waiters);
    return d;
}

void sort_records(ledger_state& state) {
    sort_by_id(state.reservations);
    sort_by_id(state.waiters);
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
        if (last_ == nullptr || last_->first != who.pid) {  // records of one holder often come in a row
            auto it = start_times_.find(who.pid);
            if (it == start_times_.end()) it = start_times_.emplace(who.pid, processes_.start_time(who.pid)).first;
            last_ = &*it;
        }
        return last_->second && *last_->second == who.start_time;
    }

private:
    const process_table& processes_;
    const std::optional<process_identity>& self_;
    const host_identity& local_;
    std::int64_t now_ms_;
    std::unordered_map<std::uint32_t, std::optional<std::uint64_t>> start_times_;
    const std::pair<const std::uint32_t, std::optional<std::uint64_t>>* last_ = nullptr;  // nodes are stable
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
