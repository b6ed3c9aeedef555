// Engine-aware estimates: names, precisions, defaults and the shared arithmetic of the four
// engine profiles (the profiles themselves live in engine_<name>.cpp).
#include "whisper_vram/engines/engines.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cmath>

#include "core/text.hpp"
#include "engines/engine_common.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/guide_estimator.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

struct engine_info {
    std::string_view name;
    std::vector<std::string_view> aliases;
    std::vector<std::string_view> precisions;  // canonical, widest first (as issue 6 lists them)
    int default_beam;
    bool default_flash;
};

const std::array<engine_info, 4>& engines() {
    // Defaults: openai-whisper CLI `--beam_size 5` (DecodingOptions alone is greedy) and SDPA
    // attention since release v20240930; transformers generate() is greedy (num_beams 1) and uses
    // attn_implementation="sdpa" by default; faster-whisper transcribe(beam_size=5) and
    // CTranslate2 flash_attention=False; whisper.cpp whisper-cli beam 5 / best_of 5 and flash
    // attention on by default since 2025-09.
    static const std::array<engine_info, 4> list{{
        {"openai-whisper", {"openai", "whisper"}, {"float32", "float16"}, 5, true},
        {"transformers", {"hf", "huggingface"}, {"float32", "float16", "bfloat16"}, 1, true},
        {"faster-whisper",
         {"ctranslate2", "ct2", "whisperx"},
         {"float32", "float16", "bfloat16", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16"},
         5,
         false},
        {"whisper.cpp",
         {"ggml", "whisper-cpp", "whispercpp"},
         {"f32", "f16", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1"},
         5,
         true},
    }};
    return list;
}

std::string accepted_engines_text() {
    std::string text = "guide (the guide's formula, default)";
    for (const auto& e : engines()) {
        std::vector<std::string> aliases(e.aliases.begin(), e.aliases.end());
        text += fmt::format(", {} (aliases: {})", e.name, detail::join(aliases));
    }
    return text;
}

const engine_info& find_engine(std::string_view name) {
    const std::string canonical = canonical_engine(name);
    for (const auto& e : engines()) {
        if (e.name == canonical) return e;
    }
    throw usage_error(fmt::format(
        "engine 'guide' is the guide's formula: its precisions are float32, float16, int8, int4; engine-aware "
        "functions accept: {}",
        accepted_engines_text()));
}

// Precision aliases shared by the engines: the guide's names map to each engine's own.
std::string_view alias_target(std::string_view engine, const std::string& key) {
    if (key == "fp32") return engine == "whisper.cpp" ? "f32" : "float32";
    if (key == "fp16") return engine == "whisper.cpp" ? "f16" : "float16";
    if (key == "bf16") return "bfloat16";
    if (engine == "whisper.cpp") {
        if (key == "float32") return "f32";
        if (key == "float16") return "f16";
        if (key == "int8") return "q8_0";  // 8-bit ggml quantization
        if (key == "int4") return "q4_0";  // 4-bit ggml quantization
    }
    return key;
}

}  // namespace

std::vector<std::string> engine_names() {
    std::vector<std::string> names;
    for (const auto& e : engines()) names.emplace_back(e.name);
    return names;
}

std::string canonical_engine(std::string_view name) {
    const std::string key = detail::to_lower(detail::trim(name));
    if (key == "guide") return "guide";
    for (const auto& e : engines()) {
        if (key == e.name || std::find(e.aliases.begin(), e.aliases.end(), key) != e.aliases.end()) {
            return std::string(e.name);
        }
    }
    throw usage_error(fmt::format("unknown engine '{}': accepted: {}", name, accepted_engines_text()));
}

std::vector<std::string> engine_precisions(std::string_view engine) {
    const auto& e = find_engine(engine);
    return {e.precisions.begin(), e.precisions.end()};
}

std::string canonical_engine_precision(std::string_view engine, std::string_view precision) {
    const auto& e = find_engine(engine);
    const std::string key = detail::to_lower(detail::trim(precision));
    const std::string_view target = alias_target(e.name, key);
    for (const auto p : e.precisions) {
        if (p == target) return std::string(p);
    }
    const std::string aliases = e.name == "whisper.cpp"
                                    ? "float32/fp32 = f32, float16/fp16 = f16, int8 = q8_0, int4 = q4_0"
                                    : (e.name == "openai-whisper" ? "fp16, fp32" : "fp32, fp16, bf16");
    throw usage_error(fmt::format("precision '{}' is not supported by {}: accepted: {} (aliases: {})", precision,
                                  e.name, detail::join(engine_precisions(e.name)), aliases));
}

int default_beam_size(std::string_view engine) { return find_engine(engine).default_beam; }

bool default_flash_attention(std::string_view engine) { return find_engine(engine).default_flash; }

std::uint64_t whisper_cpp_self_kv_bytes(const model_architecture& a, int n_decoders) noexcept {
    const std::uint64_t one = 2ULL * static_cast<std::uint64_t>(a.d_model) *
                              static_cast<std::uint64_t>(a.decoder_layers) * engine_constants::ggml_self_kv_cells *
                              engine_constants::f16_bytes;
    return n_decoders > 1 ? one * static_cast<std::uint64_t>(n_decoders + 2) : one;
}

std::uint64_t whisper_cpp_cross_kv_bytes(const model_architecture& a) noexcept {
    return 2ULL * static_cast<std::uint64_t>(a.d_model) * static_cast<std::uint64_t>(a.decoder_layers) *
           engine_constants::ggml_cross_kv_cells * engine_constants::f16_bytes;
}

std::uint64_t host_audio_bytes(const model_architecture& a, double segment_seconds) {
    validate_segment_seconds(segment_seconds);
    using namespace engine_constants;
    // openai/whisper audio.py: 16 kHz float32 samples; hop 160 → 100 mel frames per second, float32.
    const auto samples = static_cast<std::uint64_t>(std::ceil(segment_seconds * sample_rate_hz));
    const auto frames = static_cast<std::uint64_t>(std::ceil(segment_seconds * mel_frames_per_second));
    return samples * float32_bytes + static_cast<std::uint64_t>(a.n_mels) * frames * float32_bytes;
}

namespace detail {

architecture_split split_parameters(const model_architecture& a) noexcept {
    const parameter_counts counts = count_parameters(a);
    const std::uint64_t d = static_cast<std::uint64_t>(a.d_model);
    architecture_split s;
    s.total = counts.total();
    // Matrices of the Linear layers (openai/whisper model.py: attention q,k,v,out = 4d², MLP 8d²;
    // the decoder adds cross-attention 4d²) and the token embedding (tied output projection).
    s.linear = 12 * d * d * static_cast<std::uint64_t>(a.encoder_layers) +
               16 * d * d * static_cast<std::uint64_t>(a.decoder_layers) + static_cast<std::uint64_t>(a.n_vocab) * d;
    // Conv1d(n_mels, d, 3) and Conv1d(d, d, 3) weights.
    s.conv = static_cast<std::uint64_t>(a.n_mels) * d * 3 + 3 * d * d;
    // Encoder sinusoid buffer (1500·d) and the decoder's learned positions (448·d).
    s.positions = counts.position_buffer + static_cast<std::uint64_t>(a.n_text_ctx) * d;
    s.vectors = s.total - s.linear - s.conv - s.positions;  // biases and layer norms
    // Output rows of every Linear (one scale each when quantized per row): encoder block q,k,v,
    // out, fc2 = 5d rows + fc1 4d rows; decoder block adds cross q,k,v,out (4d); embedding n_vocab.
    s.linear_rows = 9 * d * static_cast<std::uint64_t>(a.encoder_layers) +
                    13 * d * static_cast<std::uint64_t>(a.decoder_layers) + static_cast<std::uint64_t>(a.n_vocab);
    return s;
}

std::uint64_t cublaslt_workspace_bytes(const gpu_model* gpu) noexcept {
    using namespace engine_constants;
    // PyTorch CUDABlas getCUDABlasLtWorkspaceSize: 1 MiB by default, 4 MiB on sm80 with ≥ 24 GB,
    // 32 MiB on sm ≥ 90. Unknown card: the largest (an estimate must not fall short).
    if (gpu == nullptr) return 32 * bytes_per_mib;
    if (gpu->cc_major >= 9) return 32 * bytes_per_mib;
    if (gpu->cc_major == 8 && gpu->cc_minor == 0 && gpu->memory_bytes >= 24 * bytes_per_gib) return 4 * bytes_per_mib;
    return 1 * bytes_per_mib;
}

void estimate_builder::add(std::string key, std::uint64_t bytes, std::string description) {
    result.breakdown.push_back(memory_component{std::move(key), bytes_to_gib(bytes), bytes, std::move(description)});
}

memory_estimate estimate_builder::finish() {
    std::uint64_t total = 0;
    for (const auto& c : result.breakdown) total += c.bytes;
    result.total_required_bytes = total;
    result.total_required_gib = bytes_to_gib(total);
    const double recommended = static_cast<double>(total) * (1.0 + result.request.margin);
    result.recommended_bytes = static_cast<std::uint64_t>(std::ceil(recommended));
    result.recommended_gib = bytes_to_gib(result.recommended_bytes);
    if (gpu != nullptr && result.recommended_bytes > gpu->memory_bytes) {
        result.notes.push_back(fmt::format("recommended {} exceeds the {}'s {} of memory",
                                           format_gib(result.recommended_bytes), gpu->name,
                                           format_gib(gpu->memory_bytes)));
    }
    return std::move(result);
}

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes_to_mib(bytes)); }

