// The guide's check_gpu_memory_sufficient over given GPUs, with computed suggestions: each one is
// a single change, re-estimated and checked against the tightest usable GPU before it is offered.
#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "planner/planner_detail.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

using detail::gib_text;

std::string describe_config(const estimate_request& r) {
    return fmt::format("{}, {:g} s, batch {}, {}", r.model, r.segment_seconds, r.batch_size, r.precision);
}

// Re-estimates @p config and keeps it only when it fits in @p free_bytes.
std::optional<check_suggestion> verified(std::string change, const estimate_request& config, std::uint64_t free_bytes,
                                         std::string text) {
    const memory_estimate e = estimate(config);
    if (!fits_in(e, free_bytes)) return std::nullopt;
    check_suggestion s;
    s.change = std::move(change);
    s.config = e.request;
    s.recommended_gib = e.recommended_gib;
    s.recommended_bytes = e.recommended_bytes;
    s.text =
        fmt::format("{}: recommended {} <= {} available", text, gib_text(e.recommended_bytes), gib_text(free_bytes));
    return s;
}

// Precision columns, widest first; the suggestion is the first narrower one that fits.
constexpr auto precision_order = std::to_array<std::string_view>({"float32", "float16", "int8", "int4"});

std::size_t precision_rank(std::string_view name) {
    const std::string key = name == "bfloat16" ? "float16" : std::string(name);
    const auto it = std::find(precision_order.begin(), precision_order.end(), key);
    return it == precision_order.end() ? precision_order.size()
                                       : static_cast<std::size_t>(it - precision_order.begin());
}

std::vector<check_suggestion> suggestions_for(const memory_estimate& required, const check_gpu_row& tightest) {
    const estimate_request& r = required.request;
    const std::uint64_t free_bytes = tightest.available_bytes;
    std::vector<check_suggestion> out;
    const auto add = [&](std::optional<check_suggestion> s) {
        if (s) out.push_back(std::move(*s));
    };

    // 1. The longest segment that fits (whole seconds).
    const solve_result segment = solve_max_segment(r, free_bytes);
    if (segment.fits && static_cast<double>(segment.value) < r.segment_seconds) {
        estimate_request c = r;
        c.segment_seconds = static_cast<double>(segment.value);
        add(verified("segment_duration", c, free_bytes,
                     fmt::format("shorten segments to {} s (from {:g} s)", segment.value, r.segment_seconds)));
    }
    // 2. The largest batch that fits.
    if (r.batch_size > 1) {
        const solve_result batch = solve_max_batch(r, free_bytes);
        if (batch.fits && batch.value < static_cast<std::uint64_t>(r.batch_size)) {
            estimate_request c = r;
            c.batch_size = static_cast<int>(batch.value);
            add(verified("batch_size", c, free_bytes,
                         fmt::format("lower the batch size to {} (from {})", batch.value, r.batch_size)));
        }
    }
    // 3. The lowest precision needed: the first narrower precision that fits. Precisions the
    //    engine does not accept are skipped; an engine-specific current precision (rank unknown)
    //    is compared by memory instead.
    const std::size_t rank = precision_rank(r.precision);
    for (std::size_t i = 0; i < precision_order.size(); ++i) {
        if (rank < precision_order.size() && i <= rank) continue;
        estimate_request c = r;
        c.precision = std::string(precision_order[i]);
        try {
            auto s = verified("precision", c, free_bytes,
                              fmt::format("lower the precision to {} (from {})", precision_order[i], r.precision));
            if (s && s->recommended_bytes < required.recommended_bytes) {
                out.push_back(std::move(*s));
                break;
            }
        } catch (const usage_error&) {
            continue;  // this engine has no such precision
        }
    }
    // 4. The best smaller model: the first model of the ladder with fewer parameters that fits.
    if (const whisper_model* current = try_find_model(r.model)) {
        for (const auto& name : model_ladder(r.engine, current->english_only)) {
            const whisper_model* m = try_find_model(name);
            if (m == nullptr || m->published_parameters >= current->published_parameters) continue;
            estimate_request c = r;
            c.model = name;
            try {
                auto s =
                    verified("model", c, free_bytes, fmt::format("use the smaller model {} (from {})", name, r.model));
                if (s) {
                    out.push_back(std::move(*s));
                    break;
                }
            } catch (const usage_error&) {
                continue;  // this engine cannot run that model
            }
        }
    }
    // 5. Memory other processes would have to free: only when the request fits the empty card.
    if (required.recommended_bytes <= tightest.total_bytes) {
        check_suggestion s;
        s.change = "free_memory";
        s.config = r;
        s.recommended_gib = required.recommended_gib;
        s.recommended_bytes = required.recommended_bytes;
        s.free_needed_bytes = required.recommended_bytes - free_bytes;
        s.text = fmt::format(
            "free {} on GPU {} ({}): {} of its {} is in use by other processes{}", gib_text(s.free_needed_bytes),
            tightest.index, tightest.name, gib_text(tightest.total_bytes - free_bytes), gib_text(tightest.total_bytes),
            tightest.reserved_bytes > 0
                ? fmt::format(" or reserved through whisper-vram ({})", gib_text(tightest.reserved_bytes))
                : std::string());
        out.push_back(std::move(s));
    }
    return out;
}

