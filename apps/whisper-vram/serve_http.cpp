// The server of `whisper-vram serve` (serve_http.hpp): routes, limits, errors, auth, metrics.

#include "serve_http.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <regex>
#include <thread>

#include "cli_common.hpp"
#include "serve_api.hpp"
#include "serve_leases.hpp"
#include "serve_memo.hpp"
#include "serve_metrics.hpp"
#include "serve_page.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"
#include "whisper_vram/version.hpp"

namespace whisper_vram::cli {

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    if (!host.starts_with("127.")) return false;
    // 127.a.b.c with digits only: a dotted IPv4 address in 127.0.0.0/8.
    int dots = 0;
    for (const char c : host) {
        if (c == '.') {
            ++dots;
        } else if (c < '0' || c > '9') {
            return false;
        }
    }
    return dots == 3;
}

std::string without_brotli(std::string_view accept_encoding) {
    std::string kept;
    while (!accept_encoding.empty()) {
        const auto comma = accept_encoding.find(',');
        std::string_view item = accept_encoding.substr(0, comma);
        accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
        const auto first = item.find_first_not_of(" \t");
        if (first == std::string_view::npos) continue;
        item = item.substr(first, item.find_last_not_of(" \t") - first + 1);
        const std::string_view coding = item.substr(0, item.find_first_of("; \t"));
        const bool brotli =
            coding.size() == 2 && (coding[0] == 'b' || coding[0] == 'B') && (coding[1] == 'r' || coding[1] == 'R');
        if (brotli) continue;
        if (!kept.empty()) kept += ", ";
        kept += item;
    }
    return kept;
}

bool token_matches(std::string_view presented, std::string_view expected) noexcept {
    // Every byte of both is read whatever they hold: the time depends on the lengths only.
    const std::size_t n = std::max(presented.size(), expected.size());
    unsigned diff = presented.size() == expected.size() ? 0U : 1U;
    for (std::size_t i = 0; i < n; ++i) {
        const auto a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0U;
        const auto b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0U;
        diff |= a ^ b;
    }
    return diff == 0;
}

namespace {

using clock_type = std::chrono::steady_clock;

// One route: its path pattern, the handler label of the metrics, the methods it answers, whether
// it changes state (needs the token when there is one).
struct route {
    std::string literal;  // the path, for a pattern without regex syntax (compared as text); else empty
    std::regex pattern;   // the pattern, for the others (unused when literal is set)
    std::string handler;
    std::vector<std::string> methods;
    std::vector<std::string> mutating;  // the methods that need the token (when there is one)
};

std::string join_methods(const std::vector<std::string>& methods) {
    std::string text;
    for (const auto& m : methods) text += (text.empty() ? "" : ", ") + m;
    return text;
}

// How long an estimate's answer is reused for the same request (a bound on how stale one can be
// after the calibration profile changes on disk), and the memo's slots (at most that many kept).
constexpr std::chrono::seconds estimate_memo_ttl{1};
constexpr std::size_t estimate_memo_entries = 4096;

// Answers smaller than this go uncompressed: gzip costs about 0.1 ms of CPU per answer (measured:
// a 1.3 KiB estimate, 0.16 → 0.26 ms p50 at one connection, bench/serve_bench.cpp) and saves under
// a millisecond of transfer even at 10 Mbit/s. The page (34 KiB) and large sweeps are compressed.
constexpr std::size_t compress_min_bytes = 4096;

// When the request's handler started and its route (set before routing, read by the logger): the
// same worker thread runs a request from its headers to its response.
thread_local std::optional<clock_type::time_point> request_start;
thread_local const route* request_route = nullptr;

}  // namespace

struct http_service::impl {
    serve_settings settings;
    serve_log log;
    httplib::Server server;
    std::vector<route> routes;
    http_metrics metrics;
    std::shared_ptr<gpu_probe> probe;
    std::optional<gpu_manager> manager;  // the facade: the same ledger and admission as `run`
    scheduler* sched = nullptr;          // manager's, null when the state folder is unusable
    std::string state_error_text;        // why the state folder cannot be used (readyz)
    std::string driver_version;
    std::string cuda_driver_version;
    std::optional<lease_book> leases;  // with the scheduler
    int port = 0;
    int listen_socket = -1;  // the listening socket (bind()), for its backlog
    std::atomic<bool> stopping{false};
    // Estimates' answers (serve_memo.hpp: direct-mapped, lock-striped: no rehash, no mass free, no
    // lock shared by all requests). It replaced one map under one mutex, emptied when full; their
    // throughput could not be told apart on this machine, and either memo costs all-new estimates
    // at 64 connections a few percent against none (bench/serve_bench.cpp). A std::shared_mutex
    // over that map had doubled their p99 (likely glibc's rwlock preferring readers).
    answer_memo memo{estimate_memo_entries, estimate_memo_ttl};
    std::mutex reaper_mutex;
    std::condition_variable reaper_wake;

