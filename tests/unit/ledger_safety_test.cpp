// The ledger under hostile conditions (issue 12 items 2-6, 10, 11): symlinks and files that are not
// ours, corrupt ledgers copied aside, overflowing and oversized records, foreign PID namespaces and
// stopped waiters (heartbeats), I/O errors (directories, links, permissions, a full disk), group
// folders, the record limit and `tasks release ID`.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "support/cli_in_process.hpp"
#include "support/ledger_files.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;

using test::fake_processes;
using test::put;
using test::slurp;

std::filesystem::path fresh_dir(const std::string& name) { return test::fresh_state_dir("ledger", name); }

// The message of the state_error that @p fn throws ("" and a test failure when it throws none).
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

bool root_bypasses_permissions() { return ::geteuid() == 0; }

reservation_record record(std::uint64_t id, std::uint32_t pid, std::uint64_t bytes, host_identity host = {},
                          std::int64_t heartbeat = 0) {
    reservation_record r;
    r.id = id;
    r.gpu_uuid = "GPU-a";
    r.holder = {pid, 1000 + pid};
    r.bytes = bytes;
    r.model = "m";
    r.host = std::move(host);
    r.heartbeat_ms = heartbeat;
    return r;
}

// CRC-32 (zlib's), to write version-1 lines by hand as the old program did.
std::uint32_t crc32(std::string_view data) {
    std::uint32_t c = 0xFFFFFFFFU;
    for (const char ch : data) {
        c ^= static_cast<unsigned char>(ch);
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
    }
    return c ^ 0xFFFFFFFFU;
}

std::string sealed(const std::string& body) {
    std::array<char, 9> hex{};
    std::snprintf(hex.data(), hex.size(), "%08x", crc32(body));
    return body + "\t" + hex.data() + "\n";
}

// ---- item 2: never touch what is not ours ----------------------------------------------------------

TEST(LedgerSafety, SymlinkLedgerIsRefusedAndItsTargetUntouched) {
    const auto dir = fresh_dir("symlink");
    const auto target = dir.parent_path() / ("ledger-symlink-target-" + std::to_string(::getpid()));
    put(target, "precious\n");
    std::filesystem::create_symlink(target, dir / "ledger");
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("'" + (dir / "ledger").string() + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
    EXPECT_EQ(slurp(target), "precious\n");
    std::filesystem::remove(target);
    std::filesystem::remove_all(dir);
}

TEST(LedgerSafety, SymlinkOrDanglingLockIsRefused) {
    const auto dir = fresh_dir("locklink");
    std::filesystem::create_symlink(dir / "nowhere", dir / "ledger.lock");
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find((dir / "ledger.lock").string()), std::string::npos) << what;
    EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
    EXPECT_FALSE(std::filesystem::exists(dir / "nowhere"));  // not created through the link
    std::filesystem::remove_all(dir);
}

TEST(LedgerSafety, AFileThatIsNotALedgerIsRefusedNeverRewritten) {
    const auto dir = fresh_dir("foreign");
    const std::string accounts = "2026-11-30 coffee 3.50\n2026-12-01 rent 900.00\n";
    put(dir / "ledger", accounts);
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("'" + (dir / "ledger").string() + "' is not a whisper-vram ledger"), std::string::npos) << what;
    EXPECT_NE(what.find("WHISPER_VRAM_STATE_DIR"), std::string::npos) << what;
    // Nor by a reserve.
    EXPECT_THROW(ledger.update([](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 1, gib));
        return true;
    }),
                 state_error);
    EXPECT_EQ(slurp(dir / "ledger"), accounts);
    std::filesystem::remove_all(dir);
}

