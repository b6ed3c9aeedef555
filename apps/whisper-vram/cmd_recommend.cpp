// whisper-vram recommend: per-GPU suggestions computed from the formula (the guide's table, computed).

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/engines/registry.hpp"

namespace whisper_vram::cli {
namespace {

struct recommend_options {
    std::optional<std::string> simulate;
    std::optional<std::string> gpu_names;
    bool all = false;
    estimate_options estimate;
    bool english = false;
    bool ignore_reservations = false;
    bool json = false;
};

std::string plan_cell(const std::optional<gpu_plan>& plan, int what) {
    if (!plan) return "-";
    if (!plan->best.fits) return what == 0 ? "none fits" : "-";
    switch (what) {
        case 0:
            return plan->best.model;
        case 1:
            return gib2(plan->best.estimate.recommended_gib);
        case 2:  // a batched engine: the largest batch (its memory is flat in segment length)
            return std::to_string(plan->max_batch ? *plan->max_batch : plan->max_segment_seconds);
        default:
            return std::to_string(plan->max_concurrent);
    }
}

exit_status run_recommend(const recommend_options& o, const context& c) {
    const estimate_request request = to_request(o.estimate, "medium");  // model ignored: each GPU gets its best
    recommendation_result r;
    if (o.gpu_names || o.all) {
        std::vector<std::string> names;
        if (o.all) {
            for (const auto& g : gpu_catalog()) {
                if (!g.unified_memory()) names.emplace_back(g.name);  // no fixed memory to plan on
            }
        } else {
            names = split_list(*o.gpu_names, "--gpu");
        }
        r = offline_manager().recommend(names, request, o.english);
    } else {
        r = make_manager(c, o.simulate).recommend(request, o.english, o.ignore_reservations);
    }
    const bool all_fit = !r.gpus.empty() && std::all_of(r.gpus.begin(), r.gpus.end(), [](const gpu_recommendation& g) {
        return g.plan && g.plan->best.fits;
    });
    if (o.json) {
        print_json(c.out, to_json(r));
        return fit_status(all_fit);
    }
    const auto& q = r.request;
    const std::string basis =
        r.memory_basis == "admittable"
            ? " | planned on admittable memory (free less whisper-vram reservations; --ignore-reservations: free)"
        : r.memory_basis == "free" ? " | planned on free memory (reservations ignored)"
                                   : "";
    c.out << fmt::format("source {} | engine {} | {} | segment {:g} s | batch {}{}\n", r.source, q.engine, q.precision,
                         q.segment_seconds, q.batch_size, basis);
    const bool batched = is_batched_engine(q.engine);
    const std::string third = batched ? "max batch" : "max segment s";
    text_table table({"GPU", "memory GiB", "model", "recommended GiB", third, "concurrent", "int8 model", "int8 GiB",
                      "int8 " + third, "int8 concurrent"});
    for (const auto& g : r.gpus) {
        const std::string name = g.index ? fmt::format("{}: {}", *g.index, g.gpu) : g.gpu;
        if (!g.plan) {
            table.add_row({name, gib2_bytes(g.memory_bytes), fmt::format("({})", g.reason)});
            continue;
        }
        table.add_row({name, gib2_bytes(g.memory_bytes), plan_cell(g.plan, 0), plan_cell(g.plan, 1),
                       plan_cell(g.plan, 2), plan_cell(g.plan, 3), plan_cell(g.int8, 0), plan_cell(g.int8, 1),
                       plan_cell(g.int8, 2), plan_cell(g.int8, 3)});
    }
    c.out << table.render();
    for (const auto& g : r.gpus) {
        for (const auto& n : g.notes) c.out << fmt::format("note: {}\n", n);
    }
    c.out << fmt::format(
        "model: best of the ladder at {:g} s; {}; concurrent: tasks of {:g} s\n"
        "side by side (floor(memory / recommended)).\n",
        q.segment_seconds,
        batched ? "max batch: largest batch for that model (a batched engine's memory is flat in segment length)"
                : "max segment: longest for that model",
        q.segment_seconds);
    return fit_status(all_fit);
}

}  // namespace

void setup_recommend(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "recommend",
                    "per-GPU suggestions computed from the formula: model, longest segment, tasks", run_recommend);
    auto* simulate =
        command->add_option("--simulate", options->simulate,
                            "simulated GPUs, e.g. \"RTX 3090,8GiB:used=1GiB\" (env WHISPER_VRAM_SIMULATE)");
    auto* gpu =
        command->add_option("--gpu", options->gpu_names, "catalog GPU names, comma-separated, e.g. \"RTX 3090,T4\"");
    auto* all = command->add_flag("--all", options->all, "every GPU of the catalog");
    simulate->excludes(gpu)->excludes(all);
    gpu->excludes(all);
    estimate_option_set set;
    set.segment = false;
    set.batch = false;
    set.engine = false;  // --gpu names the cards here; the engine options are added below without it
    add_estimate_options(*command, options->estimate, set);
    command->add_option("--engine", options->estimate.engine, engine_list_text());
    command->add_option("--beam", options->estimate.beam, "beam size (engines only)");
    command->add_option("--flash-attention", options->estimate.flash_attention, "on|off (engines only)");
    command->add_flag("--english", options->english, "English-only ladder (.en and distil models)");
    command->add_flag("--ignore-reservations", options->ignore_reservations,
                      "live/simulated GPUs: plan on free memory, ignoring whisper-vram reservations (default: "
                      "admittable memory)");
    command->add_flag("--json", options->json,
                      "print JSON {gpus: [{gpu, memory, model, max_segment, max_concurrent, int8}]}");
    add_footer(*command,
               "No option: the live GPUs (NVML), each sized for its card and planned on its admittable memory\n"
               "(free less outstanding whisper-vram reservations); exit 3 when unavailable.\n"
               "Exit 0 when every GPU listed can run some model, 1 otherwise.",
               {"whisper-vram recommend --gpu \"GTX 1660,RTX 3060 8GB,RTX 3070,RTX 3080 10GB,RTX 3090,RTX 4090\"",
                "whisper-vram recommend --all --precision int8 --json",
                "whisper-vram recommend --simulate \"RTX 3090:used=4GiB\""});
}

}  // namespace whisper_vram::cli
