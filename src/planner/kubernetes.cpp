// Kubernetes requests and node capacity from whisper-vram's numbers (see kubernetes.hpp). Pure.
//
// Sources of the resource names, units and what each scheme does with the number (read from the
// projects' documentation as of 2025; none of them can be run or checked from this machine):
//  - HAMi (github.com/Project-HAMi/HAMi, README "Run GPU jobs" and docs/config.md):
//    `nvidia.com/gpu: 1` asks for one vGPU, `nvidia.com/gpumem: <MiB>` its device memory (an
//    integer in MiB). HAMi-core (libvgpu.so, injected into the container) intercepts the CUDA driver
//    API and fails allocations beyond the limit: a limit enforced inside the container. What it
//    cannot see (a process that avoids the injected library) it cannot enforce.
//  - gpushare (github.com/AliyunContainerService/gpushare-scheduler-extender, docs/userguide.md,
//    and gpushare-device-plugin): `aliyun.com/gpu-mem: <N>` in GiB (the device plugin's default
//    --memory-unit=GiB; MiB when the cluster set --memory-unit=MiB, which `k8s resources` does not
//    know). The scheduler extender places pods by it; the project says it does not isolate memory:
//    the application must keep to its share (scheduling only).
//  - Volcano vGPU (github.com/volcano-sh/devices, README "vGPU"; volcano.sh docs "GPU
//    virtualization"): `volcano.sh/vgpu-number: 1`, `volcano.sh/vgpu-memory: <MiB>`. Its vGPU mode
//    is built on HAMi-core and then enforces the memory limit in the container; deployments of the
//    older gpu-share mode (`volcano.sh/gpu-memory`) schedule only. Which one a cluster runs is its
//    configuration: unsure, so the note says so.
//  - DRA consumable capacity (KEP-5075 "DRA: Consumable Capacity", kubernetes/enhancements
//    keps/sig-scheduling/5075-dra-consumable-capacity; alpha in Kubernetes 1.34, feature gate
//    DRAConsumableCapacity): in resource.k8s.io/v1 a request is `exactly: {deviceClassName, count,
//    capacity: {requests: {memory: <quantity>}}}` against a device its driver publishes with
//    `allowMultipleAllocations: true` and a `memory` capacity. `gpu.nvidia.com` is the DeviceClass
//    of NVIDIA's DRA driver (github.com/NVIDIA/k8s-dra-driver-gpu). The scheduler accounts the
//    capacity; whether memory is fenced is up to the driver. Unverified here: no 1.34 cluster.
//  - Extended resources and their advertising: kubernetes.io "Advertise Extended Resources for a
//    Node" (PATCH /api/v1/nodes/<node>/status with a JSON Patch, `/` in the name as `~1`) and
//    "Resource Management for Pods and Containers" (extended resources are integers, node-level,
//    never overcommitted; the scheduler only counts them).

#include "whisper_vram/planner/kubernetes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

constexpr std::array all_flavors{k8s_flavor::hami, k8s_flavor::gpushare, k8s_flavor::volcano, k8s_flavor::extended,
                                 k8s_flavor::dra};

constexpr std::size_t max_subdomain_length = 253;  // DNS-1123 subdomain (RFC 1123; Kubernetes' validation)
constexpr std::size_t max_label_length = 63;       // a qualified name's name part, a DNS label
constexpr std::size_t max_error_bytes = 400;       // of an API server message, before escaping

bool lower_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool any_alnum(char c) noexcept { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Empty when @p text is a DNS-1123 subdomain, else why not.
std::string subdomain_problem(std::string_view text) {
    if (text.empty()) return "it is empty";
    if (text.size() > max_subdomain_length) return fmt::format("it is longer than {} characters", max_subdomain_length);
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t dot = std::min(text.find('.', start), text.size());
        const std::string_view label = text.substr(start, dot - start);
        if (label.empty()) return "it has an empty dot-separated part";
        if (!std::all_of(label.begin(), label.end(), [](char c) { return lower_alnum(c) || c == '-'; })) {
            return "only lower-case letters, digits, '-' and '.' are allowed";
        }
        if (!lower_alnum(label.front()) || !lower_alnum(label.back())) {
            return "each dot-separated part must start and end with a letter or digit";
        }
        start = dot + 1;
    }
    return {};
}

