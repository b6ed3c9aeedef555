// The arithmetic the engine profiles share: parameter split, workspaces, the breakdown
// builder, per-window sizes (the profiles live in src/engines/<engine>.cpp, the list in registry.cpp).
#include <fmt/format.h>
#include <algorithm>
#include <cmath>

#include "engines/engine_common.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"

namespace whisper_vram {

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
    const auto d = static_cast<std::uint64_t>(a.d_model);
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
    if (gpu != nullptr && !gpu->unified_memory() && result.recommended_bytes > gpu->memory_bytes) {
        result.notes.push_back(fmt::format("recommended {} exceeds the {}'s {} of memory",
                                           format_gib(result.recommended_bytes), gpu->name,
                                           format_gib(gpu->memory_bytes)));
    }
    return std::move(result);
}

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes_to_mib(bytes)); }

estimate_builder start_estimate(const resolved_request& in) {
    const estimate_request& request = *in.request;
    estimate_builder b;
    b.gpu = in.gpu;
    b.result.request = request;
    b.result.request.engine = std::string(in.engine->name);
    b.result.request.model = std::string(in.model->name);
    b.result.request.precision = std::string(in.precision->name);
    b.result.request.beam_size = static_cast<int>(in.beams);
    b.result.request.flash_attention = in.flash_attention;
    if (in.gpu != nullptr && !in.probed_gpu) b.result.request.gpu_name = std::string(in.gpu->name);
    // What was sized: unstated is sized as eager (add_cuda_context says so in the notes).
    b.result.request.cuda_module_loading = in.eager_module_loading ? "eager" : "lazy";
    b.result.host_bytes = host_audio_bytes(in.arch, request.segment_seconds);
    return b;
}

eager_loading_cost torch_eager_loading() noexcept {
    return {engine_constants::torch_eager_extra_bytes,
            "every kernel of libtorch, cuBLAS and cuDNN in the context at start: >1000 MB before CUDA 11.7 (ptrblck, "
            "pytorch issue #107667), read as 1000 MiB, less the lazy context and the 128 MiB of lazily loaded kernels "
            "counted in library_workspace"};
}

eager_loading_cost ct2_eager_loading() noexcept {
    return {engine_constants::eager_minus_lazy_context_bytes,
            "every kernel of CTranslate2, cuBLAS and cuDNN at start (CTranslate2 3.x on CUDA 11 loads eagerly): no "
            "published figure, assumed equal to PyTorch PR #86509's eager - lazy context, 666,632,192 - 287,047,680 "
            "B"};
}

eager_loading_cost ggml_eager_loading() noexcept {
    return {engine_constants::eager_minus_lazy_context_bytes,
            "every kernel of ggml-cuda and cuBLAS at start: no published figure, assumed equal to PyTorch PR #86509's "
            "eager - lazy context, 666,632,192 - 287,047,680 B"};
}

void add_cuda_context(estimate_builder& b, const resolved_request& in, const eager_loading_cost& eager) {
    b.add("cuda_context", engine_constants::cuda_context_lazy_bytes,
          "CUDA context with lazy module loading: 287,047,680 B measured in PyTorch PR #86509 (eager loading adds "
          "cuda_module_loading_eager)");
    if (!in.eager_module_loading) {
        b.add("cuda_module_loading_eager", 0,
              "none: lazy module loading (stated): kernels load on first use, counted in library_workspace");
        return;
    }
    b.add(
        "cuda_module_loading_eager", eager.bytes,
        fmt::format("eager module loading ({}): {} = {}",
                    in.module_loading_stated ? "stated" : "not stated, the safe side", eager.source, mib(eager.bytes)));
    if (!in.module_loading_stated) {
        b.result.notes.push_back(fmt::format(
            "CUDA module loading not stated: sized as eager (+{}); pass --cuda-module-loading lazy (or set "
            "CUDA_MODULE_LOADING=LAZY) if the job runs with lazy loading: the default from CUDA 12.2 on, and set by "
            "PyTorch 1.13 and later unless CUDA_MODULE_LOADING is already set",
            mib(eager.bytes)));
    }
}

std::uint64_t torch_workspace_bytes(const resolved_request& in) {
    using namespace engine_constants;
    return torch_cublas_workspace_bytes + cublaslt_workspace_bytes(in.gpu) + torch_kernel_modules_bytes;
}

std::string torch_workspace_text(const resolved_request& in) {
    return fmt::format(
        "cuBLAS workspace 8,519,680 B (PyTorch default :4096:2:16:8) + cuBLASLt workspace {} ({}) + "
        "libtorch/cuBLAS kernels loaded on first use, 128 MiB (assumed, to be calibrated by measurement)",
        mib(cublaslt_workspace_bytes(in.gpu)),
        in.gpu != nullptr ? fmt::format("{}, CC {}.{}", in.gpu->name, in.gpu->cc_major, in.gpu->cc_minor)
                          : std::string("card unknown: the largest, sm90's"));
}

void add_torch_runtime(estimate_builder& b, const resolved_request& in) {
    add_cuda_context(b, in, torch_eager_loading());
    b.add("library_workspace", torch_workspace_bytes(in), torch_workspace_text(in));
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

std::uint64_t window_peaks::dynamic() const noexcept { return std::max(encoder_phase, decoder_phase) + encoder_output; }

std::uint64_t window_peaks::encoder_above_decoder() const noexcept {
    return encoder_phase > decoder_phase ? encoder_phase - decoder_phase : 0;
}

void add_encoder_activations(estimate_builder& b, const window_peaks& peaks, const window_sizes& w, std::uint64_t batch,
                             std::string_view how, std::string_view reuse) {
    b.add("encoder_activations", peaks.encoder_above_decoder(),
          fmt::format("encoder working set {} x batch {} ({}); only the part above the decoder's peak counts, {}",
                      mib(w.encoder_working + w.attention_scores), batch, how, reuse));
}

}  // namespace detail

}  // namespace whisper_vram
