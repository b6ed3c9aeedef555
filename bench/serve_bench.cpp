// `whisper-vram serve` latency: /api/v1/estimate against /healthz on the same in-process server
// (loopback, keep-alive clients), p50/p99 and throughput at 1, 8 and 64 concurrent connections,
// printed as ratios (target: estimate p99 ≤ 2 × healthz p99); and the /metrics render time with 8
// simulated GPUs and 1000 reservations in the ledger (the whole scrape path: probe, ledger, text),
// of render_metrics() alone, and of a new estimate without HTTP (run_api()). One run, no Google
// Benchmark: `build/default/bench/whisper_vram_serve_bench [SECONDS_PER_POINT]` (default 2).
// `whisper_vram_serve_bench SECONDS KIND CONNECTIONS` (KIND: healthz, repeated, new, browser) runs
// that one point alone, for a profiler to attach to: nothing else then runs.

#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "serve_api.hpp"
#include "serve_http.hpp"
#include "serve_metrics.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace {

using namespace whisper_vram;
using namespace whisper_vram::cli;
using clock_type = std::chrono::steady_clock;

std::filesystem::path fresh_folder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "whisper-vram-serve-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
}

struct point {
    double p50_ms = 0;
    double p99_ms = 0;
    double per_second = 0;
    std::size_t errors = 0;
};

