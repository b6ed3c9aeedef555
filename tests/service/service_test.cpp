// `whisper-vram serve` over real sockets (cpp-httplib's client): the API equals the CLI's --json,
// leases share the ledger with `run`, TTLs expire, tokens, every error status, SIGTERM drain, and
// a load test of concurrent lease clients checked for over-commit at every sampled moment.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "cli.hpp"
#include "serve_http.hpp"
#include "support/cli_in_process.hpp"
#include "support/run_cli.hpp"
#include "support/state_folder.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::uint64_t gib = 1024ULL * 1024 * 1024;

using test::state_folder;  // a fresh state folder (mode 0700), removed afterwards

environment service_environment(const fs::path& state, const std::string& simulate) {
    environment env = test::simulated_environment(simulate);
    env.state_dir = state.string();
    return env;
}

// A server in this process on 127.0.0.1:PORT (any free port), stopped when destroyed.
class running_service {
public:
    explicit running_service(serve_settings settings) {
        settings.host = "127.0.0.1";
        settings.port = 0;
        service_ = std::make_unique<http_service>(std::move(settings), [this](const std::string& line) {
            const std::lock_guard lock(log_mutex_);
            log_ += line + '\n';
        });
        port_ = service_->bind();
        thread_ = std::thread([this] { service_->run(); });
    }
    ~running_service() { stop(); }
    running_service(const running_service&) = delete;
    running_service& operator=(const running_service&) = delete;
    void stop() {
        if (thread_.joinable()) {
            service_->stop();
            thread_.join();
        }
    }
    [[nodiscard]] httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(30, 0);
        return c;
    }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string log() {
        const std::lock_guard lock(log_mutex_);
        return log_;
    }
    http_service& service() { return *service_; }

private:
    std::unique_ptr<http_service> service_;
    int port_ = 0;
    std::thread thread_;
    std::mutex log_mutex_;
    std::string log_;
};

serve_settings settings_for(const environment& env) {
    serve_settings s;
    s.env = env;
    s.reap_interval = 50ms;
    return s;
}

const httplib::Headers no_headers;

httplib::Result post(httplib::Client& c, const std::string& path, const json& body,
                     const httplib::Headers& headers = no_headers) {
    return c.Post(path.c_str(), headers, body.dump(), "application/json");
}

std::string cli_out(const std::string& args, const environment& env, int expected_status = 0) {
    const auto r = test::cli(args, env);
    EXPECT_EQ(r.status, expected_status) << args << "\n" << r.err;
    return r.out;
}

// Live reservations of the state folder, read as another process would (a scheduler of its own).
std::vector<reservation_record> ledger_records(const environment& env) {
    scheduler s(make_probe(probe_options_from(env)), std::make_shared<file_ledger>(*env.state_dir));
    return s.reservations();
}

class ServeApi : public ::testing::Test {
protected:
    state_folder state;
    environment env = service_environment(state.path, "RTX 3090,8GiB");
    running_service server{settings_for(env)};
};

