// WhisperX (m-bain/whisperX): faster-whisper's batched transcription on CTranslate2, a pyannote VAD
// model, a wav2vec2 alignment model for the language and, with --diarize, the pyannote
// speaker-diarization pipeline, all in one process (one CUDA context).
//
// Facts (engine-runtime-facts.md §5, whisperX @ 2cfd7b7c):
// - asr.py load_model: compute_type "default" → float16 on CUDA; default_asr_options beam_size 5;
//   FasterWhisperPipeline batches 30 s VAD chunks into one generate() (beam search only, no
//   temperature fallback). README example batch_size = 16 (the CLI's default is 8): we size 16.
// - VAD: vad_method "pyannote" loads a pyannote segmentation model on cuda (§5.1).
// - alignment.py: DEFAULT_ALIGN_MODELS_TORCH (en WAV2VEC2_ASR_BASE_960H, fr/de/es/it VoxPopuli
//   base) and DEFAULT_ALIGN_MODELS_HF (Wav2Vec2ForCTC in fp32: xlsr-53 large for ja/zh/nl/pt/…),
//   §5.2.
// - diarize.py: pyannote/speaker-diarization-3.1 → segmentation-3.0 + WeSpeaker ResNet34-LM, both
//   batch 32 (§5.3).
// - Which models are resident together (§5.4): the CLI (transcribe.py) runs ASR + VAD, then
//   `del model; gc.collect(); torch.cuda.empty_cache()`, then align, then diarize, so its peak is
//   the largest stage plus the shared context; the README's Python example keeps every model
//   resident unless the user un-comments the deletes. Most services embed the Python API, so this
//   profile sizes the README example: the stages' sum (the safe side), and says so in the notes.
#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "engines/engine_common.hpp"
#include "engines/profiles.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {

namespace {

using namespace detail;
using engine_constants::float32_bytes;

// ---- the pyannote models (§5.3) ----
// segmentation-3.0 pytorch_model.bin 5.91 MB (fp32 weights). WhisperX's own VAD asset
// (whisperx/assets/pytorch_model.bin) is a pyannote segmentation model whose size the sheet does
// not give: assumed the same.
constexpr std::uint64_t segmentation_weights_bytes = 5'910'000;
// pyannote-wespeaker-voxceleb-resnet34-LM pytorch_model.bin 26.6 MB (fp32).
constexpr std::uint64_t embedding_weights_bytes = 26'600'000;
// Chunks per batch: the diarization pipeline's segmentation_batch_size and embedding_batch_size
// (config.yaml: 32); the VAD's pyannote Inference is assumed to use its default batch, also 32.
constexpr std::uint64_t pyannote_batch = 32;
// segmentation-3.0 config: duration 10.0 s chunks at 16 kHz.
constexpr std::uint64_t pyannote_chunk_samples = 160'000;
// SincNet's first layer (PyanNet): 80 sinc filters, kernel 251, stride 10 → (160000 − 251)/10 + 1
// = 15975 frames; its output and |output| are alive together (derived from the architecture).
constexpr std::uint64_t sincnet_filters = 80;
constexpr std::uint64_t sincnet_frames = 15'975;
// WeSpeaker ResNet34 (32 base channels) on an 80-bin fbank of a 10 s chunk (998 frames at a
// 10 ms hop): a first-stage residual block keeps its input, one intermediate and its output,
// 3 × 32 × 80 × 998 float32 per chunk (derived from the architecture; not measured).
constexpr std::uint64_t resnet_stage1_elements = 3ULL * 32 * 80 * 998;

std::uint64_t sincnet_activation_bytes() {
    return pyannote_batch * (pyannote_chunk_samples + 2 * sincnet_filters * sincnet_frames) * float32_bytes;
}

std::uint64_t resnet_activation_bytes() { return pyannote_batch * resnet_stage1_elements * float32_bytes; }

// ---- the alignment models (§5.2), fp32 ----
// wav2vec2-base 960h: 94.3965 M parameters (OpenVINO model zoo "wav2vec2-base", MParams 94.3965);
// the VoxPopuli base models (fr, de, es, it) and wav2vec2-base-vi share the base architecture.
constexpr std::uint64_t wav2vec2_base_parameters = 94'396'500;
// wav2vec2-large-xlsr-53: 317 M parameters, F32 (HF page Zuellni/wav2vec2-ST); the xls-r-300m and
// other "large" models of the list share the large architecture.
constexpr std::uint64_t wav2vec2_large_parameters = 317'000'000;
// NbAiLab nb-wav2vec2-1b (no, nn): ~1 B parameters, from the name only (not verified). The
// largest model of WhisperX's lists: what an unknown language is sized with.
constexpr std::uint64_t wav2vec2_1b_parameters = 1'000'000'000;
// The feature encoder's first conv (512 channels, kernel 10, stride 5) over a 30 s segment
// (480,000 samples → 95,999 frames): its output and the normalised output are alive together;
// the largest activation of both architectures (derived; the transformer's 1499-frame attention
// is smaller).
constexpr std::uint64_t align_activation_bytes = 2ULL * 512 * 95'999 * float32_bytes;

struct align_model {
    std::string_view name;
    std::uint64_t parameters;
};

struct language_model {
    std::string_view language;
    align_model model;
};

constexpr align_model torch_base_en{"torchaudio WAV2VEC2_ASR_BASE_960H", wav2vec2_base_parameters};
constexpr align_model voxpopuli_base{"torchaudio VOXPOPULI_ASR_BASE_10K", wav2vec2_base_parameters};
constexpr align_model xlsr_large{"wav2vec2-large-xlsr-53 / xls-r-300m (large)", wav2vec2_large_parameters};
constexpr align_model base_vi{"nguyenvulebinh/wav2vec2-base-vi-vlsp2020 (base)", wav2vec2_base_parameters};
constexpr align_model one_billion{"NbAiLab nb-wav2vec2-1b", wav2vec2_1b_parameters};

// DEFAULT_ALIGN_MODELS_TORCH and the DEFAULT_ALIGN_MODELS_HF entries the fact sheet lists.
constexpr auto align_models = std::to_array<language_model>({
    {"en", torch_base_en},  {"fr", voxpopuli_base}, {"de", voxpopuli_base}, {"es", voxpopuli_base},
    {"it", voxpopuli_base}, {"ja", xlsr_large},     {"zh", xlsr_large},     {"nl", xlsr_large},
    {"pt", xlsr_large},     {"ar", xlsr_large},     {"ru", xlsr_large},     {"pl", xlsr_large},
    {"hu", xlsr_large},     {"fi", xlsr_large},     {"fa", xlsr_large},     {"el", xlsr_large},
    {"uk", xlsr_large},     {"cs", xlsr_large},     {"tr", xlsr_large},     {"da", xlsr_large},
    {"he", xlsr_large},     {"ko", xlsr_large},     {"sv", xlsr_large},     {"id", xlsr_large},
    {"vi", base_vi},        {"no", one_billion},    {"nn", one_billion},
});

// The language code of @p text ("EN " → "en"). @throws usage_error for anything but 2-3 letters.
std::string language_code(std::string_view text) {
    std::string code = detail::to_lower(detail::trim(text));
    const bool letters = std::all_of(code.begin(), code.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (code.size() < 2 || code.size() > 3 || !letters) {
        throw usage_error(
            fmt::format("language '{}' is invalid: give a language code of 2 or 3 letters as WhisperX takes it, e.g. "
                        "en, fr, de, ja, zh",
                        text));
    }
    return code;
}

const align_model* find_align_model(std::string_view code) {
    const auto* it = std::find_if(align_models.begin(), align_models.end(),
                                  [&](const language_model& m) { return m.language == code; });
    return it == align_models.end() ? nullptr : &it->model;
}

memory_estimate estimate_memory(const resolved_request& in) {
    const estimate_request& request = *in.request;
    const std::string language = language_code(request.language.value_or("en"));
    const bool align = request.align.value_or(true);

    estimate_builder b = start_estimate(in);
    b.result.request.language = language;
    b.result.request.align = align;

    // One process, one context: CTranslate2 (ASR) and PyTorch (VAD, alignment, diarization) both
    // load their kernels into it; eager loading pays both libraries' (the safe side: summed).
    const eager_loading_cost torch = torch_eager_loading();
    const eager_loading_cost ct2 = ct2_eager_loading();
    const std::string eager_source = fmt::format("PyTorch's {} ({}) + CTranslate2's {} ({})", mib(torch.bytes),
                                                 torch.source, mib(ct2.bytes), ct2.source);
    add_cuda_context(b, in, eager_loading_cost{torch.bytes + ct2.bytes, eager_source});
    b.add("library_workspace", ct2_runtime_bytes() + torch_workspace_bytes(in),
          fmt::format("{}; + PyTorch for the VAD, alignment and diarization models: {}", ct2_runtime_text(),
                      torch_workspace_text(in)));
    const ct2_transcription asr = add_ct2_transcription(b, in);

    // The stages after transcription: weights (fp32) + their largest activation each.
    const std::uint64_t asr_stage = asr.weights + asr.activations;  // what the ASR stage holds at its peak
    std::uint64_t torch_activations = 0;
    const std::uint64_t vad_acts = sincnet_activation_bytes();
    const std::uint64_t vad = segmentation_weights_bytes + vad_acts;
    torch_activations += vad_acts;
    b.add("vad_model", vad,
          fmt::format("pyannote segmentation VAD on the GPU: weights 5.91 MB (segmentation-3.0's file; WhisperX's "
                      "asset assumed alike) + SincNet activations of a batch of 32 10-s chunks (assumed pyannote "
                      "default) {}",
                      mib(vad_acts)));
    // Staged (the CLI): each later stage adds only what it needs above the largest stage before it.
    std::uint64_t largest_stage = asr_stage + vad;
    const auto add_stage = [&](std::string key, std::uint64_t bytes, std::string description) {
        if (!request.staged) {
            b.add(std::move(key), bytes, std::move(description));
            return;
        }
        const std::uint64_t above = bytes > largest_stage ? bytes - largest_stage : 0;
        b.add(std::move(key), above,
              fmt::format("{}: {}; staged (WhisperX's CLI frees the models of the stage before), only the part "
                          "above the largest earlier stage ({}) counts",
                          mib(bytes), description, mib(largest_stage)));
        largest_stage = std::max(largest_stage, bytes);
    };
    if (align) {
        const align_model* model = find_align_model(language);
        if (model == nullptr) {
            model = &one_billion;
            b.result.notes.push_back(fmt::format(
                "language '{}': no default alignment model in the fact sheet's WhisperX lists; sized with the largest "
                "({}, ~1 B parameters), the safe side (WhisperX itself needs --align_model for such a language)",
                language, one_billion.name));
        }
        const std::uint64_t weights = model->parameters * float32_bytes;
        torch_activations += align_activation_bytes;
        add_stage("align_model", weights + align_activation_bytes,
                  fmt::format("wav2vec2 alignment model for '{}': {}, {} parameters x 4 B (fp32) {} + feature-encoder "
                              "activations of a 30 s segment (2 x 512 x 95,999 x 4 B) {}",
                              language, model->name, model->parameters, mib(weights), mib(align_activation_bytes)));
    }
    if (request.diarize) {
        const std::uint64_t acts = std::max(sincnet_activation_bytes(), resnet_activation_bytes());
        torch_activations += acts;
        add_stage("diarization", segmentation_weights_bytes + embedding_weights_bytes + acts,
                  fmt::format("pyannote speaker-diarization-3.1 on the GPU: segmentation-3.0 5.91 MB + WeSpeaker "
                              "ResNet34-LM 26.6 MB weights + the larger of segmentation (SincNet, {}) and embedding "
                              "(ResNet34 first stage, 3 x 32 x 80 x 998 x 4 B per chunk, {}) activations at batch 32",
                              mib(sincnet_activation_bytes()), mib(resnet_activation_bytes())));
    }
    b.add("allocator_slack",
          ct2_slack_bytes(asr) + fraction_of(torch_activations, engine_constants::allocator_fragmentation) +
              engine_constants::torch_allocator_segments_bytes,
          fmt::format("{}; PyTorch caching allocator: 5% of the PyTorch stages' activations + one 20 MiB and one "
                      "2 MiB segment",
                      ct2_slack_text()));

    b.result.request.staged = request.staged;
    b.result.notes.push_back(fmt::format(
        "whisperx: batch {}{}, beam {}; {}", in.batch,
        request.batch_size == 16 ? " (the README example's; its CLI defaults to 8)" : "", in.beams,
        request.staged
            ? "sized as its CLI runs it (--staged): the ASR and VAD models are freed before aligning and the alignment "
              "model before diarizing, so the peak is the largest stage"
            : "sized as its README's Python example runs it, every model resident at once (the sum of the stages); "
              "its CLI frees the ASR model before aligning and the alignment model before diarizing and peaks at the "
              "largest stage (--staged)"));
    if (!align) b.result.notes.emplace_back("whisperx: alignment off (--no-align): no wav2vec2 model");
    return b.finish();
}

}  // namespace

const engine_profile& whisperx_profile() {
    // Defaults: beam 5 (default_asr_options), batch 16 (the README example; the larger, safe side
    // of the CLI's 8), CTranslate2's flash_attention off; weights as faster-whisper's.
    // Compute types and weights are faster-whisper's (CTranslate2's compute_type).
    static const engine_profile profile{
        .name = "whisperx",
        .summary = {},
        .aliases = {},
        .precisions = faster_whisper_profile().precisions,
        .default_beam_size = 5,
        .default_batch_size = 16,
        .default_flash_attention = false,
        .resolves_itself = false,
        .pipeline_stages = true,
        .estimate = &estimate_memory,
        .weight_bytes = faster_whisper_profile().weight_bytes,
    };
    return profile;
}

}  // namespace whisper_vram