// Requests @p path(thread, i) from @p connections keep-alive clients for @p seconds, sending
// @p headers (none: what cpp-httplib's client sends, no Accept-Encoding, as curl or Prometheus' plain).
point measure(int port, const std::function<std::string(int, std::size_t)>& path, int connections, double seconds,
              const httplib::Headers& headers = {}) {
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(connections));
    std::atomic<std::size_t> errors{0};
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    for (int t = 0; t < connections; ++t) {
        threads.emplace_back([&, t] {
            httplib::Client client("127.0.0.1", port);
            client.set_keep_alive(true);
            client.set_tcp_nodelay(true);
            auto& mine = latencies[static_cast<std::size_t>(t)];
            while (clock_type::now() < end) {
                const auto before = clock_type::now();
                const auto r = client.Get(path(t, mine.size()).c_str(), headers);
                const auto after = clock_type::now();
                if (!r || r->status != 200) {
                    const double waited = std::chrono::duration<double>(clock_type::now() - before).count();
                    if (errors++ == 0) {  // the first one, to tell a timeout from a refusal
                        fmt::print(stderr, "first error, after {:.3f} s: {}\n", waited,
                                   r ? fmt::format("HTTP {}", r->status) : httplib::to_string(r.error()));
                    }
                    continue;
                }
                mine.push_back(std::chrono::duration<double, std::milli>(after - before).count());
            }
        });
    }
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    point p;
    p.errors = errors;
    if (all.empty()) return p;
    const auto at = [&](double q) {
        return all[std::min(all.size() - 1, static_cast<std::size_t>(q * static_cast<double>(all.size())))];
    };
    p.p50_ms = at(0.50);
    p.p99_ms = at(0.99);
    p.per_second = static_cast<double>(all.size()) / elapsed;
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
    const std::string only_kind = argc > 3 ? argv[2] : "";
    const int only_connections = argc > 3 ? std::atoi(argv[3]) : 0;
    if (argc > 4 || argc == 3 ||
        (argc > 3 && (only_connections < 1 || (only_kind != "healthz" && only_kind != "repeated" &&
                                               only_kind != "new" && only_kind != "browser")))) {
        fmt::print(stderr, "usage: {} [SECONDS [healthz|repeated|new|browser CONNECTIONS]]\n", argv[0]);
        return 2;
    }
    const auto folder = fresh_folder();
    serve_settings settings;
    settings.host = "127.0.0.1";
    settings.port = 0;
    settings.env.state_dir = folder.string();
    settings.env.nvml_library = "/nonexistent";
    settings.env.simulate = "80GiB,80GiB,80GiB,80GiB,80GiB,80GiB,80GiB,80GiB";
    http_service service(settings, [](const std::string&) {});
    const int port = service.bind();
    std::thread server([&] { service.run(); });

    const std::string estimate = "/api/v1/estimate?model=large-v3&engine=faster-whisper&precision=int8&batch=16";
    const auto fixed = [](const std::string& p) { return [p](int, std::size_t) { return p; }; };
    // A new request each time (segment varies): never answered from the 1 s estimate memo.
    const auto fresh = [&](int t, std::size_t i) {
        return fmt::format("/api/v1/estimate?model=large-v3&batch=16&segment={}",
                           1 + (static_cast<std::size_t>(t) * 7919 + i) % 80000);
    };
    // What Chromium and Firefox offer: answered with gzip (serve never uses brotli: serve_http.hpp).
    const httplib::Headers browser = {{"Accept-Encoding", "gzip, deflate, br"}};
    if (!only_kind.empty()) {
        const point p = only_kind == "healthz"    ? measure(port, fixed("/healthz"), only_connections, seconds)
                        : only_kind == "repeated" ? measure(port, fixed(estimate), only_connections, seconds)
                        : only_kind == "new"      ? measure(port, fresh, only_connections, seconds)
                                                  : measure(port, fresh, only_connections, seconds, browser);
        fmt::print("{} at {} connections: p50 {:.3f} ms, p99 {:.3f} ms, {:.0f} req/s, {} errors\n", only_kind,
                   only_connections, p.p50_ms, p.p99_ms, p.per_second, p.errors);
        service.stop();
        server.join();
        std::error_code ec;
        std::filesystem::remove_all(folder, ec);
        return 0;
    }
    fmt::print("serve latency, {} s per point, {} CPUs (loopback, keep-alive, in-process server)\n", seconds,
               std::thread::hardware_concurrency());
    fmt::print("{:>5}  {:>25}  {:>35}  {:>35}  {:>35}\n", "conns", "healthz p50/p99 ms req/s",
               "estimate (repeated) p50/p99 ms req/s", "estimate (all new) p50/p99 ms req/s",
               "all new, as a browser p50/p99 ms req/s");
    for (const int connections : {1, 8, 64}) {
        const point h = measure(port, fixed("/healthz"), connections, seconds);
        const point e = measure(port, fixed(estimate), connections, seconds);
        const point n = measure(port, fresh, connections, seconds);
        const point b = measure(port, fresh, connections, seconds, browser);
        const auto ratio = [&](const point& p) {
            return fmt::format("p99 {:.2f}x p50 {:.2f}x", h.p99_ms > 0 ? p.p99_ms / h.p99_ms : 0.0,
                               h.p50_ms > 0 ? p.p50_ms / h.p50_ms : 0.0);
        };
        const std::size_t errors = h.errors + e.errors + n.errors + b.errors;
        fmt::print(
            "{:>5}  {:>7.3f} {:>7.3f} {:>8.0f}  {:>7.3f} {:>7.3f} {:>7.0f} {}  {:>7.3f} {:>7.3f} {:>7.0f} {}  {:>7.3f} "
            "{:>7.3f} {:>7.0f} {}{}\n",
            connections, h.p50_ms, h.p99_ms, h.per_second, e.p50_ms, e.p99_ms, e.per_second, ratio(e), n.p50_ms,
            n.p99_ms, n.per_second, ratio(n), b.p50_ms, b.p99_ms, b.per_second, ratio(b),
            errors > 0 ? fmt::format("  ({} errors)", errors) : "");
    }

    // 1000 reservations spread over the 8 GPUs, held by this process (as 1000 leases would be).
    scheduler sched(make_probe(probe_options_from(settings.env)), std::make_shared<file_ledger>(folder));
    std::vector<lease> held;
    for (int i = 0; i < 1000; ++i) {
        reserve_request r;
        r.bytes = 64ULL << 20;
        r.model = "bench";
        r.gpu_ids = std::to_string(i % 8);
        r.timeout = std::chrono::milliseconds(0);
        auto result = sched.reserve(r);
        if (!result.granted()) {
            fmt::print("reservation {} not granted: {}\n", i, result.message);
            return 1;
        }
        held.push_back(std::move(result.granted_lease));
    }
    const auto time_it = [](auto&& f, int rounds) {
        const auto start = clock_type::now();
        std::size_t size = 0;
        for (int i = 0; i < rounds; ++i) size += f().size();
        const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count() / rounds;
        return std::pair{ms, size / static_cast<std::size_t>(rounds)};
    };
    const auto [scrape_ms, scrape_bytes] = time_it([&] { return service.metrics_text(); }, 20);
    fmt::print("/metrics with 8 GPUs and 1000 reservations: {:.3f} ms per scrape (probe + ledger + text, {} bytes)\n",
               scrape_ms, scrape_bytes);
    metrics_input in;
    in.nvml_up = true;
    for (int g = 0; g < 8; ++g) {
        in.gpus.push_back({std::to_string(g), fmt::format("GPU-{:08x}-0000-4000-8000-000000000000", g),
                           "NVIDIA H100 80GB HBM3", 80ULL << 30, 10ULL << 30, 70ULL << 30, 8000ULL << 20, 62ULL << 30});
    }
    in.leases = 1000;
    in.job_capacity = {{"large-v3:faster-whisper:int8:16", 40}, {"medium:guide:float16:1", 90}};
    http_metrics counters;
    for (const char* handler : {"estimate", "check", "leases", "lease", "lease_heartbeat", "metrics", "healthz"}) {
        for (const int code : {200, 201, 400, 404, 503}) counters.observe_request(handler, code, 0.002);
    }
    in.counters = counters.snapshot();
    const auto [render_ms, render_bytes] = time_it([&] { return render_metrics(in); }, 2000);
    fmt::print("render_metrics() alone (8 GPUs, 1000 leases, 35 handler/code series): {:.4f} ms ({} bytes)\n",
               render_ms, render_bytes);
    // What a new estimate costs without HTTP: the request's fields to the CLI's JSON, on this thread.
    std::size_t segment = 0;
    const auto [api_ms, api_bytes] = time_it(
        [&] {
            const auto fields = parse_query(fmt::format("model=large-v3&batch=16&segment={}", 1 + segment++ % 80000));
            return run_api("estimate", fields, settings.env).body;
        },
        5000);
    fmt::print("a new estimate through run_api() alone (no HTTP, one thread): {:.4f} ms ({} bytes)\n", api_ms,
               api_bytes);
    for (auto& l : held) l.release();
    service.stop();
    server.join();
    std::error_code ec;
    std::filesystem::remove_all(folder, ec);
    return 0;
}
