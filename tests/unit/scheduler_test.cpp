// The admission rule (hand-computed figures), placement, the ledger format and its recovery,
// reaping, and the scheduler's leases, FIFO and release on simulated GPUs.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;
constexpr std::uint64_t mib = bytes_per_mib;

gpu_device make_gpu(unsigned index, std::uint64_t total, std::uint64_t used) {
    gpu_device g;
    g.index = index;
    g.name = "test";
    g.uuid = "GPU-" + std::to_string(index);
    g.total_bytes = total;
    g.used_bytes = used;
    g.free_bytes = total - used;
    g.processes_known = true;
    return g;
}

reservation_record held(std::uint64_t id, const std::string& gpu, std::uint32_t pid, std::uint64_t bytes,
                        std::uint32_t child = 0) {
    reservation_record r;
    r.id = id;
    r.gpu_uuid = gpu;
    r.holder = {pid, 1000 + pid};
    r.child_pid = child;
    r.bytes = bytes;
    r.model = "m";
    return r;
}

// A process table whose live processes the test decides.
class fake_processes final : public process_table {
public:
    std::map<std::uint32_t, std::uint64_t> live;
    process_identity me{1, 1001};
    [[nodiscard]] std::optional<std::uint64_t> start_time(std::uint32_t pid) const override {
        const auto it = live.find(pid);
        if (it == live.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] process_identity self() const override { return me; }
};

// ---- admission rule ------------------------------------------------------------------------------

TEST(Admission, SimulatedGpuUsedIsAllUnmanaged) {
    // 24 GiB, 2 GiB used by others, reservations of 10 + 4 GiB here and 5 GiB on another GPU:
    // available = 24 − 2 − (10 + 4) = 8 GiB.
    const auto gpu = make_gpu(0, 24 * gib, 2 * gib);
    const std::vector<reservation_record> rs{held(1, "GPU-0", 10, 10 * gib), held(2, "GPU-0", 11, 4 * gib),
                                             held(3, "GPU-1", 12, 5 * gib)};
    const auto c = admission_capacity(gpu, rs);
    EXPECT_EQ(c.reserved_bytes, 14 * gib);
    EXPECT_EQ(c.unmanaged_used_bytes, 2 * gib);
    EXPECT_EQ(c.available_bytes, 8 * gib);
    EXPECT_EQ(c.reservation_count, 2U);
    EXPECT_TRUE(admits(c, 8 * gib));
    EXPECT_FALSE(admits(c, 8 * gib + 1));
}

TEST(Admission, EachReservationCountsOnceWhetherOrNotAllocated) {
    // NVML view of 24 GiB: holder 10 (reserved 10) uses 6, holder 11 (reserved 4) has not allocated,
    // another program (pid 999) uses 3, driver/context 0.5 GiB. used = 6 + 3 + 0.5 = 9.5, free 14.5.
    // unmanaged = 9.5 − min(6, 10) − min(0, 4) = 3.5; available = 24 − 3.5 − (10 + 4) = 6.5 GiB.
    auto gpu = make_gpu(0, 24 * gib, 9 * gib + 512 * mib);
    gpu.processes = {{10, 6 * gib, "python"}, {999, 3 * gib, "other"}};
    const std::vector<reservation_record> rs{held(1, "GPU-0", 10, 10 * gib), held(2, "GPU-0", 11, 4 * gib)};
    const auto c = admission_capacity(gpu, rs);
    EXPECT_EQ(c.seen_managed_bytes, 6 * gib);
    EXPECT_EQ(c.unmanaged_used_bytes, 3 * gib + 512 * mib);
    EXPECT_EQ(c.counted_managed_bytes, 14 * gib);
    EXPECT_EQ(c.available_bytes, 6 * gib + 512 * mib);
    // Once holder 10 allocates its full 10 GiB, free drops by 4 GiB but available does not move.
    gpu.processes[0].used_bytes = 10 * gib;
    gpu.used_bytes += 4 * gib;
    gpu.free_bytes -= 4 * gib;
    EXPECT_EQ(admission_capacity(gpu, rs).available_bytes, 6 * gib + 512 * mib);
}

TEST(Admission, HolderAboveItsReservationCountsTheLarger) {
    // Holder 20 reserved 4 GiB; its child 21 uses 7 GiB; another program uses 1 GiB. used 8, free 16.
    // The larger of seen (7) and reserved (4) counts: unmanaged = 8 − min(7, 4) = 4 (other 1 + excess 3),
    // available = 24 − 4 − 4 = 16 GiB = free: the 3 GiB excess is really in use, nobody may have it.
    auto gpu = make_gpu(0, 24 * gib, 8 * gib);
    gpu.processes = {{21, 7 * gib, "python"}, {30, 1 * gib, "other"}};
    const std::vector<reservation_record> rs{held(1, "GPU-0", 20, 4 * gib, 21)};
    const auto c = admission_capacity(gpu, rs);
    EXPECT_EQ(c.counted_managed_bytes, 7 * gib);
    EXPECT_EQ(c.unmanaged_used_bytes, 4 * gib);
    EXPECT_EQ(c.available_bytes, 16 * gib);
}

TEST(Admission, InvisiblePerProcessUsageErrsOnTheSafeSide) {
    // Same GPU as above (used 9.5, free 14.5) but NVML cannot list processes: used counts in full
    // and so do the reservations: available = 24 − 9.5 − 14 = 0.5 GiB (the 6 GiB allocated by holder
    // 10 counts twice: slower admission, never an overcommit).
    auto gpu = make_gpu(0, 24 * gib, 9 * gib + 512 * mib);
    gpu.processes = {{10, 6 * gib, "python"}};
    gpu.processes_known = false;
    const std::vector<reservation_record> rs{held(1, "GPU-0", 10, 10 * gib), held(2, "GPU-0", 11, 4 * gib)};
    EXPECT_EQ(admission_capacity(gpu, rs).available_bytes, 512 * mib);
    // A process whose usage NVML reports as "not available" is not seen either.
    gpu.processes_known = true;
    gpu.processes[0].used_bytes.reset();
    EXPECT_EQ(admission_capacity(gpu, rs).available_bytes, 512 * mib);
}

TEST(Admission, SaturatesAndRefusesUnusableGpus) {
    auto gpu = make_gpu(0, 8 * gib, 6 * gib);
    EXPECT_EQ(admission_capacity(gpu, {held(1, "GPU-0", 5, 4 * gib)}).available_bytes, 0U);  // 6 + 4 > 8
    gpu.state = gpu_state::lost;
    const auto c = admission_capacity(gpu, {});
    EXPECT_FALSE(c.usable);
    EXPECT_EQ(c.available_bytes, 0U);
    EXPECT_FALSE(admits(c, 1));
}

// ---- placement ---------------------------------------------------------------------------------

std::vector<gpu_capacity> three_gpus() {
    // Available 10, 6 and 20 GiB.
    std::vector<gpu_capacity> caps;
    for (const auto& [i, avail] : {std::pair{0U, 10 * gib}, std::pair{1U, 6 * gib}, std::pair{2U, 20 * gib}}) {
        caps.push_back(admission_capacity(make_gpu(i, 24 * gib, 24 * gib - avail), {}));
    }
    return caps;
}

TEST(Placement, BestFitTakesTheTightestHoleMostFreeTheLargest) {
    const auto caps = three_gpus();
    EXPECT_EQ(choose_gpu(caps, 5 * gib, placement_policy::best_fit), 1U);   // 6 − 5 = 1 is the least left
    EXPECT_EQ(choose_gpu(caps, 5 * gib, placement_policy::most_free), 2U);  // 20 is the most
    EXPECT_EQ(choose_gpu(caps, 7 * gib, placement_policy::best_fit), 0U);   // 6 too small; 10 − 7 < 20 − 7
    EXPECT_EQ(choose_gpu(caps, 12 * gib, placement_policy::best_fit), 2U);
    EXPECT_EQ(choose_gpu(caps, 20 * gib, placement_policy::best_fit), 2U);  // exactly fits
    EXPECT_FALSE(choose_gpu(caps, 20 * gib + 1, placement_policy::most_free).has_value());
}

TEST(Placement, TiesGoToTheLowerIndexAndPolicyNamesParse) {
    std::vector<gpu_capacity> caps{admission_capacity(make_gpu(3, 8 * gib, 0), {}),
                                   admission_capacity(make_gpu(1, 8 * gib, 0), {})};
    EXPECT_EQ(choose_gpu(caps, gib, placement_policy::best_fit), 1U);
    EXPECT_EQ(choose_gpu(caps, gib, placement_policy::most_free), 1U);
    EXPECT_EQ(parse_placement_policy("most_free"), placement_policy::most_free);
    EXPECT_EQ(parse_placement_policy("Best-Fit"), placement_policy::best_fit);
    try {
        (void)parse_placement_policy("first-fit");
        FAIL() << "expected usage_error";
    } catch (const usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("first-fit"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("most-free"), std::string::npos);
    }
}

// ---- process identity ------------------------------------------------------------------------------

TEST(ProcStat, StartTimeIsField22EvenWithParenthesesInTheName) {
    // Fields 3…22: state S, then 18 fields, the 20th (field 22) is 4242.
    const std::string tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 99 100";
    EXPECT_EQ(parse_proc_stat_start_time("123 (python) ) (x)" + tail), 4242U);
    EXPECT_FALSE(parse_proc_stat_start_time("123 (zombie)" + std::string(" Z") + tail.substr(2)).has_value());
    EXPECT_FALSE(parse_proc_stat_start_time("123 (short) S 1 2").has_value());
    EXPECT_FALSE(parse_proc_stat_start_time("garbage").has_value());
    const system_process_table real;
    const auto me = real.self();
    EXPECT_EQ(me.pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_TRUE(real.alive(me));
    EXPECT_FALSE(real.alive({me.pid, me.start_time + 1}));  // same pid, another start: not the holder
}

// ---- ledger format and recovery -------------------------------------------------------------------

ledger_state sample_state() {
    ledger_state s;
    s.next_id = 7;
    s.reservations = {held(3, "GPU-a", 10, 5 * gib, 11), held(5, "GPU-b", 12, 9 * gib)};
    s.reservations[0].model = "large float16 30s batch 1 \"quoted\"\ttab";
    s.waiters.push_back({6, {13, 1013}, 2 * gib, {"GPU-a", "GPU-b"}, "small", 1234, {}, 1234});
    return s;
}

TEST(LedgerFormat, RoundTripsExactly) {
    const auto s = sample_state();
    std::vector<std::string> warnings;
    const auto back = parse_ledger(serialize_ledger(s), warnings);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    EXPECT_EQ(back.next_id, 7U);
    ASSERT_EQ(back.reservations.size(), 2U);
    EXPECT_EQ(back.reservations[0].model, s.reservations[0].model);
    EXPECT_EQ(back.reservations[0].child_pid, 11U);
    EXPECT_EQ(back.reservations[1].bytes, 9 * gib);
    EXPECT_EQ(back.reservations[1].holder, (process_identity{12, 1012}));
    ASSERT_EQ(back.waiters.size(), 1U);
    EXPECT_EQ(back.waiters[0].gpu_uuids, (std::vector<std::string>{"GPU-a", "GPU-b"}));
    EXPECT_TRUE(parse_ledger("", warnings).reservations.empty());
    EXPECT_TRUE(warnings.empty());
}

TEST(LedgerFormat, CorruptionIsDetectedAndIntactRecordsKept) {
    const std::string good = serialize_ledger(sample_state());
    std::vector<std::string> w;
    // Garbage instead of a ledger: nothing kept, warned.
    auto s = parse_ledger("\x01\x02 not a ledger at all\n{]\n", w);
    EXPECT_FALSE(w.empty());
    EXPECT_TRUE(s.reservations.empty());
    // One byte changed inside the second record (bytes 9 GiB → other digits): its checksum fails,
    // the others are kept.
    std::string flipped = good;
    const auto pos = flipped.find("9663676416");  // 9 GiB
    ASSERT_NE(pos, std::string::npos);
    flipped[pos] = '8';
    w.clear();
    s = parse_ledger(flipped, w);
    ASSERT_FALSE(w.empty());
    ASSERT_EQ(s.reservations.size(), 1U);
    EXPECT_EQ(s.reservations[0].id, 3U);
    EXPECT_EQ(s.waiters.size(), 1U);
    // Truncated in the middle of the last record (half a line, no end marker).
    const std::string truncated = good.substr(0, good.find("\"type\":\"waiter\"") + 10);
    w.clear();
    s = parse_ledger(truncated, w);
    EXPECT_GE(w.size(), 2U);  // cut-off line + no end marker
    EXPECT_EQ(s.reservations.size(), 2U);
    EXPECT_TRUE(s.waiters.empty());
    // Header destroyed: the records survive and ids stay unique (next_id above every id).
    std::string headless = good;
    headless[2] = 'X';
    w.clear();
    s = parse_ledger(headless, w);
    EXPECT_FALSE(w.empty());
    EXPECT_EQ(s.reservations.size(), 2U);
    EXPECT_EQ(s.next_id, 7U);  // max id 6 + 1
}

TEST(LedgerReaping, DeadAndReusedPidsAreReaped) {
    fake_processes procs;
    procs.live = {{10, 1010}, {12, 9999}, {13, 1013}};  // 12 alive but restarted: another process
    auto s = sample_state();
    ledger_access access;
    reap_dead(s, procs, access);
    ASSERT_EQ(s.reservations.size(), 1U);
    EXPECT_EQ(s.reservations[0].holder.pid, 10U);
    ASSERT_EQ(access.reaped_reservations.size(), 1U);
    EXPECT_EQ(access.reaped_reservations[0].holder.pid, 12U);
    EXPECT_EQ(s.waiters.size(), 1U);
}

TEST(LedgerState, DefaultFolderFollowsTheEnvironment) {
    EXPECT_EQ(default_state_dir(std::string("/x/y"), std::string("/run/user/5"), 5), "/x/y");
    EXPECT_EQ(default_state_dir(std::string(""), std::string("/run/user/5"), 5), "/run/user/5/whisper-vram");
    EXPECT_EQ(default_state_dir(std::nullopt, std::nullopt, 1234), "/tmp/whisper-vram-1234");
}

std::filesystem::path fresh_dir(const std::string& name) {
    const auto dir =
        std::filesystem::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("sched-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    return dir;
}

TEST(FileLedger, CreatesAPrivateFolderAndRecoversFromGarbage) {
    const auto dir = fresh_dir("file");
    auto procs = std::make_shared<fake_processes>();
    procs->live = {{10, 1010}};
    std::vector<std::string> warned;
    file_ledger ledger(dir, procs, [&](const std::string& w) { warned.push_back(w); });
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700U);
    ledger.update([](ledger_state& s) {
        s.reservations.push_back(held(s.take_id(), "GPU-a", 10, gib));
        s.reservations.push_back(held(s.take_id(), "GPU-a", 11, gib));  // 11 is dead
        return true;
    });
    auto state = ledger.read();
    ASSERT_EQ(state.reservations.size(), 1U);  // 11 reaped at the next access
    EXPECT_TRUE(warned.empty());
    {  // append a whole garbage line (NUL included; a line cut short without its newline would be a
       // writer killed mid-append, ignored silently): the intact record of the live holder survives, with a warning
        static constexpr char garbage[] = "rm -rf / \x7f\x00garbage\n";
        std::ofstream out(dir / "ledger", std::ios::app | std::ios::binary);
        out.write(garbage, sizeof garbage - 1);
    }
    state = ledger.read();
    ASSERT_EQ(state.reservations.size(), 1U);
    EXPECT_EQ(state.reservations[0].holder.pid, 10U);
    ASSERT_EQ(warned.size(), 1U);
    EXPECT_NE(warned[0].find("corrupt"), std::string::npos) << warned[0];
    state = ledger.read();  // rewritten clean: no second warning
    EXPECT_EQ(warned.size(), 1U);
    std::filesystem::remove_all(dir);
}

TEST(FileLedger, RefusesAFolderOthersCanWrite) {
    const auto dir = fresh_dir("open");
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0777);
    EXPECT_THROW(file_ledger{dir}, state_error);
    std::filesystem::remove_all(dir);
}

TEST(FileLedger, IoFailuresAreStateErrorsNamingThePathAndTheWayOut) {
    // The ledger's place is taken by a directory: open fails (EISDIR). The user's to fix, not a bug:
    // state_error (exit 2), never a bare runtime_error (internal error 70).
    const auto dir = fresh_dir("eisdir");
    std::filesystem::create_directories(dir / "ledger");
    ::chmod(dir.c_str(), 0700);
    file_ledger ledger{dir};
    try {
        (void)ledger.read();
        ADD_FAILURE() << "no exception";
    } catch (const state_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("cannot open '" + (dir / "ledger").string() + "': Is a directory"), std::string::npos)
            << what;
        EXPECT_NE(what.find("set WHISPER_VRAM_STATE_DIR to a folder you can write"), std::string::npos) << what;
    }
    std::filesystem::remove_all(dir);
    // A state folder that cannot be created is one too (it was a usage_error: same message).
    EXPECT_THROW(file_ledger{"/proc/whisper-vram-no-such/state"}, state_error);
}

