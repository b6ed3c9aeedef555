// whisper-vram solve: the exact inverse solvers (max-segment, max-batch, max-concurrent, min-memory).

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"

namespace whisper_vram::cli {
namespace {

struct solve_options {
    solve_quantity quantity = solve_quantity::max_segment;
    std::string model;
    std::optional<std::string> memory;
    std::optional<std::string> gpus;
    std::optional<std::string> simulate;
    bool ignore_reservations = false;
    estimate_options estimate;
    bool json = false;
};

// Where the memory solved for comes from: --memory (wins), else --gpu (the catalog card's memory),
// else one live or simulated GPU (--gpus / --simulate: its admittable memory). The request is
// sized for that card. min_memory needs no memory, but is still sized for a GPU that is named.
struct solve_memory {
    estimate_request request;
    std::optional<std::uint64_t> bytes;
    std::string source;  ///< for people: where the memory came from
};

solve_memory memory_for(const solve_options& o, const context& c, estimate_request request) {
    solve_memory m;
    const bool needs_memory = o.quantity != solve_quantity::min_memory;
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
            "solve: no memory to solve for: pass --memory SIZE (e.g. 8 = 8 GiB), --gpu NAME (a catalog card), "
            "--simulate SPEC or --gpus ID (a live GPU)");
    }
    m.request = std::move(request);
    return m;
}

exit_status run_solve(const solve_options& o, const context& c) {
    const solve_memory m = memory_for(o, c, to_request(o.estimate, o.model));
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
    if (quantity != solve_quantity::min_memory) {
        command->add_option(
            "--memory", options->memory,
            "available memory; a bare number is GiB (8, 7.5GiB, 8192MiB); wins over --gpu/--gpus/--simulate");
    }
    add_estimate_options(*command, options->estimate, set);
    command->add_option("--gpus", options->gpus,
                        "one live GPU id (CUDA index, UUID, PCI bus id): solve for its admittable memory and card");
    add_simulate_option(*command, options->simulate);
    command->add_flag("--ignore-reservations", options->ignore_reservations,
                      "with --gpus/--simulate: plan on free memory, ignoring whisper-vram reservations");
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
