// whisper-vram check: the guide's check_gpu_memory_sufficient, with computed suggestions.

#include "commands.hpp"
#include "planner_cli.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram::cli {
namespace {

struct check_options {
    std::string model;
    std::optional<std::string> gpus;
    std::optional<std::string> simulate;
    estimate_options estimate;
    bool ignore_reservations = false;
    bool json = false;
};

// A sweep (--precision all or lists of --precision/--segment/--batch): one row per configuration
// and GPU; a precision the GPUs cannot run is marked and the sweep goes on.
exit_status run_check_sweep(const check_options& o, const context& c, const std::vector<estimate_request>& requests,
                            const std::vector<std::string>& ids) {
    const gpu_manager manager = make_manager(c, o.simulate);
    // The cards, for the mark of a precision none of them runs: "T4 (CC 7.5)".
    std::vector<std::string> cards;
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    if (snapshot.available()) {
        std::string joined;
        for (const auto& id : ids) joined += (joined.empty() ? "" : ",") + id;
        for (const auto& v : select_gpus(visible_gpus(snapshot, c.env.cuda_visible_devices), joined)) {
            const auto& cc = v.device.capability;
            cards.push_back(cc ? fmt::format("{} (CC {}.{})", v.device.name, cc->major, cc->minor) : v.device.name);
        }
    }
    const auto points = run_sweep(
        o.estimate, requests,
        [&](const estimate_request& r) { return manager.check_gpu_memory_sufficient(r, ids, o.ignore_reservations); },
        fmt::format("{}", fmt::join(cards, ", ")));
    bool all_fit = true;
    for (const auto& p : points) all_fit = all_fit && (!p.result || p.result->sufficient);
    if (o.json) {
        print_json(c.out, sweep_json(points, true, "sufficient"));
        return fit_status(all_fit);
    }
    text_table table({"precision", "segment s", "batch", "GPU", "name", "available GiB", "required GiB", "fits"});
    std::vector<std::string> marks;
    std::string basis;
    for (const auto& p : points) {
        const std::string precision = p.result ? p.result->required.request.precision : p.request.precision;
        const std::string segment = fmt::format("{:g}", p.request.segment_seconds);
        const std::string batch = std::to_string(p.request.batch_size);
        if (!p.result) {
            table.add_row({precision, segment, batch, "-", "-", "-", "-", "unsupported"});
            marks.push_back(p.unsupported);
            continue;
        }
        basis = p.result->memory_basis;
        for (const auto& g : p.result->gpus) {
            table.add_row({precision, segment, batch, std::to_string(g.index), g.name, gib2_bytes(g.available_bytes),
                           g.supported ? gib2_bytes(g.required_bytes) : "-",
                           g.fits ? "yes" : (g.supported ? "no" : "unsupported")});
            if (!g.supported) marks.push_back(g.reason);
        }
    }
    c.out << fmt::format("{} | engine {}: sweep of {} configuration(s)\n", requests.front().model,
                         requests.front().engine, requests.size());
    if (!basis.empty()) {
        c.out << (basis == "admittable" ? "planned on admittable memory: free less outstanding whisper-vram "
                                          "reservations (--ignore-reservations: plan on free memory)\n"
                                        : "planned on free memory: whisper-vram reservations ignored\n");
    }
    c.out << table.render();
    for (const auto& m : marks) c.out << fmt::format("note: {}\n", m);
    return fit_status(all_fit);
}

exit_status run_check(const check_options& o, const context& c) {
    const std::vector<std::string> ids = o.gpus ? split_list(*o.gpus, "--gpus") : std::vector<std::string>{};
    const auto requests = sweep_requests(o.estimate, o.model);
    if (requests.size() > 1 || sweeps_all_precisions(o.estimate)) return run_check_sweep(o, c, requests, ids);
    const estimate_request& request = requests.front();
    const check_result r = make_manager(c, o.simulate).check_gpu_memory_sufficient(request, ids, o.ignore_reservations);
    if (o.json) {
        print_json(c.out, to_json(r));
        return fit_status(r.sufficient);
    }
    const auto& q = r.required.request;
    c.out << fmt::format("{} | {} | segment {:g} s | batch {} | engine {}: needs {} recommended\n", q.model,
                         q.precision, q.segment_seconds, q.batch_size, q.engine,
                         format_gib(r.required.recommended_bytes));
    const bool admittable = r.memory_basis == "admittable";
    c.out << (admittable ? "planned on admittable memory: free less outstanding whisper-vram reservations, as `run` "
                           "admits (--ignore-reservations: plan on free memory)\n"
                         : "planned on free memory: whisper-vram reservations ignored (--ignore-reservations)\n");
    text_table table(
        {"GPU", "name", "free GiB", "reserved GiB", "available GiB", "required GiB", "shortfall GiB", "fits"});
    for (const auto& g : r.gpus) {
        const std::string fits = g.fits            ? "yes"
                                 : !g.supported    ? "no (unsupported)"
                                 : g.state == "ok" ? "no"
                                                   : "no (" + g.state + ")";
        table.add_row({std::to_string(g.index), g.name, gib2_bytes(g.free_bytes),
                       admittable ? gib2_bytes(g.reserved_bytes) : "-", gib2_bytes(g.available_bytes),
                       g.supported ? gib2_bytes(g.required_bytes) : "-", gib2_bytes(g.shortfall_bytes), fits});
    }
    c.out << table.render();
    for (const auto& g : r.gpus) {
        for (const auto& n : g.notes) c.out << fmt::format("note (GPU {}): {}\n", g.index, n);
    }
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
    command->add_flag(
        "--ignore-reservations", options->ignore_reservations,
        "plan on free memory, ignoring outstanding whisper-vram reservations (default: admittable memory, "
        "as run admits)");
    command->add_flag("--json", options->json,
                      "print JSON {sufficient, message, optimization_suggestions, suggestions, gpus, required}");
    add_footer(
        *command,
        "Fits when recommended <= admittable memory (free less outstanding whisper-vram reservations)\n"
        "on every listed GPU (each runs its own copy), each GPU sized for its own card (compute capability).\n"
        "Lists sweep (--precision all or a,b; --segment a,b; --batch 1,2,4,8,16): one row per configuration and\n"
        "GPU; what a GPU cannot run is marked unsupported. A sweep exits 0 when every runnable one fits.\n"
        "Exit 0 fits, 1 does not fit, 2 usage error, 3 GPU information unavailable.",
        {"whisper-vram check medium --gpus 0 --segment 300",
         "whisper-vram check large-v3 --engine faster-whisper --batch 1,2,4,8,16 --precision all",
         "whisper-vram check large --simulate \"RTX 3090,8GiB\" --json"});
}

}  // namespace whisper_vram::cli
