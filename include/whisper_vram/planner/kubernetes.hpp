#pragma once
/// @file kubernetes.hpp
/// Kubernetes from an estimate, pure (no I/O): the container `resources` stanza (or a DRA
/// ResourceClaimTemplate) that asks the GPU-memory sharing device plugins for a Whisper job's
/// recommended memory (`whisper-vram k8s resources`), and the node capacity a DaemonSet
/// advertises for a plain extended resource (`whisper-vram k8s advertise`): the JSON Patch body,
/// the JSON-Pointer escaping of the resource name, and the API server's error message.
///
/// Rounding: a request is rounded UP to its unit (1 byte over a MiB asks for the next MiB: the job
/// never gets less than the estimate); a capacity is rounded DOWN (a node never offers memory it
/// does not have). The per-flavor meaning of the number (limit or scheduling hint) is in
/// k8s_flavor_info().

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {

/// The GPU-memory sharing schemes `k8s resources` writes a request for.
enum class k8s_flavor {
    hami,      ///< HAMi device plugin: nvidia.com/gpu + nvidia.com/gpumem (MiB)
    gpushare,  ///< Aliyun gpushare device plugin + scheduler extender: aliyun.com/gpu-mem (GiB)
    volcano,   ///< Volcano vGPU device plugin: volcano.sh/vgpu-number + volcano.sh/vgpu-memory (MiB)
    extended,  ///< a plain extended resource in MiB, advertised by `k8s advertise`
    dra,       ///< Dynamic Resource Allocation: a ResourceClaimTemplate with a memory capacity request
};

/// Every flavor, in the order of help and error messages.
std::span<const k8s_flavor> k8s_flavors() noexcept;

/// The flavor's name as the CLI takes it ("hami", "gpushare", "volcano", "extended", "dra").
std::string_view to_string(k8s_flavor flavor) noexcept;

/// "hami, gpushare, volcano, extended, dra": for help and error messages.
std::string k8s_flavor_list();

/// The flavor named @p name (exact, lower case).
/// @throws usage_error naming @p name and the allowed flavors.
k8s_flavor parse_k8s_flavor(std::string_view name);

/// What a flavor does with the number, and where that is documented.
struct k8s_flavor_facts {
    std::string_view enforcement;  ///< limit enforced, or scheduling only: one sentence
    std::string_view source;       ///< the project/document it comes from (not verifiable offline)
};

/// The facts of @p flavor (see the sources cited in src/planner/kubernetes.cpp).
const k8s_flavor_facts& k8s_flavor_info(k8s_flavor flavor) noexcept;

/// The default name of the plain extended resource: "whisper-vram/gpu-memory-mib". A prefix we own
/// no domain for would be a claim on someone else's name; a one-label prefix is a valid
/// DNS-1123 subdomain (so a valid extended resource name, outside kubernetes.io) that cannot
/// collide with a real domain, and the unit is in the name because a quantity has none.
inline constexpr std::string_view default_k8s_extended_resource = "whisper-vram/gpu-memory-mib";

/// Checks @p name is an extended resource name Kubernetes accepts: `prefix/name`, the prefix a
/// DNS-1123 subdomain (≤ 253 characters) outside kubernetes.io, the name ≤ 63 characters of
/// [A-Za-z0-9-_.] starting and ending alphanumeric, and not starting with "requests.".
/// @throws usage_error naming @p name, @p what (e.g. "--resource") and the rule it breaks.
void validate_k8s_resource_name(std::string_view name, std::string_view what);

/// Checks @p name is a node name (a DNS-1123 subdomain: ≤ 253 characters of [a-z0-9-.], each
/// dot-separated label starting and ending alphanumeric).
/// @throws usage_error naming @p name, @p what (e.g. "--node") and the rule.
void validate_k8s_node_name(std::string_view name, std::string_view what);

/// A metadata.name for @p text: lower case, characters other than [a-z0-9] replaced by '-',
/// trimmed of non-alphanumerics at both ends, at most 63 characters; "whisper" when nothing is left.
std::string k8s_object_name(std::string_view text);

/// ceil(@p bytes / @p unit), exact for any 64-bit value (no overflow); @p unit > 0.
constexpr std::uint64_t ceil_units(std::uint64_t bytes, std::uint64_t unit) noexcept {
    return bytes / unit + (bytes % unit != 0 ? 1 : 0);
}

/// Options of k8s_resources_for().
struct k8s_render_options {
    std::string resource_name{default_k8s_extended_resource};  ///< the extended flavor's resource
    std::string claim_name = "whisper";                        ///< the dra flavor's ResourceClaimTemplate metadata.name
    std::string title;  ///< the first comment line of the YAML (e.g. the command)
};

/// The request of one flavor for @p recommended_bytes.
struct k8s_resources {
    k8s_flavor flavor = k8s_flavor::hami;
    std::uint64_t recommended_bytes = 0;
    std::uint64_t requested_bytes = 0;  ///< what the request asks for: recommended rounded up to the unit
    /// Container `resources.limits` entries in order (name, integer quantity); empty for dra.
    std::vector<std::pair<std::string, std::uint64_t>> limits;
    std::string claim_name;          ///< dra: the ResourceClaimTemplate's name
    std::string device_class;        ///< dra: "gpu.nvidia.com"
    std::string memory_quantity;     ///< dra: the capacity request, "<N>Mi"
    std::string title;               ///< k8s_render_options::title
    std::vector<std::string> notes;  ///< what the number means for this flavor, and caveats
};

/// The request of @p flavor for a job whose recommended memory is @p recommended_bytes (> 0).
/// @throws usage_error for a bad extended resource or claim name in @p options.
k8s_resources k8s_resources_for(k8s_flavor flavor, std::uint64_t recommended_bytes,
                                const k8s_render_options& options = {});

/// @p r as YAML: comment lines (title, notes), then the container `resources:` stanza, or for dra
/// the ResourceClaimTemplate document and, as comments, how a pod refers to it. 2-space indent.
std::string to_yaml(const k8s_resources& r);

/// One GPU's share of a node's advertised capacity.
struct k8s_gpu_capacity {
    unsigned index = 0;  ///< position in the snapshot (as CUDA numbers the visible GPUs)
    std::string name;
    std::uint64_t total_bytes = 0;  ///< as the probe reports it (NVML's memory.total)
    std::uint64_t mib = 0;          ///< floor(total / MiB); 0 when not counted
    bool counted = false;           ///< false for a lost GPU, one with an error or without its own memory
    std::string reason;             ///< why not counted
};

/// A node's GPU memory as one extended resource: the sum of its GPUs' whole MiB.
struct k8s_node_capacity {
    std::string resource_name;
    std::vector<k8s_gpu_capacity> gpus;
    std::uint64_t total_mib = 0;
    std::uint64_t largest_gpu_mib = 0;  ///< what one job can really get (the node total cannot say)
};

/// The capacity @p gpus give for @p resource_name (validated by the caller): GPUs in state ok
/// with memory count, floor(total / MiB) each.
k8s_node_capacity k8s_capacity_for(const std::vector<gpu_device>& gpus, std::string resource_name);

/// RFC 6901 escaping of one JSON Pointer reference token: '~' → "~0", '/' → "~1" (in that order).
std::string json_pointer_escape(std::string_view token);

/// The JSON Patch (RFC 6902) that sets the node's status.capacity[@p resource_name] to @p value
/// (a quantity string): `[{"op":"add","path":"/status/capacity/<escaped>","value":"<value>"}]`.
std::string k8s_capacity_patch(std::string_view resource_name, std::uint64_t value);

/// The API path of a node's status subresource: "/api/v1/nodes/<node>/status".
std::string k8s_node_status_path(std::string_view node);

/// The human message of an API server error body: the `message` of a Kubernetes Status object
/// when @p body is one, else the body; its first 400 bytes (cut at a character boundary, "..."
/// when cut), terminal-safe (control characters escaped); nullopt for an empty body. Never throws (the body is outside
/// input).
std::optional<std::string> k8s_api_error_message(std::string_view body) noexcept;

}  // namespace whisper_vram
