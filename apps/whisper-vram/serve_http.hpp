#pragma once
// The HTTP side of `whisper-vram serve`: the server (cpp-httplib), its routes, limits, errors,
// authentication and CORS. The endpoints' work is the CLI's (serve_api.hpp), the leases' the
// scheduler's (serve_leases.hpp); cmd_serve.cpp parses the options and runs it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/facade/environment.hpp"

namespace whisper_vram::cli {

/// How the server runs: where it listens, who may change things, what every request is run with.
struct serve_settings {
    std::string host = "127.0.0.1";          ///< address to listen on (loopback by default)
    int port = 8765;                         ///< 0 = any free port (bound_port() says which)
    std::optional<std::string> token;        ///< with a token, mutating endpoints need `Authorization: Bearer`
    std::optional<std::string> cors_origin;  ///< the one origin CORS headers name; none = no CORS headers
    /// Job profiles for whisper_vram_job_capacity: the label ("large-v3:faster-whisper:int8:16") and
    /// the job it names (parse_profile()).
    std::vector<std::pair<std::string, estimate_request>> profiles;
    /// The environment every request runs with: serve's --simulate and --calibration are applied
    /// here (WHISPER_VRAM_SIMULATE / WHISPER_VRAM_CALIBRATION), so every subcommand sees them.
    environment env;
    std::chrono::seconds read_timeout{10};   ///< a client slower than this to send a request is dropped
    std::chrono::seconds write_timeout{10};  ///< … or to read the response
    std::chrono::seconds idle_timeout{5};    ///< keep-alive: an idle connection is closed after this
    std::size_t max_body_bytes = 65536;      ///< larger bodies: 413
    /// Worker threads: each open connection holds one until it closes (keep-alive: up to idle_timeout
    /// after its last request), a waiting lease too. Measured (bench/serve_bench.cpp): 64 keep-alive
    /// clients on 64 workers left a few requests waiting over 5 s; on 128, none.
    std::size_t threads = 128;
    std::chrono::seconds default_ttl{60};          ///< a lease's TTL when the request names none
    std::chrono::seconds max_ttl{86400};           ///< the longest TTL a request may ask for
    std::chrono::seconds max_wait{3600};           ///< the longest wait_seconds a request may ask for
    std::chrono::milliseconds reap_interval{200};  ///< how often expired leases are looked for
};

/// Parses a --profile: MODEL:ENGINE:PRECISION:BATCH (e.g. large-v3:faster-whisper:int8:16).
/// @throws usage_error naming the bad profile and the expected form (or the bad value in it).
estimate_request parse_profile(const std::string& text);

/// Writes one log line (thread-safe); the server's only output besides its responses.
using serve_log = std::function<void(const std::string& line)>;

/// True for a loopback address: 127.0.0.0/8, ::1, localhost.
[[nodiscard]] bool is_loopback_host(std::string_view host);

/// @p accept_encoding (a request's Accept-Encoding) without the `br` coding, the others kept in
/// order with their parameters ("gzip, deflate, br;q=0.9" → "gzip, deflate"). Debian's cpp-httplib
/// is built with brotli and compresses at quality 11 whenever a client offers it: measured, 2 ms for
/// a 1.3 KiB JSON answer and 65 ms for the page, against microseconds for gzip. The server answers
/// with gzip (or plain) instead, and leaves answers under 4 KiB uncompressed.
[[nodiscard]] std::string without_brotli(std::string_view accept_encoding);

/// Constant-time comparison of a presented bearer token with the expected one: the time depends
/// on the lengths only, never on where they first differ.
[[nodiscard]] bool token_matches(std::string_view presented, std::string_view expected) noexcept;

/// The server. bind() then run() (blocks until stop(), from any thread or a signal watcher).
class http_service {
public:
    http_service(serve_settings settings, serve_log log);
    ~http_service();
    http_service(const http_service&) = delete;
    http_service& operator=(const http_service&) = delete;

    /// Binds the listening socket; returns the port (the real one for port 0).
    /// @throws usage_error when the address cannot be bound (in use, not an address of this host).
    int bind();
    /// Serves until stop(); then finishes the requests in flight, releases every lease and returns.
    void run();
    /// Stops accepting connections, wakes waiting lease requests (503) and makes run() return once
    /// the requests in flight are done. Thread-safe, idempotent.
    void stop();
    /// `http://HOST:PORT` (IPv6 hosts in brackets), after bind().
    [[nodiscard]] std::string url() const;
    /// The /metrics text now (what GET /metrics answers).
    [[nodiscard]] std::string metrics_text();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace whisper_vram::cli