    impl(serve_settings s, serve_log l) : settings(std::move(s)), log(std::move(l)) {
        probe = make_probe(probe_options_from(settings.env));
        manager.emplace(probe, settings.env, [this](const std::string& w) { log("warning: " + w); });
        try {
            sched = &manager->get_scheduler();
            leases.emplace(*manager);
            (void)sched->reservations();  // the folder and its ledger are usable
        } catch (const error& e) {
            // usage_error / state_error: served, but not ready (readyz says why; leases refused).
            state_error_text = e.what();
            log(fmt::format("warning: reservations unavailable: {}", e.what()));
        }
        if (!settings.env.simulate) {
            const auto info = to_json(manager->get_cuda_debug_info());
            if (info.contains("driver_version") && info["driver_version"].is_string()) {
                driver_version = info["driver_version"].get<std::string>();
            }
            if (info.contains("cuda_driver_version") && info["cuda_driver_version"].is_string()) {
                cuda_driver_version = info["cuda_driver_version"].get<std::string>();
            }
        }
        setup();
    }

    void add(const std::string& pattern, const std::string& handler, std::vector<std::string> methods,
             std::vector<std::string> mutating = {}) {
        const bool literal = pattern.find_first_of("[]().*+?^$|{}\\") == std::string::npos;
        routes.push_back({literal ? pattern : std::string(), literal ? std::regex() : std::regex(pattern), handler,
                          std::move(methods), std::move(mutating)});
    }

    const route* find_route(const std::string& path) const {
        for (const auto& r : routes) {
            if (r.literal.empty() ? std::regex_match(path, r.pattern) : path == r.literal) return &r;
        }
        return nullptr;
    }

    // What cpp-httplib may compress with: it picks the coding from the request's Accept-Encoding
    // when it writes the response, after the handlers. Never brotli (without_brotli()); nothing for
    // an answer under compress_min_bytes. The request is the server's own non-const object, handed
    // to handlers as const.
    static void limit_compression(const httplib::Request& req, std::size_t body_bytes) {
        if (!req.has_header("Accept-Encoding")) return;
        std::string kept =
            body_bytes < compress_min_bytes ? std::string() : without_brotli(req.get_header_value("Accept-Encoding"));
        auto& headers = const_cast<httplib::Request&>(req).headers;  // NOLINT(cppcoreguidelines-pro-type-const-cast)
        headers.erase("Accept-Encoding");
        if (!kept.empty()) headers.emplace("Accept-Encoding", std::move(kept));
    }

    static void send_json(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_content(body, "application/json");
    }

    static void send_error(httplib::Response& res, int status, std::string_view code, std::string_view detail) {
        send_json(res, status, error_body(code, detail));
    }

    void answer(httplib::Response& res, const api_response& response) {
        send_json(res, response.status, response.body);
    }

    // Runs @p endpoint for @p fields through the CLI; API errors become their status. Estimates (a
    // pure function of the request and of this server's environment) are remembered for
    // estimate_memo_ttl: the same request within it gets the same bytes without a second run.
    void run_endpoint(httplib::Response& res, std::string_view endpoint, const nlohmann::json& fields) {
        const auto args = api_args(endpoint, fields);
        std::string key;
        if (endpoint == "estimate") {
            for (const auto& arg : args) {
                key += arg;
                key += '\x1f';
            }
            if (const auto remembered = memo.find(key, clock_type::now())) {
                answer(res, *remembered);
                return;
            }
        }
        std::vector<std::string> warnings;
        auto response = std::make_shared<const api_response>(run_api_args(endpoint, args, settings.env, &warnings));
        for (const auto& w : warnings) log(fmt::format("/api/v1/{}: {}", endpoint, w));
        if (!key.empty() && response->status == 200) memo.put(std::move(key), response, clock_type::now());
        answer(res, *response);
    }

