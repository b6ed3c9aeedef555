#pragma once
// Helpers shared by the planner subcommands (best-model, solve, recommend, presets, check), and the
// sweep lists (--precision all|a,b, --segment a,b, --batch a,b) any sizing subcommand can use.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/gpu_catalog.hpp"

#include "cli_common.hpp"
#include "whisper_vram/core/precision.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {

/// A facade for pure planning questions: no GPU is asked, so no probe is created.
inline gpu_manager offline_manager() { return gpu_manager(make_unavailable_probe("no GPU needed for planning")); }

/// "8.00" — GiB of a byte count with two decimals.
inline std::string gib2_bytes(std::uint64_t bytes) { return gib2(bytes_to_gib(bytes)); }

/// Where a plan's memory comes from (solve, best-model): --memory, --gpu (estimate_options),
/// --gpus / --simulate with --ignore-reservations.
struct memory_options {
    std::optional<std::string> memory;
    std::optional<std::string> gpus;
    std::optional<std::string> simulate;
    bool ignore_reservations = false;
};

/// Adds --memory (when @p with_memory), --gpus, --simulate and --ignore-reservations.
inline void add_memory_options(CLI::App& command, memory_options& o, bool with_memory) {
    if (with_memory) {
        command.add_option(
            "--memory", o.memory,
            "available memory; a bare number is GiB (8, 7.5GiB, 8192MiB); wins over --gpu/--gpus/--simulate");
    }
    command.add_option("--gpus", o.gpus,
                       "one live GPU id (CUDA index, UUID, PCI bus id): plan for its admittable memory and its card");
    add_simulate_option(command, o.simulate);
    command.add_flag("--ignore-reservations", o.ignore_reservations,
                     "with --gpus/--simulate: plan on free memory, ignoring whisper-vram reservations");
}

/// The memory a plan is for and the request sized for that card.
struct planning_memory {
    estimate_request request;            ///< sized for the GPU (request_for_gpu()) when one was probed
    std::optional<std::uint64_t> bytes;  ///< none when not needed (min-memory) and not given
    std::optional<gpu_device> device;    ///< the probed GPU (--gpus / --simulate)
    std::string source;                  ///< for people: where the memory came from ("--memory" when given)
};

/// --memory (wins), else --gpu NAME (the catalog card's memory), else one live or simulated GPU
/// (--gpus / --simulate: its admittable memory, or its free memory with --ignore-reservations);
/// the request sized for that card. @p needs_memory false: memory only when a GPU is given.
/// @throws usage_error naming what to pass when memory is needed and none of them is given.
inline planning_memory memory_for(const memory_options& o, const context& c, estimate_request request,
                                  bool needs_memory, std::string_view command) {
    planning_memory m;
    if (o.memory) {
        m.bytes = parse_size_bytes(*o.memory, "--memory");
        m.source = "--memory";
    } else if (request.gpu_name) {
        const gpu_model& card = find_gpu_model(*request.gpu_name);
        if (needs_memory) m.bytes = card.memory_bytes;
        m.source = fmt::format("--gpu {} (catalog: {})", card.name, format_gib(card.memory_bytes));
    } else if (o.gpus || o.simulate) {
        const auto target = make_manager(c, o.simulate).planning_gpu(o.gpus.value_or(""), o.ignore_reservations);
        request = request_for_gpu(request, target.gpu.device);
        m.device = target.gpu.device;
        if (needs_memory) m.bytes = target.available_bytes;
        m.source =
            fmt::format("GPU {} ({}): {} {}{}", target.gpu.cuda_index, target.gpu.device.name,
                        format_gib(target.available_bytes), target.memory_basis,
                        target.memory_basis == "admittable"
                            ? fmt::format(" (free {} less {} reserved)", format_gib(target.gpu.device.free_bytes),
                                          format_gib(target.reserved_bytes))
                            : std::string());
    } else if (needs_memory) {
        throw usage_error(
            fmt::format("{}: no memory to plan for: pass --memory SIZE (e.g. 8 = 8 GiB), --gpu NAME (a catalog card), "
                        "--simulate SPEC or --gpus ID (a live GPU)",
                        command));
    }
    m.request = std::move(request);
    return m;
}