TEST_F(ServeApi, ResponsesAreExactlyTheCliJson) {
    auto c = server.client();
    const auto get = [&](const std::string& path) {
        auto r = c.Get(path.c_str());
        EXPECT_TRUE(r) << path;
        if (!r) return std::string();
        EXPECT_EQ(r->status, 200) << path << "\n" << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
        return r->body;
    };
    const auto posted = [&](const std::string& path, const json& body, int status = 200) {
        auto r = post(c, path, body);
        EXPECT_TRUE(r) << path;
        if (!r) return std::string();
        EXPECT_EQ(r->status, status) << path << "\n" << r->body;
        return r->body;
    };
    EXPECT_EQ(get("/api/v1/estimate?model=medium&segment=60&precision=int8"),
              cli_out("calc medium --segment 60 --precision int8 --json", env));
    EXPECT_EQ(get("/api/v1/estimate?model=large-v3&engine=faster-whisper&precision=int8&batch=16&gpu=T4"),
              cli_out("calc large-v3 --engine faster-whisper --precision int8 --batch 16 --gpu T4 --json", env));
    EXPECT_EQ(posted("/api/v1/estimate", {{"model", "small"}, {"segment_duration", 600}, {"batch_size", 2}}),
              cli_out("calc small --segment 600 --batch 2 --json", env));
    EXPECT_EQ(posted("/api/v1/estimate", {{"preset", "balanced"}}), cli_out("calc --preset balanced --json", env));
    EXPECT_EQ(posted("/api/v1/check", {{"model", "medium"}, {"gpus", "0"}}),
              cli_out("check medium --gpus 0 --json", env));
    // A verdict is a result: does not fit (exit 1) is 200 with the JSON.
    const std::string too_big = posted("/api/v1/check", {{"model", "large"}, {"gpus", "1"}, {"batch", 8}});
    EXPECT_EQ(too_big, cli_out("check large --gpus 1 --batch 8 --json", env, 1));
    EXPECT_EQ(json::parse(too_big)["sufficient"], false);
    EXPECT_EQ(posted("/api/v1/solve", {{"solver", "max-batch"}, {"model", "medium"}, {"memory", "8"}}),
              cli_out("solve max-batch medium --memory 8 --json", env));
    EXPECT_EQ(posted("/api/v1/recommend", {{"gpu", "RTX 3090,T4"}}),
              cli_out("recommend --gpu 'RTX 3090,T4' --json", env));
    EXPECT_EQ(get("/api/v1/gpus"), cli_out("gpus --json", env));
    EXPECT_EQ(get("/api/v1/models"), cli_out("models --json", env));
    const json catalog = json::parse(get("/api/v1/gpu-catalog"));
    ASSERT_TRUE(catalog["gpus"].is_array());
    const auto t4 =
        std::find_if(catalog["gpus"].begin(), catalog["gpus"].end(), [](const json& g) { return g["name"] == "T4"; });
    ASSERT_NE(t4, catalog["gpus"].end());
    EXPECT_EQ((*t4)["memory_bytes"], 15360ULL * 1024 * 1024);  // a T4 reports 15360 MiB (gpu_catalog.hpp)
    EXPECT_EQ((*t4)["compute_capability"], "7.5");
    const auto health = c.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    const auto ready = c.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;
}

// Browsers offer brotli; cpp-httplib would spend 2 ms per answer (65 ms on the page) on it at
// quality 11. The server answers with gzip instead, and only when the answer is 4 KiB or more
// (the page, a sweep): a small estimate goes as it is. The body is the same JSON either way.
TEST_F(ServeApi, BrowsersGetGzipForLargeAnswersAndNeverBrotli) {
    auto c = server.client();
    const std::string small = cli_out("calc medium --json", env);
    const std::string sweep = cli_out("calc medium --segment 30,60,120,300,600 --precision all --json", env);
    ASSERT_LT(small.size(), 4096U);
    ASSERT_GE(sweep.size(), 4096U);
    for (const char* offered : {"gzip, deflate, br", "br"}) {
        const auto r = c.Get("/api/v1/estimate?model=medium", {{"Accept-Encoding", offered}});
        ASSERT_TRUE(r) << offered;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->get_header_value("Content-Encoding"), "") << offered;
        EXPECT_EQ(r->body, small) << offered;
        const auto s = c.Get("/api/v1/estimate?model=medium&segment=30,60,120,300,600&precision=all",
                             {{"Accept-Encoding", offered}});
        ASSERT_TRUE(s) << offered;
        EXPECT_EQ(s->status, 200);
        EXPECT_EQ(s->get_header_value("Content-Encoding"), std::string(offered) == "br" ? "" : "gzip") << offered;
        EXPECT_EQ(s->body, sweep) << offered;  // the client decompressed it
    }
    const auto page = c.Get("/", {{"Accept-Encoding", "gzip, deflate, br"}});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->get_header_value("Content-Encoding"), "gzip");
    const auto missing = c.Get("/nowhere", {{"Accept-Encoding", "br"}});  // answered by the error handler
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(missing->get_header_value("Content-Encoding"), "");
}

