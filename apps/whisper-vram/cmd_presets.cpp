// whisper-vram presets: the guide's three presets, sized, and compared with their own target GPUs.

#include <iostream>

#include "commands.hpp"
#include "planner_cli.hpp"

namespace whisper_vram::cli {
namespace {

int run_presets(bool json) {
    const auto presets = offline_manager().presets();
    if (json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& p : presets) list.push_back(to_json(p));
        print_json({{"presets", list}});
        return 0;
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
    std::cout << table.render();
    for (const auto& p : presets) fmt::print("{}: {}\n", p.preset.name, p.message);
    return 0;
}

}  // namespace

void setup_presets(CLI::App& app, command_action& action) {
    auto json = std::make_shared<bool>(false);
    auto* command = app.add_subcommand("presets", "the guide's presets (high_performance, balanced, efficient), sized");
    command->add_flag("--json", *json, "print JSON {presets: [...]}");
    command->footer(
        "Use one with: whisper-vram calc --preset balanced\n"
        "Example:\n  whisper-vram presets --json");
    command->callback([json, &action] { action = [json] { return run_presets(*json); }; });
}

}  // namespace whisper_vram::cli