engine_inputs resolve_inputs(const estimate_request& request, std::string_view engine) {
    engine_inputs in(find_model(request.model));
    in.engine = std::string(engine);
    in.arch = in.model.architecture;
    in.split = split_parameters(in.arch);
    in.precision = canonical_engine_precision(engine, request.precision);
    validate_segment_seconds(request.segment_seconds);
    validate_batch_size(request.batch_size);
    validate_margin(request.margin);
    in.batch = static_cast<std::uint64_t>(request.batch_size);
    const int beam = request.beam_size.value_or(default_beam_size(engine));
    if (beam < 1 || beam > 64) {
        throw usage_error(fmt::format("beam size {} is invalid: must be an integer from 1 to 64", beam));
    }
    in.beams = static_cast<std::uint64_t>(beam);
    in.flash_attention = request.flash_attention.value_or(default_flash_attention(engine));
    if (request.gpu_name) in.gpu = &find_gpu_model(*request.gpu_name);
    return in;
}

estimate_builder start_estimate(const estimate_request& request, const engine_inputs& in) {
    estimate_builder b;
    b.gpu = in.gpu;
    b.result.request = request;
    b.result.request.engine = in.engine;
    b.result.request.model = std::string(in.model.name);
    b.result.request.precision = in.precision;
    b.result.request.beam_size = static_cast<int>(in.beams);
    b.result.request.flash_attention = in.flash_attention;
    if (in.gpu != nullptr) b.result.request.gpu_name = std::string(in.gpu->name);
    b.result.host_bytes = host_audio_bytes(in.arch, request.segment_seconds);
    return b;
}

