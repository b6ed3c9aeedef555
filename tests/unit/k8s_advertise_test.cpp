// `whisper-vram k8s advertise` against a fake API server (cpp-httplib in this process): method,
// path, content type, JSON Pointer escaping, bearer token, retries on 409/5xx, clean errors on
// 401/403/404, the exact dry run, in-cluster configuration, TLS with --ca-file (a certificate made
// by `openssl req` for the test) and SIGTERM ending --interval cleanly.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_in_process.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;
using test::cli;

struct recorded_request {
    std::string method;
    std::string path;
    std::string content_type;
    std::string authorization;
    std::string body;
};

struct canned_answer {
    int status = 200;
    std::string body = R"({"kind":"Node","apiVersion":"v1"})";
    std::string retry_after;
};

// An API server that answers PATCH /api/v1/nodes/<n>/status from a queue of answers (200 when empty)
// and records every request.
class fake_api_server {
public:
    explicit fake_api_server(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
        : server_(std::move(server)) {
        server_->Patch(R"(/api/v1/nodes/([^/]+)/status)", [this](const httplib::Request& req, httplib::Response& res) {
            canned_answer answer;
            {
                const std::lock_guard lock(mutex_);
                requests_.push_back({req.method, req.path, req.get_header_value("Content-Type"),
                                     req.get_header_value("Authorization"), req.body});
                if (!answers_.empty()) {
                    answer = answers_.front();
                    answers_.pop_front();
                }
            }
            res.status = answer.status;
            if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
            res.set_content(answer.body, "application/json");
        });
        port_ = server_->bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_->listen_after_bind(); });
        while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    fake_api_server(const fake_api_server&) = delete;
    fake_api_server& operator=(const fake_api_server&) = delete;
    fake_api_server(fake_api_server&&) = delete;
    fake_api_server& operator=(fake_api_server&&) = delete;
    ~fake_api_server() {
        server_->stop();
        thread_.join();
    }
    void answer(int status, std::string body = "", std::string retry_after = "") {
        const std::lock_guard lock(mutex_);
        answers_.push_back({status, std::move(body), std::move(retry_after)});
    }
    std::vector<recorded_request> requests() const {
        const std::lock_guard lock(mutex_);
        return requests_;
    }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url(const std::string& scheme = "http") const {
        return scheme + "://127.0.0.1:" + std::to_string(port_);
    }

private:
    std::unique_ptr<httplib::Server> server_;
    mutable std::mutex mutex_;
    std::deque<canned_answer> answers_;
    std::vector<recorded_request> requests_;
    int port_ = 0;
    std::thread thread_;
};

std::string status_body(int code, const std::string& reason, const std::string& message) {
    return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" + message +
           R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
}

// A scratch folder with a token file (mode 0600 unless asked otherwise).
class scratch {
public:
    scratch()
        : dir_(fs::temp_directory_path() / ("wv-k8s-" + std::to_string(::getpid()) + "-" + std::to_string(next()))) {
        fs::create_directories(dir_);
        write("token", "sekret-token\n", 0600);
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    scratch(scratch&&) = delete;
    scratch& operator=(scratch&&) = delete;
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string write(const std::string& name, const std::string& text, fs::perms mode) const {
        const auto path = dir_ / name;
        std::ofstream(path) << text;
        fs::permissions(path, mode);
        return path.string();
    }
    std::string write(const std::string& name, const std::string& text, int octal) const {
        return write(name, text, static_cast<fs::perms>(octal));
    }
    [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

private:
    static int next() {
        static int n = 0;
        return n++;
    }
    fs::path dir_;
};

constexpr const char* two_gpus = "--simulate 80GiB,24GiB";  // 81920 + 24576 = 106496 MiB
constexpr const char* patch_body =
    R"([{"op":"add","path":"/status/capacity/whisper-vram~1gpu-memory-mib","value":"106496"})"
    "]";

TEST(K8sAdvertise, PatchesNodeStatusWithJsonPatchAndBearerToken) {
    fake_api_server server;
    const scratch s;
    const auto r = cli("k8s advertise --node gpu-1 " + std::string(two_gpus) + " --server " + server.url() +
                       " --token-file " + s.path("token"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "node gpu-1: whisper-vram/gpu-memory-mib = 106496 (GPU 0 81920 MiB, GPU 1 24576 MiB; the largest GPU "
              "has 81920 MiB) - HTTP 200 after 1 attempt\n");
    EXPECT_NE(r.err.find("plain http://"), std::string::npos) << r.err;  // the token went unencrypted: said so
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method, "PATCH");
    EXPECT_EQ(requests[0].path, "/api/v1/nodes/gpu-1/status");
    EXPECT_EQ(requests[0].content_type, "application/json-patch+json");
    EXPECT_EQ(requests[0].authorization, "Bearer sekret-token");
    EXPECT_EQ(requests[0].body, patch_body);
}

TEST(K8sAdvertise, ResourceNameEscapedAndJsonOutput) {
    fake_api_server server;
    const auto r =
        cli("k8s advertise --node gpu-1 --simulate 8GiB --resource example.com/vram --json --server " + server.url());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].body, R"([{"op":"add","path":"/status/capacity/example.com~1vram","value":"8192"}])");
    EXPECT_EQ(requests[0].authorization, "");  // no token file: no Authorization header
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["attempts"], 1);
    EXPECT_EQ(j["dry_run"], false);
    EXPECT_EQ(j["capacity"]["value"], "8192");
    EXPECT_EQ(j["patch"][0]["path"], "/status/capacity/example.com~1vram");
}