TEST(LedgerSafety, ACorruptLedgerIsCopiedAsideBeforeItIsRebuilt) {
    const auto dir = fresh_dir("corrupt");
    auto procs = std::make_shared<fake_processes>();
    procs->live = {{10, 1010}};
    std::vector<std::string> warned;
    file_ledger ledger(dir, procs, [&](const std::string& w) { warned.push_back(w); },
                       {[] { return std::int64_t{1'764'639'478'123}; }, nullptr});  // 2025-12-02T01:37:58.123Z
    ledger.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 10, gib, procs->where, 1'764'639'478'123));
        return true;
    });
    const std::string damaged = slurp(dir / "ledger") + "garbage\n";
    put(dir / "ledger", damaged);
    const auto state = ledger.read();
    ASSERT_EQ(state.reservations.size(), 1U);
    ASSERT_EQ(warned.size(), 1U);
    const auto copy = dir / "ledger.corrupt-20251202T013758.123Z";
    EXPECT_NE(warned[0].find(copy.string()), std::string::npos) << warned[0];
    EXPECT_EQ(slurp(copy), damaged);  // byte for byte what was found
    EXPECT_NE(slurp(dir / "ledger"), damaged);
    std::filesystem::remove_all(dir);
}

// ---- item 3: checked arithmetic ---------------------------------------------------------------------

TEST(LedgerArithmetic, TwoRecordsOf2Pow63DoNotSumToZero) {
    // Made by hand (as an attacker would: checksums are no secret): both records are refused at parse.
    const std::uint64_t half = std::uint64_t{1} << 63U;
    ledger_state s;
    s.next_id = 3;
    s.reservations = {record(1, 10, half), record(2, 11, half)};
    std::vector<std::string> warnings;
    const auto back = parse_ledger(serialize_ledger(s), warnings);
    EXPECT_TRUE(back.reservations.empty());
    ASSERT_EQ(warnings.size(), 1U);
    EXPECT_NE(warnings[0].find("2 record(s) of more than 1125899906842624 bytes"), std::string::npos) << warnings[0];
    // Summed anyway (records built in memory): the sum saturates, the GPU is full, nothing admitted.
    gpu_device gpu;
    gpu.uuid = "GPU-a";
    gpu.total_bytes = 24 * gib;
    gpu.free_bytes = 24 * gib;
    const auto c = admission_capacity(gpu, s.reservations);
    EXPECT_EQ(c.reserved_bytes, UINT64_MAX);
    EXPECT_EQ(c.available_bytes, 0U);
    EXPECT_FALSE(admits(c, 1));
    reservations_release report;
    report.dropped = s.reservations;
    EXPECT_EQ(report.dropped_bytes(), UINT64_MAX);
    EXPECT_EQ(saturating_add(UINT64_MAX - 1, 1), UINT64_MAX);
    EXPECT_EQ(saturating_add(UINT64_MAX - 1, 2), UINT64_MAX);
}

// Found by fuzz_ledger (fuzz/regressions/ledger/next-id-max): a header next_id of 2^64-1 made
// take_id() hand out 2^64-1 and wrap to 0, an id the parser refuses: a live record lost.
TEST(LedgerArithmetic, ANextIdNearTwoPow64NeverWrapsIds) {
    ledger_state s;
    s.next_id = std::numeric_limits<std::uint64_t>::max();
    std::vector<std::string> warnings;
    auto back = parse_ledger(serialize_ledger(s), warnings);
    ASSERT_EQ(warnings.size(), 1U);
    EXPECT_NE(warnings[0].find("next_id 18446744073709551615 is beyond 4611686018427387905"), std::string::npos)
        << warnings[0];
    EXPECT_EQ(back.take_id(), 1U);
    EXPECT_EQ(back.take_id(), 2U);
    // At the bound itself: the last id is handed out, then a state error (never 0, never a reuse).
    ledger_state edge;
    edge.next_id = max_record_id;
    EXPECT_EQ(edge.take_id(), max_record_id);
    EXPECT_THROW((void)edge.take_id(), state_error);
}

// Found by fuzz_ledger (fuzz/regressions/ledger/next-id-collision): a record with id 2^64-1 made
// max_id + 1 wrap, so next_id named an id in use.
TEST(LedgerArithmetic, ARecordIdBeyondTheBoundIsDroppedAndIdsStayUnique) {
    ledger_state s;
    s.next_id = 5;
    s.reservations = {record(4, 10, 1024), record(std::numeric_limits<std::uint64_t>::max(), 11, 1024)};
    std::vector<std::string> warnings;
    auto back = parse_ledger(serialize_ledger(s), warnings);
    ASSERT_EQ(back.reservations.size(), 1U);
    EXPECT_EQ(back.reservations[0].id, 4U);
    EXPECT_EQ(back.take_id(), 5U);
    EXPECT_FALSE(warnings.empty());
}