// ---- scheduler ----------------------------------------------------------------------------------

// A monotonic clock and sleeper for the scheduler: sleeping advances the clock at once (no real
// waiting) and is recorded; on_sleep runs during each sleep (what "meanwhile" happens elsewhere).
struct fake_time {
    std::chrono::steady_clock::time_point now{};
    std::vector<std::chrono::milliseconds> sleeps;
    std::function<void()> on_sleep;
};

scheduler make_scheduler(std::string_view spec, std::shared_ptr<ledger> l = nullptr,
                         std::shared_ptr<const process_table> procs = nullptr,
                         const std::shared_ptr<fake_time>& time = nullptr) {
    scheduler_options options;
    options.poll_interval = std::chrono::milliseconds(20);
    options.processes = procs;
    if (time) {
        options.monotonic_clock = [time] { return time->now; };
        options.sleeper = [time](std::chrono::milliseconds d) {
            time->sleeps.push_back(d);
            time->now += d;
            if (!time->on_sleep) return;
            const auto meanwhile = time->on_sleep;  // a copy: it may reset on_sleep while it runs
            meanwhile();
        };
    }
    return scheduler(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)),
                     l ? l : std::make_shared<memory_ledger>(procs), options);
}

reserve_request request_of(std::uint64_t bytes, std::optional<int> timeout_ms = 0) {
    reserve_request r;
    r.bytes = bytes;
    r.model = "test";
    if (timeout_ms) r.timeout = std::chrono::milliseconds(*timeout_ms);
    return r;
}

