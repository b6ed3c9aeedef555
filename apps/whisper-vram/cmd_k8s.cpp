// whisper-vram k8s: Kubernetes. `k8s resources` prints the request a GPU-memory sharing scheme
// takes for a job (planner/kubernetes.hpp); `k8s advertise` patches the node's status capacity with
// its GPU memory as an extended resource, once or every --interval seconds (a DaemonSet:
// packaging/kubernetes/daemonset.yaml).

#include <sys/stat.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "k8s_client.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram::cli {
namespace {

// ---- k8s resources -------------------------------------------------------------------------------

struct resources_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> flavor;
    std::string resource{default_k8s_extended_resource};
    std::optional<std::string> name;
    bool yaml = false;
    bool json = false;
};

std::string describe_job(const memory_estimate& e) {
    return fmt::format("{} | {} | segment {:g} s | batch {} | engine {}: recommended {} GiB", e.request.model,
                       e.request.precision, e.request.segment_seconds, e.request.batch_size, e.request.engine,
                       gib2(e.recommended_gib));
}

exit_status run_resources(const resources_options& o, const context& c) {
    if (!o.flavor) throw usage_error(fmt::format("--flavor is required: one of {}", k8s_flavor_list()));
    const k8s_flavor flavor = parse_k8s_flavor(*o.flavor);
    if (o.yaml && o.json) throw usage_error("--yaml and --json exclude each other: give one (YAML is the default)");
    const memory_estimate e = estimate(to_request(o.estimate, o.model));
    k8s_render_options options;
    options.resource_name = o.resource;
    options.claim_name = o.name ? *o.name : k8s_object_name("whisper-" + e.request.model);
    options.title = describe_job(e);
    const k8s_resources r = k8s_resources_for(flavor, e.recommended_bytes, options);
    if (o.json) {
        auto j = to_json(r);
        j["estimate"] = to_json(e);
        print_json(c.out, j);
    } else {
        c.out << to_yaml(r);
    }
    return exit_status::ok;
}

// ---- k8s advertise -------------------------------------------------------------------------------

constexpr const char* service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
constexpr const char* json_patch_type = "application/json-patch+json";
constexpr unsigned max_interval_seconds = 86400;
constexpr unsigned max_attempts = 20;

struct advertise_options {
    std::string node;
    std::string resource{default_k8s_extended_resource};
    std::optional<std::string> server;
    std::optional<std::string> token_file;
    std::optional<std::string> ca_file;
    std::optional<std::string> interval;
    std::string attempts = "5";
    std::optional<std::string> simulate;
    bool dry_run = false;
    bool json = false;
};

// SIGTERM/SIGINT during --interval: the loop (and a retry's pause) ends at its next check.
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int /*sig*/) { stop_requested = 1; }

// Installs the stop handlers for its lifetime; restores the previous ones after.
class stop_signals {
public:
    stop_signals() {
        stop_requested = 0;
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGTERM, &sa, &previous_term_);
        ::sigaction(SIGINT, &sa, &previous_int_);
    }
    stop_signals(const stop_signals&) = delete;
    stop_signals& operator=(const stop_signals&) = delete;
    stop_signals(stop_signals&&) = delete;
    stop_signals& operator=(stop_signals&&) = delete;
    ~stop_signals() {
        ::sigaction(SIGTERM, &previous_term_, nullptr);
        ::sigaction(SIGINT, &previous_int_, nullptr);
    }

private:
    struct sigaction previous_term_ {};
    struct sigaction previous_int_ {};
};

// Sleeps @p duration in short slices; false as soon as a stop was asked for.
bool wait_unless_stopped(std::chrono::milliseconds duration) {
    constexpr std::chrono::milliseconds slice{50};
    const auto end = std::chrono::steady_clock::now() + duration;
    while (stop_requested == 0) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= end) return true;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(slice, end - now));
    }
    return false;
}

// A whole number from 1 to @p max, or a usage error naming @p what and saying @p unit.
unsigned parse_count(const std::string& text, const char* what, unsigned max, const char* unit) {
    unsigned value = 0;
    const bool digits = !text.empty() && text.size() <= 6 && text.find_first_not_of("0123456789") == std::string::npos;
    if (digits) value = static_cast<unsigned>(std::stoul(text));
    if (!digits || value == 0 || value > max) {
        throw usage_error(
            fmt::format("{} '{}' is not a whole number {}from 1 to {}", what, escape_for_terminal(text), unit, max));
    }
    return value;
}

// Where the request goes: --server, else the in-cluster service (KUBERNETES_SERVICE_HOST/PORT).
struct api_target {
    std::optional<std::string> base_url;  // none: no server known (only a dry run goes on)
    std::optional<std::string> token_file;
    std::optional<std::string> ca_file;
    bool in_cluster = false;
};