// "pid":4294967297 used to be narrowed to pid 1 (init: always alive, never reaped); 2^32 as a
// gpu_index to 0. Out-of-range numbers make the record unreadable instead.
TEST(LedgerArithmetic, NumbersBeyondTheirFieldAreRefusedNotNarrowed) {
    ledger_state s;
    s.next_id = 3;
    s.reservations = {record(1, 7, 1024), record(2, 8, 1024)};
    const std::string text = serialize_ledger(s);
    // Rewrite the second record by hand, with a valid checksum, as a damaged or hostile file could.
    std::string out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::string body = line.substr(0, line.rfind('\t'));
        if (body.find(R"("id":2,)") != std::string::npos) {
            const auto at = body.find(R"("pid":8,)");
            ASSERT_NE(at, std::string::npos) << body;
            body.replace(at, 8, R"("pid":4294967304,)");
        }
        out += fmt::format("{}\t{:08x}\n", body, ledger_line_checksum(body));
    }
    std::vector<std::string> warnings;
    const auto back = parse_ledger(out, warnings);
    ASSERT_EQ(back.reservations.size(), 1U);
    EXPECT_EQ(back.reservations[0].holder.pid, 7U);
    ASSERT_FALSE(warnings.empty());
    EXPECT_NE(warnings[0].find("1 unreadable line"), std::string::npos) << warnings[0];
}

TEST(LedgerArithmetic, TheLimitIs2Pow50BytesAtParseAndAtReserve) {
    ledger_state s;
    s.reservations = {record(1, 10, max_record_bytes), record(2, 11, max_record_bytes + 1)};
    std::vector<std::string> warnings;
    const auto back = parse_ledger(serialize_ledger(s), warnings);
    ASSERT_EQ(back.reservations.size(), 1U);  // exactly 2^50 is kept, one byte more is not
    EXPECT_EQ(back.reservations[0].id, 1U);
    EXPECT_EQ(warnings.size(), 1U);
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), std::make_shared<memory_ledger>());
    reserve_request r;
    r.bytes = std::uint64_t{1} << 63U;
    r.timeout = std::chrono::milliseconds(0);
    try {
        (void)sched.reserve(r);
        ADD_FAILURE() << "no usage_error";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("9223372036854775808 bytes"), std::string::npos) << e.what();
    }
}

// ---- items 4, 5: heartbeats and namespaces ----------------------------------------------------------

TEST(LedgerHeartbeat, VersionOneLedgersStillParse) {
    const std::string v1 =
        sealed(R"({"format":"whisper-vram-ledger","version":1,"next_id":5})") +
        sealed(R"({"type":"reservation","id":3,"gpu":"GPU-a","gpu_index":0,"pid":10,"start_time":1010,)"
               R"("child_pid":0,"bytes":1073741824,"model":"m","since_ms":1234})") +
        sealed(R"({"type":"waiter","id":4,"pid":11,"start_time":1011,"bytes":2147483648,"gpus":["GPU-a"],)"
               R"("model":"w","since_ms":5678})") +
        sealed(R"({"type":"end","records":2})");
    std::vector<std::string> warnings;
    const auto s = parse_ledger(v1, warnings);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    ASSERT_EQ(s.reservations.size(), 1U);
    EXPECT_FALSE(s.reservations[0].host.known());     // judged by the local /proc
    EXPECT_EQ(s.reservations[0].heartbeat_ms, 1234);  // its since_ms
    ASSERT_EQ(s.waiters.size(), 1U);
    EXPECT_EQ(s.waiters[0].heartbeat_ms, 5678);
    EXPECT_EQ(s.next_id, 5U);
    // Written back as version 3 (the current one), with the fields.
    const auto text = serialize_ledger(s);
    EXPECT_NE(text.find(R"("version":3)"), std::string::npos);
    EXPECT_NE(text.find(R"("heartbeat_ms":1234)"), std::string::npos);
}