// Empty when @p text is the name part of a qualified name, else why not.
std::string qualified_name_problem(std::string_view text) {
    if (text.empty()) return "the name after '/' is empty";
    if (text.size() > max_label_length) {
        return fmt::format("the name after '/' is longer than {} characters", max_label_length);
    }
    if (!std::all_of(text.begin(), text.end(),
                     [](char c) { return any_alnum(c) || c == '-' || c == '_' || c == '.'; })) {
        return "the name after '/' may hold only letters, digits, '-', '_' and '.'";
    }
    if (!any_alnum(text.front()) || !any_alnum(text.back())) {
        return "the name after '/' must start and end with a letter or digit";
    }
    return {};
}

std::string shown_text(std::string_view text) { return escape_for_terminal(text); }

// The notes of a flavor: what the number means, then the per-GPU and rounding facts.
std::vector<std::string> flavor_notes(k8s_flavor flavor, std::uint64_t recommended, std::uint64_t requested,
                                      std::string_view unit) {
    const auto& facts = k8s_flavor_info(flavor);
    std::vector<std::string> notes{std::string(facts.enforcement)};
    const std::uint64_t unit_bytes = unit == "GiB" ? bytes_per_gib : bytes_per_mib;
    notes.push_back(fmt::format("recommended {} bytes rounded up to whole {}: {} {} = {} bytes requested", recommended,
                                unit, requested / unit_bytes, unit, requested));
    if (flavor == k8s_flavor::extended) {
        notes.emplace_back(
            "an extended resource is one number per node: a node whose total is enough may have no single GPU "
            "with this much free; keep `whisper-vram run` in the container as the last check");
    }
    notes.push_back(fmt::format("source: {}", facts.source));
    return notes;
}

}  // namespace

std::span<const k8s_flavor> k8s_flavors() noexcept { return all_flavors; }

std::string_view to_string(k8s_flavor flavor) noexcept {
    switch (flavor) {
        case k8s_flavor::hami:
            return "hami";
        case k8s_flavor::gpushare:
            return "gpushare";
        case k8s_flavor::volcano:
            return "volcano";
        case k8s_flavor::extended:
            return "extended";
        case k8s_flavor::dra:
            return "dra";
    }
    return "?";
}

std::string k8s_flavor_list() {
    std::string list;
    for (const auto flavor : all_flavors) list += fmt::format("{}{}", list.empty() ? "" : ", ", to_string(flavor));
    return list;
}

k8s_flavor parse_k8s_flavor(std::string_view name) {
    for (const auto flavor : all_flavors) {
        if (to_string(flavor) == name) return flavor;
    }
    throw usage_error(fmt::format("unknown --flavor '{}': use one of {}", shown_text(name), k8s_flavor_list()));
}

const k8s_flavor_facts& k8s_flavor_info(k8s_flavor flavor) noexcept {
    static const k8s_flavor_facts hami{
        "HAMi: a limit - HAMi-core, injected into the container, fails CUDA allocations beyond nvidia.com/gpumem "
        "(MiB); the scheduler places the pod on one GPU with that much unallocated",
        "HAMi README and docs/config.md (github.com/Project-HAMi/HAMi)"};
    static const k8s_flavor_facts gpushare{
        "gpushare: scheduling only - the scheduler extender places the pod on one GPU with aliyun.com/gpu-mem "
        "GiB unallocated; memory is not isolated, the job must keep to its share (the unit is MiB instead "
        "where the device plugin runs with --memory-unit=MiB)",
        "gpushare-scheduler-extender docs/userguide.md (github.com/AliyunContainerService)"};
    static const k8s_flavor_facts volcano{
        "Volcano vGPU: volcano.sh/vgpu-memory (MiB) per vGPU on one GPU; enforced in the container where the "
        "vGPU device plugin runs with HAMi-core, scheduling only in the older gpu-share mode (check which "
        "one your cluster runs)",
        "volcano-sh/devices README (github.com/volcano-sh/devices)"};
    static const k8s_flavor_facts extended{
        "extended resource: scheduling only - the scheduler subtracts the request from the node's advertised "
        "total (`whisper-vram k8s advertise`); nothing fences memory and no GPU is assigned by it",
        "kubernetes.io: Advertise Extended Resources for a Node; Resource Management for Pods and Containers"};
    static const k8s_flavor_facts dra{
        "DRA consumable capacity (Kubernetes >= 1.34, alpha, feature gate DRAConsumableCapacity): the scheduler "
        "allocates the memory from one device the driver publishes with allowMultipleAllocations; fencing is "
        "up to the driver",
        "KEP-5075 DRA Consumable Capacity (kubernetes/enhancements); NVIDIA k8s-dra-driver-gpu (DeviceClass "
        "gpu.nvidia.com); not verified against a cluster"};
    switch (flavor) {
        case k8s_flavor::hami:
            return hami;
        case k8s_flavor::gpushare:
            return gpushare;
        case k8s_flavor::volcano:
            return volcano;
        case k8s_flavor::extended:
            return extended;
        case k8s_flavor::dra:
            return dra;
    }
    return extended;
}

