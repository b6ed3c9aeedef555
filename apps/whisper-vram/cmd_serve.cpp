// whisper-vram serve: a node-local HTTP service — the JSON API (the CLI's --json), leases in the
// ledger `run` uses, Prometheus metrics and the calculator page (serve_http.hpp).

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "serve_http.hpp"

namespace whisper_vram::cli {
namespace {

struct serve_options {
    std::string listen = "127.0.0.1:8765";
    std::optional<std::string> token_file;
    std::optional<std::string> simulate;
    std::optional<std::string> calibration;
    std::optional<std::string> cors_origin;
    std::vector<std::string> profiles;
    std::string threads = "128";
    bool json = false;
};

// --threads: worker threads, 1-1024.
std::size_t parse_threads(const std::string& text) {
    std::size_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || n < 1 || n > 1024) {
        throw usage_error(fmt::format(
            "--threads '{}' is invalid: an integer 1-1024 (worker threads; each open connection holds one)", text));
    }
    return n;
}

// "HOST:PORT", "[::1]:PORT" → host (brackets kept off) and port 0-65535.
std::pair<std::string, int> parse_listen(const std::string& text) {
    const auto colon = text.rfind(':');
    const auto bad = [&](const std::string& why) {
        return usage_error(
            fmt::format("--listen '{}' is invalid: {}; expected HOST:PORT, e.g. 127.0.0.1:8765, "
                        "[::1]:8765, 127.0.0.1:0 (any free port)",
                        text, why));
    };
    if (colon == std::string::npos || colon == 0) throw bad("no HOST:PORT");
    std::string host = text.substr(0, colon);
    const std::string port_text = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.back() != ']' || host.size() < 3) throw bad("an IPv6 address goes in brackets: [::1]:PORT");
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        throw bad("an IPv6 address goes in brackets: [::1]:PORT");
    }
    int port = -1;
    const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() || port < 0 ||
        port > 65535) {
        throw bad(fmt::format("port '{}' is not an integer 0-65535", port_text));
    }
    return {host, port};
}

// The token in @p path: its first line, trimmed. The file must be ours alone (no group/other bits).
std::string read_token(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw usage_error(fmt::format("--token-file '{}': {}", path, std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) throw usage_error(fmt::format("--token-file '{}' is not a regular file", path));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw usage_error(
            fmt::format("--token-file '{}' has mode {:04o}: it must not be readable or writable by "
                        "group or others (chmod 600 '{}')",
                        path, st.st_mode & 07777U, path));
    }
    std::ifstream in(path);
    std::string token;
    if (!in || !std::getline(in, token)) throw usage_error(fmt::format("--token-file '{}' cannot be read", path));
    token.erase(0, token.find_first_not_of(" \t\r"));
    token.erase(token.find_last_not_of(" \t\r") + 1);
    if (token.empty()) {
        throw usage_error(fmt::format("--token-file '{}' holds no token (its first line is blank)", path));
    }
    return token;
}

exit_status run_serve(const serve_options& o, const context& c) {
    serve_settings settings;
    std::tie(settings.host, settings.port) = parse_listen(o.listen);
    if (o.token_file) settings.token = read_token(*o.token_file);
    if (!is_loopback_host(settings.host) && !settings.token) {
        throw usage_error(
            fmt::format("--listen {}: listening beyond loopback needs --token-file FILE (a bearer token "
                        "for the mutating endpoints); or listen on 127.0.0.1",
                        o.listen));
    }
    if (o.cors_origin) {
        if (o.cors_origin->empty() || o.cors_origin->find_first_of("\r\n") != std::string::npos) {
            throw usage_error(
                fmt::format("--cors-origin '{}' is invalid: an origin such as https://example.org", *o.cors_origin));
        }
        settings.cors_origin = *o.cors_origin;
    }
    for (const auto& profile : o.profiles) settings.profiles.emplace_back(profile, parse_profile(profile));
    settings.threads = parse_threads(o.threads);
    settings.env = c.env;
    if (o.simulate) settings.env.simulate = *o.simulate;
    if (o.calibration) settings.env.calibration = *o.calibration;

    auto log_mutex = std::make_shared<std::mutex>();
    std::ostream* err = &c.err;
    serve_log log = [log_mutex, err](const std::string& line) {
        const std::lock_guard lock(*log_mutex);
        *err << "whisper-vram serve: " << line << '\n' << std::flush;
    };

    // SIGTERM/SIGINT are taken by a watcher thread (sigtimedwait): blocked here before any thread
    // starts, so every server thread inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &signals, &previous);

    http_service service(std::move(settings), log);
    const int port = service.bind();
    if (o.json) {
        c.out << nlohmann::ordered_json{{"url", service.url()}, {"port", port}}.dump() << '\n' << std::flush;
    } else {
        c.out << "listening on " << service.url() << '\n' << std::flush;
    }
    std::atomic<bool> done{false};
    std::atomic<int> received{0};
    std::thread watcher([&] {
        const timespec tick{0, 200'000'000};
        while (!done) {
            const int sig = sigtimedwait(&signals, nullptr, &tick);
            if (sig > 0) {
                received = sig;
                log(fmt::format("{}: draining requests, releasing leases", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
                service.stop();
                return;
            }
        }
    });
    service.run();
    done = true;
    watcher.join();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    log("stopped");
    return exit_status::ok;
}

}  // namespace

void setup_serve(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "serve", "HTTP service: JSON API, leases in the ledger, Prometheus /metrics, a page", run_serve);
    command->add_option("--listen", options->listen,
                        "HOST:PORT to listen on (default 127.0.0.1:8765; port 0 = any free port, printed)");
    command->add_option("--token-file", options->token_file,
                        "bearer token for the mutating endpoints (leases); required beyond loopback; mode 0600");
    add_simulate_option(*command, options->simulate);
    command->add_option("--calibration", options->calibration,
                        "calibration profile every estimate uses (WHISPER_VRAM_CALIBRATION)");
    command->add_option("--cors-origin", options->cors_origin, "send CORS headers for this origin (default: none)");
    command->add_option("--profile", options->profiles,
                        "model:engine:precision:batch for whisper_vram_job_capacity (repeatable)");
    command->add_option("--threads", options->threads,
                        "worker threads, 1-1024 (default 128): each open connection and each waiting lease holds "
                        "one; more keep-alive clients than this wait for one to close (idle after 5 s)");
    command->add_flag("--json", options->json, "print the address as JSON {url, port} on start");
    add_footer(*command,
               "Prints 'listening on http://HOST:PORT' once bound; SIGTERM/SIGINT drain and release every lease.\n"
               "API: /healthz /readyz /metrics /api/v1/{estimate,check,solve,recommend,gpus,models,gpu-catalog,leases}",
               {"whisper-vram serve", "whisper-vram serve --listen 127.0.0.1:0 --simulate \"RTX 3090\"",
                "whisper-vram serve --listen 0.0.0.0:8765 --token-file /etc/whisper-vram/token"});
}

}  // namespace whisper_vram::cli
