// whisper-vram best-model: the guide's assign_optimal_model for a given amount of memory.

#include <fmt/format.h>

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {
namespace {

struct best_model_options {
    memory_options memory;
    estimate_options estimate;
    bool english = false;
    bool json = false;
};

// A sweep (--precision all or lists of --precision/--segment/--batch): the best model of each.
exit_status run_best_model_sweep(const best_model_options& o, const context& c, std::uint64_t memory,
                                 const std::vector<estimate_request>& requests) {
    const gpu_manager manager = offline_manager();
    const auto points = run_sweep(o.estimate, requests, [&](const estimate_request& r) {
        return manager.assign_optimal_model(memory, r, o.english);
    });
    bool any_fits = false;
    for (const auto& p : points) any_fits = any_fits || (p.result && p.result->fits);
    if (o.json) {
        print_json(c.out, sweep_json(points, false, "fits"));
        return fit_status(any_fits);
    }
    c.out << fmt::format("memory {} | engine {}: sweep of {} configuration(s)\n", format_gib(memory),
                         requests.front().engine, requests.size());
    text_table table({"precision", "segment s", "batch", "best model", "recommended GiB"});
    std::vector<std::string> marks;
    for (const auto& p : points) {
        const std::string segment = fmt::format("{:g}", p.request.segment_seconds);
        const std::string batch = std::to_string(p.request.batch_size);
        if (!p.result) {
            table.add_row({p.request.precision, segment, batch, "unsupported", "-"});
            marks.push_back(p.unsupported);
            continue;
        }
        const auto& r = *p.result;
        table.add_row({r.estimate.request.precision, segment, batch, r.fits ? r.model : "none fits",
                       r.fits ? gib2_bytes(r.estimate.recommended_bytes) : "-"});
    }
    c.out << table.render();
    for (const auto& m : marks) c.out << fmt::format("note: {}\n", m);
    return fit_status(any_fits);
}

exit_status run_best_model(const best_model_options& o, const context& c) {
    auto requests = sweep_requests(o.estimate, "medium");  // model ignored: the ladder decides
    const planning_memory m = memory_for(o.memory, c, requests.front(), true, "best-model");
    const std::uint64_t memory = *m.bytes;
    if (m.device) {  // a probed GPU: every configuration sized for its card
        for (auto& r : requests) r = request_for_gpu(r, *m.device);
    }
    if (requests.size() > 1 || sweeps_all_precisions(o.estimate)) return run_best_model_sweep(o, c, memory, requests);
    const estimate_request& request = requests.front();
    const best_model_result r = offline_manager().assign_optimal_model(memory, request, o.english);
    if (o.json) {
        print_json(c.out, to_json(r));
    } else {
        const auto& q = r.estimate.request;
        c.out << fmt::format("memory {}{} | {} | segment {:g} s | batch {} | engine {}\n", format_gib(memory),
                             m.source == "--memory" ? std::string() : " from " + m.source, q.precision,
                             q.segment_seconds, q.batch_size, q.engine);
        if (r.fits) {
            c.out << fmt::format("best model: {} (recommended {})\n", r.model,
                                 format_gib(r.estimate.recommended_bytes));
        } else {
            c.out << fmt::format("best model: none fits; the smallest, {}, needs {} recommended\n", r.model,
                                 format_gib(r.estimate.recommended_bytes));
        }
        c.out << fmt::format("ladder: {}\n", fmt::join(r.ladder, " > "));
        for (const auto& n : r.notes) c.out << fmt::format("note: {}\n", n);
    }
    if (!r.fits) c.err << "whisper-vram: " << r.message << '\n';
    return fit_status(r.fits);
}

}  // namespace

void setup_best_model(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "best-model", "the best model that fits in an amount of memory (assign_optimal_model)",
                    run_best_model);
    add_estimate_options(*command, options->estimate);
    add_memory_options(*command, options->memory, true);
    command->add_flag("--english", options->english, "English-only ladder (.en and distil models)");
    command->add_flag("--json", options->json, "print JSON {model, fits, recommended, memory, ...}");
    add_footer(*command,
               "Ladder (guide): large > medium > small > base > tiny. Exit 0 when a model fits, 1 when none does\n"
               "(the answer is then tiny, as the guide's function returns). Lists sweep (--precision all, --segment\n"
               "a,b, --batch 1,2,4,8,16): one row each; exit 0 when some configuration fits.",
               {"whisper-vram best-model --memory 8",
                "whisper-vram best-model --memory 6GiB --segment 120 --precision int8 --json",
                "whisper-vram best-model --memory 16 --engine faster-whisper --gpu T4 --batch 1,2,4,8,16"});
}

}  // namespace whisper_vram::cli
