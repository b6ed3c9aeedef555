// The ledger's journal (file format version 3, issue 12 "scale"): a mutation appends one checksummed
// line instead of rewriting the file; readers replay what was appended; a line cut short by a kill is
// ignored and cut away; compaction keeps the file bounded; older versions are read and upgraded on
// their first write, newer ones refused; and the hard limits (records, bytes) hold at parse.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "support/ledger_files.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;

using test::fake_processes;
using test::put;
using test::slurp;

std::filesystem::path fresh_dir(const std::string& name) { return test::fresh_state_dir("journal", name); }

/// The live holders of most journal tests: pids 10 and 11.
const std::map<std::uint32_t, std::uint64_t> two_holders{{10, 1010}, {11, 1011}};

std::size_t lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::uint64_t inode(const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

template <typename Fn>
std::string state_error_of(Fn&& fn) {
    try {
        fn();
    } catch (const state_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no state_error";
    return "";
}

reservation_record record(std::uint64_t id, std::uint32_t pid, std::uint64_t bytes, const host_identity& host) {
    reservation_record r;
    r.id = id;
    r.gpu_uuid = "GPU-a";
    r.holder = {pid, 1000 + pid};
    r.bytes = bytes;
    r.model = "large-v3 float16";
    r.since_ms = 1'700'000'000'000;
    r.host = host;
    r.heartbeat_ms = r.since_ms;
    return r;
}

bool same(const ledger_state& a, const ledger_state& b) {
    return serialize_ledger(a) == serialize_ledger(b);  // every field, in order
}

// The state a fresh parse of the file gives.
ledger_state reparsed(const std::filesystem::path& dir) {
    const auto parsed = parse_ledger_file(slurp(dir / "ledger"));
    EXPECT_TRUE(parsed.problems.empty()) << parsed.problems.front();
    return parsed.state;
}

std::vector<std::string> corrupt_copies(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().filename().string().starts_with("ledger.corrupt-")) out.push_back(e.path().string());
    }
    return out;
}

// ---- appends ----------------------------------------------------------------------------------------

TEST(LedgerJournal, AMutationAppendsOneLineAndAnotherReaderReplaysIt) {
    const auto dir = fresh_dir("append");
    auto procs = std::make_shared<fake_processes>(two_holders);
    file_ledger a(dir, procs);
    file_ledger b(dir, procs);
    a.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 10, gib, procs->where));
        return true;
    });
    const auto first = slurp(dir / "ledger");
    EXPECT_EQ(lines(first), 3U);  // header, one record, end marker: a snapshot
    EXPECT_EQ(b.read().reservations.size(), 1U);
    const auto ino = inode(dir / "ledger");
    b.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 11, 2 * gib, procs->where));
        return true;
    });
    const auto second = slurp(dir / "ledger");
    ASSERT_EQ(lines(second), 4U);                      // one journal line more
    EXPECT_EQ(second.substr(0, first.size()), first);  // appended, the rest untouched
    EXPECT_EQ(inode(dir / "ledger"), ino);             // not rewritten
    EXPECT_NE(
        second.find(R"({"type":"ops","generation":2,"next_id":3,"put":[{"type":"reservation","id":2,)", first.size()),
        std::string::npos)
        << second.substr(first.size());
    // a (parsed before b's append) replays it: the same state as a fresh parse, generation 2.
    const auto seen = a.read();
    ASSERT_EQ(seen.reservations.size(), 2U);
    EXPECT_EQ(seen.reservations[1].bytes, 2 * gib);
    EXPECT_EQ(seen.generation, 2U);
    EXPECT_TRUE(same(seen, reparsed(dir)));
    // A release drops it by id: one short line.
    a.update([](ledger_state& s) {
        s.reservations.erase(s.reservations.begin());
        return true;
    });
    const auto third = slurp(dir / "ledger");
    EXPECT_EQ(third.substr(second.size()).substr(0, 52), R"({"type":"ops","generation":3,"next_id":3,"drop":[1]})");
    EXPECT_EQ(b.read().reservations.size(), 1U);
    EXPECT_EQ(b.read().reservations[0].id, 2U);
    std::filesystem::remove_all(dir);
}

