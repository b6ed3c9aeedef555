// The engine registry: one line per engine, and everything derived from the list (lookups,
// the public functions of engines.hpp, the texts every message and help line uses).
#include "whisper_vram/engines/registry.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <vector>

#include "core/text.hpp"
#include "engines/engine_common.hpp"
#include "engines/profiles.hpp"
#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/engines/engines.hpp"

namespace whisper_vram {

namespace {

// The registry: one line per engine, in the order lists show them.
const auto& profiles() {
    static const auto list = std::to_array<const engine_profile*>({
        &guide_profile(),
        &openai_whisper_profile(),
        &transformers_profile(),
        &faster_whisper_profile(),
        &whisper_cpp_profile(),
        &whisperx_profile(),
    });
    return list;
}

// The profile of @p name if it has an engine-aware estimator.
// @throws usage_error for an unknown engine or the guide (whose precisions belong to its formula).
const engine_profile& find_engine_aware(std::string_view name) {
    const engine_profile& engine = find_engine(name);
    if (!engine.resolves_itself) return engine;
    std::vector<std::string> aware;
    for (const auto* p : profiles()) {
        if (!p->resolves_itself) aware.emplace_back(p->name);
    }
    throw usage_error(fmt::format(
        "engine '{}' ({}) is not an engine-aware estimator: its precisions are {}; engine-aware functions accept: {}",
        engine.name, engine.summary, precision_names_text(engine.precisions), detail::join(aware)));
}

}  // namespace

std::span<const engine_profile* const> engine_registry() noexcept { return profiles(); }

const engine_profile* try_find_engine(std::string_view name) noexcept {
    const std::string key = detail::to_lower(detail::trim(name));
    for (const auto* p : profiles()) {
        if (p->name == key || std::find(p->aliases.begin(), p->aliases.end(), key) != p->aliases.end()) return p;
    }
    return nullptr;
}

const engine_profile& find_engine(std::string_view name) {
    if (const auto* p = try_find_engine(name)) return *p;
    throw usage_error(fmt::format("unknown engine '{}': accepted: {}", name, engine_list_text()));
}

std::string engine_names_text() {
    std::vector<std::string> names;
    for (const auto* p : profiles()) names.emplace_back(p->name);
    return detail::join(names);
}

std::string engine_list_text() {
    std::vector<std::string> items;
    for (const auto* p : profiles()) {
        std::vector<std::string> parts;
        if (!p->summary.empty()) parts.emplace_back(p->summary);
        if (!p->aliases.empty()) {
            parts.push_back("aliases: " + detail::join(std::vector<std::string>(p->aliases.begin(), p->aliases.end())));
        }
        items.push_back(parts.empty() ? std::string(p->name)
                                      : fmt::format("{} ({})", p->name, detail::join(parts, "; ")));
    }
    return detail::join(items);
}

std::string engine_precisions_text() {
    std::vector<std::string> items;
    for (const auto* p : profiles()) {
        items.push_back(fmt::format("{}: {}", p->name, precision_names_text(p->precisions)));
    }
    return detail::join(items, "; ");
}

const precision_spelling& resolve_precision(const engine_profile& engine, std::string_view text) {
    if (const auto* found = find_precision(engine.precisions, text)) return *found;
    throw usage_error(fmt::format("precision '{}' is not supported by {}: accepted: {} (aliases: {})", text,
                                  engine.name, precision_names_text(engine.precisions),
                                  precision_aliases_text(engine.precisions)));
}

namespace {

// The precision a model id fixes for @p engine (a ggml file name for whisper.cpp: ggml-medium-q5_0.bin is
// q5_0), or nullptr when the id fixes none for it.
const precision_spelling* implied_precision(const engine_profile& engine, const model_id& id) {
    if (!id.implied_precision || !id.implied_engine || engine.name != *id.implied_engine) return nullptr;
    if (const auto* found = find_precision(engine.precisions, *id.implied_precision)) return found;
    throw usage_error(fmt::format("model file '{}' is ggml type {}, which {} is not sized for: accepted: {}",
                                  id.as_typed, *id.implied_precision, engine.name,
                                  precision_names_text(engine.precisions)));
}

// The request's precision, or the one its model id implies when the request left the default
// ("float16"): an explicit precision that differs from the file's is an error naming both.
const precision_spelling& resolve_request_precision(const engine_profile& engine, const estimate_request& request,
                                                    const model_id& id) {
    const precision_spelling& asked = resolve_precision(engine, request.precision);
    const precision_spelling* implied = implied_precision(engine, id);
    if (implied == nullptr || implied->id == asked.id) return asked;
    if (request.precision == estimate_request{}.precision) return *implied;
    throw usage_error(fmt::format(
        "precision '{}' conflicts with the model file '{}', which is {}: leave out the precision or give {}",
        request.precision, id.as_typed, implied->name, implied->name));
}

}  // namespace

resolved_request resolve_request(const engine_profile& engine, const estimate_request& request) {
    resolved_request in;
    in.request = &request;
    in.engine = &engine;
    if (engine.resolves_itself) return in;
    // Same order of checks as before the registry: the first bad input is the one reported.
    const model_id id = parse_model_id(request.model);
    in.model = id.model;
    in.arch = in.model->architecture;
    in.precision = &resolve_request_precision(engine, request, id);
    validate_segment_seconds(request.segment_seconds);
    validate_batch_size(request.batch_size);
    validate_margin(request.margin);
    in.batch = static_cast<std::uint64_t>(request.batch_size);
    const int beam = request.beam_size.value_or(engine.default_beam_size);
    if (beam < 1 || beam > 64) {
        throw usage_error(fmt::format("beam size {} is invalid: must be an integer from 1 to 64", beam));
    }
    in.beams = static_cast<std::uint64_t>(beam);
    in.flash_attention = request.flash_attention.value_or(engine.default_flash_attention);
    if (request.gpu_name) {
        in.gpu = &find_gpu_model(*request.gpu_name);
    } else if (const auto& t = request.target_gpu) {
        // A card that is not (or not uniquely) in the catalog: what the probe reports.
        gpu_model card;
        card.name = t->name;
        card.memory_bytes = t->memory_bytes;
        card.cc_major = t->cc_major;
        card.cc_minor = t->cc_minor;
        card.family = "probed";
        card.usable_memory_source = "measured: reported by the GPU";
        in.probed_gpu = std::make_shared<const gpu_model>(card);
        in.gpu = in.probed_gpu.get();
    }
    if (request.cuda_module_loading) {
        in.eager_module_loading = parse_cuda_module_loading(*request.cuda_module_loading) == "eager";
        in.module_loading_stated = true;
    }
    if (!engine.pipeline_stages && (request.language || request.align || request.diarize || request.staged)) {
        throw usage_error(fmt::format(
            "language, alignment, diarization and staging (--language, --no-align, --diarize, --staged) are WhisperX "
            "stages, not inputs of {}: use --engine whisperx",
            engine.name));
    }
    return in;
}

// ---- engines.hpp: the functions callers used before the registry, now read from it ----

std::vector<std::string> engine_names() {
    std::vector<std::string> names;
    for (const auto* p : profiles()) {
        if (!p->resolves_itself) names.emplace_back(p->name);
    }
    return names;
}

std::string canonical_engine(std::string_view name) { return std::string(find_engine(name).name); }

std::vector<std::string> engine_precisions(std::string_view engine) {
    std::vector<std::string> names;
    for (const auto& p : find_engine_aware(engine).precisions) names.emplace_back(p.name);
    return names;
}

std::string canonical_engine_precision(std::string_view engine, std::string_view precision) {
    return std::string(resolve_precision(find_engine_aware(engine), precision).name);
}

int default_beam_size(std::string_view engine) { return find_engine_aware(engine).default_beam_size; }

int default_batch_size(std::string_view engine) { return find_engine(engine).default_batch_size; }

std::string default_engine(const std::optional<std::string>& from_environment) {
    if (!from_environment || detail::trim(*from_environment).empty()) return "guide";
    if (const auto* p = try_find_engine(*from_environment)) return std::string(p->name);
    throw usage_error(fmt::format("WHISPER_VRAM_ENGINE='{}' is invalid: unknown engine; accepted: {}",
                                  *from_environment, engine_list_text()));
}

bool default_flash_attention(std::string_view engine) { return find_engine_aware(engine).default_flash_attention; }

std::uint64_t engine_weight_bytes(std::string_view engine, std::string_view precision, const model_architecture& arch) {
    const engine_profile& profile = find_engine_aware(engine);
    return profile.weight_bytes(resolve_precision(profile, precision).id, arch);
}

// estimate() (declared in core/estimate.hpp) dispatches through the registry: an empty engine is
// the guide's formula, the default.
memory_estimate estimate(const estimate_request& request) {
    const engine_profile& engine = detail::trim(request.engine).empty() ? guide_profile() : find_engine(request.engine);
    const resolved_request in = resolve_request(engine, request);
    memory_estimate result = engine.estimate(in);
    if (!engine.resolves_itself && in.precision != nullptr && in.precision->name != request.precision &&
        find_precision(engine.precisions, request.precision) != in.precision) {
        result.notes.push_back(
            fmt::format("precision {} taken from the file name '{}'", in.precision->name, detail::trim(request.model)));
    }
    // A measured-run calibration (calibration.hpp), for the engines only: the guide is the specification.
    if (request.calibration && !engine.resolves_itself && !is_guide_engine(engine.name)) {
        const std::optional<int> cc_major = in.gpu != nullptr ? std::optional<int>(in.gpu->cc_major) : std::nullopt;
        apply_calibration(*request.calibration, engine.name, cc_major, result);
    }
    return result;
}

bool is_guide_engine(std::string_view engine) noexcept {
    return detail::trim(engine).empty() || try_find_engine(engine) == &guide_profile();
}
}  // namespace whisper_vram
