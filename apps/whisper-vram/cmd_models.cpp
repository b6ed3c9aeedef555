// whisper-vram models: the Whisper model catalog.

#include <fmt/format.h>

#include "commands.hpp"
#include "whisper_vram/core/models.hpp"

namespace whisper_vram::cli {
namespace {

struct models_options {
    bool json = false;
};

exit_status run_models(const models_options& o, const context& c) {
    if (o.json) {
        nlohmann::ordered_json models = nlohmann::ordered_json::array();
        for (const auto& m : model_catalog()) {
            const auto counts = count_parameters(m.architecture);
            const auto& a = m.architecture;
            nlohmann::ordered_json aliases = nlohmann::ordered_json::array();
            for (const auto alias : m.aliases) aliases.push_back(alias);
            models.push_back(
                {{"name", m.name},
                 {"aliases", aliases},
                 {"parameters", counts.total()},
                 {"encoder_parameters", counts.encoder},
                 {"decoder_parameters", counts.decoder},
                 {"published_parameters", m.published_parameters},
                 {"guide_row", m.guide ? nlohmann::ordered_json(to_string(*m.guide)) : nlohmann::ordered_json()},
                 {"n_mels", a.n_mels},
                 {"d_model", a.d_model},
                 {"heads", a.n_heads},
                 {"encoder_layers", a.encoder_layers},
                 {"decoder_layers", a.decoder_layers},
                 {"n_vocab", a.n_vocab},
                 {"english_only", m.english_only},
                 {"distilled", m.distilled},
                 {"note", m.note}});
        }
        print_json(c.out, {{"models", models}});
        return exit_status::ok;
    }
    text_table table({"model", "aliases", "parameters", "published", "guide row", "d", "enc", "dec", "mels"});
    for (const auto& m : model_catalog()) {
        std::string aliases;
        for (const auto alias : m.aliases) aliases += (aliases.empty() ? "" : ",") + std::string(alias);
        const auto& a = m.architecture;
        table.add_row({std::string(m.name), aliases.empty() ? "-" : aliases,
                       fmt::format("{}", count_parameters(a).total()),
                       fmt::format("{}M", m.published_parameters / 1'000'000),
                       m.guide ? std::string(to_string(*m.guide)) : "- (engines only)", std::to_string(a.d_model),
                       std::to_string(a.encoder_layers), std::to_string(a.decoder_layers), std::to_string(a.n_mels)});
    }
    c.out << table.render();
    return exit_status::ok;
}

}  // namespace

void setup_models(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "models", "list the Whisper model catalog (names, aliases, parameters, guide row)", run_models);
    command->add_flag("--json", options->json, "print JSON");
    add_footer(*command, "", {"whisper-vram models --json"});
}

}  // namespace whisper_vram::cli