TEST(LedgerHeartbeat, AForeignRecordIsKeptWhileBeatingAndReapedAfter60sOfSilence) {
    fake_processes procs;  // no live pid at all: the foreign pids mean nothing here
    const host_identity local{4026531836U, "boot-a"};
    const host_identity other_ns{4026532999U, "boot-a"};
    const host_identity other_boot{4026531836U, "boot-b"};
    ledger_state s;
    s.reservations = {record(1, 10, gib, other_ns, 100'000), record(2, 11, gib, other_boot, 100'000)};
    ledger_access access;
    reap_dead(s, procs, access, std::nullopt, local, 100'000 + foreign_expiry_ms);  // exactly 60 s: kept
    EXPECT_EQ(s.reservations.size(), 2U);
    s.reservations[0].heartbeat_ms = 100'001;  // record 1 beat once more
    reap_dead(s, procs, access, std::nullopt, local, 100'001 + foreign_expiry_ms);
    ASSERT_EQ(s.reservations.size(), 1U);  // 60.001 s of silence: record 2 reaped
    EXPECT_EQ(s.reservations[0].id, 1U);
    ASSERT_EQ(access.reaped_reservations.size(), 1U);
    EXPECT_EQ(access.reaped_reservations[0].id, 2U);
    // A heartbeat more than a minute in the future is as bad as one a minute old.
    s.reservations[0].heartbeat_ms = 100'001 + 2 * foreign_expiry_ms + 1;
    reap_dead(s, procs, access, std::nullopt, local, 100'001 + foreign_expiry_ms);
    EXPECT_TRUE(s.reservations.empty());
}

TEST(LedgerHeartbeat, ALocalDeadPidIsReapedAtOnceWhateverItsHeartbeat) {
    fake_processes procs;
    procs.live = {{10, 1010}};
    const host_identity local{4026531836U, "boot-a"};
    ledger_state s;
    s.reservations = {record(1, 10, gib, local, 5'000), record(2, 11, gib, local, 5'000)};  // 11 is dead
    ledger_access access;
    reap_dead(s, procs, access, std::nullopt, local, 5'000);  // heartbeat fresh this very millisecond
    ASSERT_EQ(s.reservations.size(), 1U);
    EXPECT_EQ(s.reservations[0].id, 1U);
    // A live local holder that stopped beating is judged by /proc: kept.
    reap_dead(s, procs, access, std::nullopt, local, 5'000 + 10 * foreign_expiry_ms);
    EXPECT_EQ(s.reservations.size(), 1U);
}

TEST(LedgerHeartbeat, BeatRefreshesOnlyOurRecords) {
    const host_identity local{7, "boot-a"};
    ledger_state s;
    s.reservations = {record(1, 10, gib, local, 1), record(2, 11, gib, local, 1), record(3, 10, gib, {8, "x"}, 1)};
    EXPECT_EQ(beat(s, {10, 1010}, local, 99), 1U);
    EXPECT_EQ(s.reservations[0].heartbeat_ms, 99);
    EXPECT_EQ(s.reservations[1].heartbeat_ms, 1);  // another process
    EXPECT_EQ(s.reservations[2].heartbeat_ms, 1);  // same pid in another namespace: someone else
}

// The stopped-waiter deadlock: a head waiter that stops beating is passed over, and resumes its
// place when it beats again.
TEST(LedgerHeartbeat, AStoppedHeadWaiterDoesNotBlockASmallRequestOnAnEmptyGpu) {
    auto procs = std::make_shared<fake_processes>();
    procs->live = {{50, 1050}};  // the waiter's process is alive (stopped: /proc still lists it)
    auto now_ms = std::make_shared<std::int64_t>(1'000'000);
    const wall_clock clock = [now_ms] { return *now_ms; };
    auto l = std::make_shared<memory_ledger>(procs, clock);
    scheduler_options options;
    options.processes = procs;
    options.clock = clock;
    options.heartbeat_interval = std::chrono::milliseconds(0);
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), l, options);
    const auto gpu = sched.capacities().at(0).gpu_uuid;
    l->update([&](ledger_state& s) {
        s.waiters.push_back({s.take_id(), {50, 1050}, 20 * gib, {gpu}, "large", *now_ms, procs->where, *now_ms});
        return true;
    });
    reserve_request small;
    small.bytes = gib;
    small.timeout = std::chrono::milliseconds(0);
    *now_ms += waiter_stale_after_ms;  // 10 s of silence: still fresh, the small one waits its turn
    auto r = sched.reserve(small);
    EXPECT_EQ(r.status, reserve_status::timed_out);
    EXPECT_EQ(r.last.queue_position, 1U);
    *now_ms += 1;  // 10.001 s: stale, passed over
    r = sched.reserve(small);
    ASSERT_TRUE(r.granted()) << r.message;
    EXPECT_EQ(sched.waiters().size(), 1U);  // kept, not dropped
    r.granted_lease.release();
    l->update([&](ledger_state& s) { return beat(s, {50, 1050}, procs->where, *now_ms) > 0; });  // it resumes
    r = sched.reserve(small);
    EXPECT_EQ(r.status, reserve_status::timed_out);
    EXPECT_EQ(r.last.queue_position, 1U);
}

// The same with a real stopped process: a child waits at the head of the queue of a file ledger,
// is stopped with SIGSTOP, and the parent (its clock 11 s ahead: no real waiting) is admitted.
TEST(LedgerHeartbeat, ASigstoppedChildAtTheHeadOfTheQueueIsPassedOver) {
    const auto dir = fresh_dir("sigstop");
    const std::string spec = "24GiB";
    scheduler_options quiet;  // no heartbeat thread in the parent: nothing of it may hold the lock at fork()
    quiet.heartbeat_interval = std::chrono::milliseconds(0);
    auto holder_sched = std::make_unique<scheduler>(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)),
                                                    std::make_shared<file_ledger>(dir), quiet);
    reserve_request big;
    big.bytes = 20 * gib;
    big.timeout = std::chrono::milliseconds(0);
    auto held = holder_sched->reserve(big);
    ASSERT_TRUE(held.granted()) << held.message;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            scheduler s(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)), std::make_shared<file_ledger>(dir));
            reserve_request wait_big;
            wait_big.bytes = 20 * gib;
            wait_big.timeout = std::chrono::milliseconds(30'000);
            (void)s.reserve(wait_big);
        } catch (...) {
        }
        ::_exit(0);
    }
    file_ledger observer(dir);
    for (int i = 0; i < 500 && observer.read().waiters.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(observer.read().waiters.size(), 1U);
    // Stopped outside the ledger lock (it takes it for microseconds each poll): retry until the lock is free.
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(::kill(child, SIGSTOP), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const int fd = ::open((dir / "ledger.lock").c_str(), O_RDWR | O_CLOEXEC);
        const bool free = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (fd >= 0) ::close(fd);
        if (free) break;
        ::kill(child, SIGCONT);
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    held.granted_lease.release();  // the GPU is empty; the stopped child cannot take it
    reserve_request small;
    small.bytes = gib;
    small.timeout = std::chrono::milliseconds(0);
    scheduler now(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)), std::make_shared<file_ledger>(dir), quiet);
    auto blocked = now.reserve(small);
    EXPECT_EQ(blocked.status, reserve_status::timed_out) << blocked.message;  // the child is fresh: behind it
    scheduler_options later = quiet;
    later.clock = [] { return system_wall_clock_ms() + waiter_stale_after_ms + 1'000; };
    file_ledger_seams seams;
    seams.clock = later.clock;
    scheduler after(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)),
                    std::make_shared<file_ledger>(dir, nullptr, nullptr, seams), later);
    auto admitted = after.reserve(small);
    EXPECT_TRUE(admitted.granted()) << admitted.message;
    EXPECT_EQ(observer.read().waiters.size(), 1U);  // the stopped child keeps its place
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    admitted.granted_lease.release();
    EXPECT_TRUE(observer.read().waiters.empty());  // dead now: reaped at once
    holder_sched.reset();
    std::filesystem::remove_all(dir);
}