void validate_k8s_resource_name(std::string_view name, std::string_view what) {
    const auto bad = [&](std::string_view why) {
        throw usage_error(fmt::format(
            "{} '{}' is not an extended resource name: {} (use PREFIX/NAME, e.g. {}: PREFIX a DNS subdomain "
            "outside kubernetes.io, NAME up to 63 letters, digits, '-', '_', '.')",
            what, shown_text(name), why, default_k8s_extended_resource));
    };
    const auto slash = name.find('/');
    if (slash == std::string_view::npos) bad("it has no '/' (a name without a prefix is a built-in resource)");
    const std::string_view prefix = name.substr(0, slash);
    if (const auto problem = subdomain_problem(prefix); !problem.empty()) {
        bad(fmt::format("in the prefix, {}", problem));
    }
    if (prefix == "kubernetes.io" || prefix.ends_with(".kubernetes.io") || prefix == "k8s.io" ||
        prefix.ends_with(".k8s.io")) {
        bad("the kubernetes.io and k8s.io prefixes are reserved for Kubernetes' own resources");
    }
    if (prefix.starts_with("requests.")) bad("names starting with 'requests.' are reserved for quotas");
    if (const auto problem = qualified_name_problem(name.substr(slash + 1)); !problem.empty()) bad(problem);
}

void validate_k8s_node_name(std::string_view name, std::string_view what) {
    if (const auto problem = subdomain_problem(name); !problem.empty()) {
        throw usage_error(fmt::format("{} '{}' is not a Kubernetes node name: {} (a DNS subdomain, e.g. gpu-node-1)",
                                      what, shown_text(name), problem));
    }
}

std::string k8s_object_name(std::string_view text) {
    std::string name;
    for (const char c : text) {
        const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        name += lower_alnum(lower) ? lower : '-';  // '.' too: one DNS label, valid however the dots fall
    }
    if (name.size() > max_label_length) name.resize(max_label_length);
    const auto first = std::find_if(name.begin(), name.end(), lower_alnum);
    const auto last = std::find_if(name.rbegin(), name.rend(), lower_alnum).base();
    if (first >= last) return "whisper";
    return {first, last};
}

k8s_resources k8s_resources_for(k8s_flavor flavor, std::uint64_t recommended_bytes, const k8s_render_options& options) {
    if (recommended_bytes == 0) throw usage_error("a Kubernetes request needs a recommended memory above 0 bytes");
    k8s_resources r;
    r.flavor = flavor;
    r.recommended_bytes = recommended_bytes;
    r.title = options.title;
    const std::uint64_t mib = ceil_units(recommended_bytes, bytes_per_mib);
    switch (flavor) {
        case k8s_flavor::hami:
            r.limits = {{"nvidia.com/gpu", 1}, {"nvidia.com/gpumem", mib}};
            break;
        case k8s_flavor::gpushare:
            r.limits = {{"aliyun.com/gpu-mem", ceil_units(recommended_bytes, bytes_per_gib)}};
            break;
        case k8s_flavor::volcano:
            r.limits = {{"volcano.sh/vgpu-number", 1}, {"volcano.sh/vgpu-memory", mib}};
            break;
        case k8s_flavor::extended:
            validate_k8s_resource_name(options.resource_name, "--resource");
            r.limits = {{options.resource_name, mib}};
            break;
        case k8s_flavor::dra:
            if (const auto problem = subdomain_problem(options.claim_name); !problem.empty()) {
                throw usage_error(fmt::format("--name '{}' is not a Kubernetes object name: {}",
                                              shown_text(options.claim_name), problem));
            }
            r.claim_name = options.claim_name;
            r.device_class = "gpu.nvidia.com";
            r.memory_quantity = fmt::format("{}Mi", mib);
            break;
    }
    const bool gib = flavor == k8s_flavor::gpushare;
    r.requested_bytes = gib ? ceil_units(recommended_bytes, bytes_per_gib) * bytes_per_gib : mib * bytes_per_mib;
    r.notes = flavor_notes(flavor, recommended_bytes, r.requested_bytes, gib ? "GiB" : "MiB");
    return r;
}

