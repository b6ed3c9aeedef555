// whisper-vram presets: the guide's three presets, sized, and compared with their own target GPUs.

#include "commands.hpp"
#include "planner_cli.hpp"

namespace whisper_vram::cli {
namespace {

struct presets_options {
    bool json = false;
};

exit_status run_presets(const presets_options& o, const context& c) {
    const auto presets = offline_manager().presets();
    if (o.json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& p : presets) list.push_back(to_json(p));
        print_json(c.out, {{"presets", list}});
        return exit_status::ok;
    }
    text_table table({"preset", "model", "segment s", "batch", "precision", "tasks", "total GiB", "recommended GiB",
                      "x tasks GiB", "target", "target GiB", "fits target"});
    for (const auto& p : presets) {
        table.add_row({std::string(p.preset.name), std::string(p.preset.model),
                       fmt::format("{:g}", p.preset.segment_seconds), std::to_string(p.preset.batch_size),
                       std::string(p.preset.precision), std::to_string(p.preset.max_concurrent),
                       gib2(p.estimate.total_required_gib), gib2(p.estimate.recommended_gib), gib2(p.recommended_gib),
                       std::string(p.preset.target_gpu), gib2_bytes(p.target_memory_bytes),
                       p.fits_target ? "yes" : "NO"});
    }
    c.out << table.render();
    for (const auto& p : presets) c.out << fmt::format("{}: {}\n", p.preset.name, p.message);
    return exit_status::ok;
}

}  // namespace

void setup_presets(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "presets", "the guide's presets (high_performance, balanced, efficient), sized", run_presets);
    command->add_flag("--json", options->json, "print JSON {presets: [...]}");
    add_footer(*command, "Use one with: whisper-vram calc --preset balanced", {"whisper-vram presets --json"});
}

}  // namespace whisper_vram::cli