TEST(LedgerJournal, AHeartbeatIsAShortEntryAndABeatInTheSameMillisecondWritesNothing) {
    const auto dir = fresh_dir("beat");
    auto procs = std::make_shared<fake_processes>(two_holders);
    std::int64_t now = 1'700'000'000'000;
    file_ledger_seams seams;
    seams.clock = [&] { return now; };
    file_ledger l(dir, procs, nullptr, seams);
    l.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 10, gib, procs->where));
        auto mine = record(s.take_id(), procs->me.pid, gib, procs->where);
        mine.holder = procs->me;
        s.reservations.push_back(mine);
        return true;
    });
    const auto before = slurp(dir / "ledger");
    l.update([&](ledger_state& s) { return beat(s, procs->me, procs->where, now + 2000) > 0; });
    const auto after = slurp(dir / "ledger");
    EXPECT_EQ(after.substr(before.size(), after.find('\t', before.size()) - before.size()),
              R"({"type":"ops","generation":2,"next_id":3,"beat":[[2,1700000002000]]})");
    l.update([&](ledger_state& s) { return beat(s, procs->me, procs->where, now + 2000) > 0; });
    EXPECT_EQ(slurp(dir / "ledger"), after);  // nothing changed: nothing written
    EXPECT_EQ(reparsed(dir).reservations[1].heartbeat_ms, now + 2000);
    std::filesystem::remove_all(dir);
}

TEST(LedgerJournal, ManyChangesMatchAFreshParseAtEveryStep) {
    const auto dir = fresh_dir("random");
    auto procs = std::make_shared<fake_processes>(two_holders);
    file_ledger a(dir, procs);
    file_ledger b(dir, procs);
    std::mt19937 rng(12);
    for (int step = 0; step < 400; ++step) {
        file_ledger& l = (rng() % 2) != 0 ? a : b;
        const auto op = rng() % 5;
        l.update([&](ledger_state& s) {
            if (op == 0 || s.reservations.empty()) {
                s.reservations.push_back(record(s.take_id(), 10 + (rng() % 2), gib * (1 + rng() % 4), procs->where));
            } else if (op == 1) {
                s.reservations.erase(s.reservations.begin() +
                                     static_cast<std::ptrdiff_t>(rng() % s.reservations.size()));
            } else if (op == 2) {
                waiter_record w;
                w.id = s.take_id();
                w.holder = {10, 1010};
                w.bytes = gib;
                w.gpu_uuids = {"GPU-a", "GPU-b"};
                w.host = procs->where;
                s.waiters.push_back(w);
            } else if (op == 3 && !s.waiters.empty()) {  // a grant: the waiter becomes a holder of its id
                auto r = record(s.waiters.front().id, 10, gib, procs->where);
                s.waiters.erase(s.waiters.begin());
                s.reservations.push_back(r);  // out of id order: the ledger sorts
            } else {
                s.reservations[rng() % s.reservations.size()].child_pid = static_cast<std::uint32_t>(rng() % 100);
            }
            return true;
        });
        const auto other = (&l == &a ? b : a).read();
        ASSERT_TRUE(same(other, reparsed(dir))) << "step " << step;
        ASSERT_TRUE(same(l.read(), other)) << "step " << step;
    }
    std::filesystem::remove_all(dir);
}

TEST(LedgerJournal, CompactionKeepsTheFileBoundedUnderHeartbeats) {
    const auto dir = fresh_dir("compact");
    auto procs = std::make_shared<fake_processes>(two_holders);
    std::int64_t now = 1'700'000'000'000;
    file_ledger_seams seams;
    seams.clock = [&] { return now; };
    file_ledger l(dir, procs, nullptr, seams);
    l.update([&](ledger_state& s) {
        for (int i = 0; i < 10; ++i) {
            auto r = record(s.take_id(), procs->me.pid, gib, procs->where);
            r.holder = procs->me;
            s.reservations.push_back(r);
        }
        return true;
    });
    std::size_t most_lines = 0;
    std::uint64_t inode_changes = 0;
    auto ino = inode(dir / "ledger");
    for (int i = 0; i < 1000; ++i) {  // 10 entries a beat: 10,000 entries in all
        now += 1;
        l.update([&](ledger_state& s) { return beat(s, procs->me, procs->where, now) > 0; });
        most_lines = std::max(most_lines, lines(slurp(dir / "ledger")));
        if (inode(dir / "ledger") != ino) {
            ++inode_changes;
            ino = inode(dir / "ledger");
        }
    }
    // At most 2 × 10 + 1024 entries in the journal: 104 beats of 10 entries, then a compaction.
    EXPECT_LE(most_lines, 12U + 104U);
    EXPECT_GE(most_lines, 12U + 100U);
    EXPECT_EQ(inode_changes, 9U);  // 1000 / 105 compactions
    EXPECT_EQ(reparsed(dir).reservations[0].heartbeat_ms, now);
    EXPECT_EQ(l.read().generation, 1001U);
    std::filesystem::remove_all(dir);
}

