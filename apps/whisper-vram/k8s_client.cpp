// The Kubernetes API client (k8s_client.hpp) on cpp-httplib.

#include "k8s_client.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <charconv>

#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram::cli {
namespace {

constexpr time_t connect_timeout_seconds = 5;
constexpr time_t io_timeout_seconds = 15;

std::optional<std::chrono::seconds> retry_after_seconds(const httplib::Response& response) {
    if (!response.has_header("Retry-After")) return std::nullopt;
    const std::string value = response.get_header_value("Retry-After");
    unsigned seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;  // an HTTP date: ignored
    return std::chrono::seconds(seconds);
}

std::string describe(const k8s_response& r) {
    if (r.status == 0) return r.transport_error;
    const auto message = k8s_api_error_message(r.body);
    return message ? fmt::format("HTTP {}: {}", r.status, *message) : fmt::format("HTTP {}", r.status);
}

}  // namespace

k8s_response k8s_patch(const k8s_endpoint& endpoint, const std::string& path, const std::string& content_type,
                       const std::string& body) {
    k8s_response answer;
    httplib::Client client(endpoint.base_url);
    if (!client.is_valid()) {
        answer.transport_error = fmt::format("cannot use the server URL '{}'", endpoint.base_url);
        answer.tls_failure = true;  // not worth retrying either
        return answer;
    }
    client.set_connection_timeout(connect_timeout_seconds);
    client.set_read_timeout(io_timeout_seconds);
    client.set_write_timeout(io_timeout_seconds);
    client.enable_server_certificate_verification(true);  // never off: the token would go to anyone
    if (endpoint.ca_file) client.set_ca_cert_path(*endpoint.ca_file);
    if (!endpoint.token.empty()) client.set_bearer_token_auth(endpoint.token);
    const httplib::Headers headers{{"Accept", "application/json"}};
    const auto result = client.Patch(path, headers, body, content_type);
    if (!result) {
        const auto error = result.error();
        answer.tls_failure = error == httplib::Error::SSLConnection || error == httplib::Error::SSLLoadingCerts ||
                             error == httplib::Error::SSLServerVerification;
        answer.transport_error = fmt::format("no answer from {}: {}", endpoint.base_url, httplib::to_string(error));
        if (error == httplib::Error::SSLServerVerification) {
            answer.transport_error += endpoint.ca_file
                                          ? fmt::format(
                                                " (the server's certificate does not chain to --ca-file {} "
                                                "or does not name this host)",
                                                *endpoint.ca_file)
                                          : " (give the cluster's CA with --ca-file)";
        }
        return answer;
    }
    answer.status = result->status;
    answer.body = result->body;
    answer.retry_after = retry_after_seconds(*result);
    return answer;
}

bool k8s_retryable(const k8s_response& r) noexcept {
    if (r.status == 0) return !r.tls_failure;
    return r.status == 409 || r.status == 429 || (r.status >= 500 && r.status <= 599);
}

k8s_patch_outcome k8s_patch_with_retry(const k8s_endpoint& endpoint, const std::string& path,
                                       const std::string& content_type, const std::string& body,
                                       const k8s_retry_policy& policy,
                                       const std::function<bool(std::chrono::milliseconds)>& wait,
                                       const std::function<void(const std::string&)>& log) {
    k8s_patch_outcome outcome;
    std::chrono::milliseconds delay = policy.first_delay;
    const unsigned attempts = std::max(1U, policy.attempts);
    while (true) {
        outcome.response = k8s_patch(endpoint, path, content_type, body);
        ++outcome.attempts;
        const bool ok = outcome.response.status >= 200 && outcome.response.status <= 299;
        if (ok || !k8s_retryable(outcome.response) || outcome.attempts >= attempts) return outcome;
        std::chrono::milliseconds pause = delay;
        if (outcome.response.retry_after) {
            pause = std::chrono::duration_cast<std::chrono::milliseconds>(*outcome.response.retry_after);
        }
        pause = std::min(pause, policy.max_delay);
        log(fmt::format("attempt {} of {} failed ({}); retrying in {:g} s", outcome.attempts, attempts,
                        describe(outcome.response), static_cast<double>(pause.count()) / 1000.0));
        if (!wait(pause)) {
            outcome.stopped = true;
            return outcome;
        }
        delay = std::min(delay * 2, policy.max_delay);
    }
}

}  // namespace whisper_vram::cli