TEST(Scheduler, PlacesByPolicyAndLeasesReleaseOnDestruction) {
    auto sched = make_scheduler("24GiB,12GiB");
    {
        auto a = sched.reserve(request_of(10 * gib));
        ASSERT_TRUE(a.granted()) << a.message;
        EXPECT_EQ(a.granted_lease.info().gpu_index, 1U);  // best fit: 12 − 10 < 24 − 10
        auto req = request_of(10 * gib);
        req.policy = placement_policy::most_free;
        auto b = sched.reserve(req);
        ASSERT_TRUE(b.granted());
        EXPECT_EQ(b.granted_lease.info().gpu_index, 0U);
        EXPECT_EQ(sched.reservations().size(), 2U);
        lease moved = std::move(b.granted_lease);
        EXPECT_FALSE(b.granted_lease.active());
        EXPECT_TRUE(moved.active());
        const auto caps = sched.capacities();
        EXPECT_EQ(caps[0].available_bytes, 14 * gib);  // 24 − 10
        EXPECT_EQ(caps[1].available_bytes, 2 * gib);   // 12 − 10
        moved.release();
        moved.release();  // idempotent
        EXPECT_EQ(sched.reservations().size(), 1U);
    }
    EXPECT_TRUE(sched.reservations().empty());
}

