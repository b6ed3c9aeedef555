// Ledger scale and handoff speed (issue 12 items 10 and "handoff speed"), each against a baseline
// measured in the same run:
//   baseline_append        open(O_APPEND) + write(2) of one 330-byte line + close: the floor of a
//                          journal append (no lock, no parse).
//   ledger_access/N        one read-only access (lock, stat, replay what was appended, reap) of a file
//                          ledger holding N live reservations of another live process; N = 100 is the
//                          baseline, N = 10000 the target case.
//   ledger_reserve/N       a reserve + release (two journal appends, a compaction now and then) beside
//                          N live reservations.
//   ledger_heartbeat/N     one heartbeat of a holder (one journal entry) beside N live reservations.
//   handoff_wait           from a holder's release to the grant of a waiter in another scheduler
//                          (its own file_ledger: woken through inotify, as another process is);
//   handoff_baseline       the same reserve when nothing has to be waited for.
// scripts/bench.sh prints the ratios (ledger_bench section).

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace {

using namespace whisper_vram;
using steady = std::chrono::steady_clock;

std::filesystem::path bench_dir() {
    const char* base = std::getenv("WHISPER_VRAM_BENCH_DIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/whisper-vram-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
}

// N live reservations of another live process (pid 1: looked up once per access, and this process's
// heartbeats do not touch them) on a GPU the bench does not use (they cost parsing and writing, not
// capacity), each with its own id and model text like a real one.
void fill(file_ledger& l, std::size_t n) {
    const system_process_table procs;
    const process_identity other{1, procs.start_time(1).value_or(0)};
    const auto host = procs.host();
    l.update([&](ledger_state& s) {
        for (std::size_t i = 0; i < n; ++i) {
            reservation_record r;
            r.id = s.take_id();
            r.gpu_uuid = "GPU-00000000-0000-0000-0000-000000000001";
            r.holder = other;
            r.bytes = 3 * bytes_per_gib;
            r.model = "large-v3 float16 30s batch 1";
            r.since_ms = system_wall_clock_ms();
            r.host = host;
            r.heartbeat_ms = r.since_ms;
            s.reservations.push_back(std::move(r));
        }
        return true;
    });
}

void ledger_access(benchmark::State& state) {
    const auto dir = bench_dir();
    {
        file_ledger l(dir);
        fill(l, static_cast<std::size_t>(state.range(0)));
        for (auto _ : state) benchmark::DoNotOptimize(l.read().reservations.size());
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(ledger_access)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void baseline_append(benchmark::State& state) {
    const auto dir = bench_dir();
    const auto file = dir / "append";
    const std::string line(329, 'x');
    for (auto _ : state) {
        const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            state.SkipWithError("append failed");
        }
        if (fd >= 0) ::close(fd);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(baseline_append)->Unit(benchmark::kMicrosecond);

void ledger_reserve(benchmark::State& state) {
    const auto dir = bench_dir();
    {
        auto l = std::make_shared<file_ledger>(dir);
        fill(*l, static_cast<std::size_t>(state.range(0)));
        scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), l);
        reserve_request r;
        r.bytes = bytes_per_gib;
        r.timeout = std::chrono::milliseconds(0);
        for (auto _ : state) {
            auto got = sched.reserve(r);
            if (!got.granted()) state.SkipWithError("not granted");
            got.granted_lease.release();
        }
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(ledger_reserve)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void ledger_heartbeat(benchmark::State& state) {
    const auto dir = bench_dir();
    {
        auto l = std::make_shared<file_ledger>(dir);
        fill(*l, static_cast<std::size_t>(state.range(0)));
        scheduler_options options;
        options.heartbeat_interval = std::chrono::milliseconds(0);  // no beat thread: this loop beats
        // Every beat a new time (1 ms on), so every beat is written (a beat in the same millisecond is not).
        auto now = std::make_shared<std::int64_t>(system_wall_clock_ms());
        options.clock = [now] { return ++*now; };
        scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), l, options);
        reserve_request r;
        r.bytes = bytes_per_gib;
        r.timeout = std::chrono::milliseconds(0);
        auto got = sched.reserve(r);
        if (!got.granted()) state.SkipWithError("not granted");
        for (auto _ : state) {
            if (sched.beat_now() != 1) state.SkipWithError("not one record beaten");
        }
        got.granted_lease.release();
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(ledger_heartbeat)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

reserve_request big(std::optional<std::chrono::milliseconds> timeout) {
    reserve_request r;
    r.bytes = 20 * bytes_per_gib;
    r.model = "bench";
    r.timeout = timeout;
    return r;
}

// The baseline: the waiter's reserve when the GPU is free at once (timed from just before it).
void handoff_baseline(benchmark::State& state) {
    const auto dir = bench_dir();
    {
        scheduler waiter(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), std::make_shared<file_ledger>(dir));
        for (auto _ : state) {
            const auto t0 = steady::now();
            auto got = waiter.reserve(big(std::chrono::milliseconds(5'000)));
            const auto t1 = steady::now();
            if (!got.granted()) state.SkipWithError("not granted");
            state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
            got.granted_lease.release();
        }
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(handoff_baseline)->UseManualTime()->Unit(benchmark::kMicrosecond);

// A holder has 20 of 24 GiB; a waiter (another scheduler and ledger object: woken by inotify, not
// by this process's condition variable) waits for 20 GiB; timed from the release to the grant.
void handoff_wait(benchmark::State& state) {
    const auto dir = bench_dir();
    {
        scheduler holder(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), std::make_shared<file_ledger>(dir));
        scheduler waiter(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), std::make_shared<file_ledger>(dir));
        file_ledger observer(dir);
        for (auto _ : state) {
            auto held = holder.reserve(big(std::chrono::milliseconds(0)));
            if (!held.granted()) state.SkipWithError("holder not granted");
            std::atomic<steady::time_point::rep> granted_at{0};
            std::thread t([&] {
                auto got = waiter.reserve(big(std::chrono::milliseconds(10'000)));
                granted_at = steady::now().time_since_epoch().count();
                got.granted_lease.release();
            });
            while (observer.read().waiters.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
            // Let the waiter settle into its wait (its poll interval is 100 ms: the wake must be inotify's).
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            const auto t0 = steady::now();
            held.granted_lease.release();
            t.join();
            const auto t1 = steady::time_point(steady::duration(granted_at.load()));
            state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
        }
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(handoff_wait)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
