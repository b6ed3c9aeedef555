#pragma once
// The Kubernetes API client of `whisper-vram k8s advertise`: one PATCH over cpp-httplib (HTTPS with
// a CA file, or plain HTTP for a local proxy such as `kubectl proxy`), and the retry rule around
// it. Only k8s_client.cpp includes <httplib.h> (a large header).

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace whisper_vram::cli {

/// Where and as whom to talk to the API server.
struct k8s_endpoint {
    std::string base_url;                // "https://10.96.0.1:443", "http://127.0.0.1:8001"
    std::optional<std::string> ca_file;  // PEM bundle the server's certificate must chain to (HTTPS)
    std::string token;                   // bearer token; empty = no Authorization header
};

/// One answer (or why there is none).
struct k8s_response {
    int status = 0;  ///< HTTP status; 0 when no answer came (see transport_error)
    std::string body;
    std::string transport_error;                      ///< connection/TLS failure, in words; empty when an answer came
    bool tls_failure = false;                         ///< the server's certificate was refused or TLS could not start
    std::optional<std::chrono::seconds> retry_after;  ///< the Retry-After header, when given in seconds
};

/// Sends PATCH @p path with @p body (Content-Type @p content_type) once; connect timeout 5 s,
/// read/write 15 s. Never throws for network or HTTP failures: they are in the response.
k8s_response k8s_patch(const k8s_endpoint& endpoint, const std::string& path, const std::string& content_type,
                       const std::string& body);

/// Whether a failure is worth another try: no answer (not a TLS refusal), 409 Conflict, 429 Too
/// Many Requests, or a 5xx.
bool k8s_retryable(const k8s_response& response) noexcept;

/// How often and how patiently to retry.
struct k8s_retry_policy {
    unsigned attempts = 5;                       ///< in all, the first included
    std::chrono::milliseconds first_delay{500};  ///< doubled after each retry …
    std::chrono::milliseconds max_delay{8000};   ///< … up to this; Retry-After up to this too
};

/// The last answer and how many attempts it took.
struct k8s_patch_outcome {
    k8s_response response;
    unsigned attempts = 0;
    bool stopped = false;  ///< @p wait returned false (a stop was asked for) before the next try
};

/// Sends the PATCH until it succeeds (2xx), fails for good (not k8s_retryable), the attempts run
/// out, or @p wait (sleeps the given time; false = stop asked) returns false. @p log gets one line
/// per retry ("retrying in 0.5 s: 503 …").
k8s_patch_outcome k8s_patch_with_retry(const k8s_endpoint& endpoint, const std::string& path,
                                       const std::string& content_type, const std::string& body,
                                       const k8s_retry_policy& policy,
                                       const std::function<bool(std::chrono::milliseconds)>& wait,
                                       const std::function<void(const std::string&)>& log);

}  // namespace whisper_vram::cli