    // Wraps a handler: api_error → its status, anything else → 500 (never a crash).
    template <class F>
    httplib::Server::Handler guarded(F f) {
        return [this, f](const httplib::Request& req, httplib::Response& res) {
            try {
                f(req, res);
            } catch (const api_error& e) {
                send_error(res, e.status(), e.code(), e.what());
            } catch (const usage_error& e) {
                send_error(res, 400, "bad_request", e.what());
            } catch (const state_error& e) {
                send_error(res, 503, "state_unavailable", e.what());
            } catch (const std::exception& e) {
                log(fmt::format("internal error on {} {}: {}", req.method, req.path, e.what()));
                send_error(res, 500, "internal", e.what());
            }
            limit_compression(req, res.body.size());
        };
    }

    // The request's fields: the query string (GET) or the JSON body (POST).
    static nlohmann::json request_fields(const httplib::Request& req) {
        if (req.method == "GET") {
            const auto q = req.target.find('?');
            return parse_query(q == std::string::npos ? std::string_view()
                                                      : std::string_view(req.target).substr(q + 1));
        }
        return parse_body(req.body);
    }

    // How many more jobs @p job would be admitted now: per usable GPU, its admittable memory over the
    // job's reservation sized for that card (as a lease or `run` would reserve it), summed.
    std::uint64_t job_capacity(const estimate_request& job, const std::vector<gpu_capacity>& capacities) const {
        const reserve_request sized = manager->sized_reserve_request(job, "");
        std::uint64_t jobs = 0;
        for (const auto& c : capacities) {
            if (!c.usable) continue;
            std::uint64_t bytes = sized.bytes;
            for (const auto& [uuid, b] : sized.gpu_bytes) {
                if (uuid == c.gpu_uuid) bytes = b;
            }
            if (bytes > 0) jobs += c.available_bytes / bytes;
        }
        return jobs;
    }

    std::string render() {
        metrics_input in;
        const gpu_snapshot snapshot = probe->snapshot();
        in.nvml_up = snapshot.available();
        std::vector<gpu_capacity> capacities;
        if (sched) {
            try {
                capacities = sched->capacities();
                in.waiting_requests = sched->waiters().size();
            } catch (const std::exception& e) {
                log(fmt::format("warning: /metrics: reservations not read: {}", e.what()));
            }
        }
        for (const auto& v : visible_gpus(snapshot, settings.env.cuda_visible_devices)) {
            gpu_metrics g;
            g.gpu = std::to_string(v.device.index);
            g.uuid = v.device.uuid;
            g.model_name = v.device.name;
            g.total_bytes = v.device.total_bytes;
            g.used_bytes = v.device.used_bytes;
            g.free_bytes = v.device.free_bytes;
            const auto cap = std::find_if(capacities.begin(), capacities.end(),
                                          [&](const gpu_capacity& c) { return c.gpu_uuid == v.device.uuid; });
            if (cap != capacities.end()) {
                g.reserved_bytes = cap->reserved_bytes;
                g.admittable_bytes = cap->available_bytes;
            } else {
                g.admittable_bytes = v.device.free_bytes;
            }
            in.gpus.push_back(std::move(g));
        }
        if (leases) in.leases = leases->size();
        for (const auto& [label, job] : settings.profiles) {
            in.job_capacity.emplace_back(label, job_capacity(job, capacities));
        }
        in.counters = metrics.snapshot();
        in.version = std::string(version_string);
        in.driver_version = driver_version;
        in.cuda_driver_version = cuda_driver_version;
        return render_metrics(in);
    }