// The listening socket's backlog is the system's (SOMAXCONN, capped by net.core.somaxconn), not
// cpp-httplib's 5: `ss` shows a listener's backlog as its Send-Q.
TEST_F(ServeApi, ListenBacklogIsTheSystems) {
    FILE* pipe = ::popen(fmt::format("ss -ltnH 'sport = :{}' 2>/dev/null", server.port()).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string text;
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
    const int status = ::pclose(pipe);
    if (text.empty()) {
        if (std::getenv("WHISPER_VRAM_REQUIRE_TEST_TOOLS") != nullptr) FAIL() << "ss (iproute2) printed nothing";
        GTEST_SKIP() << "no ss (iproute2): scripts/setup.sh --tests installs it (exit " << status << ")";
    }
    std::istringstream words(text);
    std::string state;
    long receive_queue = -1;
    long backlog = -1;
    words >> state >> receive_queue >> backlog;
    EXPECT_EQ(state, "LISTEN") << text;
    std::ifstream somaxconn("/proc/sys/net/core/somaxconn");
    long system_max = 0;
    somaxconn >> system_max;
    ASSERT_GT(system_max, 5);
    EXPECT_EQ(backlog, std::min<long>(system_max, SOMAXCONN)) << text;  // listen() caps it at somaxconn
}

TEST_F(ServeApi, ConcurrentRequestsGiveTheSameAnswers) {
    const std::string expected = cli_out("calc large-v3 --engine faster-whisper --precision int8 --json", env);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            auto c = server.client();
            for (int i = 0; i < 10; ++i) {
                auto r = c.Get("/api/v1/estimate?model=large-v3&engine=faster-whisper&precision=int8");
                if (!r || r->status != 200 || r->body != expected) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong, 0);
}

TEST_F(ServeApi, EveryErrorStatus) {
    auto c = server.client();
    const auto expect_error = [](const httplib::Result& r, int status, const std::string& code,
                                 const std::string& part) {
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, status) << r->body;
        const json j = json::parse(r->body, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << r->body;
        EXPECT_EQ(j["error"], code) << r->body;
        EXPECT_NE(j["detail"].get<std::string>().find(part), std::string::npos) << r->body;
    };
    expect_error(c.Post("/api/v1/estimate", "{\"model\": ", "application/json"), 400, "bad_request", "not valid JSON");
    expect_error(post(c, "/api/v1/estimate", {{"model", "medium"}, {"colour", "red"}}), 400, "bad_request",
                 "unknown field 'colour'");
    // A bad value: the CLI's own message.
    const auto bad = post(c, "/api/v1/estimate", {{"model", "medium"}, {"segment", "abc"}});
    const auto cli_err = test::cli("calc medium --segment abc --json", env);
    ASSERT_EQ(cli_err.status, 2);
    expect_error(bad, 400, "bad_request", "abc");
    EXPECT_NE(cli_err.err.find(json::parse(bad->body)["detail"].get<std::string>()), std::string::npos)
        << cli_err.err << "\n"
        << bad->body;
    expect_error(c.Get("/api/v1/estimate?model=huge"), 400, "bad_request", "huge");
    expect_error(c.Get("/api/v1/nothing"), 404, "not_found", "/api/v1/nothing");
    expect_error(c.Delete("/api/v1/leases/0123456789abcdef"), 404, "not_found", "0123456789abcdef");
    const auto wrong_method = c.Delete("/api/v1/estimate");
    expect_error(wrong_method, 405, "method_not_allowed", "DELETE");
    EXPECT_EQ(wrong_method->get_header_value("Allow"), "GET, POST");
    const auto put = c.Put("/api/v1/gpus", "{}", "application/json");
    expect_error(put, 405, "method_not_allowed", "PUT");
    EXPECT_EQ(put->get_header_value("Allow"), "GET");
    expect_error(c.Post("/api/v1/estimate", std::string(64 * 1024 + 1, ' '), "application/json"), 413,
                 "payload_too_large", "64 KiB");
    expect_error(c.Post("/api/v1/estimate", "model=medium", "application/x-www-form-urlencoded"), 415,
                 "unsupported_media_type", "application/json");
    expect_error(c.Post("/api/v1/estimate", "{\"model\":\"medium\"}", "text/plain"), 415, "unsupported_media_type",
                 "text/plain");
    // application/json with parameters is JSON.
    const auto charset = c.Post("/api/v1/estimate", "{\"model\":\"medium\"}", "application/json; charset=utf-8");
    ASSERT_TRUE(charset);
    EXPECT_EQ(charset->status, 200);
    // No CORS headers unless --cors-origin.
    EXPECT_FALSE(charset->has_header("Access-Control-Allow-Origin"));
    // 409 and 503: leases that never fit / do not fit now.
    expect_error(post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4000}}), 409, "never_fits", "never fit");
    const auto first = post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4}, {"gpus", "0"}});
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 201) << first->body;
    const auto second =
        post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4}, {"gpus", "0"}, {"wait_seconds", 0.2}});
    expect_error(second, 503, "not_admitted", "13.20 GiB");
    EXPECT_EQ(second->get_header_value("Retry-After"), "1");
    // The metrics counted them.
    const auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("whisper_vram_admissions_total{result=\"never_fits\"} 1\n"), std::string::npos);
    EXPECT_NE(metrics->body.find("whisper_vram_admissions_total{result=\"timed_out\"} 1\n"), std::string::npos);
    EXPECT_NE(metrics->body.find("whisper_vram_http_requests_total{handler=\"estimate\",code=\"415\"} 2\n"),
              std::string::npos)
        << metrics->body;
    EXPECT_NE(metrics->body.find("whisper_vram_http_requests_total{handler=\"other\",code=\"404\"} 1\n"),
              std::string::npos);
}