// ---- crash consistency ----------------------------------------------------------------------------------

TEST(LedgerJournal, AWriterKilledMidAppendLeavesATornLineThatIsIgnoredThenCut) {
    const auto dir = fresh_dir("torn");
    auto procs = std::make_shared<fake_processes>(two_holders);
    {
        file_ledger l(dir, procs);
        l.update([&](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), 10, gib, procs->where));
            return true;
        });
    }
    const auto before = slurp(dir / "ledger");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        file_ledger_seams seams;
        seams.write = [](int fd, std::string_view text) {
            (void)::write(fd, text.data(), text.size() / 2);  // half the line, then killed
            ::raise(SIGKILL);
            return false;
        };
        file_ledger l(dir, procs, nullptr, seams);
        l.update([&](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), 11, 5 * gib, procs->where));
            return true;
        });
        ::_exit(3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    const auto torn = slurp(dir / "ledger");
    ASSERT_GT(torn.size(), before.size());
    ASSERT_NE(torn.back(), '\n');
    std::vector<std::string> warnings;
    file_ledger l(dir, procs, [&](std::string_view w) { warnings.emplace_back(w); });
    const auto state = l.read();
    EXPECT_EQ(state.reservations.size(), 1U);  // the unfinished change never happened
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    EXPECT_TRUE(corrupt_copies(dir).empty());
    EXPECT_EQ(slurp(dir / "ledger"), torn);  // a read writes nothing
    l.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 11, 2 * gib, procs->where));
        return true;
    });
    const auto after = slurp(dir / "ledger");
    EXPECT_EQ(after.substr(0, before.size()), before);
    EXPECT_EQ(lines(after), lines(before) + 1);  // the torn bytes were cut, one whole line follows
    EXPECT_EQ(after.back(), '\n');
    const auto parsed = parse_ledger_file(after);
    EXPECT_TRUE(parsed.problems.empty());
    ASSERT_EQ(parsed.state.reservations.size(), 2U);
    EXPECT_EQ(parsed.state.reservations[1].bytes, 2 * gib);
    std::filesystem::remove_all(dir);
}

TEST(LedgerJournal, ADamagedJournalLineIsCopiedAsideAndTheRestKept) {
    const auto dir = fresh_dir("damaged");
    auto procs = std::make_shared<fake_processes>(two_holders);
    file_ledger l(dir, procs);
    for (int i = 0; i < 3; ++i) {
        l.update([&](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), 10, gib, procs->where));
            return true;
        });
    }
    auto text = slurp(dir / "ledger");
    const auto second_op = text.find(R"("put":[{"type":"reservation","id":2)");
    ASSERT_NE(second_op, std::string::npos);
    text[second_op + 40] = text[second_op + 40] == 'x' ? 'y' : 'x';  // a flipped byte: its checksum fails
    put(dir / "ledger", text);
    std::vector<std::string> warnings;
    file_ledger reader(dir, procs, [&](std::string_view w) { warnings.emplace_back(w); });
    const auto state = reader.read();
    ASSERT_EQ(warnings.size(), 1U);
    EXPECT_NE(warnings[0].find("1 unreadable line(s)"), std::string::npos) << warnings[0];
    EXPECT_EQ(corrupt_copies(dir).size(), 1U);
    ASSERT_EQ(state.reservations.size(), 2U);  // records 1 and 3
    EXPECT_EQ(state.reservations[1].id, 3U);
    EXPECT_EQ(state.next_id, 4U);
    EXPECT_TRUE(parse_ledger_file(slurp(dir / "ledger")).problems.empty());  // rebuilt as a snapshot
    std::filesystem::remove_all(dir);
}

