// WhisperX (issue 11, item 5): batch 16 and beam 5 by default, faster-whisper's batched
// transcription, the VAD model, the alignment model for the language, --no-align, --diarize.
#include <gtest/gtest.h>

#include <string>

#include "support/cli_in_process.hpp"
#include "support/estimate_parts.hpp"
#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/engines/engines.hpp"

namespace whisper_vram {
namespace {

using test::component;
using test::find_component;
using test::usage_message_of;

estimate_request whisperx(const std::string& model = "large-v2") {
    estimate_request r;
    r.engine = "whisperx";
    r.model = model;
    r.batch_size = 16;
    return r;
}

// wav2vec2 feature-encoder activations of a 30 s segment: 2 × 512 × 95,999 × 4 B.
constexpr std::uint64_t align_activations = 393'211'904;

TEST(WhisperX, DefaultsAreBatch16AndBeam5) {
    EXPECT_EQ(canonical_engine("WhisperX"), "whisperx");
    EXPECT_EQ(default_beam_size("whisperx"), 5);
    EXPECT_EQ(default_batch_size("whisperx"), 16);
    EXPECT_FALSE(default_flash_attention("whisperx"));
    const auto e = estimate(whisperx());
    EXPECT_EQ(e.request.engine, "whisperx");
    EXPECT_EQ(e.request.beam_size, 5);
    EXPECT_EQ(e.request.language, "en");
    EXPECT_EQ(e.request.align, true);
}

// The transcription is faster-whisper's batched pipeline: the same components, byte for byte.
TEST(WhisperX, TranscriptionIsFasterWhispersBatchedPipeline) {
    auto fw = whisperx();
    fw.engine = "faster-whisper";
    const auto ct2 = estimate(fw);
    const auto wx = estimate(whisperx());
    for (const char* key : {"weights", "encoder_output", "cross_attention_cache", "self_attention_cache",
                            "decoder_activations", "logits"}) {
        EXPECT_EQ(component(wx, key), component(ct2, key)) << key;
    }
    // 2 × 32 × 1500 × 1280 × 2 B × 16 items.
    EXPECT_EQ(component(wx, "cross_attention_cache"), 16ULL * 245'760'000);
    EXPECT_GT(wx.total_required_bytes, ct2.total_required_bytes);
}

TEST(WhisperX, AlignmentModelFollowsTheLanguage) {
    const auto en = estimate(whisperx());
    const auto* align = find_component(en, "align_model");
    ASSERT_NE(align, nullptr);
    EXPECT_NE(align->key.find("align"), std::string::npos);
    // WAV2VEC2_ASR_BASE_960H: 94,396,500 parameters × 4 B (fp32).
    EXPECT_EQ(align->bytes, 94'396'500ULL * 4 + align_activations);
    EXPECT_NE(align->description.find("WAV2VEC2_ASR_BASE_960H"), std::string::npos);
    // fr: a VoxPopuli base model, the same size.
    auto fr = whisperx();
    fr.language = "FR";
    EXPECT_EQ(component(estimate(fr), "align_model"), 94'396'500ULL * 4 + align_activations);
    // ja: wav2vec2-large-xlsr-53, 317 M parameters.
    auto ja = whisperx();
    ja.language = "ja";
    const auto ja_e = estimate(ja);
    EXPECT_EQ(component(ja_e, "align_model"), 317'000'000ULL * 4 + align_activations);
    EXPECT_EQ(ja_e.total_required_bytes - en.total_required_bytes,
              (317'000'000ULL - 94'396'500ULL) * 4 + (ja_e.breakdown.back().bytes - en.breakdown.back().bytes));
    // An unknown language: the largest model of the lists, with a note.
    auto xx = whisperx();
    xx.language = "tlh";
    const auto xx_e = estimate(xx);
    EXPECT_EQ(component(xx_e, "align_model"), 1'000'000'000ULL * 4 + align_activations);
    bool noted = false;
    for (const auto& n : xx_e.notes) noted = noted || n.find("language 'tlh'") != std::string::npos;
    EXPECT_TRUE(noted);
    xx.language = "english!";
    EXPECT_NE(usage_message_of([&] { (void)estimate(xx); }).find("language 'english!' is invalid"), std::string::npos);
}

TEST(WhisperX, NoAlignRemovesItDiarizeAddsIt) {
    const auto with_align = estimate(whisperx());
    auto r = whisperx();
    r.align = false;
    const auto without = estimate(r);
    EXPECT_EQ(find_component(without, "align_model"), nullptr);
    EXPECT_LT(without.total_required_bytes, with_align.total_required_bytes);
    EXPECT_EQ(find_component(with_align, "diarization"), nullptr);
    r = whisperx();
    r.diarize = true;
    const auto diarized = estimate(r);
    const auto* d = find_component(diarized, "diarization");
    ASSERT_NE(d, nullptr);
    // segmentation-3.0 5.91 MB + WeSpeaker 26.6 MB + ResNet34 first stage 32 × 3 × 32 × 80 × 998 × 4 B.
    EXPECT_EQ(d->bytes, 5'910'000ULL + 26'600'000ULL + 32ULL * 3 * 32 * 80 * 998 * 4);
    EXPECT_GT(diarized.total_required_bytes, with_align.total_required_bytes);
    // The VAD model is always there: 5.91 MB + SincNet 32 × (160,000 + 2 × 80 × 15,975) × 4 B.
    EXPECT_EQ(component(with_align, "vad_model"), 5'910'000ULL + 32ULL * (160'000 + 2 * 80 * 15'975) * 4);
    // Stages are summed (the README's Python example keeps every model resident), and it says so.
    bool noted = false;
    for (const auto& n : diarized.notes) noted = noted || n.find("every model resident at once") != std::string::npos;
    EXPECT_TRUE(noted);
}

// --staged sizes WhisperX's CLI: each later stage counts only above the largest before it.
TEST(WhisperX, StagedPeakIsTheLargestStage) {
    auto r = whisperx();
    r.diarize = true;
    const auto resident = estimate(r);
    r.staged = true;
    const auto staged = estimate(r);
    EXPECT_EQ(staged.request.staged, true);
    // ASR + VAD (weights + activations, several GiB at batch 16) outweighs alignment (≈ 0.7 GiB) and
    // diarization (≈ 1 GiB): both add nothing in the CLI's flow.
    EXPECT_EQ(component(staged, "align_model"), 0U);
    EXPECT_EQ(component(staged, "diarization"), 0U);
    EXPECT_EQ(resident.total_required_bytes - staged.total_required_bytes,
              component(resident, "align_model") + component(resident, "diarization"));
    // At batch 1 with the small ASR model tiny the diarization stage is the largest: it counts above it.
    auto tiny = whisperx("tiny");
    tiny.batch_size = 1;
    tiny.diarize = true;
    tiny.staged = true;
    const auto t = estimate(tiny);
    EXPECT_GT(component(t, "diarization"), 0U);
    EXPECT_LT(t.total_required_bytes, [&] {
        auto all = tiny;
        all.staged = false;
        return estimate(all).total_required_bytes;
    }());
}

TEST(WhisperX, StageOptionsBelongToWhisperX) {
    auto r = whisperx();
    r.engine = "faster-whisper";
    r.diarize = true;
    const std::string message = usage_message_of([&] { (void)estimate(r); });
    EXPECT_NE(message.find("WhisperX stages"), std::string::npos) << message;
    EXPECT_NE(message.find("--engine whisperx"), std::string::npos) << message;
}

TEST(WhisperX, CliDefaultsToBatch16AndTakesTheStageFlags) {
    const auto j = test::cli_json("calc large-v2 --engine whisperx --json");
    EXPECT_EQ(j["batch_size"], 16);
    EXPECT_EQ(j["beam_size"], 5);
    EXPECT_TRUE(j["breakdown"].contains("align_model"));
    EXPECT_EQ(test::cli_json("calc large-v2 --engine whisperx --batch 1 --json")["batch_size"], 1);
    EXPECT_FALSE(
        test::cli_json("calc large-v2 --engine whisperx --no-align --json")["breakdown"].contains("align_model"));
    EXPECT_TRUE(
        test::cli_json("calc large-v2 --engine whisperx --diarize --json")["breakdown"].contains("diarization"));
    const auto ja = test::cli_json("calc large-v2 --engine whisperx --language ja --json");
    EXPECT_GT(ja["breakdown_bytes"]["align_model"].get<std::uint64_t>(),
              j["breakdown_bytes"]["align_model"].get<std::uint64_t>());
    // Other engines keep batch 1; the stage flags are refused there.
    EXPECT_EQ(test::cli_json("calc large-v2 --engine faster-whisper --json")["batch_size"], 1);
    EXPECT_EQ(test::cli_json("calc large-v2 --engine whisperx --staged --json")["staged"], true);
    const auto refused = test::cli("calc large-v2 --engine faster-whisper --diarize");
    EXPECT_EQ(refused.status, 2);
    EXPECT_NE(refused.err.find("--engine whisperx"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace whisper_vram
