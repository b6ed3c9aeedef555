#pragma once
// Helpers shared by the planner subcommands (best-model, solve, recommend, presets, check), and the
// sweep lists (--precision all|a,b, --segment a,b, --batch a,b) any sizing subcommand can use.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/core/gpu_catalog.hpp"

#include "cli_common.hpp"
#include "whisper_vram/core/precision.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {

/// A facade for pure planning questions: no GPU is asked, so no probe is created.
inline gpu_manager offline_manager() { return gpu_manager(make_unavailable_probe("no GPU needed for planning")); }

/// "8.00" — GiB of a byte count with two decimals.
inline std::string gib2_bytes(std::uint64_t bytes) { return gib2(bytes_to_gib(bytes)); }

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

}  // namespace whisper_vram::cli
