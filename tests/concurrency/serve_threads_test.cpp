// `whisper-vram serve`'s threads under ThreadSanitizer (the tsan preset runs this binary): worker
// threads answering estimates (each with its own command tree, the shared estimate memo), checks,
// /metrics scrapes (counters, histogram) and lease requests, heartbeats and releases (the lease book
// and the ledger), while the reaper expires leases and stop() drains the server mid-load. It checks
// what each answer must be and that the ledger is empty afterwards; TSan checks the rest.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "serve_api.hpp"
#include "serve_http.hpp"
#include "serve_memo.hpp"
#include "support/state_folder.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

using test::state_folder;  // a fresh state folder (mode 0700), removed afterwards

serve_settings tsan_settings(const fs::path& state) {
    serve_settings s;
    s.host = "127.0.0.1";
    s.port = 0;
    s.env.nvml_library = "/nonexistent";
    s.env.simulate = "24GiB,16GiB";
    s.env.state_dir = state.string();
    s.threads = 16;
    s.reap_interval = 20ms;
    s.profiles.emplace_back("medium:guide:float16:1", parse_profile("medium:guide:float16:1"));
    return s;
}

std::size_t ledger_size(const serve_settings& s) {
    scheduler sched(make_probe(probe_options_from(s.env)), std::make_shared<file_ledger>(*s.env.state_dir));
    return sched.reservations().size();
}

TEST(ServeThreads, MixedLoadThenDrain) {
    state_folder state;
    const serve_settings settings = tsan_settings(state.path);
    http_service service(settings, [](const std::string&) {});
    const int port = service.bind();
    std::thread server([&] { service.run(); });

    std::atomic<int> wrong{0};
    std::atomic<int> granted{0};
    std::atomic<bool> keep_going{true};
    const auto client = [port] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(60, 0);
        c.set_keep_alive(true);
        return c;
    };
    // One of each request from this thread first: cpp-httplib (not built for TSan) initialises
    // function-local statics (regexes, on the client side too) on first use, behind a guard TSan
    // cannot see; initialised here, before the threads start, every later read happens after it.
    {
        auto c = client();
        const bool warm = c.Get("/api/v1/estimate?model=tiny") &&
                          c.Post("/api/v1/check", json{{"model", "tiny"}}.dump(), "application/json") &&
                          c.Get("/metrics") && c.Get("/api/v1/leases") && c.Delete("/api/v1/leases/0");
        ASSERT_TRUE(warm);
    }
    std::vector<std::thread> threads;
    // Estimates: new ones (a run each) and a repeated one (the memo), on several workers at once;
    // each answer is the one this thread computes alone beforehand, byte for byte.
    const auto query = [](int t, int i) {
        return i % 3 == 0 ? std::string("model=medium") : fmt::format("model=small&segment={}", 30 + t * 100 + i);
    };
    constexpr int estimates_per_thread = 40;
    std::vector<std::vector<std::string>> expected(3);
    for (int t = 0; t < 3; ++t) {
        for (int i = 0; i < estimates_per_thread; ++i) {
            expected[t].push_back(run_api("estimate", parse_query(query(t, i)), settings.env).body);
        }
    }
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            auto c = client();
            for (int i = 0; i < estimates_per_thread; ++i) {
                const auto r = c.Get(("/api/v1/estimate?" + query(t, i)).c_str());
                if (!r || r->status != 200 || r->body != expected[t][static_cast<std::size_t>(i)]) ++wrong;
            }
        });
    }
    // Checks and metrics scrapes.
    threads.emplace_back([&] {
        auto c = client();
        for (int i = 0; i < 8; ++i) {
            const auto r = c.Post("/api/v1/check", json{{"model", "tiny"}}.dump(), "application/json");
            if (!r || r->status != 200) ++wrong;
            const auto m = c.Get("/metrics");
            if (!m || m->status != 200 || m->body.find("whisper_vram_leases ") == std::string::npos) ++wrong;
        }
    });
    // Leases: take, heartbeat, list, release; some left to expire (the reaper) or to stop().
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            auto c = client();
            for (int i = 0; i < 6; ++i) {
                const json body{{"model", "small"}, {"ttl_seconds", i % 3 == 2 ? 1 : 30}, {"wait_seconds", 1}};
                const auto r = c.Post("/api/v1/leases", body.dump(), "application/json");
                if (!r) {
                    ++wrong;
                    continue;
                }
                if (r->status == 503) continue;  // did not fit within wait_seconds: a result
                if (r->status != 201) {
                    ++wrong;
                    continue;
                }
                ++granted;
                const std::string id = json::parse(r->body)["id"];
                const auto beat = c.Post(("/api/v1/leases/" + id + "/heartbeat").c_str(), "{}", "application/json");
                if (!beat || beat->status != 200) ++wrong;
                const auto list = c.Get("/api/v1/leases");
                if (!list || list->status != 200) ++wrong;
                if ((i + t) % 3 == 0) {
                    const auto gone = c.Delete(("/api/v1/leases/" + id).c_str());
                    if (!gone || gone->status != 200) ++wrong;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(granted, 0);

    // Stop while requests are still arriving: they finish or are refused, never half done.
    std::vector<std::thread> late;
    for (int t = 0; t < 2; ++t) {
        late.emplace_back([&] {
            auto c = client();
            while (keep_going) {
                const auto r =
                    c.Post("/api/v1/leases", json{{"model", "tiny"}, {"ttl_seconds", 30}}.dump(), "application/json");
                if (r && r->status != 201 && r->status != 503) ++wrong;
                if (!r) std::this_thread::sleep_for(5ms);  // stopped: no server any more
            }
        });
    }
    std::this_thread::sleep_for(200ms);
    service.stop();
    server.join();
    keep_going = false;
    for (auto& t : late) t.join();
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(ledger_size(settings), 0U);  // every lease released by the drain
}

// The estimate memo alone, as 128 workers use it: puts and finds of colliding keys on few slots
// from several threads; a found answer is always its own key's (TSan checks the locking).
TEST(ServeThreads, MemoUnderContentionNeverAnswersAnotherKey) {
    answer_memo memo(8, std::chrono::hours(1));
    std::atomic<int> wrong{0};
    std::atomic<int> found{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::string key = fmt::format("key {}", (i * 7 + t) % 32);
                const auto now = answer_memo::clock_type::now();
                if (const auto answer = memo.find(key, now)) {
                    ++found;
                    if (answer->body != key) ++wrong;
                } else {
                    memo.put(key, std::make_shared<const api_response>(api_response{200, key}), now);
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(found, 0);
}

}  // namespace
}  // namespace whisper_vram::cli
