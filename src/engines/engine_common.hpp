#pragma once
// Internal: constants and helpers shared by the engine profiles (src/engines/<engine>.cpp).
// Every constant names its source (a published figure or a derivation).

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engine_profile.hpp"

namespace whisper_vram {

namespace engine_constants {
// ---- audio front end (openai/whisper audio.py) ----
inline constexpr double sample_rate_hz = 16000.0;         // SAMPLE_RATE
inline constexpr double mel_frames_per_second = 100.0;    // 16000 / HOP_LENGTH 160
inline constexpr std::uint64_t window_mel_frames = 3000;  // N_FRAMES: 30 s window
inline constexpr std::uint64_t audio_positions = 1500;    // n_audio_ctx: 3000 frames / stride-2 conv2

// ---- element sizes ----
inline constexpr std::uint64_t float32_bytes = 4;
inline constexpr std::uint64_t f16_bytes = 2;

// ---- CUDA runtime ----
// PyTorch PR #86509: a minimal CUDA context measured 287,047,680 B with lazy module loading
// (CUDA_MODULE_LOADING=LAZY, the Linux default since CUDA 12.2) and 666,632,192 B without.
inline constexpr std::uint64_t cuda_context_lazy_bytes = 287'047'680;
inline constexpr std::uint64_t cuda_context_eager_bytes = 666'632'192;
// Eager module loading (CUDA_MODULE_LOADING=EAGER; every CUDA before 11.7; libraries built with a
// CUDA runtime < 11.7; CTranslate2 3.x wheels on CUDA 11 unless told): every kernel of every CUDA
// library the process loads is put in the context when the library loads.
// - PyTorch: ptrblck, pytorch issue #107667 (2023-08-28): "Before CUDA 11.7, *all* kernels were
//   loaded into the context once the library was loaded, which took >1000MB". We read the lower
//   bound as 1000 MiB (the larger reading of "MB") for context + libtorch + cuBLAS + cuDNN kernels;
//   the eager extra is that minus what the lazy estimate already counts (the lazy context above and
//   torch_kernel_modules_bytes below): 1,048,576,000 − 287,047,680 − 134,217,728 = 627,310,592 B.
inline constexpr std::uint64_t torch_eager_all_kernels_bytes = 1000 * bytes_per_mib;
// - CTranslate2 and ggml: no published eager figure. Assumption: the eager − lazy difference PR
//   #86509 measured for a minimal PyTorch context, 666,632,192 − 287,047,680 = 379,584,512 B
//   (cuBLAS, which both link, is most of what a lazy run leaves unloaded).
inline constexpr std::uint64_t eager_minus_lazy_context_bytes = cuda_context_eager_bytes - cuda_context_lazy_bytes;
// PyTorch's cuBLAS workspace: CUBLAS_WORKSPACE_CONFIG default ":4096:2:16:8" = 2 × 4096 KiB +
// 8 × 16 KiB = 8,519,680 B, allocated on the first matmul.
inline constexpr std::uint64_t torch_cublas_workspace_bytes = 8'519'680;
// Kernels of libtorch/cuBLAS/cuDNN loaded on first use under lazy loading. Assumption, not a
// published figure: the eager-minus-lazy context difference of PR #86509 (379,584,512 B) bounds
// what all of libtorch's kernels take; a Whisper run uses a fraction. 128 MiB is our estimate
// until scripts/measure/measure_transformers.py calibrates it (the CSV's NVML-minus-reserved gap).
inline constexpr std::uint64_t torch_kernel_modules_bytes = 128 * bytes_per_mib;
inline constexpr std::uint64_t torch_eager_extra_bytes =
    torch_eager_all_kernels_bytes - cuda_context_lazy_bytes - torch_kernel_modules_bytes;
static_assert(torch_eager_extra_bytes == 627'310'592);
// PyTorch CUDACachingAllocator: kLargeBuffer segments of 20 MiB serve 1-10 MB requests and
// kSmallBuffer segments of 2 MiB serve ≤ 1 MB requests: one partly used segment of each.
inline constexpr std::uint64_t torch_allocator_segments_bytes = 22 * bytes_per_mib;
// Caching-allocator fragmentation (reserved − allocated at the peak) as a fraction of the
// activations. Assumption: a few percent is typical for inference; 5% until measured.
inline constexpr double allocator_fragmentation = 0.05;

// ---- Whisper decoding (openai/whisper decoding.py) ----
// Start tokens: <|startofprev|> + prompt of at most n_text_ctx // 2 − 1 = 223 previous-text
// tokens + <|startoftranscript|> <|lang|> <|task|> = 227 tokens at the first decoder call when
// conditioning on previous text (transcribe's default); at most 224 sampled tokens follow, and the
// cache is bounded by n_text_ctx = 448.
inline constexpr std::uint64_t prompt_prefill_tokens = 227;
inline constexpr std::uint64_t sot_tokens = 4;  // sot, language, task, notimestamps (no prompt)
// Decode length of a window in the batched pipelines (no previous-text prompt): ≈ 150 words/min
// of speech → ≈ 75 words ≈ 100 BPE tokens per 30 s, + 4 start tokens, rounded up to 128.
// Assumption (typical speech); a window that loops to max_length 448 needs more (noted).
inline constexpr std::uint64_t batched_decode_tokens = 128;

// ---- whisper.cpp (src/whisper.cpp, whisper_init_state) ----
inline constexpr std::uint64_t ggml_self_kv_cells = 512;    // GGML_PAD(n_text_ctx 448, 256)
inline constexpr std::uint64_t ggml_cross_kv_cells = 1536;  // GGML_PAD(n_audio_ctx 1500, 256)
inline constexpr int ggml_max_decoders = 8;                 // WHISPER_MAX_DECODERS
}  // namespace engine_constants

namespace detail {

/// float32 (fp32), float16 (fp16), bfloat16 (bf16): the float formats PyTorch and CTranslate2
/// name alike, widest first.
inline constexpr auto float_spellings = std::to_array<precision_spelling>({
    {precision_id::float32, "float32", precision_aliases::fp32},
    {precision_id::float16, "float16", precision_aliases::fp16},
    {precision_id::bfloat16, "bfloat16", precision_aliases::bf16},
});

/// The profile of an engine-aware estimator (resolved by resolve_request(), no summary).
constexpr engine_profile engine_aware_profile(std::string_view name, std::span<const std::string_view> aliases,
                                              std::span<const precision_spelling> precisions, int default_beam_size,
                                              bool default_flash_attention, estimate_fn estimate,
                                              weight_bytes_fn weight_bytes) {
    return engine_profile{.name = name,
                          .summary = {},
                          .aliases = aliases,
                          .precisions = precisions,
                          .default_beam_size = default_beam_size,
                          .default_batch_size = 1,
                          .default_flash_attention = default_flash_attention,
                          .resolves_itself = false,
                          .pipeline_stages = false,
                          .estimate = estimate,
                          .weight_bytes = weight_bytes};
}

/// Parameters split by how engines store them.
struct architecture_split {
    std::uint64_t total = 0;        ///< every element of the state dict (count_parameters().total())
    std::uint64_t linear = 0;       ///< Linear weight matrices + token embedding (quantizable)
    std::uint64_t conv = 0;         ///< conv1 + conv2 weights
    std::uint64_t positions = 0;    ///< encoder sinusoids 1500·d + decoder positions 448·d
    std::uint64_t vectors = 0;      ///< biases and layer norms
    std::uint64_t linear_rows = 0;  ///< output rows of the quantizable matrices (one scale each)
};

architecture_split split_parameters(const model_architecture& arch) noexcept;

/// PyTorch's cuBLASLt workspace for @p gpu (nullptr: unknown card → the largest, 32 MiB).
std::uint64_t cublaslt_workspace_bytes(const gpu_model* gpu) noexcept;

/// Accumulates a breakdown; finish() totals it and applies the margin.
struct estimate_builder {
    memory_estimate result;
    const gpu_model* gpu = nullptr;
    void add(std::string key, std::uint64_t bytes, std::string description);
    memory_estimate finish();
};

/// A builder with the normalised request and host memory filled in.
estimate_builder start_estimate(const resolved_request& in);

/// What eager module loading costs a process, above the lazy figures: a component and a source.
struct eager_loading_cost {
    std::uint64_t bytes = 0;  ///< added by eager loading (0 for none)
    std::string_view source;  ///< "every kernel of libtorch, cuBLAS and cuDNN: …" (where the figure comes from)
};
/// PyTorch's (torch_eager_extra_bytes), CTranslate2's and ggml's (eager_minus_lazy_context_bytes).
eager_loading_cost torch_eager_loading() noexcept;
eager_loading_cost ct2_eager_loading() noexcept;
eager_loading_cost ggml_eager_loading() noexcept;

/// Adds `cuda_context` (the lazy-loading CUDA context every engine's process creates), then
/// `cuda_module_loading_eager`: @p eager's bytes when the request says eager or does not say
/// (the safe side, with a note saying so), 0 when it says lazy.
void add_cuda_context(estimate_builder& builder, const resolved_request& in, const eager_loading_cost& eager);

/// PyTorch's library workspace: cuBLAS + cuBLASLt workspaces + lazily loaded kernels.
std::uint64_t torch_workspace_bytes(const resolved_request& in);
/// Its description.
std::string torch_workspace_text(const resolved_request& in);

/// Adds `cuda_context`, `cuda_module_loading_eager` and `library_workspace` of a PyTorch process
/// (openai-whisper, transformers).
void add_torch_runtime(estimate_builder& builder, const resolved_request& in);

/// faster-whisper's transcription on CTranslate2 (WhisperModel.transcribe at batch 1,
/// BatchedInferencePipeline above): adds weights … logits and returns what allocator_slack needs.
struct ct2_transcription {
    std::uint64_t weights = 0;      ///< weight bytes on the GPU
    std::uint64_t activations = 0;  ///< peak of the per-window activations (window_peaks::dynamic)
};
ct2_transcription add_ct2_transcription(estimate_builder& builder, const resolved_request& in);
/// CTranslate2's fixed runtime (library_workspace) and its pool overhead on @p t (allocator_slack).
std::uint64_t ct2_runtime_bytes() noexcept;
std::uint64_t ct2_slack_bytes(const ct2_transcription& t);
/// Their descriptions.
std::string_view ct2_runtime_text() noexcept;
std::string_view ct2_slack_text() noexcept;

/// Per-window sizes shared by the PyTorch and CTranslate2 profiles (bytes per batch item or
/// per hypothesis, at activation element size @p act).
struct window_sizes {
    std::uint64_t encoder_working = 0;    ///< one encoder block's live tensors + the mel input, per item
    std::uint64_t attention_scores = 0;   ///< heads × 1500² × score bytes per item (0 with flash/SDPA)
    std::uint64_t encoder_output = 0;     ///< 1500 × d × act per item
    std::uint64_t cross_kv = 0;           ///< 2 × decoder_layers × 1500 × d × act per item
    std::uint64_t self_kv_per_token = 0;  ///< 2 × decoder_layers × d × act per hypothesis and token
    std::uint64_t block_per_token = 0;    ///< 14 × d × act: one decoder block's live tensors per token
};

/// Sizes for @p arch at activation element size @p act; @p score_bytes per attention score
/// element when flash attention is off (0 when on).
window_sizes window_sizes_for(const model_architecture& arch, std::uint64_t act, std::uint64_t score_bytes);

/// "12.3 MiB"
std::string mib(std::uint64_t bytes);

/// Bytes × fraction, rounded up.
inline std::uint64_t fraction_of(std::uint64_t bytes, double fraction) {
    return static_cast<std::uint64_t>(std::ceil(static_cast<double>(bytes) * fraction));
}

/// The activation peaks of one window (PyTorch and CTranslate2 profiles): the encoder phase and
/// the decoder phase do not overlap (the allocator reuses the encoder's blocks), the encoder output
/// stays across both.
struct window_peaks {
    std::uint64_t encoder_phase = 0;   ///< encoder working set × batch
    std::uint64_t encoder_output = 0;  ///< audio features kept for the decoder
    std::uint64_t decoder_phase = 0;   ///< everything alive at the decoder's peak
    /// The larger phase + the encoder output: what the activations take at their peak.
    [[nodiscard]] std::uint64_t dynamic() const noexcept;
    /// The encoder phase above the decoder's (what `encoder_activations` adds on top).
    [[nodiscard]] std::uint64_t encoder_above_decoder() const noexcept;
};

/// Adds `encoder_activations`: the encoder phase above the decoder's peak. @p how says what one
/// item's working set holds, @p reuse who takes the freed memory.
void add_encoder_activations(estimate_builder& builder, const window_peaks& peaks, const window_sizes& w,
                             std::uint64_t batch, std::string_view how, std::string_view reuse);

}  // namespace detail
}  // namespace whisper_vram