TEST_F(ServeApi, SlowClientsTimeOut) {
    state_folder s2;
    auto settings = settings_for(service_environment(s2.path, "8GiB"));
    settings.read_timeout = 1s;
    running_service slow_server(settings);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(slow_server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";  // never finished
    ASSERT_EQ(::send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const auto start = std::chrono::steady_clock::now();
    char buffer[512];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    const auto waited = std::chrono::steady_clock::now() - start;
    ::close(fd);
    // After the read timeout the request is given up: the connection closed, or an error answer
    // (cpp-httplib writes 400), never a 200 and never a hang.
    const std::string answer = got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : std::string();
    EXPECT_TRUE(got <= 0 || answer.starts_with("HTTP/1.1 4")) << answer;
    EXPECT_GE(waited, 900ms);
    EXPECT_LT(waited, 4s);
    // The server still answers others.
    auto c = slow_server.client();
    const auto r = c.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST(ServeLeases, LeaseIsTheRunReservationAndListsHeartbeatsAndReleases) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    running_service server(settings_for(env));
    auto c = server.client();
    const auto r =
        post(c, "/api/v1/leases",
             {{"model", "large-v3"}, {"engine", "faster-whisper"}, {"precision", "int8"}, {"ttl_seconds", 30}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    const json lease = json::parse(r->body);
    // The bytes are the estimate's recommended bytes (what `run` reserves for the same job).
    const json estimate = json::parse(cli_out("calc large-v3 --engine faster-whisper --precision int8 --json", env));
    EXPECT_EQ(lease["bytes"], estimate["recommended_bytes"]);
    EXPECT_EQ(lease["cuda_index"], 0);
    EXPECT_EQ(lease["gpu_uuid"].get<std::string>().rfind("GPU-", 0), 0U);
    EXPECT_EQ(lease["ttl_seconds"], 30.0);
    EXPECT_EQ(lease["id"].get<std::string>().size(), 32U);
    const auto records = ledger_records(env);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].bytes, lease["bytes"].get<std::uint64_t>());
    EXPECT_EQ(records[0].holder.pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(records[0].id, lease["reservation_id"].get<std::uint64_t>());
    // gpus --json (the CLI) sees it as reserved.
    const json gpus = json::parse(cli_out("gpus --json", env));
    EXPECT_EQ(gpus["gpus"][0]["ledger_reserved_bytes"], lease["bytes"]);

    const auto list = c.Get("/api/v1/leases");
    ASSERT_TRUE(list);
    EXPECT_EQ(json::parse(list->body)["leases"].size(), 1U);
    const std::string id = lease["id"];
    const auto beat = post(c, "/api/v1/leases/" + id + "/heartbeat", {{"ttl_seconds", 120}});
    ASSERT_TRUE(beat);
    EXPECT_EQ(beat->status, 200) << beat->body;
    EXPECT_EQ(json::parse(beat->body)["ttl_seconds"], 120.0);
    const auto bad_beat = post(c, "/api/v1/leases/" + id + "/heartbeat", {{"ttl", 1}});
    ASSERT_TRUE(bad_beat);
    EXPECT_EQ(bad_beat->status, 400);
    const auto empty_beat = c.Post(("/api/v1/leases/" + id + "/heartbeat").c_str());  // no body, no type
    ASSERT_TRUE(empty_beat);
    EXPECT_EQ(empty_beat->status, 200) << empty_beat->body;
    const auto gone = c.Delete(("/api/v1/leases/" + id).c_str());
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->status, 200);
    EXPECT_EQ(json::parse(gone->body)["released"]["id"], id);
    EXPECT_TRUE(ledger_records(env).empty());
    const auto again = c.Delete(("/api/v1/leases/" + id).c_str());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 404);
}

TEST(ServeLeases, TtlExpiresWithoutHeartbeatAndAHeartbeatKeepsIt) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    running_service server(settings_for(env));
    auto c = server.client();
    const auto kept = post(c, "/api/v1/leases", {{"model", "tiny"}, {"ttl_seconds", 0.6}});
    const auto lapsed = post(c, "/api/v1/leases", {{"model", "tiny"}, {"ttl_seconds", 0.6}});
    ASSERT_TRUE(kept && lapsed);
    ASSERT_EQ(kept->status, 201);
    ASSERT_EQ(lapsed->status, 201);
    const std::string kept_id = json::parse(kept->body)["id"];
    const std::string lapsed_id = json::parse(lapsed->body)["id"];
    EXPECT_EQ(ledger_records(env).size(), 2U);
    for (int i = 0; i < 4; ++i) {  // 4 × 0.3 s: twice the TTL, beating one of them
        std::this_thread::sleep_for(300ms);
        const auto beat = c.Post(("/api/v1/leases/" + kept_id + "/heartbeat").c_str());
        ASSERT_TRUE(beat);
        EXPECT_EQ(beat->status, 200) << i;
    }
    const auto records = ledger_records(env);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].id, json::parse(kept->body)["reservation_id"].get<std::uint64_t>());
    const auto dead_beat = c.Post(("/api/v1/leases/" + lapsed_id + "/heartbeat").c_str());
    ASSERT_TRUE(dead_beat);
    EXPECT_EQ(dead_beat->status, 404);
    EXPECT_NE(server.log().find("expired"), std::string::npos) << server.log();
}