// ---- versions ---------------------------------------------------------------------------------------------

std::string with_header_version(const std::string& text, int version) {
    const auto tab = text.find('\t');
    std::string body = text.substr(0, tab);
    const auto at = body.find(R"("version":3)");
    body.replace(at, 11, fmt::format(R"("version":{})", version));
    return fmt::format("{}\t{:08x}", body, ledger_line_checksum(body)) + text.substr(text.find('\n'));
}

TEST(LedgerJournal, AVersion2LedgerIsReadAsIsAndUpgradedOnItsFirstWrite) {
    const auto dir = fresh_dir("v2");
    auto procs = std::make_shared<fake_processes>(two_holders);
    ledger_state s;
    s.generation = 7;
    s.reservations.push_back(record(s.take_id(), 10, gib, procs->where));
    const auto v2 = with_header_version(serialize_ledger(s), 2);
    put(dir / "ledger", v2);
    file_ledger l(dir, procs);
    EXPECT_EQ(l.read().reservations.size(), 1U);
    EXPECT_EQ(slurp(dir / "ledger"), v2);  // read, not rewritten
    l.update([&](ledger_state& st) {
        st.reservations.push_back(record(st.take_id(), 11, gib, procs->where));
        return true;
    });
    const auto v3 = slurp(dir / "ledger");
    EXPECT_EQ(ledger_header_version(v3), 3);
    EXPECT_EQ(lines(v3), 4U);  // a snapshot of two records, no journal
    EXPECT_EQ(reparsed(dir).generation, 8U);
    std::filesystem::remove_all(dir);
}

TEST(LedgerJournal, ALedgerOfANewerVersionIsRefusedNeverRewritten) {
    const auto dir = fresh_dir("v4");
    auto procs = std::make_shared<fake_processes>(two_holders);
    ledger_state s;
    s.reservations.push_back(record(s.take_id(), 77, gib, procs->where));  // its holder is dead here
    const auto v4 = with_header_version(serialize_ledger(s), 4);
    put(dir / "ledger", v4);
    file_ledger l(dir, procs);
    const auto what = state_error_of([&] { (void)l.read(); });
    EXPECT_NE(what.find((dir / "ledger").string()), std::string::npos) << what;
    EXPECT_NE(what.find("format version 4, newer than this program reads (1 to 3)"), std::string::npos) << what;
    EXPECT_EQ(slurp(dir / "ledger"), v4);  // not reaped, not rewritten, not copied aside
    EXPECT_TRUE(corrupt_copies(dir).empty());
    std::filesystem::remove_all(dir);
}

// ---- hard limits at parse -----------------------------------------------------------------------------------

ledger_state records_of(std::size_t n, const fake_processes& procs) {
    ledger_state s;
    s.generation = 1;
    for (std::size_t i = 0; i < n; ++i) s.reservations.push_back(record(s.take_id(), 10, 1, procs.where));
    return s;
}

TEST(LedgerLimits, ASnapshotBeyondTheRecordLimitIsRefusedUntouchedAtTheFirstRecordOver) {
    const auto dir = fresh_dir("over");
    auto procs = std::make_shared<fake_processes>(two_holders);
    const auto text = serialize_ledger(records_of(max_ledger_records + 1, *procs));
    put(dir / "ledger", text);
    file_ledger l(dir, procs);
    // No timing asserted: "read 65537 before stopping" shows the parse stopped at the first record over.
    const auto what = state_error_of([&] { (void)l.read(); });
    EXPECT_NE(what.find((dir / "ledger").string()), std::string::npos) << what;
    EXPECT_NE(what.find("holds more than 65536 records (read 65537 before stopping), beyond the limit of 65536"),
              std::string::npos)
        << what;
    EXPECT_EQ(slurp(dir / "ledger"), text);
    EXPECT_TRUE(corrupt_copies(dir).empty());
    // At the limit exactly: read.
    put(dir / "ledger", serialize_ledger(records_of(max_ledger_records, *procs)));
    EXPECT_EQ(l.read().reservations.size(), max_ledger_records);
    std::filesystem::remove_all(dir);
}