/// True when @p o's --precision is "all" (every precision of the engine, or the guide's four).
inline bool sweeps_all_precisions(const estimate_options& o) { return o.precision == "all"; }

/// The precisions @p o asks for: "all" → the guide's four columns or every precision the engine
/// supports; else the comma-separated list (one item for a single value).
/// @throws usage_error for an empty item or an unknown engine.
inline std::vector<std::string> precision_values(const estimate_options& o) {
    if (sweeps_all_precisions(o)) {
        if (!is_guide_engine(o.engine)) return engine_precisions(canonical_engine(o.engine));
        std::vector<std::string> names;
        for (const auto p : guide_precisions()) names.emplace_back(to_string(p));
        return names;
    }
    return split_list(o.precision, "--precision");
}

/// Every configuration @p o asks for: --precision × --segment × --batch (each a value or a
/// comma-separated list), in that order, each built by to_request() (validated).
/// @throws usage_error for a bad value or an empty list item.
inline std::vector<estimate_request> sweep_requests(const estimate_options& o, const std::string& model) {
    std::vector<estimate_request> out;
    const auto segments = split_list(o.segment, "--segment");
    const auto batches = split_list(o.batch, "--batch");
    for (const auto& precision : precision_values(o)) {
        for (const auto& segment : segments) {
            for (const auto& batch : batches) {
                estimate_options single = o;
                single.precision = precision;
                single.segment = segment;
                single.batch = batch;
                out.push_back(to_request(single, model));
            }
        }
    }
    return out;
}

/// One configuration of a sweep: its result, or why the engine cannot run it on the card.
template <class Result>
struct sweep_point {
    estimate_request request;
    std::optional<Result> result;  ///< none when unsupported
    std::string unsupported;       ///< "unsupported on T4 (CC 7.5): bfloat16 — <why>"
};

/// "T4 (CC 7.5)" for a named catalog card, else "this GPU".
inline std::string card_text(const estimate_request& request) {
    if (!request.gpu_name) return "this GPU";
    const gpu_model& card = find_gpu_model(*request.gpu_name);
    return fmt::format("{} (CC {}.{})", card.name, card.cc_major, card.cc_minor);
}

/// Runs @p solve on each request. With --precision all, a precision the engine or the card
/// refuses (usage_error) is marked unsupported and the sweep goes on; anything else, or every
/// point refused, is the error. @p card names the GPU in the mark (empty: card_text()).
template <class Solve>
auto run_sweep(const estimate_options& o, const std::vector<estimate_request>& requests, Solve&& solve,
               const std::string& card = {}) -> std::vector<sweep_point<decltype(solve(requests.front()))>> {
    using result_t = decltype(solve(requests.front()));
    std::vector<sweep_point<result_t>> points;
    std::optional<usage_error> first;
    bool any = false;
    for (const auto& r : requests) {
        sweep_point<result_t> p;
        p.request = r;
        try {
            p.result = solve(r);
            any = true;
        } catch (const usage_error& e) {
            if (!sweeps_all_precisions(o)) throw;
            if (!first) first = e;
            p.unsupported =
                fmt::format("unsupported on {}: {} ({})", card.empty() ? card_text(r) : card, r.precision, e.what());
        }
        points.push_back(std::move(p));
    }
    if (!any && first) throw usage_error(*first);
    return points;
}

/// The sweep as a JSON array: each point's to_json(), or, for a point the card cannot run, its
/// inputs (the model when @p with_model), @p verdict_key: false when not empty ("sufficient",
/// "fits"; calc has none) and "unsupported": why.
template <class Result>
nlohmann::ordered_json sweep_json(const std::vector<sweep_point<Result>>& points, bool with_model,
                                  const std::string& verdict_key) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const auto& p : points) {
        if (p.result) {
            array.push_back(to_json(*p.result));
            continue;
        }
        nlohmann::ordered_json j;
        if (with_model) j["model"] = p.request.model;
        j["precision"] = p.request.precision;
        j["segment_duration"] = p.request.segment_seconds;
        j["batch_size"] = p.request.batch_size;
        if (!verdict_key.empty()) j[verdict_key] = false;
        j["unsupported"] = p.unsupported;
        array.push_back(std::move(j));
    }
    return array;
}

}  // namespace whisper_vram::cli