// `run` beside a lease: a job that does not fit beside it is not started (--timeout 0 → 124); once
// the lease is released it runs.
TEST(ServeLeases, ALeaseBlocksARunThatDoesNotFitBesideIt) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    running_service server(settings_for(env));
    auto c = server.client();
    const auto lease = post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4}});  // 13.20 GiB of 24
    ASSERT_TRUE(lease);
    ASSERT_EQ(lease->status, 201) << lease->body;
    const std::string prefix =
        fmt::format("WHISPER_VRAM_STATE_DIR='{}' WHISPER_VRAM_SIMULATE=24GiB", state.path.string());
    const auto blocked = test::run_cli("run --model large --batch 4 --timeout 0 -- true", prefix);
    EXPECT_EQ(blocked.status, 124) << blocked.err;
    const auto beside = test::run_cli("run --model tiny --timeout 0 -- true", prefix);  // fits beside it
    EXPECT_EQ(beside.status, 0) << beside.err;
    const auto release = c.Delete(("/api/v1/leases/" + json::parse(lease->body)["id"].get<std::string>()).c_str());
    ASSERT_TRUE(release);
    ASSERT_EQ(release->status, 200);
    const auto runs = test::run_cli("run --model large --batch 4 --timeout 0 -- true", prefix);
    EXPECT_EQ(runs.status, 0) << runs.err;
}

// And the reverse: a `run` holding memory makes a lease 503 after wait_seconds; a longer wait is
// admitted (the same FIFO) once the job ends.
TEST(ServeLeases, ARunHoldingMemoryMakesALeaseWait) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    running_service server(settings_for(env));
    const std::string prefix =
        fmt::format("WHISPER_VRAM_STATE_DIR='{}' WHISPER_VRAM_SIMULATE=24GiB", state.path.string());
    std::thread job([&] { (void)test::run_cli("run --model large --batch 4 -- sleep 2", prefix); });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (ledger_records(env).empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(ledger_records(env).size(), 1U);
    auto c = server.client();
    const auto refused = post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4}, {"wait_seconds", 0.3}});
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 503) << refused->body;
    EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
    const auto start = std::chrono::steady_clock::now();
    const auto admitted = post(c, "/api/v1/leases", {{"model", "large"}, {"batch", 4}, {"wait_seconds", 20}});
    ASSERT_TRUE(admitted);
    EXPECT_EQ(admitted->status, 201) << admitted->body;
    EXPECT_GT(json::parse(admitted->body)["waited_seconds"].get<double>(), 0.2);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
    job.join();
}