void add_torch_runtime(estimate_builder& b, const engine_inputs& in) {
    using namespace engine_constants;
    b.add("cuda_context", cuda_context_lazy_bytes,
          "CUDA context with lazy module loading: 287,047,680 B measured in PyTorch PR #86509");
    const std::uint64_t lt = cublaslt_workspace_bytes(in.gpu);
    b.add("library_workspace", torch_cublas_workspace_bytes + lt + torch_kernel_modules_bytes,
          fmt::format("cuBLAS workspace 8,519,680 B (PyTorch default :4096:2:16:8) + cuBLASLt workspace {} ({}) + "
                      "libtorch/cuBLAS kernels loaded on first use, 128 MiB (assumed, to be calibrated by measurement)",
                      mib(lt),
                      in.gpu != nullptr ? fmt::format("{}, CC {}.{}", in.gpu->name, in.gpu->cc_major, in.gpu->cc_minor)
                                        : std::string("card unknown: the largest, sm90's")));
}

window_sizes window_sizes_for(const model_architecture& a, std::uint64_t act, std::uint64_t score_bytes) {
    using namespace engine_constants;
    const auto d = static_cast<std::uint64_t>(a.d_model);
    const auto layers = static_cast<std::uint64_t>(a.decoder_layers);
    window_sizes w;
    // One encoder block at its peak: residual, layer-norm output, q, k, v, attention output
    // (6·n·d) + MLP hidden before and after GELU (2 × 4·n·d) = 14·n·d elements; plus the float32
    // mel input of the window (n_mels × 3000 × 4 B). Derived from openai/whisper model.py.
    w.encoder_working =
        14 * audio_positions * d * act + static_cast<std::uint64_t>(a.n_mels) * window_mel_frames * float32_bytes;
    w.attention_scores = static_cast<std::uint64_t>(a.n_heads) * audio_positions * audio_positions * score_bytes;
    w.encoder_output = audio_positions * d * act;
    w.cross_kv = 2 * layers * audio_positions * d * act;
    w.self_kv_per_token = 2 * layers * d * act;
    w.block_per_token = 14 * d * act;
    return w;
}

}  // namespace detail

namespace detail {

memory_estimate estimate_engine(const estimate_request& request) {
    const std::string engine = canonical_engine(request.engine);
    if (engine == "openai-whisper") return estimate_openai_whisper(request);
    if (engine == "transformers") return estimate_transformers(request);
    if (engine == "faster-whisper") return estimate_faster_whisper(request);
    if (engine == "whisper.cpp") return estimate_whisper_cpp(request);
    return estimate_guide(request);  // "guide": estimate() normally handles it before dispatching here
}

}  // namespace detail

std::uint64_t engine_weight_bytes(std::string_view engine, std::string_view precision, const model_architecture& arch) {
    const std::string name = canonical_engine(engine);
    const std::string p = canonical_engine_precision(name, precision);
    if (name == "openai-whisper") return detail::openai_whisper_weight_bytes(p, arch);
    if (name == "transformers") return detail::transformers_weight_bytes(p, arch);
    if (name == "faster-whisper") return detail::faster_whisper_weight_bytes(p, arch);
    return detail::whisper_cpp_weight_bytes(p, arch);
}

}  // namespace whisper_vram