    void setup() {
        add("/healthz", "healthz", {"GET"});
        add("/readyz", "readyz", {"GET"});
        add("/metrics", "metrics", {"GET"});
        add("/api/v1/estimate", "estimate", {"GET", "POST"});
        add("/api/v1/check", "check", {"POST"});
        add("/api/v1/solve", "solve", {"POST"});
        add("/api/v1/recommend", "recommend", {"POST"});
        add("/api/v1/gpus", "gpus", {"GET"});
        add("/api/v1/models", "models", {"GET"});
        add("/api/v1/gpu-catalog", "gpu_catalog", {"GET"});
        add("/api/v1/leases", "leases", {"GET", "POST"}, {"POST"});
        add("/api/v1/leases/[^/]+/heartbeat", "lease_heartbeat", {"POST"}, {"POST"});
        add("/api/v1/leases/[^/]+", "lease", {"DELETE"}, {"DELETE"});
        add("/", "page", {"GET"});

        server.set_read_timeout(static_cast<time_t>(settings.read_timeout.count()), 0);
        server.set_write_timeout(static_cast<time_t>(settings.write_timeout.count()), 0);
        server.set_keep_alive_timeout(static_cast<time_t>(settings.idle_timeout.count()));
        server.set_keep_alive_max_count(1000);  // fewer reconnections under load (default 5)
        server.set_payload_max_length(settings.max_body_bytes);
        server.set_tcp_nodelay(true);  // small JSON answers: no Nagle + delayed-ACK 40 ms stalls
        const std::size_t threads = settings.threads;
        server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

        server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            request_start = clock_type::now();
            request_route = find_route(req.path);
            limit_compression(req, std::numeric_limits<std::size_t>::max());  // no brotli, for every answer
            if (settings.cors_origin) {
                res.set_header("Access-Control-Allow-Origin", *settings.cors_origin);
                res.set_header("Vary", "Origin");
            }
            if (request_route == nullptr) return httplib::Server::HandlerResponse::Unhandled;  // → 404
            const auto& methods = request_route->methods;
            if (req.method == "OPTIONS" && settings.cors_origin) {
                res.status = 204;
                res.set_header("Access-Control-Allow-Methods", join_methods(methods));
                res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
                return httplib::Server::HandlerResponse::Handled;
            }
            const bool head_of_get = req.method == "HEAD" && std::count(methods.begin(), methods.end(), "GET") > 0;
            if (!head_of_get && std::find(methods.begin(), methods.end(), req.method) == methods.end()) {
                res.set_header("Allow", join_methods(methods));
                send_error(
                    res, 405, "method_not_allowed",
                    fmt::format("{} does not accept {}; allowed: {}", req.path, req.method, join_methods(methods)));
                return httplib::Server::HandlerResponse::Handled;
            }
            const auto& mutating = request_route->mutating;
            if (settings.token && std::find(mutating.begin(), mutating.end(), req.method) != mutating.end()) {
                const std::string header = req.get_header_value("Authorization");
                constexpr std::string_view scheme = "Bearer ";
                const bool ok = header.starts_with(scheme) &&
                                token_matches(std::string_view(header).substr(scheme.size()), *settings.token);
                if (!ok) {
                    res.set_header("WWW-Authenticate", "Bearer");
                    send_error(res, 401, "unauthorized",
                               header.empty() ? "this endpoint needs 'Authorization: Bearer TOKEN' (serve --token-file)"
                                              : "the bearer token is not the server's");
                    return httplib::Server::HandlerResponse::Handled;
                }
            }
            const bool has_body =
                req.get_header_value<std::uint64_t>("Content-Length") > 0 || req.has_header("Transfer-Encoding");
            if (req.method == "POST" && has_body) {
                const std::string type = req.get_header_value("Content-Type");
                const std::string media = type.substr(0, type.find(';'));
                if (media != "application/json") {
                    send_error(res, 415, "unsupported_media_type",
                               fmt::format("Content-Type '{}' is not accepted: send application/json", type));
                    return httplib::Server::HandlerResponse::Handled;
                }
            }
            return httplib::Server::HandlerResponse::Unhandled;
        });

        server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            switch (res.status) {
                case 404:
                    send_error(res, 404, "not_found", fmt::format("no such path: {}", req.path));
                    break;
                case 413:
                    send_error(res, 413, "payload_too_large", "the body is larger than 64 KiB");
                    break;
                case 414:
                    send_error(res, 414, "uri_too_long", "the request line is too long");
                    break;
                default:
                    send_error(res, res.status, "http_error", fmt::format("HTTP status {}", res.status));
            }
        });
        server.set_exception_handler([](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
            send_error(res, 500, "internal", "the request failed");
        });
        server.set_logger([this](const httplib::Request&, const httplib::Response& res) {
            std::optional<double> seconds;
            if (request_start) seconds = std::chrono::duration<double>(clock_type::now() - *request_start).count();
            metrics.observe_request(request_route != nullptr ? request_route->handler : "other", res.status, seconds);
            request_start.reset();
            request_route = nullptr;
        });

        server.Get("/healthz", guarded([](const httplib::Request&, httplib::Response& res) {
                       send_json(res, 200, "{\"status\":\"ok\"}\n");
                   }));
        server.Get("/readyz", guarded([this](const httplib::Request&, httplib::Response& res) {
                       const gpu_snapshot snapshot = probe->snapshot();
                       if (!snapshot.available()) {
                           send_error(res, 503, "not_ready",
                                      fmt::format("GPU information unavailable: {}", snapshot.unavailable_reason));
                       } else if (!sched) {
                           send_error(res, 503, "not_ready",
                                      fmt::format("state folder unavailable: {}", state_error_text));
                       } else {
                           try {
                               (void)sched->reservations();
                               send_json(res, 200, "{\"status\":\"ready\"}\n");
                           } catch (const std::exception& e) {
                               send_error(res, 503, "not_ready", fmt::format("state folder unavailable: {}", e.what()));
                           }
                       }
                   }));
        server.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
                       res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
                   }));
        const auto endpoint = [this](const std::string& name) {
            return guarded([this, name](const httplib::Request& req, httplib::Response& res) {
                run_endpoint(res, name, request_fields(req));
            });
        };
        server.Get("/api/v1/estimate", endpoint("estimate"));
        server.Post("/api/v1/estimate", endpoint("estimate"));
        server.Post("/api/v1/check", endpoint("check"));
        server.Post("/api/v1/solve", endpoint("solve"));
        server.Post("/api/v1/recommend", endpoint("recommend"));
        server.Get("/api/v1/gpus", endpoint("gpus"));
        server.Get("/api/v1/models", endpoint("models"));
        server.Get("/api/v1/gpu-catalog", guarded([](const httplib::Request& req, httplib::Response& res) {
                       if (!request_fields(req).empty()) {
                           throw api_error(400, "bad_request", "/api/v1/gpu-catalog takes no fields");
                       }
                       send_json(res, 200, gpu_catalog_body());
                   }));
        const auto need_leases = [this]() -> lease_book& {
            if (!leases) {
                throw api_error(503, "state_unavailable", fmt::format("leases unavailable: {}", state_error_text));
            }
            return *leases;
        };
        server.Get("/api/v1/leases", guarded([need_leases](const httplib::Request& req, httplib::Response& res) {
                       if (!request_fields(req).empty()) {
                           throw api_error(400, "bad_request", "/api/v1/leases takes no fields on GET");
                       }
                       answer_response(res, need_leases().list());
                   }));
        server.Post("/api/v1/leases", guarded([this, need_leases](const httplib::Request& req, httplib::Response& res) {
                        auto& book = need_leases();
                        lease_limits limits{settings.default_ttl, settings.max_ttl, settings.max_wait};
                        lease_request request;
                        try {
                            request = parse_lease_request(request_fields(req), settings.env, limits);
                        } catch (const api_error&) {
                            metrics.count_admission("bad_request");
                            throw;
                        }
                        std::string result;
                        try {
                            const auto response = book.acquire(
                                request, [this] { return stopping.load(); }, result);
                            metrics.count_admission(result);
                            if (response.status == 503 && result == "timed_out") res.set_header("Retry-After", "1");
                            answer_response(res, response);
                        } catch (const api_error&) {
                            metrics.count_admission(result.empty() ? "bad_request" : result);
                            throw;
                        }
                    }));
        server.Post(
            R"(/api/v1/leases/([^/]+)/heartbeat)",
            guarded([this, need_leases](const httplib::Request& req, httplib::Response& res) {
                const nlohmann::json fields = request_fields(req);
                std::optional<std::chrono::milliseconds> ttl;
                for (const auto& [name, value] : fields.items()) {
                    if (name != "ttl_seconds") {
                        throw api_error(400, "bad_request",
                                        fmt::format("unknown field '{}' for a heartbeat; allowed: ttl_seconds", name));
                    }
                    if (!value.is_number() || !(value.get<double>() > 0) ||
                        value.get<double>() > static_cast<double>(settings.max_ttl.count())) {
                        throw api_error(400, "bad_request",
                                        fmt::format("field 'ttl_seconds' is {}: expected seconds, a number above 0 "
                                                    "and at most {}",
                                                    value.dump(), settings.max_ttl.count()));
                    }
                    ttl = std::chrono::milliseconds(static_cast<std::int64_t>(value.get<double>() * 1000.0));
                }
                answer_response(res, need_leases().heartbeat(req.matches[1], ttl));
            }));
        server.Delete(R"(/api/v1/leases/([^/]+))",
                      guarded([need_leases](const httplib::Request& req, httplib::Response& res) {
                          answer_response(res, need_leases().release(req.matches[1]));
                      }));
        add_page_routes(server);
    }

    static void answer_response(httplib::Response& res, const api_response& response) {
        send_json(res, response.status, response.body);
    }

    void reap_loop() {
        std::unique_lock lock(reaper_mutex);
        while (!stopping) {
            reaper_wake.wait_for(lock, settings.reap_interval);
            if (stopping) break;
            lock.unlock();
            if (leases) {
                const std::size_t n = leases->reap_expired();
                if (n > 0) log(fmt::format("{} lease(s) expired (no heartbeat within the TTL): released", n));
            }
            lock.lock();
        }
    }
};