api_target resolve_target(const advertise_options& o, const environment& env) {
    api_target t;
    t.token_file = o.token_file;
    t.ca_file = o.ca_file;
    if (o.server) {
        const std::string& url = *o.server;
        if (!url.starts_with("https://") && !url.starts_with("http://")) {
            throw usage_error(
                fmt::format("--server '{}' is not an http:// or https:// URL (e.g. https://10.96.0.1:443)",
                            escape_for_terminal(url)));
        }
        std::string base = url;
        while (base.size() > 8 && base.back() == '/') base.pop_back();  // the path is appended to it
        t.base_url = base;
        return t;
    }
    const auto& host = env.kubernetes_service_host;
    if (host && !host->empty()) {
        const std::string port = env.kubernetes_service_port.value_or("443");
        // An IPv6 service address goes in brackets in a URL.
        t.base_url = host->find(':') != std::string::npos ? fmt::format("https://[{}]:{}", *host, port)
                                                          : fmt::format("https://{}:{}", *host, port);
        t.in_cluster = true;
        if (!t.token_file) t.token_file = fmt::format("{}/token", service_account_dir);
        if (!t.ca_file) t.ca_file = fmt::format("{}/ca.crt", service_account_dir);
    }
    return t;
}

// The token in @p path, trailing whitespace removed; a warning when others may read a file given
// with --token-file (the projected service account token is 0644 by design, inside the pod only).
std::string read_token(const std::string& path, bool warn_mode, const context& c) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw usage_error(fmt::format("token file {} cannot be read: {} (give --token-file with the bearer token)",
                                      escape_for_terminal(path), std::strerror(errno)));
    }
    if (warn_mode && (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        c.err << fmt::format(
            "whisper-vram: warning: token file {} is accessible to every user (mode {:o}): chmod 600 it\n",
            escape_for_terminal(path), st.st_mode & 0777U);
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!in || token.empty()) {
        throw usage_error(fmt::format("token file {} is empty or unreadable: it must hold the bearer token",
                                      escape_for_terminal(path)));
    }
    return token;
}

std::string summary(const std::string& node, const k8s_node_capacity& cap) {
    std::string gpus;
    for (const auto& g : cap.gpus) {
        gpus += fmt::format("{}GPU {} {}", gpus.empty() ? "" : ", ", g.index,
                            g.counted ? fmt::format("{} MiB", g.mib) : fmt::format("not counted ({})", g.reason));
    }
    return fmt::format("node {}: {} = {} ({}; the largest GPU has {} MiB)", node, cap.resource_name, cap.total_mib,
                       gpus.empty() ? "no GPU" : gpus, cap.largest_gpu_mib);
}

k8s_node_capacity node_capacity(const advertise_options& o, const context& c) {
    const gpu_manager manager = make_manager(c, o.simulate);
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    if (!snapshot.available()) throw gpu_unavailable_error(snapshot.unavailable_reason);
    std::vector<gpu_device> gpus;
    for (auto& v : visible_gpus(snapshot, c.env.cuda_visible_devices)) gpus.push_back(std::move(v.device));
    return k8s_capacity_for(gpus, o.resource);
}

// The error for an answer that will not get better by retrying.
usage_error permanent_failure(const advertise_options& o, const std::string& url, const api_target& t,
                              const k8s_patch_outcome& outcome) {
    const auto& r = outcome.response;
    if (r.status == 0) {
        usage_error failure(fmt::format("PATCH {}: {}", url, r.transport_error));
        return failure;
    }
    const auto message = k8s_api_error_message(r.body);
    const std::string said = message ? fmt::format(": {}", *message) : "";
    std::string text;
    switch (r.status) {
        case 401:
            text = fmt::format("the API server refused the token (HTTP 401{}): check {}", said,
                               t.token_file ? "--token-file " + *t.token_file : "--token-file");
            break;
        case 403:
            text = fmt::format(
                "the API server forbids patching node {} (HTTP 403{}): the service account needs 'patch' on "
                "'nodes/status' (the ClusterRole in packaging/kubernetes/daemonset.yaml)",
                o.node, said);
            break;
        case 404:
            text = fmt::format(
                "node {} not found (HTTP 404{}): --node must be the node's name (a DaemonSet passes spec.nodeName "
                "through the downward API)",
                o.node, said);
            break;
        default:
            text = fmt::format("PATCH {} failed after {} attempt{} (HTTP {}{})", url, outcome.attempts,
                               outcome.attempts == 1 ? "" : "s", r.status, said);
            break;
    }
    usage_error failure(text);
    return failure;
}

