// parse_ledger (include/whisper_vram/sched/ledger.hpp) on any text: it never throws, and what it
// returns survives a round trip: parse(serialize(parse(x))) is the same state, without a warning,
// and serialises to the same bytes; records added with take_id() survive it too. Every input is tried twice: as it is,
// and with each line sealed with its CRC-32 (so the fuzzer reaches the record parser behind the checksums).

#include <array>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::fuzz {
namespace {

// Every line of @p text followed by TAB and its checksum, as the ledger writes them.
std::string sealed(std::string_view text) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto nl = text.find('\n', start);
        const auto line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        out += fmt::format("{}\t{:08x}\n", line, ledger_line_checksum(line));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return out;
}

bool same(const reservation_record& a, const reservation_record& b) {
    return a.id == b.id && a.gpu_uuid == b.gpu_uuid && a.gpu_index == b.gpu_index && a.holder == b.holder &&
           a.child_pid == b.child_pid && a.bytes == b.bytes && a.model == b.model && a.since_ms == b.since_ms;
}

bool same(const waiter_record& a, const waiter_record& b) {
    return a.id == b.id && a.holder == b.holder && a.bytes == b.bytes && a.gpu_uuids == b.gpu_uuids &&
           a.model == b.model && a.since_ms == b.since_ms;
}

template <typename Record>
bool same(const std::vector<Record>& a, const std::vector<Record>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) return false;
    }
    return true;
}

void check(std::string_view text) {
    std::vector<std::string> warnings;
    ledger_state first;
    expected_outcome([&] { first = parse_ledger(text, warnings); });  // a usage_error would be a finding too:
    require(warnings.empty() || !text.empty(), "a warning for the empty ledger");  // parse_ledger never throws

    // Invariants of a parsed state: unique non-zero ids, in order, and a free next_id.
    std::set<std::uint64_t> ids;
    std::uint64_t previous = 0;
    for (const auto& r : first.reservations) {
        require(r.id != 0 && r.holder.pid != 0 && r.bytes != 0 && !r.gpu_uuid.empty(),
                "a reservation kept with a zero field");
        require(r.id > previous, "reservations not in id order");
        previous = r.id;
        require(ids.insert(r.id).second, "a duplicate id");
    }
    previous = 0;
    for (const auto& w : first.waiters) {
        require(w.id != 0 && w.holder.pid != 0 && !w.gpu_uuids.empty(), "a waiter kept with a zero field");
        require(w.id > previous, "waiters not in id order");
        previous = w.id;
        require(ids.insert(w.id).second, "a duplicate id");
    }
    // take_id() hands out next_id: it must be a valid id (not 0) and not one in use.
    require(first.next_id != 0 && !ids.contains(first.next_id), "take_id would hand out an id in use (or 0)");

    // Round trip.
    const std::string text1 = serialize_ledger(first);
    std::vector<std::string> warnings2;
    const ledger_state second = parse_ledger(text1, warnings2);
    if (!warnings2.empty()) finding("the serialised ledger parses with a warning: " + warnings2.front());
    require(second.next_id == first.next_id, "next_id changed in the round trip");
    require(same(second.reservations, first.reservations), "reservations changed in the round trip");
    require(same(second.waiters, first.waiters), "waiters changed in the round trip");
    require(serialize_ledger(second) == text1, "serialise(parse(serialise(s))) differs from serialise(s)");

    // What an access does next: a new reservation and a new waiter, with fresh ids; both survive.
    ledger_state grown = first;
    reservation_record r;
    r.id = grown.take_id();
    r.gpu_uuid = "GPU-fuzz";
    r.holder = {1, 1};
    r.bytes = 1;
    grown.reservations.push_back(r);
    waiter_record w;
    w.id = grown.take_id();
    w.holder = {1, 1};
    w.bytes = 1;
    w.gpu_uuids = {"GPU-fuzz"};
    grown.waiters.push_back(w);
    std::vector<std::string> warnings3;
    const ledger_state third = parse_ledger(serialize_ledger(grown), warnings3);
    if (!warnings3.empty()) finding("a ledger with two new records parses with a warning: " + warnings3.front());
    require(third.reservations.size() == grown.reservations.size() && third.waiters.size() == grown.waiters.size(),
            "a record added with take_id() is lost in the round trip");
}

void fuzz_ledger(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    check(text);
    check(sealed(text));
}

}  // namespace
}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("ledger", fuzz_ledger)