TEST(ServeSecurity, TokenRules) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    // Beyond loopback without a token: exit 2, naming --token-file.
    const auto open = test::cli("serve --listen 0.0.0.0:0", env);
    EXPECT_EQ(open.status, 2);
    EXPECT_NE(open.err.find("--token-file"), std::string::npos) << open.err;
    // A token file others can read: exit 2 naming it and its mode.
    const fs::path token = state.path / "token";
    std::ofstream(token) << "s3cret-token\n";
    fs::permissions(token,
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                    fs::perm_options::replace);
    const auto readable = test::cli(fmt::format("serve --listen 0.0.0.0:0 --token-file '{}'", token.string()), env);
    EXPECT_EQ(readable.status, 2);
    EXPECT_NE(readable.err.find(token.string()), std::string::npos) << readable.err;
    EXPECT_NE(readable.err.find("mode 0644"), std::string::npos) << readable.err;
    const auto missing = test::cli("serve --token-file /nonexistent/token", env);
    EXPECT_EQ(missing.status, 2);
    EXPECT_EQ(test::cli("serve --listen 127.0.0.1:99999", env).status, 2);
    EXPECT_EQ(test::cli("serve --listen nocolon", env).status, 2);
    EXPECT_EQ(test::cli("serve --profile large-v3:faster-whisper", env).status, 2);
    for (const char* threads : {"0", "1025", "many", "-4", ""}) {
        const auto r = test::cli(fmt::format("serve --threads '{}'", threads), env);
        EXPECT_EQ(r.status, 2) << threads;
        EXPECT_NE(r.err.find(fmt::format("--threads '{}' is invalid: an integer 1-1024", threads)), std::string::npos)
            << r.err;
    }

    auto settings = settings_for(env);
    settings.token = "s3cret-token";
    running_service server(settings);
    auto c = server.client();
    const json body{{"model", "tiny"}};
    const auto none = post(c, "/api/v1/leases", body);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
    const auto wrong = post(c, "/api/v1/leases", body, {{"Authorization", "Bearer s3cret-tokem"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    const auto basic = post(c, "/api/v1/leases", body, {{"Authorization", "Basic czNjcmV0LXRva2Vu"}});
    ASSERT_TRUE(basic);
    EXPECT_EQ(basic->status, 401);
    EXPECT_TRUE(ledger_records(env).empty());
    const auto right = post(c, "/api/v1/leases", body, {{"Authorization", "Bearer s3cret-token"}});
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 201) << right->body;
    const std::string id = json::parse(right->body)["id"];
    // Reading needs no token; releasing does.
    const auto list = c.Get("/api/v1/leases");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->status, 200);
    const auto estimate = c.Get("/api/v1/estimate?model=tiny");
    ASSERT_TRUE(estimate);
    EXPECT_EQ(estimate->status, 200);
    const auto del = c.Delete(("/api/v1/leases/" + id).c_str());
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 401);
    const auto beat = c.Post(("/api/v1/leases/" + id + "/heartbeat").c_str());
    ASSERT_TRUE(beat);
    EXPECT_EQ(beat->status, 401);
    const auto del_ok = c.Delete(("/api/v1/leases/" + id).c_str(), {{"Authorization", "Bearer s3cret-token"}});
    ASSERT_TRUE(del_ok);
    EXPECT_EQ(del_ok->status, 200);
}

TEST(ServeSecurity, CorsOnlyForTheConfiguredOrigin) {
    state_folder state;
    auto settings = settings_for(service_environment(state.path, "8GiB"));
    settings.cors_origin = "https://dash.example.org";
    running_service server(settings);
    auto c = server.client();
    const auto r = c.Get("/api/v1/models");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://dash.example.org");
    const auto preflight = c.Options("/api/v1/leases");
    ASSERT_TRUE(preflight);
    EXPECT_EQ(preflight->status, 204);
    EXPECT_EQ(preflight->get_header_value("Access-Control-Allow-Methods"), "GET, POST");
}