nlohmann::ordered_json advertise_json(const advertise_options& o, const std::string& url, const std::string& body,
                                      const k8s_node_capacity& cap, const k8s_patch_outcome* outcome) {
    nlohmann::ordered_json j;
    j["node"] = o.node;
    j["dry_run"] = outcome == nullptr;
    j["method"] = "PATCH";
    j["url"] = url;
    j["content_type"] = json_patch_type;
    j["patch"] = nlohmann::ordered_json::parse(body);
    j["status"] = outcome != nullptr ? nlohmann::ordered_json(outcome->response.status) : nlohmann::ordered_json();
    j["attempts"] = outcome != nullptr ? nlohmann::ordered_json(outcome->attempts) : nlohmann::ordered_json();
    j["capacity"] = to_json(cap);
    return j;
}

// One advertisement. False when it failed for now (retries exhausted) and the loop goes on.
bool advertise_once(const advertise_options& o, const api_target& t, const std::optional<k8s_endpoint>& endpoint,
                    const k8s_retry_policy& retry, bool repeating, const context& c) {
    const k8s_node_capacity cap = node_capacity(o, c);
    const std::string path = k8s_node_status_path(o.node);
    const std::string body = k8s_capacity_patch(cap.resource_name, cap.total_mib);
    const std::string url = t.base_url.value_or("") + path;
    if (o.dry_run) {
        if (o.json) {
            print_json(c.out, advertise_json(o, url, body, cap, nullptr));
            return true;
        }
        c.out << fmt::format("PATCH {}\nContent-Type: {}\n", url, json_patch_type);
        if (t.token_file) c.out << fmt::format("Authorization: Bearer <the token in {}>\n", t.token_file.value());
        c.out << fmt::format("\n{}\n", body);
        return true;
    }
    const auto outcome =
        k8s_patch_with_retry(*endpoint, path, json_patch_type, body, retry, wait_unless_stopped,
                             [&](const std::string& line) { c.err << "whisper-vram: warning: " << line << '\n'; });
    if (outcome.stopped) return true;
    const auto& r = outcome.response;
    if (r.status >= 200 && r.status <= 299) {
        if (o.json) {
            print_json(c.out, advertise_json(o, url, body, cap, &outcome));
        } else {
            c.out << fmt::format("{} - HTTP {} after {} attempt{}\n", summary(o.node, cap), r.status, outcome.attempts,
                                 outcome.attempts == 1 ? "" : "s");
        }
        c.out.flush();
        return true;
    }
    if (repeating && k8s_retryable(r)) {
        const auto message = r.status == 0 ? r.transport_error : k8s_api_error_message(r.body).value_or("");
        c.err << fmt::format(
            "whisper-vram: warning: PATCH {} failed after {} attempts (HTTP {}{}{}); next try in "
            "--interval {} s\n",
            url, outcome.attempts, r.status, message.empty() ? "" : ": ", message, *o.interval);
        return false;
    }
    throw permanent_failure(o, url, t, outcome);
}

exit_status run_advertise(const advertise_options& o, const context& c) {
    validate_k8s_node_name(o.node, "--node");
    validate_k8s_resource_name(o.resource, "--resource");
    const std::optional<unsigned> interval =
        o.interval ? std::optional(parse_count(*o.interval, "--interval", max_interval_seconds, "of seconds "))
                   : std::nullopt;
    k8s_retry_policy retry;
    retry.attempts = parse_count(o.attempts, "--attempts", max_attempts, "");
    const api_target t = resolve_target(o, c.env);
    std::optional<k8s_endpoint> endpoint;
    if (!o.dry_run) {
        if (!t.base_url) {
            throw usage_error(
                "no API server: give --server URL (with --token-file and --ca-file), or run in a pod "
                "(KUBERNETES_SERVICE_HOST is not set)");
        }
        endpoint = k8s_endpoint{*t.base_url, t.ca_file, {}};
        if (t.token_file) endpoint->token = read_token(*t.token_file, !t.in_cluster || o.token_file.has_value(), c);
        if (t.base_url->starts_with("http://") && !endpoint->token.empty()) {
            c.err << "whisper-vram: warning: --server is plain http://: the bearer token travels unencrypted\n";
        }
    }
    if (!interval) {
        advertise_once(o, t, endpoint, retry, false, c);
        return exit_status::ok;
    }
    const stop_signals signals;  // SIGTERM (a pod's stop) and SIGINT end the loop cleanly: exit 0
    while (stop_requested == 0) {
        advertise_once(o, t, endpoint, retry, true, c);
        if (!wait_unless_stopped(std::chrono::seconds(*interval))) break;
    }
    return exit_status::ok;
}

}  // namespace