TEST(Scheduler, NeverFitsFailsAtOnceTimeoutWaits) {
    const auto time = std::make_shared<fake_time>();
    auto sched = make_scheduler("24GiB,12GiB", nullptr, nullptr, time);
    auto r = sched.reserve(request_of(25 * gib, std::nullopt));  // no timeout: would wait forever if it waited
    EXPECT_EQ(r.status, reserve_status::never_fits);
    EXPECT_NE(r.message.find("24.00 GiB"), std::string::npos) << r.message;
    auto a = sched.reserve(request_of(20 * gib));
    ASSERT_TRUE(a.granted());
    EXPECT_TRUE(time->sleeps.empty());  // neither waited
    std::vector<std::size_t> queued;    // the queue as each poll's report sees it
    auto timed = request_of(20 * gib, 50);
    timed.on_wait = [&](const wait_progress&) { queued.push_back(sched.waiters().size()); };
    auto b = sched.reserve(timed);
    EXPECT_EQ(b.status, reserve_status::timed_out);
    EXPECT_EQ(b.last.best_available_bytes, 12 * gib);
    // Polls every 20 ms, the last sleep cut to the deadline: 20 + 20 + 10 = 50 ms, on the fake clock.
    EXPECT_EQ(time->sleeps,
              (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(20), std::chrono::milliseconds(20),
                                                      std::chrono::milliseconds(10)}));
    EXPECT_EQ(b.waited, std::chrono::milliseconds(50));
    EXPECT_EQ(b.message,
              "timed out after 0.1 s waiting for 20.00 GiB (test): needs 20.00 GiB, at most 12.00 GiB available");
    EXPECT_EQ(queued, (std::vector<std::size_t>{1, 1, 1, 1}));  // queued while waiting, reported each poll
    EXPECT_TRUE(sched.waiters().empty());                       // a timed-out request leaves the queue
    auto on_one = request_of(4 * gib);
    on_one.gpu_ids = "1";
    auto c = sched.reserve(on_one);
    ASSERT_TRUE(c.granted());
    EXPECT_EQ(c.granted_lease.info().gpu_index, 1U);
    EXPECT_THROW((void)sched.reserve(request_of(0)), usage_error);
    auto bad_id = request_of(gib);
    bad_id.gpu_ids = "7";
    EXPECT_THROW((void)sched.reserve(bad_id), usage_error);
}

