// The job's GPU memory over time (see memory_sampler.hpp).

#include "whisper_vram/gpu/memory_sampler.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

struct stat_fields {
    std::uint32_t ppid = 0;
    std::uint32_t pgid = 0;
};

// /proc/PID/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
std::optional<stat_fields> read_stat(std::uint32_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string text;
    if (!std::getline(in, text)) return std::nullopt;
    const auto close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 1));
    std::string state;
    stat_fields f;
    if (!(rest >> state >> f.ppid >> f.pgid)) return std::nullopt;
    return f;
}

std::string seconds_text(std::chrono::milliseconds at) {
    return fmt::format("{:.2f} s", static_cast<double>(at.count()) / 1000.0);
}

}  // namespace

bool process_visible(std::uint32_t pid) {
    struct stat st {};
    return ::stat(fmt::format("/proc/{}", pid).c_str(), &st) == 0;
}

bool in_process_tree(std::uint32_t pid, std::uint32_t root) {
    std::uint32_t current = pid;
    for (int depth = 0; depth < 64 && current > 1; ++depth) {  // 64: deeper trees are not a job's
        if (current == root) return true;
        const auto f = read_stat(current);
        if (!f) return false;
        if (f->pgid == root) return true;
        current = f->ppid;
    }
    return false;
}

void peak_tracker::baseline(const gpu_snapshot& snapshot) {
    gpus_.clear();
    for (const auto& d : snapshot.gpus) {
        if (!indices_.empty() && std::find(indices_.begin(), indices_.end(), d.index) == indices_.end()) continue;
        gpu_state_t g;
        g.m.index = d.index;
        g.m.name = d.name;
        g.m.uuid = d.uuid;
        g.m.capability = d.capability;
        g.m.total_bytes = d.total_bytes;
        g.m.baseline_bytes = d.used_bytes;
        if (d.state != gpu_state::ok) g.m.notes.push_back(fmt::format("GPU state at start: {}", to_string(d.state)));
        gpus_.push_back(std::move(g));
    }
}

void peak_tracker::add(const gpu_snapshot& snapshot, std::chrono::milliseconds at, const pid_tests& tests, bool late) {
    ++samples_;
    bool failed = snapshot.source == probe_source::none;
    for (auto& g : gpus_) {
        const auto it = std::find_if(snapshot.gpus.begin(), snapshot.gpus.end(),
                                     [&](const gpu_device& d) { return d.index == g.m.index; });
        if (it == snapshot.gpus.end()) {
            failed = true;
            continue;
        }
        const auto& d = *it;
        if (d.state == gpu_state::lost) {
            if (!g.m.lost_at) {
                g.m.lost_at = at;
                g.m.notes.push_back(
                    fmt::format("the GPU vanished (NVML_ERROR_GPU_IS_LOST) {} after the start; "
                                "the peak is the one seen until then",
                                seconds_text(at)));
            }
            continue;
        }
        if (g.m.lost_at) continue;  // a lost GPU stays lost for this run
        if (d.state != gpu_state::ok) {
            failed = true;
            continue;
        }
        const std::uint64_t delta = d.used_bytes > g.m.baseline_bytes ? d.used_bytes - g.m.baseline_bytes : 0;
        if (delta > g.m.device_delta_peak_bytes) {
            g.m.device_delta_peak_bytes = delta;
            g.delta_peak_at = at;
        }
        if (!d.processes_known) {
            g.per_process_unavailable = true;
            continue;
        }
        std::uint64_t tree = 0;
        for (const auto& p : d.processes) {
            if (!tests.in_job(p.pid)) {
                if (!tests.visible(p.pid)) g.invisible_pids = true;
                continue;
            }
            if (!p.used_bytes) {
                g.value_not_available = true;
                continue;
            }
            tree += *p.used_bytes;
        }
        if (tree > g.m.process_tree_peak_bytes) {
            g.m.process_tree_peak_bytes = tree;
            g.tree_peak_at = at;
        }
    }
    if (failed || late) ++misses_;
}

