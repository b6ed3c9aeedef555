// whisper.cpp (ggml, CUDA backend): whisper_init_from_file + whisper_full (whisper-cli).
//
// What the GPU holds (src/whisper.cpp: whisper_model_load, whisper_init_state):
// - weights as stored in the ggml file: f16 files keep 2-D matrices and the conv kernels in f16,
//   biases, norms and both position embeddings in f32; quantized files (quantize tool) quantize
//   every 2-D matrix except the position embeddings; the 3-D conv kernels stay f16.
// - per state, allocated once at init: `kv self` (512 cells, × (n_decoders + 2) when
//   n_decoders = max(beam_size, best_of) > 1, at most 8 decoders), `kv cross` (1536 cells, not
//   replicated), `kv pad` (one layer × 1536 cells) and four compute buffers (conv, encode, cross,
//   decode) sized for the worst case. Nothing grows with audio length; the mel is on the host.
// Check (recalled, not re-read): the faster-whisper README benchmark lists whisper.cpp (flash
// attention) fp16, beam 5, large-v2 at 4127 MB on an RTX 3070 Ti 8GB; this profile gives 4377 MiB
// (+6%). whisper.cpp's own log prints "model size" in MB = 10^6 B (3093.99 MB for large-v2 f16
// by the arithmetic of weight_bytes below).
// - batch B: whisper.cpp does not batch windows; B sizes whisper_full_parallel with B processors
//   (one state each, weights shared).
#include <fmt/format.h>
#include <array>

#include "engines/engine_common.hpp"
#include "engines/profiles.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/engines/engines.hpp"