// ---- item 6: I/O errors ---------------------------------------------------------------------------

TEST(LedgerIo, ALockThatIsADirectoryIsAStateError) {
    const auto dir = fresh_dir("lockdir");
    std::filesystem::create_directories(dir / "ledger.lock");
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("'" + (dir / "ledger.lock").string() + "': Is a directory"), std::string::npos) << what;
    std::filesystem::remove_all(dir);
}

TEST(LedgerIo, ADanglingSymlinkLedgerIsAStateError) {
    const auto dir = fresh_dir("dangling");
    std::filesystem::create_symlink(dir / "gone", dir / "ledger");
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
    EXPECT_FALSE(std::filesystem::exists(dir / "gone"));
    std::filesystem::remove_all(dir);
}

TEST(LedgerIo, AnUnreadableLedgerIsAStateError) {
    if (root_bypasses_permissions()) GTEST_SKIP() << "running as root: chmod 000 does not stop root from reading";
    const auto dir = fresh_dir("unreadable");
    {
        file_ledger ledger{dir};
        ledger.update([](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), static_cast<std::uint32_t>(::getpid()), gib));
            return true;
        });
    }
    ::chmod((dir / "ledger").c_str(), 0);
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("'" + (dir / "ledger").string() + "': Permission denied"), std::string::npos) << what;
    ::chmod((dir / "ledger").c_str(), 0600);
    std::filesystem::remove_all(dir);
}

