// whisper-vram ray: Ray. `ray resources` prints the node's `ray start --resources` JSON (GPU
// memory as custom resources), `ray request` a task's num_gpus= and resources= (planner/ray.hpp:
// the scheme and why num_gpus is what keeps a task on ONE GPU).

#include <fmt/format.h>

#include <algorithm>

#include "commands.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/ray.hpp"

namespace whisper_vram::cli {
namespace {

constexpr const char* default_granule = "1GiB";

// The node's GPUs as CUDA (and Ray) number them; exit 3 when there is no GPU information.
std::vector<gpu_device> node_gpus(const std::optional<std::string>& simulate, const context& c) {
    const gpu_manager manager = make_manager(c, simulate);
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    if (!snapshot.available()) throw gpu_unavailable_error(snapshot.unavailable_reason);
    std::vector<gpu_device> gpus;
    for (auto& v : visible_gpus(snapshot, c.env.cuda_visible_devices)) gpus.push_back(std::move(v.device));
    return gpus;
}

struct resources_options {
    std::optional<std::string> simulate;
    std::string granule = default_granule;
    bool json = false;
};

exit_status run_resources(const resources_options& o, const context& c) {
    const std::uint64_t granule = parse_size_bytes(o.granule, "--granule");
    const ray_node_resources r = ray_resources_for(node_gpus(o.simulate, c), granule);
    if (o.json) {
        print_json(c.out, to_json(r));
    } else {
        c.out << ray_start_resources_json(r) << '\n';
    }
    for (const auto& g : r.gpus) {
        if (!g.counted) c.err << fmt::format("whisper-vram: warning: GPU {} not counted: {}\n", g.index, g.reason);
    }
    return exit_status::ok;
}

struct request_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> simulate;
    std::optional<std::string> gpu_memory;
    std::string granule = default_granule;
    bool json = false;
};

// The GPU memory num_gpus is a fraction of, and where it came from: --gpu-memory, else the --gpu
// card's usable memory, else the smallest usable GPU of this node (--simulate / NVML).
std::pair<std::uint64_t, std::string> gpu_memory_for(const request_options& o, const context& c) {
    if (o.gpu_memory) return {parse_size_bytes(*o.gpu_memory, "--gpu-memory"), "--gpu-memory"};
    if (o.estimate.gpu) {
        const gpu_model& card = find_gpu_model(*o.estimate.gpu);
        return {planning_memory_bytes(card), fmt::format("--gpu {}", card.name)};
    }
    std::optional<gpu_device> smallest;
    for (const auto& g : node_gpus(o.simulate, c)) {
        if (g.state == gpu_state::ok && g.total_bytes > 0 && (!smallest || g.total_bytes < smallest->total_bytes)) {
            smallest = g;
        }
    }
    if (!smallest) {
        throw usage_error("no usable GPU on this node to size num_gpus for: give --gpu-memory SIZE or --gpu NAME");
    }
    return {smallest->total_bytes, fmt::format("the smallest GPU here, {} {}", smallest->index, smallest->name)};
}

exit_status run_request(const request_options& o, const context& c) {
    const std::uint64_t granule = parse_size_bytes(o.granule, "--granule");
    const memory_estimate e = estimate(to_request(o.estimate, o.model));
    const auto [gpu_bytes, source] = gpu_memory_for(o, c);
    const ray_task_request r = ray_request_for(e.recommended_bytes, gpu_bytes, granule);
    if (o.json) {
        auto j = to_json(r);
        j["gpu_memory_source"] = source;
        j["estimate"] = to_json(e);
        print_json(c.out, j);
    } else if (r.fits()) {
        c.out << ray_task_options(r) << '\n';
    } else {
        c.out << fmt::format(
            "does not fit on one GPU: recommended {} GiB > {} GiB ({}); Ray would hand the task whole GPUs\n",
            gib2(bytes_to_gib(r.recommended_bytes)), gib2(bytes_to_gib(r.gpu_bytes)), source);
    }
    return fit_status(r.fits());
}

}  // namespace

void setup_ray(CLI::App& app, command_action& action) {
    auto* ray = app.add_subcommand("ray", "Ray: GPU memory as node custom resources, and a task's request");
    ray->require_subcommand(1);
    add_footer(*ray, "", {"whisper-vram ray resources", "whisper-vram ray request large-v3 --gpu-memory 24GiB"});

    const auto [resources, ro] =
        add_command(*ray, action, "resources",
                    "the `ray start --resources` JSON: GPU memory of the node and of each GPU", run_resources);
    add_simulate_option(*resources, ro->simulate);
    resources->add_option("--granule", ro->granule, "the unit of the resources (default 1GiB: key gpu_memory_gib)");
    resources->add_flag("--json", ro->json, "print {granule_bytes, key, total_granules, resources, gpus}");
    add_footer(*resources,
               "Each usable GPU's memory rounded down to whole granules: gpu_memory_gib (the node's sum) and\n"
               "gpu_memory_gib_<i> (GPU i, as CUDA numbers it). Ray custom resources are node-level: the sum\n"
               "cannot keep a task on one GPU; `ray request` uses num_gpus for that (docs/cluster.md).",
               {"ray start --resources=\"$(whisper-vram ray resources)\"",
                "whisper-vram ray resources --simulate \"A100 80GB,A100 80GB\""});

    const auto [request, qo] =
        add_command(*ray, action, "request", "a task's num_gpus= and resources= for a Whisper job", run_request);
    request->add_option("model", qo->model, "model name, e.g. medium, large-v3, turbo")->required();
    add_estimate_options(*request, qo->estimate);
    add_simulate_option(*request, qo->simulate);
    request->add_option("--gpu-memory", qo->gpu_memory,
                        "memory of the cluster's smallest GPU (default: --gpu's card, else this node's smallest GPU)");
    request->add_option("--granule", qo->granule, "the unit of the resources (as `ray resources`; default 1GiB)");
    request->add_flag("--json", qo->json, "print {num_gpus, num_gpus_units, resources, fits, granules, ...}");
    add_footer(*request,
               "num_gpus = recommended / GPU memory, rounded UP to Ray's 0.0001: Ray serves a fraction below 1\n"
               "from ONE GPU. Size it for the smallest GPU the task may land on. Exit status 1 when the job\n"
               "needs more than one GPU.",
               {"whisper-vram ray request large-v3 --gpu-memory 24GiB",
                "whisper-vram ray request large-v3 --engine faster-whisper --precision int8 --gpu T4"});
}

}  // namespace whisper_vram::cli