TEST(LedgerLimits, AJournalThatWouldReplayBeyondTheLimitIsRefused) {
    const auto dir = fresh_dir("over-journal");
    auto procs = std::make_shared<fake_processes>(two_holders);
    auto s = records_of(max_ledger_records, *procs);
    std::string text = serialize_ledger(s);
    ledger_delta d;
    d.put_reservations.push_back(record(s.take_id(), 10, 1, procs->where));
    d.next_id = s.next_id;
    d.generation = 2;
    text += serialize_delta(d);
    put(dir / "ledger", text);
    file_ledger l(dir, procs);
    const auto what = state_error_of([&] { (void)l.read(); });
    EXPECT_NE(what.find("(read 65537 before stopping)"), std::string::npos) << what;
    EXPECT_EQ(slurp(dir / "ledger"), text);
    // The same for a reader that had parsed the file before the line was appended.
    put(dir / "ledger", serialize_ledger(s));
    file_ledger reader(dir, procs);
    EXPECT_EQ(reader.read().reservations.size(), max_ledger_records);
    {
        std::ofstream out(dir / "ledger", std::ios::binary | std::ios::app);
        out << serialize_delta(d);
    }
    EXPECT_NE(state_error_of([&] { (void)reader.read(); }).find("(read 65537 before stopping)"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(LedgerLimits, AFileBeyond64MiBIsRefusedUnread) {
    const auto dir = fresh_dir("bytes");
    auto procs = std::make_shared<fake_processes>(two_holders);
    put(dir / "ledger", serialize_ledger(records_of(1, *procs)));
    ASSERT_EQ(::truncate((dir / "ledger").c_str(), static_cast<off_t>(max_ledger_file_bytes + 1)), 0);  // sparse
    file_ledger l(dir, procs);
    const auto what = state_error_of([&] { (void)l.read(); });
    EXPECT_NE(what.find(fmt::format("holds {} bytes", max_ledger_file_bytes + 1)), std::string::npos) << what;
    struct stat st {};
    ASSERT_EQ(::stat((dir / "ledger").c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), max_ledger_file_bytes + 1);
    std::filesystem::remove_all(dir);
}

// ---- the pure part ------------------------------------------------------------------------------------------

TEST(LedgerDelta, ASnapshotFindsExactlyWhatChanged) {
    const host_identity here{1, "b"};
    ledger_state s;
    for (int i = 0; i < 4; ++i) s.reservations.push_back(record(s.take_id(), 10, gib, here));
    waiter_record w;
    w.id = s.take_id();
    w.holder = {10, 1010};
    w.bytes = gib;
    w.gpu_uuids = {"GPU-a"};
    s.waiters.push_back(w);
    const ledger_snapshot before(s);
    s.reservations.erase(s.reservations.begin() + 1);  // drop 2
    s.reservations[0].heartbeat_ms += 5;               // beat 1
    s.reservations[1].model = "large-v3 float16 X";    // change 3 (same length as before? no: a put)
    s.reservations[2].gpu_uuid = "GPU-b";              // change 4
    auto granted = record(w.id, 10, gib, here);        // the waiter 5 granted
    s.waiters.clear();
    s.reservations.push_back(granted);
    sort_records(s);
    const auto d = before.delta_to(s);
    EXPECT_EQ(d.dropped_reservations, std::vector<std::uint64_t>{2});
    EXPECT_EQ(d.dropped_waiters, std::vector<std::uint64_t>{5});
    ASSERT_EQ(d.beaten_reservations.size(), 1U);
    EXPECT_EQ(d.beaten_reservations[0], (std::pair<std::uint64_t, std::int64_t>{1, 1'700'000'000'005}));
    ASSERT_EQ(d.put_reservations.size(), 3U);
    EXPECT_EQ(d.put_reservations[0].id, 3U);
    EXPECT_EQ(d.put_reservations[1].id, 4U);
    EXPECT_EQ(d.put_reservations[2].id, 5U);
    EXPECT_EQ(d.ops(), 6U);
    EXPECT_FALSE(d.next_id_changed);
    // A same-length change of a string is found too (the snapshot holds the bytes, not pointers).
    const ledger_snapshot again(s);
    s.reservations[0].model[0] = 'L';
    EXPECT_EQ(again.delta_to(s).put_reservations.size(), 1U);
    EXPECT_TRUE(ledger_snapshot(s).delta_to(s).empty());
}

}  // namespace
}  // namespace whisper_vram
