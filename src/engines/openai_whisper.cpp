// openai-whisper (PyTorch): whisper.load_model() + transcribe()/decode().
//
// What the GPU holds (openai/whisper whisper/__init__.py, model.py, decoding.py):
// - load_model(): torch.load(map_location=device) puts the fp16 checkpoint on the GPU, builds an
//   fp32 Whisper and moves it there while the checkpoint is alive: 4 B/parameter resident + 2 B
//   transient. The checkpoint's blocks stay reserved by the caching allocator (nvidia-smi shows
//   them) and are reused by the activations.
// - transcribe(fp16=True) (the default, precision "float16"): Linear/Conv cast their fp32 weights
//   to fp16 on every call; the largest cast is the token embedding for the logits (n_vocab·d·2 B).
//   fp16=False (precision "float32"): fp32 compute, no casts.
// - decoding with n_group = beam_size (CLI default 5): the self-attention K/V grows per token ×
//   n_group; since v20230918 (PR #1483) audio features and cross K/V are not repeated per beam.
//   A request that does not state its release (flash attention unset) is sized as the older,
//   costlier releases: no SDPA (before v20240930) and per-beam audio features (before v20230918).
// - the first decoder call of a window conditioned on previous text runs 227 tokens and returns
//   fp16 logits followed by .float(): n_group × 227 × n_vocab × (2 + 4) B.
// Check: openai/whisper README "Required VRAM" (approximate, no setup stated): tiny/base ~1 GB,
// small ~2 GB, medium ~5 GB, large ~10 GB, turbo ~6 GB; this profile gives 1.02, 1.19, 1.94, 4.77,
// 9.14, 5.01 GiB. The faster-whisper README's "openai/whisper fp16 beam 5 large-v2 4708 MB"
// (recalled) cannot be stock load_model: its fp32 weights alone are 6.17 GB, so that run must
// have held fp16 weights; this profile models the stock loader.
// - batch: transcribe() decodes one 30 s window at a time; batch B sizes whisper.decode(model,
//   mel) on a (B, n_mels, 3000) batch, which the library supports (weights once, activations × B).
#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "engines/engine_common.hpp"
#include "engines/profiles.hpp"

