// Thread stress: many threads reserve and release on simulated GPUs. At no instant do the bytes
// held on a GPU exceed its capacity (checked with an atomic counter per GPU that each holder adds
// to after its grant and subtracts from before its release), and no lease is lost (every grant is
// released, the ledger ends empty, every request is eventually granted).
#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;

struct stress_result {
    std::size_t grants = 0;
    std::size_t violations = 0;
    std::size_t failures = 0;
};

// Simulated "24GiB,16GiB:used=4GiB": capacities 24 and 12 GiB.
stress_result stress(const std::shared_ptr<ledger>& l, int threads, int iterations) {
    scheduler_options options;
    options.poll_interval = std::chrono::milliseconds(5);
    scheduler sched(std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB,16GiB:used=4GiB")), l, options);
    const std::array<std::uint64_t, 2> capacity{24 * gib, 12 * gib};
    std::array<std::atomic<std::uint64_t>, 2> held{};
    std::atomic<std::size_t> grants{0};
    std::atomic<std::size_t> violations{0};
    std::atomic<std::size_t> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) * 7919U + 1U);
            std::uniform_int_distribution<std::uint64_t> size(1, 12);
            for (int i = 0; i < iterations; ++i) {
                reserve_request r;
                r.bytes = size(rng) * gib;  // 1…12 GiB: up to 2-3 fit at once per GPU
                r.model = "stress";
                r.policy = (i % 2 == 0) ? placement_policy::best_fit : placement_policy::most_free;
                r.timeout = std::chrono::seconds(60);
                auto result = sched.reserve(r);
                if (!result.granted()) {
                    ++failures;
                    continue;
                }
                ++grants;
                lease l = std::move(result.granted_lease);
                const unsigned g = l.info().gpu_index;
                const auto now = held[g].fetch_add(l.info().bytes) + l.info().bytes;
                if (now > capacity[g]) ++violations;
                std::this_thread::yield();
                held[g].fetch_sub(l.info().bytes);
                if (i % 3 == 0) {
                    l.release();
                }  // else: released by the destructor
            }
        });
    }
    for (auto& th : pool) th.join();
    EXPECT_EQ(held[0].load(), 0U);
    EXPECT_EQ(held[1].load(), 0U);
    EXPECT_TRUE(sched.reservations().empty()) << "a lease was lost";
    EXPECT_TRUE(sched.waiters().empty()) << "a waiter was left in the queue";
    return {grants.load(), violations.load(), failures.load()};
}

TEST(SchedulerStress, MemoryLedgerNeverOvercommits) {
    const int threads = 8;
    const int iterations = 150;
    const auto r = stress(std::make_shared<memory_ledger>(), threads, iterations);
    EXPECT_EQ(r.violations, 0U);
    EXPECT_EQ(r.failures, 0U);
    EXPECT_EQ(r.grants, static_cast<std::size_t>(threads * iterations));
}

TEST(SchedulerStress, FileLedgerNeverOvercommits) {
    const auto dir = std::filesystem::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("stress-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const int threads = 6;
    const int iterations = 40;
    const auto r = stress(std::make_shared<file_ledger>(dir), threads, iterations);
    EXPECT_EQ(r.violations, 0U);
    EXPECT_EQ(r.failures, 0U);
    EXPECT_EQ(r.grants, static_cast<std::size_t>(threads * iterations));
    std::filesystem::remove_all(dir);
}

TEST(SchedulerStress, TwoSchedulersOnOneFileLedgerShareCapacity) {
    // Two schedulers (as two processes would) on the same ledger file: capacity is shared.
    const auto dir = std::filesystem::path(WHISPER_VRAM_TEST_BINARY_DIR) / ("shared-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto probe = std::shared_ptr<gpu_probe>(make_simulated_probe("24GiB"));
    scheduler a(probe, std::make_shared<file_ledger>(dir));
    scheduler b(probe, std::make_shared<file_ledger>(dir));
    reserve_request r;
    r.bytes = 10 * gib;
    r.timeout = std::chrono::milliseconds(0);
    auto x = a.reserve(r);
    auto y = b.reserve(r);
    ASSERT_TRUE(x.granted() && y.granted());
    EXPECT_EQ(a.try_reserve(r).status, reserve_status::timed_out);  // 24 − 20 = 4 < 10
    std::atomic<bool> done{false};
    std::thread waiter([&] {
        r.timeout = std::chrono::seconds(30);
        auto z = b.reserve(r);  // woken by polling: the release happens through the other scheduler
        EXPECT_TRUE(z.granted());
        done = true;
    });
    while (b.waiters().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    x.granted_lease.release();
    waiter.join();
    EXPECT_TRUE(done.load());
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace whisper_vram
