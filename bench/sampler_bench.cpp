// The sampler's CPU cost (memory_sampler.hpp): its thread's CPU time per second of sampling at
// 50 ms, against an idle baseline thread in the same run (one that only sleeps 50 ms in a loop,
// the cost of waking up alone). Counters: sampler_cpu_ms_per_s, idle_cpu_ms_per_s, ratio, and
// core_percent (the sampler's share of one core).
//
// The probe: NVML from WHISPER_VRAM_NVML_LIBRARY when set (the fake libnvidia-ml.so.1 of
// tests/fake_nvml, or a real driver), else a synthetic probe of 4 GPUs with 3 processes each (this
// process, its parent and pid 1: the /proc reads of the process-tree test happen for real).

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <thread>

#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace {

using namespace whisper_vram;

class synthetic_probe final : public gpu_probe {
public:
    gpu_snapshot snapshot() override {
        gpu_snapshot s;
        s.source = probe_source::nvml;
        for (unsigned i = 0; i < 4; ++i) {
            gpu_device d;
            d.index = i;
            d.total_bytes = 24ULL << 30U;
            d.used_bytes = 2ULL << 30U;
            d.processes_known = true;
            for (const auto pid :
                 {static_cast<std::uint32_t>(::getpid()), static_cast<std::uint32_t>(::getppid()), 1U}) {
                d.processes.push_back({pid, 1ULL << 30U, read_process_name(pid)});
            }
            s.gpus.push_back(d);
        }
        return s;
    }
    [[nodiscard]] probe_source source() const noexcept override { return probe_source::nvml; }
};

std::unique_ptr<gpu_probe> bench_probe() {
    if (const char* path = std::getenv("WHISPER_VRAM_NVML_LIBRARY")) return make_nvml_probe(std::string(path));
    return std::make_unique<synthetic_probe>();
}

double thread_cpu_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void BM_sampler_cpu(benchmark::State& state) {
    const auto probe = bench_probe();
    constexpr auto interval = std::chrono::milliseconds(50);
    constexpr auto run_for = std::chrono::seconds(2);
    double sampler_ms = 0;
    double idle_ms = 0;
    double seconds = 0;
    for (auto _ : state) {
        std::atomic<bool> stop{false};
        double idle = 0;
        std::thread baseline([&] {  // wakes every 50 ms and does nothing
            while (!stop) std::this_thread::sleep_for(interval);
            idle = thread_cpu_ms();
        });
        memory_sampler sampler(*probe, {}, interval);
        (void)sampler.take_baseline();
        const auto start = std::chrono::steady_clock::now();
        sampler.start(::getpid());
        std::this_thread::sleep_for(run_for);
        const auto report = sampler.stop();
        stop = true;
        baseline.join();
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        sampler_ms += static_cast<double>(report.sampler_cpu.count()) / 1e6;
        idle_ms += idle;
    }
    state.counters["sampler_cpu_ms_per_s"] = sampler_ms / seconds;
    state.counters["idle_cpu_ms_per_s"] = idle_ms / seconds;
    state.counters["ratio"] = idle_ms > 0 ? sampler_ms / idle_ms : 0.0;
    state.counters["core_percent"] = sampler_ms / seconds / 10.0;  // ms per s → % of one core
}
BENCHMARK(BM_sampler_cpu)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