namespace whisper_vram {
namespace {

using namespace detail;

// ggml-common.h block sizes per 32 weights: q8_0 = fp16 scale + 32 int8 = 34 B; q5_0 = fp16 +
// 4 B high bits + 16 B = 22 B; q5_1 = 2 fp16 + 4 + 16 = 24 B; q4_0 = fp16 + 16 B = 18 B;
// q4_1 = 2 fp16 + 16 B = 20 B. Whisper row lengths (d, 4d) are multiples of 32.
struct ggml_block {
    precision_id type;
    std::uint64_t bytes_per_32;
};
constexpr auto ggml_blocks = std::to_array<ggml_block>({
    {precision_id::q8_0, 34},
    {precision_id::q5_0, 22},
    {precision_id::q5_1, 24},
    {precision_id::q4_0, 18},
    {precision_id::q4_1, 20},
    {precision_id::float16, 64},
});

std::uint64_t block_bytes_per_32(precision_id precision) {
    for (const auto& block : ggml_blocks) {
        if (block.type == precision) return block.bytes_per_32;
    }
    return 128;  // f32
}

std::uint64_t weight_bytes(precision_id precision, const model_architecture& arch) {
    using namespace engine_constants;
    const architecture_split s = split_parameters(arch);
    if (precision == precision_id::float32) return s.total * float32_bytes;
    return s.linear * block_bytes_per_32(precision) / 32 + s.conv * f16_bytes +
           (s.positions + s.vectors) * float32_bytes;
}

memory_estimate estimate_memory(const resolved_request& in) {
    using namespace engine_constants;
    if (in.beams > static_cast<std::uint64_t>(ggml_max_decoders)) {
        throw usage_error(fmt::format(
            "beam size {} is invalid for whisper.cpp: at most {} decoders (WHISPER_MAX_DECODERS); use 1 to 8", in.beams,
            ggml_max_decoders));
    }
    estimate_builder b = start_estimate(in);
    const architecture_split split = split_parameters(in.arch);
    const auto d = static_cast<std::uint64_t>(in.arch.d_model);
    const auto vocab = static_cast<std::uint64_t>(in.arch.n_vocab);
    const auto text_ctx = static_cast<std::uint64_t>(in.arch.n_text_ctx);
    const precision_id precision = in.precision->id;
    const bool quantized = precision != precision_id::float32 && precision != precision_id::float16;
    const int n_decoders = static_cast<int>(in.beams);

    add_cuda_context(b, in, ggml_eager_loading());
    const std::uint64_t cublas = cublaslt_workspace_bytes(in.gpu);
    // ggml's CUDA pool holds the f16 copy of the widest activation (1500 × 4d) converted for cuBLAS,
    // and for quantized files a dequantized f16 copy of the widest matrix (4d × d).
    const std::uint64_t pool = audio_positions * 4 * d * f16_bytes + (quantized ? 4 * d * d * f16_bytes : 0);
    // ggml-cuda kernels loaded on first use: assumed 32 MiB (not published; ggml instantiates far
    // fewer kernels than libtorch, whose share we assume at 128 MiB).
    const std::uint64_t kernels = 32 * bytes_per_mib;
    b.add(
        "library_workspace", cublas + pool + kernels,
        fmt::format("cuBLAS workspace {} (sized like PyTorch's cuBLASLt choice by arch) + ggml CUDA pool {} (f16 copy "
                    "of 1500 x 4d{}) + ggml-cuda kernels 32 MiB (assumed)",
                    mib(cublas), mib(pool), quantized ? " + dequantized 4d x d matrix" : ""));
    b.add("weights", weight_bytes(precision, in.arch),
          precision == precision_id::float32
              ? std::string("f32 file: every parameter x 4 B")
              : fmt::format("{} matrices: {} elements x {}/32 B; conv kernels f16; positions, biases, norms f32",
                            in.precision->name, split.linear, block_bytes_per_32(precision)));
    b.add("weights_transient", 0, "none: tensors are read from the file into their final GPU buffer");

    // Compute buffers (ggml-alloc reuses memory inside a graph; f32 activations). Derived:
    const std::uint64_t conv_buffer =
        float32_bytes * (static_cast<std::uint64_t>(in.arch.n_mels) * window_mel_frames + 2 * window_mel_frames * d);
    const std::uint64_t kq = in.flash_attention ? 0
                                                : static_cast<std::uint64_t>(in.arch.n_heads) * audio_positions *
                                                      audio_positions * float32_bytes;
    const std::uint64_t encode_buffer = float32_bytes * 14 * audio_positions * d + kq;
    const std::uint64_t kv_pad = 2 * d * ggml_cross_kv_cells * f16_bytes;
    b.add("encoder_activations", in.batch * (conv_buffer + encode_buffer + kv_pad),
          fmt::format(
              "per state: compute buffer conv (mel + 2 x 3000 x d, f32) {} + encode (14 x 1500 x d f32{}) {} + kv "
              "pad 2 x d x 1536 x 2 B {}",
              mib(conv_buffer), in.flash_attention ? ", flash attention" : " + heads x 1500^2 x 4 B scores",
              mib(encode_buffer), mib(kv_pad)));
    b.add("encoder_output", 0, "written straight into kv cross by the cross graph (no separate buffer)");
    b.add("cross_attention_cache", in.batch * whisper_cpp_cross_kv_bytes(in.arch),
          fmt::format("kv cross: 2 x d x {} layers x 1536 cells x 2 B per state, not replicated per decoder",
                      in.arch.decoder_layers));
    b.add("self_attention_cache", in.batch * whisper_cpp_self_kv_bytes(in.arch, n_decoders),
          fmt::format("kv self: 2 x d x {} layers x 512 cells x 2 B{} per state", in.arch.decoder_layers,
                      n_decoders > 1 ? fmt::format(" x (n_decoders {} + 2)", n_decoders) : std::string()));
    const std::uint64_t cross_buffer = float32_bytes * 2 * audio_positions * d;
    const std::uint64_t decode_kq = in.flash_attention ? 0
                                                       : static_cast<std::uint64_t>(in.arch.n_heads) * text_ctx *
                                                             ggml_self_kv_cells * float32_bytes;
    const std::uint64_t decode_buffer = float32_bytes * 14 * text_ctx * d + decode_kq;
    b.add("decoder_activations", in.batch * (cross_buffer + decode_buffer),
          fmt::format(
              "per state: compute buffer cross (2 x 1500 x d f32) {} + decode, worst case 448 tokens (14 x 448 x d "
              "f32{}) {}",
              mib(cross_buffer), in.flash_attention ? "" : " + heads x 448 x 512 x 4 B", mib(decode_buffer)));
    b.add("logits", in.batch * text_ctx * vocab * float32_bytes,
          "decode compute buffer's logits: 448 tokens x n_vocab x 4 B per state");
    b.add("allocator_slack", 0, "none: ggml allocates each buffer once at its exact size");

    b.result.notes.push_back(fmt::format(
        "whisper.cpp: n_decoders {} (beam/best_of; whisper-cli defaults 5/5), flash attention {}; all buffers are "
        "allocated at init, GPU memory does not grow with audio length{}",
        n_decoders, in.flash_attention ? "on" : "off",
        in.batch > 1 ? fmt::format("; batch {} = whisper_full_parallel with {} states", in.batch, in.batch) : ""));
    if (n_decoders < 5) {
        b.result.notes.emplace_back(
            "whisper-cli allocates max(beam_size, best_of) decoders and best_of defaults to 5: lower -bo too to get "
            "this estimate");
    }
    return b.finish();
}

constexpr auto f32_aliases = std::to_array<std::string_view>({"float32", "fp32"});
constexpr auto f16_aliases = std::to_array<std::string_view>({"float16", "fp16"});
constexpr auto q8_0_aliases = std::to_array<std::string_view>({"int8"});  // 8-bit ggml quantization
constexpr auto q4_0_aliases = std::to_array<std::string_view>({"int4"});  // 4-bit ggml quantization
// ggml file types; the guide's names map to them.
constexpr auto precisions = std::to_array<precision_spelling>({
    {precision_id::float32, "f32", f32_aliases},
    {precision_id::float16, "f16", f16_aliases},
    {precision_id::q8_0, "q8_0", q8_0_aliases},
    {precision_id::q5_0, "q5_0", {}},
    {precision_id::q5_1, "q5_1", {}},
    {precision_id::q4_0, "q4_0", q4_0_aliases},
    {precision_id::q4_1, "q4_1", {}},
});

}  // namespace

const engine_profile& whisper_cpp_profile() {
    // Defaults: whisper-cli beam 5 / best_of 5; flash attention on by default since 2025-09.
    static constexpr auto aliases = std::to_array<std::string_view>({"ggml", "whisper-cpp", "whispercpp"});
    static const engine_profile profile =
        engine_aware_profile("whisper.cpp", aliases, precisions, /*beam*/ 5,
                             /*flash attention*/ true, &estimate_memory, &weight_bytes);
    return profile;
}

}  // namespace whisper_vram