TEST(Scheduler, FifoLargeHeadIsNotJumpedBySmallRequests) {
    const auto time = std::make_shared<fake_time>();
    auto sched = make_scheduler("24GiB", nullptr, nullptr, time);
    auto first = sched.reserve(request_of(16 * gib));
    ASSERT_TRUE(first.granted());
    reserve_result small;
    // While the 16 GiB request waits (its first sleep), 8 GiB are available and 4 GiB would fit,
    // but the 16 GiB request is ahead: no bypass. Then the first holder releases.
    time->on_sleep = [&] {
        time->on_sleep = nullptr;
        small = sched.try_reserve(request_of(4 * gib));
        first.granted_lease.release();
    };
    auto big = sched.reserve(request_of(16 * gib, 10000));
    ASSERT_TRUE(big.granted()) << big.message;
    EXPECT_EQ(big.waited, std::chrono::milliseconds(20));  // one poll interval on the fake clock
    EXPECT_EQ(small.status, reserve_status::timed_out);
    EXPECT_EQ(small.last.queue_position, 1U);
    EXPECT_EQ(small.last.best_available_bytes, 8 * gib);
    EXPECT_EQ(small.last.reason, "behind 1 earlier request(s) in the queue");
    EXPECT_TRUE(sched.waiters().empty());                 // the grant took the waiter out
    auto after = sched.try_reserve(request_of(4 * gib));  // head served: 24 − 16 = 8 ≥ 4
    EXPECT_TRUE(after.granted()) << after.message;
}