TEST(LedgerIo, AReadOnlyFolderIsAStateError) {
    if (root_bypasses_permissions()) GTEST_SKIP() << "running as root: a 0500 folder does not stop root writing";
    const auto dir = fresh_dir("readonly");
    ::chmod(dir.c_str(), 0500);
    file_ledger ledger{dir};
    const auto what = state_error_of([&] { (void)ledger.read(); });
    EXPECT_NE(what.find("Permission denied"), std::string::npos) << what;
    EXPECT_NE(what.find("WHISPER_VRAM_STATE_DIR"), std::string::npos) << what;
    ::chmod(dir.c_str(), 0700);
    std::filesystem::remove_all(dir);
}

TEST(LedgerIo, AFullDiskLosesNothing) {
    const auto dir = fresh_dir("enospc");
    auto procs = std::make_shared<fake_processes>();
    procs->live = {{10, 1010}};
    bool full = false;
    file_ledger_seams seams;
    seams.write = [&](int fd, std::string_view text) {
        if (full) {
            // Half of it made it, then the disk was full.
            (void)::write(fd, text.data(), text.size() / 2);
            errno = ENOSPC;
            return false;
        }
        return ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    };
    file_ledger ledger(dir, procs, nullptr, seams);
    ledger.update([&](ledger_state& s) {
        s.reservations.push_back(record(s.take_id(), 10, gib));
        return true;
    });
    const std::string before = slurp(dir / "ledger");
    full = true;
    const auto what = state_error_of([&] {
        ledger.update([&](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), 10, 2 * gib));
            return true;
        });
    });
    EXPECT_NE(what.find("No space left on device"), std::string::npos) << what;
    EXPECT_NE(what.find("the ledger was left as it was"), std::string::npos) << what;
    EXPECT_EQ(slurp(dir / "ledger"), before);  // byte for byte
    EXPECT_FALSE(std::filesystem::exists(dir / "ledger.tmp"));
    full = false;
    EXPECT_EQ(ledger.read().reservations.size(), 1U);
    std::filesystem::remove_all(dir);
}

// ---- trust model: group folders ----------------------------------------------------------------------

