// Hugging Face transformers (PyTorch): WhisperForConditionalGeneration + generate(), as the ASR
// pipeline runs it with chunk_length_s=30 and batch_size chunks per generate() call.
//
// What the GPU holds (transformers generation/utils.py, models/whisper/modeling_whisper.py):
// - weights in the chosen torch_dtype, loaded on the host and moved: no GPU transient copy.
// - _expand_inputs_for_generation repeat_interleaves the encoder output per beam, so the encoder
//   output and the cross-attention cache computed from it scale with batch × beams.
// - the self-attention cache (DynamicCache) grows by one token per step × batch × beams.
// - attn_implementation "sdpa" (default) does not materialise encoder scores; "eager" keeps the
//   scores and their softmax in the compute dtype: 2 × heads × 1500² elements per item.
// Check (recalled, not re-read): the faster-whisper README benchmark lists transformers (SDPA)
// fp16, beam 5, large-v2 at 4960 MB on an RTX 3070 Ti 8GB; this profile gives 4768 MiB (−4%).
// - greedy by default (num_beams 1); the pipeline does not condition on previous text, so a
//   window starts from 4 tokens.
#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "engines/engine_common.hpp"
#include "engines/profiles.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {

using namespace detail;

std::uint64_t act_bytes(precision_id precision) {
    return precision == precision_id::float32 ? engine_constants::float32_bytes : engine_constants::f16_bytes;
}

std::uint64_t weight_bytes(precision_id precision, const model_architecture& arch) {
    // Every parameter (embed_positions included; proj_out is tied to embed_tokens) in torch_dtype.
    return split_parameters(arch).total * act_bytes(precision);
}

memory_estimate estimate_memory(const resolved_request& in) {
    using namespace engine_constants;
    estimate_builder b = start_estimate(in);
    const architecture_split split = split_parameters(in.arch);
    const std::uint64_t act = act_bytes(in.precision->id);
    const auto vocab = static_cast<std::uint64_t>(in.arch.n_vocab);
    const std::uint64_t hyps = in.batch * in.beams;
    const window_sizes w = window_sizes_for(in.arch, act, in.flash_attention ? 0 : 2 * act);

    add_torch_runtime(b, in);
    b.add("weights", weight_bytes(in.precision->id, in.arch),
          fmt::format("{} parameters x {} B ({})", split.total, act, in.precision->name));
    b.add("weights_transient", 0, "none: weights are loaded on the host in torch_dtype and moved once");

    const std::uint64_t cross = hyps * w.cross_kv;
    const std::uint64_t self_kv = hyps * w.self_kv_per_token * batched_decode_tokens;
    const std::uint64_t decoder_act = hyps * sot_tokens * w.block_per_token;
    // Prefill logits of the start tokens in the compute dtype, then the last position's logits
    // as float32, their log-softmax and the processed scores (3 × 4 B per vocabulary entry).
    const std::uint64_t logits = hyps * vocab * (sot_tokens * act + 3 * float32_bytes);
    const window_peaks peaks{.encoder_phase = in.batch * (w.encoder_working + w.attention_scores),
                             .encoder_output = hyps * w.encoder_output,
                             .decoder_phase = cross + self_kv + decoder_act + logits};

    add_encoder_activations(b, peaks, w, in.batch,
                            in.flash_attention ? "sdpa: one block 14 x 1500 x d + mel"
                                               : "eager: + scores and softmax, 2 x heads x 1500^2 elements",
                            "the decoder reuses the freed blocks");
    b.add("encoder_output", peaks.encoder_output,
          fmt::format("1500 x d x {} B x batch {} x beams {} (repeat_interleave per beam)", act, in.batch, in.beams));
    b.add("cross_attention_cache", cross,
          fmt::format("2 x {} decoder layers x 1500 x d x {} B x batch x beams (expanded per beam)",
                      in.arch.decoder_layers, act));
    b.add("self_attention_cache", self_kv,
          fmt::format("2 x {} layers x d x {} B x 128 tokens (typical 30 s window) x batch {} x beams {}",
                      in.arch.decoder_layers, act, in.batch, in.beams));
    b.add("decoder_activations", decoder_act, fmt::format("4 start tokens x 14 x d x {} B x batch x beams", act));
    b.add("logits", logits,
          fmt::format("batch x beams x n_vocab x (4 prefill positions x {} B + 3 x 4 B float32 scores)", act));
    b.add(
        "allocator_slack", fraction_of(peaks.dynamic(), allocator_fragmentation) + torch_allocator_segments_bytes,
        "PyTorch caching allocator: 5% of the activations (fragmentation, assumed) + one 20 MiB and one 2 MiB segment");

    b.result.notes.push_back(fmt::format(
        "transformers: {} (beam {}), batch {} = pipeline batch_size chunks of 30 s per generate(); GPU memory does not "
        "grow with audio length; a window that decodes to max_length 448 adds {} of self-attention cache",
        in.beams == 1 ? "greedy" : "beam search", in.beams, in.batch,
        mib(hyps * w.self_kv_per_token * (static_cast<std::uint64_t>(in.arch.n_text_ctx) - batched_decode_tokens))));
    if (in.gpu != nullptr && in.precision->id == precision_id::bfloat16 && in.gpu->cc_major < 8) {
        b.result.notes.push_back(
            fmt::format("{} (CC {}.{}) has no native bfloat16 (needs CC 8.0): PyTorch runs it emulated and slowly; "
                        "memory is the same; "
                        "float16 is the better choice",
                        in.gpu->name, in.gpu->cc_major, in.gpu->cc_minor));
    }
    return b.finish();
}

}  // namespace

const engine_profile& transformers_profile() {
    // Defaults: generate() is greedy (num_beams 1) and attn_implementation="sdpa".
    static constexpr auto aliases = std::to_array<std::string_view>({"hf", "huggingface"});
    static const engine_profile profile =
        engine_aware_profile("transformers", aliases, float_spellings, /*beam*/ 1,
                             /*flash attention*/ true, &estimate_memory, &weight_bytes);
    return profile;
}

}  // namespace whisper_vram