TEST(ServeMetricsHttp, GpuFiguresReservationsAndCapacity) {
    state_folder state;
    auto settings = settings_for(service_environment(state.path, "24GiB:used=4GiB"));
    settings.profiles.emplace_back("tiny:guide:float16:1", parse_profile("tiny:guide:float16:1"));
    running_service server(settings);
    auto c = server.client();
    const auto lease = post(c, "/api/v1/leases", {{"model", "large"}});
    ASSERT_TRUE(lease);
    ASSERT_EQ(lease->status, 201);
    const std::uint64_t reserved = json::parse(lease->body)["bytes"];
    const auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const auto value = [&](const std::string& family) -> std::uint64_t {
        const auto at = m->body.find("\n" + family + "{gpu=\"0\"");
        if (at == std::string::npos) return 0;
        const auto end = m->body.find('\n', at + 1);
        const auto space = m->body.rfind(' ', end);
        return std::stoull(m->body.substr(space + 1, end - space - 1));
    };
    EXPECT_EQ(value("whisper_vram_gpu_memory_total_bytes"), 24 * gib);
    EXPECT_EQ(value("whisper_vram_gpu_memory_used_bytes"), 4 * gib);
    EXPECT_EQ(value("whisper_vram_gpu_memory_free_bytes"), 20 * gib);
    EXPECT_EQ(value("whisper_vram_gpu_memory_reserved_bytes"), reserved);
    EXPECT_EQ(value("whisper_vram_gpu_memory_admittable_bytes"), 20 * gib - reserved);
    EXPECT_NE(m->body.find("whisper_vram_leases 1\n"), std::string::npos);
    EXPECT_NE(m->body.find("whisper_vram_nvml_up 1\n"), std::string::npos);
    // tiny's recommended bytes into what is left, floor.
    const std::uint64_t tiny = json::parse(cli_out("calc tiny --json", settings.env))["recommended_bytes"];
    EXPECT_NE(m->body.find(fmt::format("whisper_vram_job_capacity{{profile=\"tiny:guide:float16:1\"}} {}\n",
                                       (20 * gib - reserved) / tiny)),
              std::string::npos)
        << m->body;
}

TEST(ServeReady, NotReadyWithoutGpuInformation) {
    state_folder state;
    environment env = test::no_gpu_environment();
    env.state_dir = state.path.string();
    running_service server(settings_for(env));
    auto c = server.client();
    const auto r = c.Get("/readyz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("GPU information unavailable"), std::string::npos) << r->body;
    const auto gpus = c.Get("/api/v1/gpus");
    ASSERT_TRUE(gpus);
    EXPECT_EQ(gpus->status, 503);
    EXPECT_NE(gpus->body.find("gpu_unavailable"), std::string::npos);
    const auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("whisper_vram_nvml_up 0\n"), std::string::npos);
}

// The binary, killed with SIGTERM while it holds leases and a request waits: the waiter is
// answered, the process exits 0 and the ledger is empty.
TEST(ServeSignals, SigtermDrainsAndReleasesEveryLease) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB");
    int out_pipe[2];
    ASSERT_EQ(::pipe(out_pipe), 0);
    const std::string state_var = "WHISPER_VRAM_STATE_DIR=" + state.path.string();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::close(out_pipe[0]);
        ::execl("/usr/bin/env", "env", state_var.c_str(), WHISPER_VRAM_CLI_PATH, "serve", "--listen", "127.0.0.1:0",
                "--simulate", "24GiB", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    std::string line;
    char ch = 0;
    while (::read(out_pipe[0], &ch, 1) == 1 && ch != '\n') line += ch;
    ::close(out_pipe[0]);
    ASSERT_EQ(line.rfind("listening on http://127.0.0.1:", 0), 0U) << line;
    const int port = std::stoi(line.substr(line.rfind(':') + 1));
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    for (int i = 0; i < 3; ++i) {
        const auto r = post(c, "/api/v1/leases", {{"model", "medium"}});
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 201) << r->body;
    }
    EXPECT_EQ(ledger_records(env).size(), 3U);
    std::optional<int> waiter_status;
    std::thread waiter([&] {
        httplib::Client w("127.0.0.1", port);
        w.set_read_timeout(30, 0);
        const auto r = post(w, "/api/v1/leases", {{"model", "large"}, {"batch", 8}, {"wait_seconds", 20}});
        if (r) waiter_status = r->status;
    });
    std::this_thread::sleep_for(400ms);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int raw = 0;
    ASSERT_EQ(::waitpid(pid, &raw, 0), pid);
    waiter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << raw;
    EXPECT_EQ(waiter_status, std::optional<int>(503));
    EXPECT_TRUE(ledger_records(env).empty());
}

