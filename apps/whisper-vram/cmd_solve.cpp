// whisper-vram solve: the exact inverse solvers (max-segment, max-batch, max-concurrent, min-memory).

#include "commands.hpp"
#include "planner_cli.hpp"

namespace whisper_vram::cli {
namespace {

struct solve_options {
    solve_quantity quantity = solve_quantity::max_segment;
    std::string model;
    memory_options memory;
    estimate_options estimate;
    bool json = false;
};

exit_status run_solve(const solve_options& o, const context& c) {
    const planning_memory m =
        memory_for(o.memory, c, to_request(o.estimate, o.model), o.quantity != solve_quantity::min_memory, "solve");
    const estimate_request& request = m.request;
    const gpu_manager manager = offline_manager();
    solve_result r;
    if (o.quantity == solve_quantity::min_memory) {
        r = manager.solve_min_memory(request);
    } else {
        const std::uint64_t memory = *m.bytes;
        switch (o.quantity) {
            case solve_quantity::max_segment:
                r = manager.solve_max_segment(request, memory);
                break;
            case solve_quantity::max_batch:
                r = manager.solve_max_batch(request, memory);
                break;
            default:
                r = manager.solve_max_concurrent(request, memory);
                break;
        }
    }
    if (o.json) {
        print_json(c.out, to_json(r));
    } else {
        const auto& q = r.request;
        std::string inputs = fmt::format("{} | {} | engine {}", q.model, q.precision, q.engine);
        if (o.quantity != solve_quantity::max_segment) inputs += fmt::format(" | segment {:g} s", q.segment_seconds);
        if (o.quantity != solve_quantity::max_batch) inputs += fmt::format(" | batch {}", q.batch_size);
        if (r.available_bytes) inputs += fmt::format(" | memory {}", format_gib(*r.available_bytes));
        if (!m.source.empty() && m.source != "--memory") inputs += fmt::format(" | from {}", m.source);
        c.out << fmt::format("{}\n{}: {}\n{}\n", inputs, to_string(r.quantity),
                             r.quantity == solve_quantity::min_memory ? format_gib(r.value) : std::to_string(r.value),
                             r.message);
        for (const auto& n : r.notes) c.out << fmt::format("note: {}\n", n);
    }
    if (!r.fits) c.err << "whisper-vram: " << r.message << '\n';
    return fit_status(r.fits);
}

void add_solver(CLI::App& solve, command_action& action, solve_quantity quantity, const char* name,
                const char* description, estimate_option_set set, const char* example) {
    const auto [command, options] = add_command(solve, action, name, description, run_solve);
    options->quantity = quantity;
    command->add_option("model", options->model, "model name, e.g. medium, large-v3")->required();
    add_estimate_options(*command, options->estimate, set);
    add_memory_options(*command, options->memory, quantity != solve_quantity::min_memory);
    command->add_flag("--json", options->json, "print JSON {value, fits, ...inputs...}");
    add_footer(*command,
               "Memory: --memory, else --gpu NAME (catalog card), else --simulate/--gpus (one GPU's admittable\n"
               "memory); the estimate is sized for that card. Exit 0 when the answer fits, 1 when even the\n"
               "smallest step does not, 2 when no memory is given.",
               {example});
}

}  // namespace

void setup_solve(CLI::App& app, command_action& action) {
    auto* solve =
        app.add_subcommand("solve", "exact inverse solvers: longest segment, largest batch, most tasks, least memory");
    solve->require_subcommand(1);
    add_footer(
        *solve, "",
        {"whisper-vram solve max-segment medium --memory 8", "whisper-vram solve max-batch medium --memory 8 --json",
         "whisper-vram solve max-concurrent medium --memory 24",
         "whisper-vram solve min-memory large --segment 600 --precision int8"});
    estimate_option_set no_segment;
    no_segment.segment = false;
    estimate_option_set no_batch;
    no_batch.batch = false;
    add_solver(*solve, action, solve_quantity::max_segment, "max-segment",
               "longest segment in whole seconds (1-86400) that fits", no_segment,
               "whisper-vram solve max-segment medium --memory 8 --batch 1 --precision float16");
    add_solver(*solve, action, solve_quantity::max_batch, "max-batch", "largest batch (1-4096) that fits", no_batch,
               "whisper-vram solve max-batch medium --memory 8 --segment 30");
    add_solver(*solve, action, solve_quantity::max_concurrent, "max-concurrent",
               "how many such tasks fit side by side: floor(memory / recommended)", {},
               "whisper-vram solve max-concurrent medium --memory 24");
    add_solver(*solve, action, solve_quantity::min_memory, "min-memory", "least GPU memory that fits (= recommended)",
               {}, "whisper-vram solve min-memory medium --segment 300");
}

}  // namespace whisper_vram::cli
