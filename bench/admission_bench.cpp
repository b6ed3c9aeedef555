// Admission cost: a reserve+release round trip in one process (memory ledger) and across
// processes (file ledger: flock, read, parse, write, rename — twice), each against a baseline
// measured in the same run: an uncontended std::mutex lock/unlock, and a bare flock lock/unlock
// on a file in the same folder (also with the open/close every ledger access does).
// scripts/bench.sh builds this and prints the ratios.

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace {

using namespace whisper_vram;

// A fresh private folder for the ledger (WHISPER_VRAM_BENCH_DIR's parent, default /tmp).
std::filesystem::path bench_dir() {
    const char* base = std::getenv("WHISPER_VRAM_BENCH_DIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/whisper-vram-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
}

reserve_request one_gib() {
    reserve_request r;
    r.bytes = bytes_per_gib;
    r.model = "bench";
    r.timeout = std::chrono::milliseconds(0);
    return r;
}

// Reserve + release of 1 GiB on one simulated 24 GiB GPU through @p l, per iteration.
void reserve_release(benchmark::State& state, std::shared_ptr<ledger> l) {
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB")), std::move(l));
    const auto request = one_gib();
    for (auto _ : state) {
        auto r = sched.reserve(request);
        if (!r.granted()) state.SkipWithError("not granted");
        r.granted_lease.release();
    }
}

// The lock half of every ledger access, as bare system calls.
void flock_lock_unlock(int fd) {
    ::flock(fd, LOCK_EX);
    ::flock(fd, LOCK_UN);
}

void baseline_mutex_lock_unlock(benchmark::State& state) {
    std::mutex m;
    for (auto _ : state) {
        m.lock();
        m.unlock();
    }
}
BENCHMARK(baseline_mutex_lock_unlock);

void inprocess_reserve_release(benchmark::State& state) { reserve_release(state, std::make_shared<memory_ledger>()); }
BENCHMARK(inprocess_reserve_release);

void baseline_flock_lock_unlock(benchmark::State& state) {
    const auto dir = bench_dir();
    const int fd = ::open((dir / "bench.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    for (auto _ : state) flock_lock_unlock(fd);
    ::close(fd);
    std::filesystem::remove_all(dir);
}
BENCHMARK(baseline_flock_lock_unlock);

void baseline_open_flock_close(benchmark::State& state) {
    const auto dir = bench_dir();
    const auto path = dir / "bench.lock";
    for (auto _ : state) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        flock_lock_unlock(fd);
        ::close(fd);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(baseline_open_flock_close);

void ledger_reserve_release(benchmark::State& state) {
    const auto dir = bench_dir();
    reserve_release(state, std::make_shared<file_ledger>(dir));
    std::filesystem::remove_all(dir);
}
BENCHMARK(ledger_reserve_release);

}  // namespace

BENCHMARK_MAIN();