http_service::http_service(serve_settings settings, serve_log log)
    : impl_(std::make_unique<impl>(std::move(settings), std::move(log))) {}

http_service::~http_service() = default;

int http_service::bind() {
    const auto& s = impl_->settings;
    std::string host = s.host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    impl_->server.set_socket_options([impl = impl_.get()](socket_t sock) {
        httplib::default_socket_options(sock);
        impl->listen_socket = sock;  // the last one tried is the one bound
    });
    if (s.port == 0) {
        impl_->port = impl_->server.bind_to_any_port(host);
        if (impl_->port < 0) impl_->port = 0;
    } else if (impl_->server.bind_to_port(host, s.port)) {
        impl_->port = s.port;
    }
    if (impl_->port <= 0) {
        throw usage_error(
            fmt::format("--listen {}:{}: cannot listen there (address in use, or not an address of "
                        "this host)",
                        s.host, s.port));
    }
    // cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, built into Debian's
    // library). 64 clients reconnecting at once overflowed it, and a few of them waited more than
    // 5 s for SYN-ACK retransmissions (bench/serve_bench.cpp). Linux takes a second listen() on the
    // bound socket as its new backlog.
    if (impl_->listen_socket >= 0) (void)::listen(impl_->listen_socket, SOMAXCONN);
    return impl_->port;
}