TEST(K8sAdvertise, RetriesConflictAndServerErrorsThenSucceeds) {
    fake_api_server server;
    server.answer(409, status_body(409, "Conflict", "the object has been modified"));
    server.answer(503, "", "0");  // Retry-After: 0 honoured (no pause)
    const auto start = std::chrono::steady_clock::now();
    const auto r = cli("k8s advertise --node gpu-1 " + std::string(two_gpus) + " --server " + server.url());
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(server.requests().size(), 3U);
    EXPECT_NE(r.out.find("HTTP 200 after 3 attempts"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("attempt 1 of 5 failed (HTTP 409: the object has been modified); retrying in 0.5 s"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("attempt 2 of 5 failed (HTTP 503); retrying in 0 s"), std::string::npos) << r.err;
    EXPECT_LT(took, std::chrono::seconds(5));
    for (const auto& q : server.requests()) EXPECT_EQ(q.body, patch_body);
}

TEST(K8sAdvertise, GivesUpAfterFiveAttempts) {
    fake_api_server server;
    for (int i = 0; i < 6; ++i) server.answer(500, status_body(500, "InternalError", "etcd is down"), "0");
    const auto r = cli("k8s advertise --node gpu-1 --simulate 8GiB --server " + server.url());
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(server.requests().size(), 5U);
    EXPECT_NE(r.err.find("failed after 5 attempts (HTTP 500: etcd is down)"), std::string::npos) << r.err;
}

TEST(K8sAdvertise, CleanErrorsOn401403404WithoutRetry) {
    struct error_case {
        int code;
        const char* reason;
        const char* message;
        const char* says;
    };
    for (const auto& c : {error_case{401, "Unauthorized", "Unauthorized", "the API server refused the token (HTTP 401"},
                          error_case{403, "Forbidden", "nodes \\\"gpu-1\\\" is forbidden", "'patch' on 'nodes/status'"},
                          error_case{404, "NotFound", "nodes \\\"gpu-1\\\" not found",
                                     "node gpu-1 not found (HTTP 404: nodes \"gpu-1\" not found)"}}) {
        fake_api_server server;
        server.answer(c.code, status_body(c.code, c.reason, c.message));
        const auto r = cli("k8s advertise --node gpu-1 --simulate 8GiB --server " + server.url());
        EXPECT_EQ(r.status, 2) << c.code << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
        EXPECT_EQ(server.requests().size(), 1U) << c.code;
        EXPECT_TRUE(r.out.empty());
    }
}

TEST(K8sAdvertise, DryRunPrintsTheRequestExactly) {
    const scratch s;
    const auto r = cli("k8s advertise --node gpu-1 " + std::string(two_gpus) +
                       " --dry-run --server https://10.96.0.1:443/ --token-file " + s.path("token"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "PATCH https://10.96.0.1:443/api/v1/nodes/gpu-1/status\n"
              "Content-Type: application/json-patch+json\n"
              "Authorization: Bearer <the token in " +
                  s.path("token") + ">\n\n" + patch_body + "\n");
    EXPECT_TRUE(r.err.empty()) << r.err;
    // In a pod: the service's address and the service account files.
    environment env = test::no_gpu_environment();
    env.kubernetes_service_host = "fd00::1";
    env.kubernetes_service_port = "6443";
    const auto pod = cli("k8s advertise --node gpu-1 --simulate 8GiB --dry-run", env);
    ASSERT_EQ(pod.status, 0) << pod.err;
    EXPECT_EQ(pod.out,
              "PATCH https://[fd00::1]:6443/api/v1/nodes/gpu-1/status\n"
              "Content-Type: application/json-patch+json\n"
              "Authorization: Bearer <the token in /var/run/secrets/kubernetes.io/serviceaccount/token>\n\n"
              R"([{"op":"add","path":"/status/capacity/whisper-vram~1gpu-memory-mib","value":"8192"}])"
              "\n");
}

TEST(K8sAdvertise, BadInputExitsTwo) {
    const scratch s;
    const std::string open_token = s.write("open-token", "t\n", 0644);
    test::expect_usage_errors({
        {"k8s advertise --node Gpu_1 --simulate 8GiB --dry-run", "--node 'Gpu_1'"},
        {"k8s advertise --node gpu-1 --simulate 8GiB --dry-run --resource gpu-mem", "--resource 'gpu-mem'"},
        {"k8s advertise --node gpu-1 --simulate 8GiB --dry-run --interval 0", "--interval '0'"},
        {"k8s advertise --node gpu-1 --simulate 8GiB --dry-run --interval 1.5", "--interval '1.5'"},
        {"k8s advertise --node gpu-1 --simulate 8GiB", "no API server: give --server URL"},
        {"k8s advertise --simulate 8GiB --dry-run", "--node is required"},
        {"k8s advertise --node gpu-1 --simulate 8GiB --server ftp://x", "--server 'ftp://x'"},
        {"k8s advertise --node gpu-1 --simulate 8GiB --dry-run --attempts 0", "--attempts '0'"},
    });
    const auto missing =
        cli("k8s advertise --node gpu-1 --simulate 8GiB --server http://127.0.0.1:1 --token-file " + s.path("nope"));
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.err.find("token file " + s.path("nope") + " cannot be read"), std::string::npos) << missing.err;
    // A token others can read: said, and the request still goes.
    fake_api_server server;
    const auto open =
        cli("k8s advertise --node gpu-1 --simulate 8GiB --server " + server.url() + " --token-file " + open_token);
    EXPECT_EQ(open.status, 0) << open.err;
    EXPECT_NE(open.err.find("is accessible to every user (mode 644): chmod 600 it"), std::string::npos) << open.err;
    const auto refused = cli("k8s advertise --node gpu-1 --simulate 8GiB --attempts 1 --server http://127.0.0.1:1");
    EXPECT_EQ(refused.status, 2);
    EXPECT_NE(refused.err.find("no answer from http://127.0.0.1:1"), std::string::npos) << refused.err;
}

TEST(K8sAdvertise, IntervalEndsCleanlyOnSigterm) {
    fake_api_server server;
    test::cli_result result;
    std::thread runner(
        [&] { result = cli("k8s advertise --node gpu-1 --simulate 8GiB --interval 1 --server " + server.url()); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (server.requests().size() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(server.requests().size(), 2U);  // a second round after --interval 1
    ::kill(::getpid(), SIGTERM);
    runner.join();
    EXPECT_EQ(result.status, 0) << result.err;
    // One line per round, and no round after the signal.
    std::size_t lines = 0;
    for (std::size_t at = result.out.find("HTTP 200 after 1 attempt\n"); at != std::string::npos;
         at = result.out.find("HTTP 200 after 1 attempt\n", at + 1)) {
        ++lines;
    }
    EXPECT_EQ(lines, server.requests().size()) << result.out;
    EXPECT_LE(server.requests().size(), 3U);
}

// ---- HTTPS ----------------------------------------------------------------------------------------

// A self-signed certificate for 127.0.0.1 made by the openssl CLI; empty when openssl is missing.
bool make_certificate(const scratch& s, const std::string& name) {
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
        s.path(name + ".key") + "' -out '" + s.path(name + ".crt") + "' >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
}

bool require_tools() {
    const char* value = std::getenv("WHISPER_VRAM_REQUIRE_TEST_TOOLS");  // NOLINT(concurrency-mt-unsafe): test setup
    return value != nullptr && std::string(value) == "1";
}

TEST(K8sAdvertise, HttpsWithCaFileAndWrongCaFailsCleanly) {
    const scratch s;
    if (!make_certificate(s, "server") || !make_certificate(s, "other")) {
        if (require_tools()) FAIL() << "openssl could not make a test certificate";
        GTEST_SKIP() << "no openssl CLI to make a test certificate";
    }
    auto tls = std::make_unique<httplib::SSLServer>(s.path("server.crt").c_str(), s.path("server.key").c_str());
    ASSERT_TRUE(tls->is_valid());
    fake_api_server server(std::move(tls));
    const std::string base = "k8s advertise --node gpu-1 --simulate 8GiB --server " + server.url("https") +
                             " --token-file " + s.path("token") + " --ca-file ";
    const auto ok = cli(base + s.path("server.crt"));
    ASSERT_EQ(ok.status, 0) << ok.err;
    EXPECT_TRUE(ok.err.empty()) << ok.err;  // https: no plain-text warning
    ASSERT_EQ(server.requests().size(), 1U);
    EXPECT_EQ(server.requests()[0].authorization, "Bearer sekret-token");

    const auto wrong = cli(base + s.path("other.crt"));
    EXPECT_EQ(wrong.status, 2) << wrong.err;
    EXPECT_NE(wrong.err.find("does not chain to --ca-file " + s.path("other.crt")), std::string::npos) << wrong.err;
    EXPECT_EQ(server.requests().size(), 1U);  // refused before any request: the token never left

    // In a pod: KUBERNETES_SERVICE_HOST/PORT, with the files given explicitly.
    environment env = test::no_gpu_environment();
    env.kubernetes_service_host = "127.0.0.1";
    env.kubernetes_service_port = std::to_string(server.port());
    const auto pod = cli("k8s advertise --node gpu-1 --simulate 8GiB --token-file " + s.path("token") + " --ca-file " +
                             s.path("server.crt"),
                         env);
    EXPECT_EQ(pod.status, 0) << pod.err;
    EXPECT_EQ(server.requests().size(), 2U);
}

}  // namespace
}  // namespace whisper_vram
