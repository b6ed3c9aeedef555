// The planner's core: model ladders, best model, and the inverse solvers.
// Guide formula: closed forms derived from its linear shape, then verified by re-estimating.
// Other engines: monotone binary search over whole steps, re-estimating at each probe.
#include "whisper_vram/planner/planner.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/text.hpp"
#include "planner/planner_detail.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/guide_estimator.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/registry.hpp"

namespace whisper_vram {

namespace detail {

// Three decimals: two would print 7.99875 GiB and 8 GiB alike ("8.00 needed, 8.00 free").
std::string gib_text(std::uint64_t bytes) { return fmt::format("{:.3f} GiB", bytes_to_gib(bytes)); }

}  // namespace detail

namespace {

using detail::gib_text;

// Largest v in [lo, hi] with pred(v), given pred(lo) is true and pred is monotone (true … false).
template <class Pred>
std::uint64_t largest_true(std::uint64_t lo, std::uint64_t hi, Pred&& pred) {
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo + 1) / 2;
        if (pred(mid)) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

// Verifies a closed-form @p candidate: steps down while it does not fit, up while the next step
// fits. Floating point may put the closed form one step off at an exact boundary; more than a few
// steps means the closed form does not describe the estimator, so fall back to a binary search.
// Precondition: pred(lo) is true.
template <class Pred>
std::uint64_t verify_candidate(std::uint64_t candidate, std::uint64_t lo, std::uint64_t hi, Pred&& pred) {
    candidate = std::clamp(candidate, lo, hi);
    for (int step = 0; step < 4; ++step) {
        if (!pred(candidate)) {
            --candidate;  // candidate > lo because pred(lo) holds
            continue;
        }
        if (candidate == hi || !pred(candidate + 1)) return candidate;
        ++candidate;
    }
    return largest_true(lo, hi, pred);
}

// Closed-form guide inverse. With b = base model, F = fixed batch overhead, p = PyTorch fraction,
// f = audio fraction, W = window, s = segment, B = batch, a = b·f·s/W, m = margin:
//   total = b + a + (F + a·B) + p·(b + F + a·B) = (1 + p)(b + F) + a·(1 + B·(1 + p))
//   recommended = (1 + m) · total
// Solving recommended = available (GiB) for s or B gives the closed forms below.
double guide_fixed_part(double base) {
    using namespace guide_constants;
    return (1.0 + pytorch_fraction) * (base + batch_fixed_gib);
}

double guide_segment_closed_form(double base, int batch, double margin, std::uint64_t available_bytes) {
    using namespace guide_constants;
    const double budget = bytes_to_gib(available_bytes) / (1.0 + margin);
    const double per_second = base * audio_fraction / window_seconds * (1.0 + batch * (1.0 + pytorch_fraction));
    return (budget - guide_fixed_part(base)) / per_second;
}

double guide_batch_closed_form(double base, double segment, double margin, std::uint64_t available_bytes) {
    using namespace guide_constants;
    const double budget = bytes_to_gib(available_bytes) / (1.0 + margin);
    const double audio = base * audio_fraction * (segment / window_seconds);
    return (budget - guide_fixed_part(base) - audio) / (audio * (1.0 + pytorch_fraction));
}

std::uint64_t to_candidate(double x) {
    if (!std::isfinite(x) || x < 1.0) return 1;
    if (x > 1e12) return static_cast<std::uint64_t>(1e12);
    return static_cast<std::uint64_t>(std::floor(x));
}

double base_model_gib(const memory_estimate& e) {
    for (const auto& c : e.breakdown) {
        if (c.key == "base_model") return c.gib;
    }
    return 0.0;
}

// Shared shape of the two step solvers (segment, batch).
struct step_solver {
    solve_quantity quantity;
    std::uint64_t limit;
    std::function<estimate_request(const estimate_request&, std::uint64_t)> with_value;
    std::function<double(const memory_estimate&, std::uint64_t)> closed_form;  // guide only
};

std::string step_text(solve_quantity q, std::uint64_t v) {
    return q == solve_quantity::max_segment ? fmt::format("{} s", v) : fmt::format("batch {}", v);
}

solve_result run_step_solver(const step_solver& solver, const detail::estimator_fn& estimator,
                             const estimate_request& request, std::uint64_t available_bytes) {
    solve_result result;
    result.quantity = solver.quantity;
    result.available_bytes = available_bytes;
    const auto at = [&](std::uint64_t v) { return estimator(solver.with_value(request, v)); };
    const memory_estimate first = at(1);  // validates every input
    const auto pred = [&](std::uint64_t v) { return fits_in(at(v), available_bytes); };
    result.request = first.request;
    if (!fits_in(first, available_bytes)) {
        result.value = 0;
        result.fits = false;
        result.next_step_bytes = first.recommended_bytes;
        result.message =
            fmt::format("nothing fits: even {} needs {} recommended, more than {}", step_text(solver.quantity, 1),
                        gib_text(first.recommended_bytes), gib_text(available_bytes));
        return result;
    }
    const memory_estimate last = at(solver.limit);
    std::uint64_t value = 0;
    if (fits_in(last, available_bytes)) {
        value = solver.limit;
        if (last.recommended_bytes == first.recommended_bytes) {
            result.notes.push_back(
                fmt::format("GPU memory is flat in {} for this engine ({} at 1 and at {}): the answer is the {} limit",
                            solver.quantity == solve_quantity::max_segment ? "segment length" : "batch size",
                            gib_text(first.recommended_bytes), step_text(solver.quantity, solver.limit),
                            step_text(solver.quantity, solver.limit)));
        } else {
            result.notes.push_back(fmt::format("capped at the limit of {}", step_text(solver.quantity, solver.limit)));
        }
    } else if (is_guide_engine(request.engine) && solver.closed_form) {
        value = verify_candidate(to_candidate(solver.closed_form(first, available_bytes)), 1, solver.limit, pred);
    } else {
        value = largest_true(1, solver.limit, pred);
    }
    const memory_estimate at_value = at(value);
    result.value = value;
    result.fits = true;
    result.request = at_value.request;
    result.at_value = at_value;
    if (value < solver.limit) result.next_step_bytes = at(value + 1).recommended_bytes;
    result.message = fmt::format(
        "{}: {} ({} recommended, {} available{})",
        solver.quantity == solve_quantity::max_segment ? "longest segment that fits" : "largest batch that fits",
        step_text(solver.quantity, value), gib_text(at_value.recommended_bytes), gib_text(available_bytes),
        result.next_step_bytes
            ? fmt::format("; {} needs {}", step_text(solver.quantity, value + 1), gib_text(*result.next_step_bytes))
            : std::string());
    return result;
}

}  // namespace

std::vector<std::string> model_ladder(std::string_view engine, bool english_only) {
    if (is_guide_engine(engine)) {
        if (english_only) return {"large", "medium.en", "small.en", "base.en", "tiny.en"};
        return {"large", "medium", "small", "base", "tiny"};
    }
    if (english_only) {
        return {"large-v3", "large-v3-turbo",  "distil-large-v3", "medium.en", "distil-medium.en",
                "small.en", "distil-small.en", "base.en",         "tiny.en"};
    }
    return {"large-v3", "large-v3-turbo", "medium", "small", "base", "tiny"};
}

best_model_result assign_optimal_model(std::uint64_t available_bytes, const estimate_request& request,
                                       bool english_only) {
    best_model_result result;
    result.available_bytes = available_bytes;
    result.ladder = model_ladder(request.engine, english_only);
    std::optional<memory_estimate> last;
    std::optional<usage_error> first_error;
    for (const auto& model : result.ladder) {
        estimate_request r = request;
        r.model = model;
        memory_estimate e;
        try {
            e = estimate(r);
        } catch (const usage_error& error) {
            if (!first_error) first_error = error;
            result.notes.push_back(fmt::format("skipped {}: {}", model, error.what()));
            continue;
        }
        last = e;
        if (fits_in(e, available_bytes)) {
            result.model = e.request.model;
            result.fits = true;
            result.estimate = e;
            result.message = fmt::format("{} fits: {} recommended, {} available", result.model,
                                         gib_text(e.recommended_bytes), gib_text(available_bytes));
            return result;
        }
    }
    if (!last) throw usage_error(first_error->what());  // every model was refused: say why the first was
    result.model = last->request.model;
    result.fits = false;
    result.estimate = *last;
    result.message = fmt::format("nothing fits: even {} needs {} recommended, more than {}", result.model,
                                 gib_text(last->recommended_bytes), gib_text(available_bytes));
    return result;
}

std::string_view to_string(solve_quantity quantity) noexcept {
    static constexpr auto names =
        std::to_array<std::string_view>({"max_segment", "max_batch", "max_concurrent", "min_memory"});
    return detail::enum_name(names, quantity);
}

namespace detail {

solve_result solve_max_segment_with(const estimator_fn& estimator, const estimate_request& request,
                                    std::uint64_t available_bytes) {
    step_solver solver{solve_quantity::max_segment, max_segment_limit_seconds,
                       [](const estimate_request& r, std::uint64_t v) {
                           estimate_request c = r;
                           c.segment_seconds = static_cast<double>(v);
                           return c;
                       },
                       [](const memory_estimate& e, std::uint64_t available) {
                           return guide_segment_closed_form(base_model_gib(e), e.request.batch_size, e.request.margin,
                                                            available);
                       }};
    return run_step_solver(solver, estimator, request, available_bytes);
}

solve_result solve_max_batch_with(const estimator_fn& estimator, const estimate_request& request,
                                  std::uint64_t available_bytes) {
    step_solver solver{solve_quantity::max_batch, max_batch_limit,
                       [](const estimate_request& r, std::uint64_t v) {
                           estimate_request c = r;
                           c.batch_size = static_cast<int>(v);
                           return c;
                       },
                       [](const memory_estimate& e, std::uint64_t available) {
                           return guide_batch_closed_form(base_model_gib(e), e.request.segment_seconds,
                                                          e.request.margin, available);
                       }};
    return run_step_solver(solver, estimator, request, available_bytes);
}

}  // namespace detail

solve_result solve_max_segment(const estimate_request& request, std::uint64_t available_bytes) {
    return detail::solve_max_segment_with(estimate, request, available_bytes);
}

solve_result solve_max_batch(const estimate_request& request, std::uint64_t available_bytes) {
    return detail::solve_max_batch_with(estimate, request, available_bytes);
}

solve_result solve_max_concurrent(const estimate_request& request, std::uint64_t available_bytes) {
    solve_result result;
    result.quantity = solve_quantity::max_concurrent;
    result.available_bytes = available_bytes;
    const memory_estimate e = estimate(request);
    result.request = e.request;
    result.at_value = e;
    // n tasks fit when n × recommended_bytes ≤ available (each task keeps its own margin).
    const std::uint64_t per_task = std::max<std::uint64_t>(e.recommended_bytes, 1);
    result.value = available_bytes / per_task;
    result.fits = result.value > 0;
    result.next_step_bytes = (result.value + 1) * per_task;
    result.message = result.fits
                         ? fmt::format("{} tasks fit side by side: {} x {} = {} of {} ({} tasks need {})", result.value,
                                       result.value, gib_text(per_task), gib_text(result.value * per_task),
                                       gib_text(available_bytes), result.value + 1, gib_text(*result.next_step_bytes))
                         : fmt::format("nothing fits: one task needs {} recommended, more than {}", gib_text(per_task),
                                       gib_text(available_bytes));
    return result;
}

solve_result solve_min_memory(const estimate_request& request) {
    solve_result result;
    result.quantity = solve_quantity::min_memory;
    const memory_estimate e = estimate(request);
    result.request = e.request;
    result.at_value = e;
    result.value = e.recommended_bytes;
    result.fits = true;
    result.message = fmt::format("least memory that fits: {} ({} bytes, the recommended amount)",
                                 gib_text(e.recommended_bytes), e.recommended_bytes);
    return result;
}

estimate_request request_for_gpu(const estimate_request& request, const gpu_device& gpu) {
    estimate_request r = request;
    if (is_guide_engine(r.engine) || r.gpu_name) return r;
    if (gpu.capability) {
        r.target_gpu = gpu_target{gpu.name.empty() ? gpu.catalog_name : gpu.name, gpu.capability->major,
                                  gpu.capability->minor, gpu.total_bytes};
    } else if (!gpu.catalog_name.empty()) {
        r.gpu_name = gpu.catalog_name;
    }
    return r;
}

bool is_batched_engine(std::string_view engine) noexcept {
    const engine_profile* p = try_find_engine(engine);
    if (p == nullptr) return false;
    // faster-whisper's BatchedInferencePipeline, WhisperX (batched faster-whisper) and the
    // transformers pipeline(batch_size=…): memory grows with the batch, not the segment.
    return p->name == "faster-whisper" || p->name == "whisperx" || p->name == "transformers";
}

gpu_plan plan_for_memory(std::uint64_t memory_bytes, const estimate_request& request, bool english_only) {
    gpu_plan plan;
    plan.best = assign_optimal_model(memory_bytes, request, english_only);
    plan.precision = plan.best.estimate.request.precision;
    if (!plan.best.fits) {
        plan.notes.push_back(plan.best.message);
        return plan;
    }
    estimate_request chosen = request;
    chosen.model = plan.best.model;
    const solve_result segment = solve_max_segment(chosen, memory_bytes);
    plan.max_segment_seconds = segment.value;
    for (const auto& n : segment.notes) plan.notes.push_back(n);
    plan.max_concurrent = solve_max_concurrent(chosen, memory_bytes).value;
    if (is_batched_engine(chosen.engine)) plan.max_batch = solve_max_batch(chosen, memory_bytes).value;
    return plan;
}

}  // namespace whisper_vram