TEST(LedgerTrust, AGroupSetgidFolder2770IsAcceptedAndFilesAre0660) {
    const auto dir = fresh_dir("group");
    ASSERT_EQ(::chmod(dir.c_str(), 02770), 0);
    {
        file_ledger ledger{dir};
        ledger.update([](ledger_state& s) {
            s.reservations.push_back(record(s.take_id(), static_cast<std::uint32_t>(::getpid()), gib));
            return true;
        });
    }
    struct stat st {};
    ASSERT_EQ(::stat((dir / "ledger").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660U);
    ASSERT_EQ(::stat((dir / "ledger.lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660U);
    // World-writable stays refused, so does group-writable without setgid.
    ::chmod(dir.c_str(), 02777);
    EXPECT_NE(state_error_of([&] { (void)file_ledger{dir}; }).find("chmod 2770"), std::string::npos);
    ::chmod(dir.c_str(), 0770);
    EXPECT_THROW(file_ledger{dir}, state_error);
    ::chmod(dir.c_str(), 0700);
    std::filesystem::remove_all(dir);
}

// ---- item 10: the record limit -----------------------------------------------------------------------

TEST(LedgerScale, BeyondTheRecordLimitANewRequestIsRefusedClearly) {
    auto procs = std::make_shared<fake_processes>();
    auto l = std::make_shared<memory_ledger>(procs);
    l->update([&](ledger_state& s) {
        for (std::size_t i = 0; i < max_ledger_records; ++i) {
            auto r = record(s.take_id(), procs->me.pid, 1, procs->where);
            r.holder = procs->me;
            r.gpu_uuid = "GPU-elsewhere";
            s.reservations.push_back(std::move(r));
        }
        return true;
    });
    scheduler_options options;
    options.processes = procs;
    options.heartbeat_interval = std::chrono::milliseconds(0);
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), l, options);
    reserve_request r;
    r.bytes = gib;
    r.timeout = std::chrono::milliseconds(0);
    try {
        (void)sched.reserve(r);
        ADD_FAILURE() << "no state_error";
    } catch (const state_error& e) {
        EXPECT_NE(std::string(e.what()).find("holds 65536 records, its limit"), std::string::npos) << e.what();
    }
    EXPECT_EQ(l->read().reservations.size(), max_ledger_records);
}

TEST(LedgerScale, AReaderThatReusesItsParseStillSeesEveryOtherWriter) {
    const auto dir = fresh_dir("cache");
    file_ledger a{dir};
    file_ledger b{dir};
    const auto me = system_process_table().self();
    const auto add = [&](file_ledger& l, std::uint64_t bytes) {
        l.update([&](ledger_state& s) {
            auto r = record(s.take_id(), me.pid, bytes, system_process_table().host());
            r.holder = me;
            s.reservations.push_back(std::move(r));
            return true;
        });
    };
    add(a, gib);
    EXPECT_EQ(a.read().reservations.size(), 1U);
    EXPECT_EQ(a.read().reservations.size(), 1U);  // unchanged: from a's cache
    add(b, gib);                                  // same size of record: only the header tells
    EXPECT_EQ(a.read().reservations.size(), 2U);
    EXPECT_EQ(a.read().generation, 2U);
    b.update([](ledger_state& s) {
        s.reservations.pop_back();
        return true;
    });
    EXPECT_EQ(a.read().reservations.size(), 1U);
    std::filesystem::remove_all(dir);
}

// ---- item 11: tasks release ID ------------------------------------------------------------------------

TEST(TasksRelease, ReleasesOneReservationByIdAndRefusesUnknownOnes) {
    const auto dir = fresh_dir("release");
    {
        file_ledger ledger{dir};
        ledger.update([](ledger_state& s) {
            const auto pid = static_cast<std::uint32_t>(::getpid());
            const process_identity me = system_process_table().self();
            for (int i = 0; i < 2; ++i) {
                auto r = record(s.take_id(), pid, 3 * gib);
                r.holder = me;
                r.host = system_process_table().host();
                s.reservations.push_back(std::move(r));
            }
            return true;
        });
    }
    environment env = test::no_gpu_environment();
    env.state_dir = dir.string();
    const auto j = test::cli_json("tasks release 2 --json", env);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["released"]["id"], 2);
    EXPECT_EQ(j["released"]["bytes"], 3 * gib);
    const auto left = test::cli_json("tasks --json", env);
    ASSERT_EQ(left["tasks"].size(), 1U);
    EXPECT_EQ(left["tasks"][0]["id"], 1);
    auto r = test::cli("tasks release 2", env);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no reservation has id 2"), std::string::npos) << r.err;
    for (const char* bad : {"0x1", "-1", "one", "0"}) {
        r = test::cli(std::string("tasks release ") + bad, env);
        EXPECT_EQ(r.status, 2) << bad;
        EXPECT_NE(r.err.find(std::string("'") + bad + "' is not a reservation id"), std::string::npos) << r.err;
    }
    r = test::cli("tasks release 1", env);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("released reservation 1 (3.00 GiB"), std::string::npos) << r.out;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace whisper_vram