void http_service::run() {
    std::thread reaper([this] { impl_->reap_loop(); });
    (void)impl_->server.listen_after_bind();  // returns once stopped and every request in flight is done
    {
        const std::lock_guard lock(impl_->reaper_mutex);
        impl_->stopping = true;
    }
    impl_->reaper_wake.notify_all();
    reaper.join();
    if (impl_->leases) {
        const std::size_t n = impl_->leases->release_all();
        if (n > 0) impl_->log(fmt::format("released {} lease(s)", n));
    }
}

void http_service::stop() {
    {
        const std::lock_guard lock(impl_->reaper_mutex);
        impl_->stopping = true;
    }
    impl_->reaper_wake.notify_all();
    impl_->server.stop();
}

std::string http_service::metrics_text() { return impl_->render(); }

estimate_request parse_profile(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const auto colon = text.find(':', start);
        parts.push_back(text.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    if (parts.size() != 4 || std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); })) {
        throw usage_error(
            fmt::format("--profile '{}' is invalid: expected MODEL:ENGINE:PRECISION:BATCH, e.g. "
                        "large-v3:faster-whisper:int8:16",
                        text));
    }
    estimate_options o;
    o.engine = parts[1];
    o.engine_given = true;
    o.precision = parts[2];
    o.batch = parts[3];
    o.batch_given = true;
    try {
        estimate_request request = to_request(o, parts[0]);
        (void)estimate(request);  // an unknown model or a bad combination is refused now
        return request;
    } catch (const usage_error& e) {
        throw usage_error(fmt::format("--profile '{}' is invalid: {}", text, e.what()));
    }
}

std::string http_service::url() const {
    const auto& host = impl_->settings.host;
    const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
    return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", impl_->port);
}

}  // namespace whisper_vram::cli