// When freeing memory cannot help, say why (the configuration exceeds the whole card).
std::optional<std::string> freeing_cannot_help(const memory_estimate& required, const check_gpu_row& tightest) {
    if (required.recommended_bytes <= tightest.total_bytes) return std::nullopt;
    return fmt::format("freeing memory cannot help on GPU {} ({}): {} recommended is more than its whole {}",
                       tightest.index, tightest.name, gib_text(required.recommended_bytes),
                       gib_text(tightest.total_bytes));
}

}  // namespace

check_result check_memory(const estimate_request& request, const std::vector<visible_gpu>& gpus, probe_source source,
                          std::span<const gpu_admittable> admittable) {
    if (!admittable.empty() && admittable.size() != gpus.size()) {
        throw usage_error(fmt::format("check: {} reservation figures for {} GPUs; give one per GPU or none",
                                      admittable.size(), gpus.size()));
    }
    check_result result;
    result.required = estimate(request);  // invalid input is an error whatever the GPUs
    result.source = std::string(to_string(source));
    result.memory_basis = admittable.empty() ? "free" : "admittable";
    const char* basis = admittable.empty() ? "free" : "admittable";

    // Each GPU sized for its own card; the largest requirement is the one reported as `required`.
    std::vector<std::optional<memory_estimate>> sized(gpus.size());
    std::optional<usage_error> first_refusal;
    bool any_sized = false;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        const gpu_device& d = gpus[i].device;
        check_gpu_row row;
        row.index = gpus[i].cuda_index;
        row.nvml_index = d.index;
        row.name = d.name;
        row.uuid = d.uuid;
        row.state = std::string(to_string(d.state));
        row.total_bytes = d.total_bytes;
        row.free_bytes = d.free_bytes;
        row.available_bytes = d.free_bytes;
        if (!admittable.empty()) {
            row.reserved_bytes = admittable[i].reserved_bytes;
            row.available_bytes = admittable[i].available_bytes;
        }
        try {
            sized[i] = estimate(request_for_gpu(request, d));
            row.notes = sized[i]->notes;
            row.required_bytes = sized[i]->recommended_bytes;
            if (!any_sized || sized[i]->recommended_bytes > result.required.recommended_bytes) {
                result.required = *sized[i];
            }
            any_sized = true;
        } catch (const usage_error& e) {
            if (!first_refusal) first_refusal = e;
            row.supported = false;
            row.required_bytes = 0;
            row.reason = fmt::format("unsupported on {}: {}", d.name, e.what());
        }
        const std::uint64_t required_bytes = row.required_bytes;
        if (!row.supported) {
            row.fits = false;
        } else if (d.state != gpu_state::ok) {
            row.fits = false;
            row.shortfall_bytes = required_bytes > row.available_bytes ? required_bytes - row.available_bytes : 0;
            row.reason = fmt::format("GPU state {}{}", row.state, d.state_detail.empty() ? "" : ": " + d.state_detail);
        } else {
            row.fits = fits_in(*sized[i], row.available_bytes);
            row.shortfall_bytes = row.fits ? 0 : required_bytes - row.available_bytes;
            if (!row.fits) {
                row.reason = fmt::format("needs {}, {} {}: {} short", gib_text(required_bytes),
                                         gib_text(row.available_bytes), basis, gib_text(row.shortfall_bytes));
            }
        }
        result.gpus.push_back(std::move(row));
    }
    // Every GPU refuses the request (e.g. bfloat16 on a T4): a usage error, as for `calc --gpu`.
    if (!gpus.empty() && !any_sized && first_refusal) throw usage_error(*first_refusal);
    const std::uint64_t required_bytes = result.required.recommended_bytes;
    const std::string config = describe_config(result.required.request);

    if (result.gpus.empty()) {
        result.sufficient = false;
        result.message = "no GPU to check";
        return result;
    }
    result.sufficient =
        std::all_of(result.gpus.begin(), result.gpus.end(), [](const check_gpu_row& row) { return row.fits; });
    if (result.sufficient) {
        result.message = fmt::format("enough memory: {} needs {} recommended; every selected GPU has it {}", config,
                                     gib_text(required_bytes), basis);
        return result;
    }

    std::vector<std::string> short_gpus;
    for (const auto& row : result.gpus) {
        if (!row.fits) short_gpus.push_back(fmt::format("GPU {} ({}) {}", row.index, row.name, row.reason));
    }
    // No "not enough" prefix: the guide prints f"not enough: {result['message']}" itself.
    result.message =
        fmt::format("{} needs {} recommended; {}", config, gib_text(required_bytes), detail::join(short_gpus, "; "));

    // Unusable GPUs cannot be fixed by a smaller configuration: say so first.
    for (const auto& row : result.gpus) {
        if (row.state != "ok") {
            result.optimization_suggestions.push_back(
                fmt::format("leave GPU {} ({}) out: {}", row.index, row.name, row.reason));
        }
    }
    const check_gpu_row* tightest = nullptr;
    std::size_t tightest_at = 0;
    for (std::size_t i = 0; i < result.gpus.size(); ++i) {
        const auto& row = result.gpus[i];
        if (row.state == "ok" && row.supported &&
            (tightest == nullptr || row.available_bytes < tightest->available_bytes)) {
            tightest = &row;
            tightest_at = i;
        }
    }
    if (tightest == nullptr || tightest->fits) return result;  // nothing a configuration change can fix

    // The suggestions re-estimate the request as sized for the tightest card.
    const memory_estimate& on_tightest = *sized[tightest_at];
    result.suggestions = suggestions_for(on_tightest, *tightest);
    for (const auto& s : result.suggestions) result.optimization_suggestions.push_back(s.text);
    if (auto note = freeing_cannot_help(on_tightest, *tightest)) result.optimization_suggestions.push_back(*note);
    const bool only_freeing = std::all_of(result.suggestions.begin(), result.suggestions.end(),
                                          [](const check_suggestion& s) { return s.change == "free_memory"; });
    if (result.suggestions.empty() || only_freeing) {
        // Plainly: no single change of the configuration fits. Is anything at all possible?
        estimate_request smallest = on_tightest.request;
        smallest.model = model_ladder(smallest.engine).back();
        smallest.segment_seconds = 1.0;
        smallest.batch_size = 1;
        smallest.precision = "int4";
        std::string floor_text;
        try {
            const memory_estimate floor = estimate(smallest);
            floor_text = fits_in(floor, tightest->available_bytes)
                             ? "; combine several changes (segment, batch, precision, model)"
                             : fmt::format("; not even the smallest configuration ({}: {}) fits",
                                           describe_config(floor.request), gib_text(floor.recommended_bytes));
        } catch (const usage_error&) {
        }
        result.optimization_suggestions.push_back(
            fmt::format("no single change of the configuration makes it fit on GPU {} ({} {}){}", tightest->index,
                        gib_text(tightest->available_bytes), basis, floor_text));
    }
    return result;
}

}  // namespace whisper_vram