namespace whisper_vram {
namespace {

using namespace detail;

std::uint64_t weight_bytes(precision_id /*precision*/, const model_architecture& arch) {
    // load_model keeps fp32 parameters at both precisions (fp16=True casts per call).
    return split_parameters(arch).total * engine_constants::float32_bytes;
}

memory_estimate estimate_memory(const resolved_request& in) {
    using namespace engine_constants;
    estimate_builder b = start_estimate(in);
    const architecture_split split = split_parameters(in.arch);
    const bool fp16 = in.precision->id == precision_id::float16;
    const std::uint64_t act = fp16 ? f16_bytes : float32_bytes;
    const auto d = static_cast<std::uint64_t>(in.arch.d_model);
    const auto vocab = static_cast<std::uint64_t>(in.arch.n_vocab);
    const std::uint64_t hyps = in.batch * in.beams;
    // Without SDPA (releases before v20240930) qkv_attention materialises qk.float() and its
    // softmax in fp32: 2 × 4 B per score element of one layer.
    const window_sizes w = window_sizes_for(in.arch, act, in.flash_attention ? 0 : 2 * float32_bytes);

    add_torch_runtime(b, in);
    const std::uint64_t weights = weight_bytes(in.precision->id, in.arch);
    b.add("weights", weights, fmt::format("{} parameters x 4 B: load_model keeps fp32 weights resident", split.total));

    const std::uint64_t checkpoint = split.total * f16_bytes;
    const std::uint64_t cast = fp16 ? vocab * d * f16_bytes : 0;
    const std::uint64_t self_kv = hyps * w.self_kv_per_token * static_cast<std::uint64_t>(in.arch.n_text_ctx);
    // Releases before v20230918 (PR #1483) repeat the audio features per beam, and the cross-attention
    // K/V computed from them: sized with the pre-SDPA path (flash attention off, the default).
    const std::uint64_t replicas = in.flash_attention ? 1 : in.beams;
    const std::uint64_t cross = in.batch * replicas * w.cross_kv;
    const std::uint64_t decoder_act = hyps * prompt_prefill_tokens * w.block_per_token;
    const std::uint64_t logits =
        hyps * prompt_prefill_tokens * vocab * (fp16 ? f16_bytes + float32_bytes : float32_bytes);
    const std::uint64_t decoder_phase = cast + cross + self_kv + decoder_act + logits;
    const std::uint64_t encoder_phase = in.batch * (w.encoder_working + w.attention_scores);
    const std::uint64_t encoder_output = in.batch * replicas * w.encoder_output;
    const std::uint64_t dynamic = std::max(encoder_phase, decoder_phase) + encoder_output;
    const std::uint64_t checkpoint_extra = checkpoint > dynamic ? checkpoint - dynamic : 0;

    b.add(
        "weights_transient", cast + checkpoint_extra,
        fmt::format(
            "{}fp16 checkpoint ({}) that torch.load(map_location=device) leaves in the caching allocator, "
            "less what the activations reuse: {}",
            fp16 ? fmt::format("per-call fp16 cast of the token embedding, n_vocab x d x 2 B ({}) + ", mib(cast)) : "",
            mib(checkpoint), mib(checkpoint_extra)));
    b.add(
        "encoder_activations", encoder_phase > decoder_phase ? encoder_phase - decoder_phase : 0,
        fmt::format("encoder working set {} x batch {} ({}one block: 14 x 1500 x d x {} B + mel); only the part above "
                    "the decoder's peak counts, the decoder reuses the freed blocks",
                    mib(w.encoder_working + w.attention_scores), in.batch,
                    in.flash_attention ? "SDPA, " : "no SDPA: + heads x 1500^2 x 8 B fp32 scores and softmax; ", act));
    b.add("encoder_output", encoder_output,
          in.flash_attention ? fmt::format("audio features 1500 x d x {} B x batch, not repeated per beam", act)
                             : fmt::format("audio features 1500 x d x {} B x batch x beams {} (repeated per beam "
                                           "before v20230918, PR #1483)",
                                           act, in.beams));
    b.add("cross_attention_cache", cross,
          in.flash_attention
              ? fmt::format("2 x {} decoder layers x 1500 x d x {} B x batch (not repeated per beam since v20230918)",
                            in.arch.decoder_layers, act)
              : fmt::format("2 x {} decoder layers x 1500 x d x {} B x batch x beams {} (repeated per beam before "
                            "v20230918, PR #1483)",
                            in.arch.decoder_layers, act, in.beams));
    b.add(
        "self_attention_cache", self_kv,
        fmt::format("2 x {} layers x d x {} B x 448 tokens (n_text_ctx, full with a previous-text prompt) x batch {} x "
                    "beams {}",
                    in.arch.decoder_layers, act, in.batch, in.beams));
    b.add("decoder_activations", decoder_act,
          fmt::format("first decoder call: 227 prompt tokens x 14 x d x {} B x batch x beams", act));
    b.add("logits", logits,
          fmt::format("first decoder call's logits: batch x beams x 227 tokens x n_vocab x {} B",
                      fp16 ? "(2 + 4)" : "4"));
    const std::uint64_t slack = fraction_of(dynamic + cast, allocator_fragmentation) + torch_allocator_segments_bytes;
    b.add(
        "allocator_slack", slack,
        "PyTorch caching allocator: 5% of the activations (fragmentation, assumed) + one 20 MiB and one 2 MiB segment");

    b.result.notes.push_back(fmt::format(
        "openai-whisper: beam {} ({}), {}; GPU memory does not grow with audio length (30 s windows){}", in.beams,
        in.request->beam_size ? "given" : "the CLI's default; the Python API's DecodingOptions default is greedy",
        fp16 ? "fp16=True: fp32 weights resident, fp16 compute" : "fp16=False: fp32 compute",
        in.batch > 1 ? fmt::format("; batch {} means whisper.decode() on {} windows at once (transcribe() has no "
                                   "batching)",
                                   in.batch, in.batch)
                     : std::string()));
    if (!in.flash_attention) {
        b.result.notes.emplace_back(
            in.request->flash_attention
                ? "flash attention off: sized like releases before v20240930 (no SDPA: fp32 encoder scores), and "
                  "before v20230918 (audio features and cross-attention K/V repeated per beam)"
                : "openai-whisper release not stated: sized like releases before v20240930 (no SDPA: fp32 encoder "
                  "scores) and before v20230918 (audio features and cross-attention K/V repeated per beam), the "
                  "costlier paths; pass --flash-attention on if you run v20240930 or later");
    }
    return b.finish();
}

}  // namespace

const engine_profile& openai_whisper_profile() {
    // Defaults: the openai-whisper CLI's `--beam_size 5` (DecodingOptions alone is greedy), and
    // flash attention off: SDPA exists only since release v20240930, and a request that does not
    // say which release it runs is sized on the older, costlier paths (no SDPA; audio features
    // repeated per beam before v20230918). float32 = transcribe's fp16=False; float16 (the
    // default) = fp32 weights resident, fp16 compute.
    static constexpr auto aliases = std::to_array<std::string_view>({"openai", "whisper"});
    static const engine_profile profile =
        engine_aware_profile("openai-whisper", aliases, std::span(float_spellings).first<2>(), /*beam*/ 5,
                             /*flash attention*/ false, &estimate_memory, &weight_bytes);
    return profile;
}

}  // namespace whisper_vram