TEST(Scheduler, CancelledWaitLeavesTheQueue) {
    const auto time = std::make_shared<fake_time>();
    auto sched = make_scheduler("24GiB", nullptr, nullptr, time);
    auto first = sched.reserve(request_of(16 * gib));
    ASSERT_TRUE(first.granted());
    auto req = request_of(16 * gib, std::nullopt);  // no timeout: only the cancellation ends it
    int polls = 0;
    req.cancelled = [&] { return ++polls == 3; };
    const auto r = sched.reserve(req);
    EXPECT_EQ(r.status, reserve_status::cancelled);
    EXPECT_EQ(time->sleeps.size(), 2U);
    EXPECT_EQ(r.waited, std::chrono::milliseconds(40));
    EXPECT_NE(r.message.find("cancelled after 0.0 s"), std::string::npos) << r.message;
    EXPECT_TRUE(sched.waiters().empty());
}

TEST(Scheduler, RealSleeperWaitsAtMostThePollInterval) {
    // The default wait (no injected sleeper) wakes at a release in this process; here nothing
    // releases, so a 30 ms timeout really passes.
    auto sched = make_scheduler("24GiB");
    auto first = sched.reserve(request_of(16 * gib));
    ASSERT_TRUE(first.granted());
    const auto started = std::chrono::steady_clock::now();
    const auto r = sched.reserve(request_of(16 * gib, 30));
    EXPECT_EQ(r.status, reserve_status::timed_out);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(30));
    EXPECT_GE(r.waited, std::chrono::milliseconds(30));
}