measurement_report peak_tracker::report() const {
    measurement_report r;
    r.samples = samples_;
    r.misses = misses_;
    for (const auto& g : gpus_) {
        gpu_measurement m = g.m;
        std::string why;
        if (g.per_process_unavailable) {
            why = "NVML's per-process list is not available on this GPU";
        } else if (g.value_not_available && m.process_tree_peak_bytes == 0) {
            why = "NVML reports the job's per-process memory as not available";
        } else if (g.invisible_pids && m.process_tree_peak_bytes == 0) {
            why = "NVML's pids are not visible here (another PID namespace?)";
        }
        if (why.empty()) {
            m.method = peak_method::process_tree;
            m.peak_bytes = m.process_tree_peak_bytes;
            m.peak_at = g.tree_peak_at;
        } else {
            m.method = peak_method::device_delta;
            m.peak_bytes = m.device_delta_peak_bytes;
            m.peak_at = g.delta_peak_at;
            m.notes.push_back(why + ": the peak is the device's used memory above the baseline (" +
                              format_gib(m.baseline_bytes) + "), other processes' allocations included");
        }
        r.gpus.push_back(std::move(m));
    }
    return r;
}

struct memory_sampler::state {
    gpu_probe* probe = nullptr;
    std::chrono::milliseconds interval;
    peak_tracker tracker;
    std::mutex mutex;
    std::condition_variable wake;
    bool stopping = false;
    bool started = false;
    bool stopped = false;
    pid_t root = 0;
    std::chrono::steady_clock::time_point start_time{};
    std::chrono::steady_clock::time_point stop_time{};
    std::chrono::nanoseconds cpu{0};
    std::thread thread;

    void sample(bool late) {
        auto snapshot = probe->snapshot();
        const auto at =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_time);
        const auto root_pid = static_cast<std::uint32_t>(root);
        const peak_tracker::pid_tests tests{[root_pid](std::uint32_t pid) { return in_process_tree(pid, root_pid); },
                                            process_visible};
        const std::lock_guard lock(mutex);
        tracker.add(snapshot, at, tests, late);
    }

    void loop() {
        auto next = start_time;
        for (;;) {
            const auto now = std::chrono::steady_clock::now();
            const bool late = now > next + interval;
            sample(late);
            next = late ? std::chrono::steady_clock::now() + interval : next + interval;
            std::unique_lock lock(mutex);
            if (wake.wait_until(lock, next, [&] { return stopping; })) break;
        }
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        cpu = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    }
};

memory_sampler::memory_sampler(gpu_probe& probe, std::vector<unsigned> indices, std::chrono::milliseconds interval)
    : state_(std::make_unique<state>()) {
    state_->probe = &probe;
    state_->interval = interval;
    state_->tracker = peak_tracker(std::move(indices));
}

memory_sampler::~memory_sampler() { (void)stop(); }

gpu_snapshot memory_sampler::take_baseline() {
    auto snapshot = state_->probe->snapshot();
    const std::lock_guard lock(state_->mutex);
    state_->tracker.baseline(snapshot);
    return snapshot;
}

void memory_sampler::start(pid_t root) {
    if (state_->started) return;
    state_->started = true;
    state_->root = root;
    state_->start_time = std::chrono::steady_clock::now();
    state_->thread = std::thread([s = state_.get()] { s->loop(); });
}

measurement_report memory_sampler::stop() {
    auto& s = *state_;
    if (s.started && !s.stopped) {
        {
            const std::lock_guard lock(s.mutex);
            s.stopping = true;
        }
        s.wake.notify_all();
        if (s.thread.joinable()) s.thread.join();
        s.stopped = true;
        s.stop_time = std::chrono::steady_clock::now();
    }
    const std::lock_guard lock(s.mutex);
    auto r = s.tracker.report();
    r.interval = s.interval;
    r.sampler_cpu = s.cpu;
    if (s.started) {
        r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(s.stop_time - s.start_time);
    }
    return r;
}

}  // namespace whisper_vram