// ≥ 32 concurrent clients take and release leases for ~4 s while a sampler reads the ledger: at
// no sampled moment do the reservations on a GPU exceed its memory.
TEST(ServeLoad, ConcurrentLeaseClientsNeverOvercommit) {
    state_folder state;
    const environment env = service_environment(state.path, "24GiB,16GiB");
    running_service server(settings_for(env));
    const std::map<std::string, std::uint64_t> totals = [&] {
        std::map<std::string, std::uint64_t> t;
        for (const auto& g : make_probe(probe_options_from(env))->snapshot().gpus) t[g.uuid] = g.total_bytes;
        return t;
    }();
    std::atomic<bool> done{false};
    std::atomic<int> granted{0};
    std::atomic<int> refused{0};
    std::atomic<int> errors{0};
    std::mutex error_mutex;
    std::string first_error;
    const auto error = [&](const std::string& what) {
        ++errors;
        const std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = what;
    };
    std::atomic<int> samples{0};
    std::atomic<int> dropped{0};
    std::atomic<int> overcommits{0};
    std::uint64_t peak = 0;
    std::thread sampler([&] {
        scheduler s(make_probe(probe_options_from(env)), std::make_shared<file_ledger>(*env.state_dir));
        while (!done) {
            std::map<std::string, std::uint64_t> sums;
            for (const auto& r : s.reservations()) sums[r.gpu_uuid] += r.bytes;
            std::uint64_t all = 0;
            for (const auto& [uuid, bytes] : sums) {
                if (bytes > totals.at(uuid)) ++overcommits;
                all += bytes;
            }
            peak = std::max(peak, all);
            ++samples;
            std::this_thread::sleep_for(2ms);
        }
    });
    const char* models[] = {"tiny", "small", "medium", "large"};
    std::vector<std::thread> clients;
    const auto deadline = std::chrono::steady_clock::now() + 4s;
    for (int t = 0; t < 32; ++t) {
        clients.emplace_back([&, t] {
            auto c = server.client();
            std::mt19937 rng(static_cast<unsigned>(t));
            while (std::chrono::steady_clock::now() < deadline) {
                const json body{{"model", models[rng() % 4]}, {"ttl_seconds", 30}, {"wait_seconds", 0.5}};
                const auto r = post(c, "/api/v1/leases", body);
                if (!r) {
                    // A connection dropped before any answer: none may be. They were seen under heavy
                    // CPU load until bind() raised cpp-httplib's listen backlog of 5 (reconnecting
                    // clients waited out SYN-ACK retransmissions past their timeout).
                    ++dropped;
                    continue;
                }
                if (r->status == 503) {
                    ++refused;
                    continue;
                }
                if (r->status != 201) {
                    error(fmt::format("POST: {} {}", r->status, r->body));
                    continue;
                }
                ++granted;
                std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 20));
                const auto d = c.Delete(("/api/v1/leases/" + json::parse(r->body)["id"].get<std::string>()).c_str());
                if (!d) {
                    error(fmt::format("DELETE: {}", httplib::to_string(d.error())));
                } else if (d->status != 200) {
                    error(fmt::format("DELETE: {} {}", d->status, d->body));
                }
            }
        });
    }
    for (auto& t : clients) t.join();
    done = true;
    sampler.join();
    EXPECT_EQ(overcommits, 0);
    EXPECT_EQ(errors, 0) << first_error;
    EXPECT_EQ(dropped, 0) << dropped << " connections dropped";
    EXPECT_GT(granted, 32);
    EXPECT_GT(samples, 20);
    EXPECT_GT(peak, 24 * gib);  // both GPUs were in use at once
    EXPECT_TRUE(ledger_records(env).empty());
    std::cout << fmt::format(
        "load: {} granted, {} refused after 0.5 s, {} dropped, {} samples, peak {:.2f} GiB reserved\n", granted.load(),
        refused.load(), dropped.load(), samples.load(), static_cast<double>(peak) / gib);
}

}  // namespace
}  // namespace whisper_vram::cli