TEST(Scheduler, DeadHoldersFreeCapacityAndReleaseAllNeedsForce) {
    auto procs = std::make_shared<fake_processes>();
    procs->live = {{1, 1001}, {50, 1050}};
    auto l = std::make_shared<memory_ledger>(procs);
    l->update([](ledger_state& s) {
        s.reservations.push_back(held(s.take_id(), "GPU-51a17a7e-0000-4000-8000-000000000000", 50, 20 * gib));
        return true;
    });
    auto sched = make_scheduler("24GiB", l, procs);
    EXPECT_EQ(sched.try_reserve(request_of(8 * gib)).status, reserve_status::timed_out);
    auto refused = sched.release_all_reservations(false);
    EXPECT_TRUE(refused.refused);
    EXPECT_EQ(refused.live.size(), 1U);
    EXPECT_TRUE(refused.dropped.empty());
    procs->live.erase(50);  // holder 50 killed
    auto mine = sched.try_reserve(request_of(8 * gib));
    ASSERT_TRUE(mine.granted());
    auto forced = sched.release_all_reservations(true);
    EXPECT_FALSE(forced.refused);
    ASSERT_EQ(forced.dropped.size(), 1U);
    EXPECT_EQ(forced.dropped_bytes(), 8 * gib);
    mine.granted_lease.release();  // already dropped: a no-op
    EXPECT_TRUE(sched.reservations().empty());
}

// ---- facade ------------------------------------------------------------------------------------

gpu_manager manager_on(std::string_view spec) {
    gpu_manager m(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)));
    m.use_scheduler(std::make_shared<scheduler>(std::shared_ptr<gpu_probe>(make_simulated_probe(spec)),
                                                std::make_shared<memory_ledger>()));
    return m;
}