std::string to_yaml(const k8s_resources& r) {
    std::string yaml;
    if (!r.title.empty()) yaml += fmt::format("# {}\n", r.title);
    for (const auto& note : r.notes) yaml += fmt::format("# {}\n", note);
    if (r.flavor != k8s_flavor::dra) {
        // Names are validated (letters, digits, '-', '_', '.', '/'): plain YAML scalars.
        yaml += "resources:\n  limits:\n";
        for (const auto& [name, quantity] : r.limits) yaml += fmt::format("    {}: {}\n", name, quantity);
        return yaml;
    }
    yaml += fmt::format(
        "apiVersion: resource.k8s.io/v1\n"
        "kind: ResourceClaimTemplate\n"
        "metadata:\n"
        "  name: {0}\n"
        "spec:\n"
        "  spec:\n"
        "    devices:\n"
        "      requests:\n"
        "        - name: gpu\n"
        "          exactly:\n"
        "            deviceClassName: {1}\n"
        "            allocationMode: ExactCount\n"
        "            count: 1\n"
        "            capacity:\n"
        "              requests:\n"
        "                memory: {2}\n"
        "# In the pod: spec.resourceClaims: [{{name: gpu, resourceClaimTemplateName: {0}}}]\n"
        "# and in its container: resources.claims: [{{name: gpu}}]\n",
        r.claim_name, r.device_class, r.memory_quantity);
    return yaml;
}

k8s_node_capacity k8s_capacity_for(const std::vector<gpu_device>& gpus, std::string resource_name) {
    k8s_node_capacity capacity;
    capacity.resource_name = std::move(resource_name);
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        const auto& g = gpus[i];
        k8s_gpu_capacity c;
        c.index = static_cast<unsigned>(i);
        c.name = g.name;
        c.total_bytes = g.total_bytes;
        if (g.state != gpu_state::ok) {
            c.reason = fmt::format("GPU state {}", to_string(g.state));
        } else if (g.total_bytes < bytes_per_mib) {
            c.reason = "no dedicated memory reported";
        } else {
            c.counted = true;
            c.mib = g.total_bytes / bytes_per_mib;  // down: never offer memory the GPU does not have
            // Checked, though a sum of MiB counts reaches 2^64 only past 2^44 GPUs of 1 EiB.
            if (capacity.total_mib > UINT64_MAX - c.mib) throw usage_error("GPU memory sum overflows 64 bits");
            capacity.total_mib += c.mib;
            capacity.largest_gpu_mib = std::max(capacity.largest_gpu_mib, c.mib);
        }
        capacity.gpus.push_back(std::move(c));
    }
    return capacity;
}

std::string json_pointer_escape(std::string_view token) {
    std::string escaped;
    for (const char c : token) {
        if (c == '~') {
            escaped += "~0";
        } else if (c == '/') {
            escaped += "~1";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

std::string k8s_capacity_patch(std::string_view resource_name, std::uint64_t value) {
    const nlohmann::json op = {{"op", "add"},
                               {"path", "/status/capacity/" + json_pointer_escape(resource_name)},
                               {"value", std::to_string(value)}};
    return nlohmann::json::array({op}).dump();
}

std::string k8s_node_status_path(std::string_view node) { return fmt::format("/api/v1/nodes/{}/status", node); }

std::optional<std::string> k8s_api_error_message(std::string_view body) noexcept {
    try {
        if (body.empty()) return std::nullopt;
        std::string_view text = body;
        const auto j = nlohmann::json::parse(body, nullptr, false);
        std::string message;
        if (j.is_object()) {
            const auto m = j.find("message");
            if (m != j.end() && m->is_string()) message = m->get<std::string>();
        }
        if (!message.empty()) text = message;
        while (!text.empty() &&
               (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
            text.remove_suffix(1);
        }
        if (text.empty()) return std::nullopt;
        // Cut at a character boundary (invalid bytes count as one), then make it printable.
        std::size_t cut = 0;
        while (cut < text.size() && cut < max_error_bytes) {
            cut += std::max<std::size_t>(1, utf8_sequence_length(text, cut));
        }
        std::string shown = escape_for_terminal(text.substr(0, std::min(cut, text.size())));
        if (cut < text.size()) shown += "...";
        return shown;
    } catch (...) {  // allocation failure: no message rather than an exception from an error path
        return std::nullopt;
    }
}

}  // namespace whisper_vram
