// whisper-vram check: the guide's check_gpu_memory_sufficient, with computed suggestions.

#include "commands.hpp"
#include "planner_cli.hpp"

namespace whisper_vram::cli {
namespace {

struct check_options {
    std::string model;
    std::optional<std::string> gpus;
    std::optional<std::string> simulate;
    estimate_options estimate;
    bool json = false;
};

exit_status run_check(const check_options& o, const context& c) {
    const estimate_request request = to_request(o.estimate, o.model);
    const std::vector<std::string> ids = o.gpus ? split_list(*o.gpus, "--gpus") : std::vector<std::string>{};
    const check_result r = make_manager(c, o.simulate).check_gpu_memory_sufficient(request, ids);
    if (o.json) {
        print_json(c.out, to_json(r));
        return fit_status(r.sufficient);
    }
    const auto& q = r.required.request;
    c.out << fmt::format("{} | {} | segment {:g} s | batch {} | engine {}: needs {} recommended\n", q.model,
                         q.precision, q.segment_seconds, q.batch_size, q.engine,
                         format_gib(r.required.recommended_bytes));
    text_table table({"GPU", "name", "free GiB", "required GiB", "shortfall GiB", "fits"});
    for (const auto& g : r.gpus) {
        table.add_row({std::to_string(g.index), g.name, gib2_bytes(g.free_bytes), gib2_bytes(g.required_bytes),
                       gib2_bytes(g.shortfall_bytes),
                       g.fits ? "yes" : (g.state == "ok" ? "no" : "no (" + g.state + ")")});
    }
    c.out << table.render();
    c.out << fmt::format("{}{}\n", r.sufficient ? "" : "not enough memory: ", r.message);
    if (!r.optimization_suggestions.empty()) {
        c.out << "suggestions (each change alone, re-estimated):\n";
        for (const auto& s : r.optimization_suggestions) c.out << fmt::format("  - {}\n", s);
    }
    return fit_status(r.sufficient);
}

}  // namespace

void setup_check(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "check", "does a configuration fit on the GPUs? (check_gpu_memory_sufficient)", run_check);
    command->add_option("model", options->model, "model name, e.g. medium, large-v3")->required();
    command->add_option(
        "--gpus", options->gpus,
        "GPU ids, comma-separated: CUDA index, UUID (or unique prefix), PCI bus id (default: every visible GPU)");
    add_estimate_options(*command, options->estimate);
    add_simulate_option(*command, options->simulate);
    command->add_flag("--json", options->json,
                      "print JSON {sufficient, message, optimization_suggestions, suggestions, gpus, required}");
    add_footer(*command,
               "Fits when recommended <= free memory on every listed GPU (each runs its own copy).\n"
               "Exit 0 fits, 1 does not fit, 2 usage error, 3 GPU information unavailable.",
               {"whisper-vram check medium --gpus 0 --segment 300",
                "whisper-vram check large --simulate \"RTX 3090,8GiB\" --json"});
}

}  // namespace whisper_vram::cli