void setup_k8s(CLI::App& app, command_action& action) {
    auto* k8s = app.add_subcommand("k8s", "Kubernetes: resource requests for a job, node GPU memory as capacity");
    k8s->require_subcommand(1);
    add_footer(
        *k8s, "",
        {"whisper-vram k8s resources large-v3 --flavor hami", "whisper-vram k8s advertise --node gpu-1 --dry-run"});

    const auto [resources, ro] =
        add_command(*k8s, action, "resources", "the container resources (or DRA claim) that ask for a job's GPU memory",
                    run_resources);
    resources->add_option("model", ro->model, "model name, e.g. medium, large-v3, turbo")->required();
    add_estimate_options(*resources, ro->estimate);
    resources->add_option("--flavor", ro->flavor, "the GPU sharing scheme: " + k8s_flavor_list());
    resources->add_option("--resource", ro->resource,
                          fmt::format("extended: the resource name (default {})", default_k8s_extended_resource));
    resources->add_option("--name", ro->name, "dra: the ResourceClaimTemplate's name (default whisper-MODEL)");
    resources->add_flag("--yaml", ro->yaml, "print YAML (the default)");
    resources->add_flag("--json", ro->json,
                        "print {flavor, recommended_bytes, requested_bytes, resources, "
                        "resource_claim_template, notes, estimate}");
    add_footer(*resources,
               "Values are rounded UP (1 byte over a MiB asks for the next MiB; gpushare: whole GiB).\n"
               "hami: nvidia.com/gpu + nvidia.com/gpumem (MiB, enforced in the container by HAMi-core);\n"
               "gpushare: aliyun.com/gpu-mem (GiB, scheduling only); volcano: volcano.sh/vgpu-number +\n"
               "volcano.sh/vgpu-memory (MiB); extended: one extended resource in MiB (scheduling only; see\n"
               "`k8s advertise`); dra: a resource.k8s.io/v1 ResourceClaimTemplate with capacity.requests.memory\n"
               "(Kubernetes >= 1.34, DRAConsumableCapacity). See docs/cluster.md. Exit status 2 for a bad value.",
               {"whisper-vram k8s resources large-v3 --flavor hami",
                "whisper-vram k8s resources large-v3 --engine faster-whisper --precision int8 --flavor gpushare",
                "whisper-vram k8s resources turbo --flavor dra --name whisper-turbo",
                "whisper-vram k8s resources medium --flavor extended --resource example.com/gpu-memory-mib --json"});

    const auto [advertise, ao] = add_command(
        *k8s, action, "advertise", "patch the node's status capacity with its GPU memory (MiB)", run_advertise);
    advertise->add_option("--node", ao->node, "the node's name (in a DaemonSet: spec.nodeName)")->required();
    advertise->add_option("--resource", ao->resource,
                          fmt::format("the extended resource (default {})", default_k8s_extended_resource));
    advertise->add_option("--server", ao->server,
                          "API server URL, e.g. https://10.96.0.1:443 (default: in-cluster, KUBERNETES_SERVICE_HOST)");
    advertise->add_option("--token-file", ao->token_file,
                          fmt::format("bearer token file (in-cluster default {}/token)", service_account_dir));
    advertise->add_option(
        "--ca-file", ao->ca_file,
        fmt::format("CA bundle for the server's certificate (in-cluster default {}/ca.crt)", service_account_dir));
    advertise->add_flag("--dry-run", ao->dry_run, "print the request instead of sending it");
    advertise->add_option("--interval", ao->interval, "repeat every S seconds until SIGTERM (exit 0)");
    advertise->add_option("--attempts", ao->attempts, "tries per advertisement on 409/429/5xx/no answer (default 5)");
    add_simulate_option(*advertise, ao->simulate);
    advertise->add_flag("--json", ao->json,
                        "print {node, dry_run, method, url, content_type, patch, status, "
                        "attempts, capacity} per advertisement");
    add_footer(*advertise,
               "Capacity: each usable GPU's memory.total rounded down to whole MiB, summed (CUDA_VISIBLE_DEVICES\n"
               "applies); kubelet copies it to allocatable. Retries 409/429/5xx and connection failures\n"
               "(--attempts, 0.5 s doubling, Retry-After honoured up to 8 s); 401/403/404 and TLS failures exit 2\n"
               "with the server's message. With --interval a failed round is a warning and the next round tries\n"
               "again; SIGTERM ends it (exit 0). The node total cannot say whether one GPU has enough: see\n"
               "docs/cluster.md. DaemonSet: packaging/kubernetes/daemonset.yaml.",
               {"whisper-vram k8s advertise --node gpu-1 --dry-run --simulate \"A100 80GB,A100 80GB\"",
                "whisper-vram k8s advertise --node gpu-1 --server https://10.96.0.1 --token-file t --ca-file ca.crt",
                "whisper-vram k8s advertise --node \"$NODE_NAME\" --interval 60"});
}

}  // namespace whisper_vram::cli