TEST(FacadeConcurrency, RunningTasksAreNotCountedTwice) {
    // large/float16/30 s: (5 + 0.75 + 0.95 + 1.4875) × 1.2 = 9.825 GiB. On 24 GiB with 12 GiB used
    // by one running large task: 9.825 ≤ 12 free → can run; the guide's sum 2 × 9.825 = 19.65 > 12 says no.
    auto m = manager_on("24GiB:used=12GiB");
    auto c = m.can_run_concurrent_task("large", {"large"});
    EXPECT_TRUE(c.can_run) << c.message;
    EXPECT_FALSE(c.guide_result);
    EXPECT_EQ(c.new_task_bytes, gib_to_bytes_ceil(9.825));
    EXPECT_EQ(c.current_tasks_bytes, gib_to_bytes_ceil(9.825));
    EXPECT_EQ(c.available_bytes, 12 * gib);
    const auto j = to_json(c);
    EXPECT_EQ(j["can_run"], true);
    EXPECT_EQ(j["guide_result"], false);
    // An outstanding reservation not yet in `used` does count: 12 − 9.825 = 2.175 GiB left.
    auto r = m.reserve("large");
    ASSERT_TRUE(r.granted()) << r.message;
    c = m.can_run_concurrent_task("large", {"large"});
    EXPECT_FALSE(c.can_run);
    EXPECT_EQ(c.available_bytes, 12 * gib - gib_to_bytes_ceil(9.825));
    // small: 1.5 + 0.225 + 0.425 + 0.48125 = 2.63125 × 1.2 = 3.1575 > 2.175; tiny: 0.8 + 0.12 + 0.32 + 0.28
    // = 1.52 × 1.2 = 1.824 ≤ 2.175.
    EXPECT_FALSE(m.can_run_concurrent_task("small", {}).can_run);
    EXPECT_TRUE(m.can_run_concurrent_task("tiny", {}).can_run);
}

TEST(FacadeConcurrency, TimeoutAboveAYearIsRejected) {
    // 1e29 s × 1000 does not fit the int64 milliseconds (undefined behaviour); 366 d = 31622400 s is the limit.
    auto m = manager_on("24GiB");
    EXPECT_THROW((void)m.reserve("tiny", 30.0, 1, "float16", "", 1e29), usage_error);
    EXPECT_THROW((void)m.reserve("tiny", 30.0, 1, "float16", "", 31622400.5), usage_error);
    EXPECT_TRUE(m.reserve("tiny", 30.0, 1, "float16", "", 31622400.0).granted());  // fits at once: no wait
}

TEST(FacadeConcurrency, ReleaseAllMemoryDropsOwnReservationsAndCallsHooks) {
    auto m = manager_on("24GiB:used=1GiB");
    auto r = m.reserve("medium", 30, 1, "float16", "", 0.0);
    ASSERT_TRUE(r.granted());
    std::vector<std::string> calls;
    m.register_release_hook("models", [&] { calls.emplace_back("models"); });
    m.register_release_hook("broken", [] { throw std::runtime_error("boom"); });
    m.register_release_hook("cache", [&] { calls.emplace_back("cache"); });
    const auto report = m.release_all_memory();
    ASSERT_EQ(report.reservations_dropped.size(), 1U);
    EXPECT_EQ(report.reservations_dropped[0].bytes, gib_to_bytes_ceil(5.0625));
    EXPECT_EQ(report.hooks_called, (std::vector<std::string>{"models", "broken", "cache"}));
    EXPECT_EQ(calls, (std::vector<std::string>{"models", "cache"}));
    ASSERT_EQ(report.hook_errors.size(), 1U);
    EXPECT_EQ(report.hook_errors[0], "broken: boom");
    ASSERT_EQ(report.gpus.size(), 1U);
    EXPECT_EQ(report.gpus[0].free_before_bytes, 23 * gib);
    EXPECT_EQ(report.gpus[0].free_after_bytes, 23 * gib);
    EXPECT_FALSE(report.cannot_free.empty());
    EXPECT_TRUE(m.get_scheduler().reservations().empty());
    const auto j = to_json(report);
    EXPECT_EQ(j["reservations_dropped_bytes"], gib_to_bytes_ceil(5.0625));
    EXPECT_THROW(m.register_release_hook("", [] {}), usage_error);
}

}  // namespace
}  // namespace whisper_vram
