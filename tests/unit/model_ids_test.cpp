// Model ids as users type them (engine-runtime-facts.md §8): Hugging Face ids, CTranslate2 repos,
// ggml file names (which fix the precision), openai-whisper checkpoints; case-insensitive; near misses
// get a suggestion in the form typed; bad ids are usage_errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "support/cli_in_process.hpp"
#include "support/estimate_parts.hpp"
#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/models.hpp"

namespace whisper_vram {
namespace {

using test::has_note;
using test::usage_message_of;

struct id_row {
    const char* typed;
    const char* model;
    const char* engine;     ///< implied engine; nullptr: none
    const char* precision;  ///< implied precision; nullptr: none
};

// Every id form of the §8 table, and the model it maps to.
const id_row table[] = {
    // openai-whisper load_model names
    {"tiny", "tiny", nullptr, nullptr},
    {"tiny.en", "tiny.en", nullptr, nullptr},
    {"base", "base", nullptr, nullptr},
    {"base.en", "base.en", nullptr, nullptr},
    {"small", "small", nullptr, nullptr},
    {"small.en", "small.en", nullptr, nullptr},
    {"medium", "medium", nullptr, nullptr},
    {"medium.en", "medium.en", nullptr, nullptr},
    {"large-v1", "large-v1", nullptr, nullptr},
    {"large-v2", "large-v2", nullptr, nullptr},
    {"large-v3", "large-v3", nullptr, nullptr},
    {"large", "large", nullptr, nullptr},
    {"large-v3-turbo", "large-v3-turbo", nullptr, nullptr},
    {"turbo", "large-v3-turbo", nullptr, nullptr},
    {"large-v3.pt", "large-v3", "openai-whisper", nullptr},
    {"~/.cache/whisper/large-v3-turbo.pt", "large-v3-turbo", "openai-whisper", nullptr},
    // transformers: openai/whisper-*
    {"openai/whisper-tiny", "tiny", "transformers", nullptr},
    {"openai/whisper-tiny.en", "tiny.en", "transformers", nullptr},
    {"openai/whisper-base", "base", "transformers", nullptr},
    {"openai/whisper-base.en", "base.en", "transformers", nullptr},
    {"openai/whisper-small", "small", "transformers", nullptr},
    {"openai/whisper-small.en", "small.en", "transformers", nullptr},
    {"openai/whisper-medium", "medium", "transformers", nullptr},
    {"openai/whisper-medium.en", "medium.en", "transformers", nullptr},
    {"openai/whisper-large", "large-v1", "transformers", nullptr},  // the repo holds the first large checkpoint
    {"openai/whisper-large-v2", "large-v2", "transformers", nullptr},
    {"openai/whisper-large-v3", "large-v3", "transformers", nullptr},
    {"openai/whisper-large-v3-turbo", "large-v3-turbo", "transformers", nullptr},
    // distil-whisper
    {"distil-whisper/distil-small.en", "distil-small.en", "transformers", nullptr},
    {"distil-whisper/distil-medium.en", "distil-medium.en", "transformers", nullptr},
    {"distil-whisper/distil-large-v2", "distil-large-v2", "transformers", nullptr},
    {"distil-whisper/distil-large-v3", "distil-large-v3", "transformers", nullptr},
    {"distil-whisper/distil-large-v3.5", "distil-large-v3.5", "transformers", nullptr},
    {"distil-whisper/distil-large-v3.5-ct2", "distil-large-v3.5", "faster-whisper", nullptr},
    // CTranslate2 repos (faster-whisper utils.py _MODELS)
    {"Systran/faster-whisper-tiny", "tiny", "faster-whisper", nullptr},
    {"Systran/faster-whisper-tiny.en", "tiny.en", "faster-whisper", nullptr},
    {"Systran/faster-whisper-base", "base", "faster-whisper", nullptr},
    {"Systran/faster-whisper-base.en", "base.en", "faster-whisper", nullptr},
    {"Systran/faster-whisper-small", "small", "faster-whisper", nullptr},
    {"Systran/faster-whisper-small.en", "small.en", "faster-whisper", nullptr},
    {"Systran/faster-whisper-medium", "medium", "faster-whisper", nullptr},
    {"Systran/faster-whisper-medium.en", "medium.en", "faster-whisper", nullptr},
    {"Systran/faster-whisper-large-v1", "large-v1", "faster-whisper", nullptr},
    {"Systran/faster-whisper-large-v2", "large-v2", "faster-whisper", nullptr},
    {"Systran/faster-whisper-large-v3", "large-v3", "faster-whisper", nullptr},
    {"Systran/faster-distil-whisper-small.en", "distil-small.en", "faster-whisper", nullptr},
    {"Systran/faster-distil-whisper-medium.en", "distil-medium.en", "faster-whisper", nullptr},
    {"Systran/faster-distil-whisper-large-v2", "distil-large-v2", "faster-whisper", nullptr},
    {"Systran/faster-distil-whisper-large-v3", "distil-large-v3", "faster-whisper", nullptr},
    {"mobiuslabsgmbh/faster-whisper-large-v3-turbo", "large-v3-turbo", "faster-whisper", nullptr},
    {"deepdml/faster-whisper-large-v3-turbo-ct2", "large-v3-turbo", "faster-whisper", nullptr},
    {"./models/faster-whisper-small", "small", "faster-whisper", nullptr},  // a local copy of the repo
    // whisper.cpp ggml files (models/README.md, download-ggml-model.sh)
    {"ggml-tiny.bin", "tiny", "whisper.cpp", "f16"},
    {"ggml-tiny.en.bin", "tiny.en", "whisper.cpp", "f16"},
    {"ggml-base.bin", "base", "whisper.cpp", "f16"},
    {"ggml-base.en.bin", "base.en", "whisper.cpp", "f16"},
    {"ggml-small.bin", "small", "whisper.cpp", "f16"},
    {"ggml-small.en.bin", "small.en", "whisper.cpp", "f16"},
    {"ggml-medium.bin", "medium", "whisper.cpp", "f16"},
    {"ggml-medium.en.bin", "medium.en", "whisper.cpp", "f16"},
    {"ggml-large-v1.bin", "large-v1", "whisper.cpp", "f16"},
    {"ggml-large-v2.bin", "large-v2", "whisper.cpp", "f16"},
    {"ggml-large-v3.bin", "large-v3", "whisper.cpp", "f16"},
    {"ggml-large-v3-turbo.bin", "large-v3-turbo", "whisper.cpp", "f16"},
    {"ggml-tiny-q5_1.bin", "tiny", "whisper.cpp", "q5_1"},
    {"ggml-base.en-q5_1.bin", "base.en", "whisper.cpp", "q5_1"},
    {"ggml-small-q5_1.bin", "small", "whisper.cpp", "q5_1"},
    {"ggml-medium-q5_0.bin", "medium", "whisper.cpp", "q5_0"},
    {"ggml-medium.en-q5_0.bin", "medium.en", "whisper.cpp", "q5_0"},
    {"ggml-large-v2-q5_0.bin", "large-v2", "whisper.cpp", "q5_0"},
    {"ggml-large-v3-q5_0.bin", "large-v3", "whisper.cpp", "q5_0"},
    {"ggml-large-v3-turbo-q5_0.bin", "large-v3-turbo", "whisper.cpp", "q5_0"},
    {"ggml-tiny-q8_0.bin", "tiny", "whisper.cpp", "q8_0"},
    {"ggml-medium-q8_0.bin", "medium", "whisper.cpp", "q8_0"},
    {"ggml-large-v3-turbo-q8_0.bin", "large-v3-turbo", "whisper.cpp", "q8_0"},
    {"ggml-small.en-tdrz.bin", "small.en", "whisper.cpp", "f16"},
    {"models/ggml-base.en.bin", "base.en", "whisper.cpp", "f16"},
    {"/opt/whisper.cpp/models/ggml-large-v3-turbo-q5_0.bin", "large-v3-turbo", "whisper.cpp", "q5_0"},
    {"C:\\whisper\\ggml-medium.bin", "medium", "whisper.cpp", "f16"},
};

std::optional<std::string> text(const char* s) { return s == nullptr ? std::nullopt : std::optional<std::string>(s); }

TEST(ModelIds, EveryIdFormResolvesToItsModel) {
    for (const auto& row : table) {
        SCOPED_TRACE(row.typed);
        const model_id id = parse_model_id(row.typed);
        ASSERT_NE(id.model, nullptr);
        EXPECT_EQ(id.model->name, row.model);
        EXPECT_EQ(id.implied_engine, text(row.engine));
        EXPECT_EQ(id.implied_precision, text(row.precision));
        EXPECT_EQ(id.as_typed, row.typed);
        // find_model accepts every form, so every caller (the guide formula included) does.
        EXPECT_EQ(&find_model(row.typed), id.model);
        EXPECT_EQ(try_find_model(row.typed), id.model);
    }
    EXPECT_EQ(parse_model_id("ggml-medium-q5_0.bin").form, "ggml");
    EXPECT_EQ(parse_model_id("Systran/faster-whisper-small").form, "ctranslate2");
    EXPECT_EQ(parse_model_id("openai/whisper-small").form, "hugging_face");
    EXPECT_EQ(parse_model_id("small").form, "name");
}

TEST(ModelIds, CaseDoesNotMatter) {
    EXPECT_EQ(find_model("OPENAI/WHISPER-LARGE-V3").name, "large-v3");
    EXPECT_EQ(find_model("systran/FASTER-whisper-Medium.EN").name, "medium.en");
    EXPECT_EQ(find_model("Distil-Whisper/Distil-Large-V3.5").name, "distil-large-v3.5");
    const auto id = parse_model_id("GGML-MEDIUM-Q5_0.BIN");
    EXPECT_EQ(id.model->name, "medium");
    EXPECT_EQ(id.implied_precision, "q5_0");
    EXPECT_EQ(find_model("  Turbo ").name, "large-v3-turbo");
}

TEST(ModelIds, NearMissesGetASuggestionInTheFormTyped) {
    const std::pair<const char*, const char*> misses[] = {
        {"openai/whisper-larg-v3", "openai/whisper-large-v3"},
        {"Systran/faster-whisper-meduim", "Systran/faster-whisper-medium"},
        {"Systran/faster-distil-whisper-larg-v3", "Systran/faster-distil-whisper-large-v3"},
        {"ggml-meduim-q5_0.bin", "ggml-medium-q5_0.bin"},
        {"models/ggml-bse.en.bin", "models/ggml-base.en.bin"},
        {"distil-whisper/distil-larg-v3", "distil-whisper/distil-large-v3"},
        {"mediun", "medium"},
    };
    for (const auto& [typed, suggestion] : misses) {
        const std::string message = usage_message_of([model = typed] { (void)find_model(model); });
        EXPECT_NE(message.find(fmt::format("unknown model '{}'", typed)), std::string::npos) << message;
        EXPECT_NE(message.find(fmt::format("did you mean '{}'?", suggestion)), std::string::npos) << message;
        EXPECT_NE(message.find("ggml files"), std::string::npos) << "names the accepted forms: " << message;
    }
}

TEST(ModelIds, BadIdsAreUsageErrors) {
    for (const char* bad :
         {"", "   ", "/", "ggml-", "ggml-.bin", "openai/whisper-", "openai/whisper-huge", "Systran/faster-whisper-",
          "distil-whisper/distil-gigantic", "gpt-4", "large-v4.pt", "ggml-xlarge-q5_0.bin"}) {
        EXPECT_THROW((void)parse_model_id(bad), usage_error) << bad;
        EXPECT_EQ(try_parse_model_id(bad), std::nullopt) << bad;
        EXPECT_EQ(try_find_model(bad), nullptr) << bad;
    }
    EXPECT_EQ(usage_message_of([] { (void)find_model("gpt-4"); }).find("did you mean"), std::string::npos);
}

estimate_request cpp_request(const char* model, const char* precision = nullptr) {
    estimate_request r;
    r.engine = "whisper.cpp";
    r.model = model;
    if (precision != nullptr) r.precision = precision;
    return r;
}

std::uint64_t weights_of(const memory_estimate& e) {
    const auto it = std::find_if(e.breakdown.begin(), e.breakdown.end(),
                                 [](const memory_component& c) { return c.key == "weights"; });
    return it == e.breakdown.end() ? 0 : it->bytes;
}

// whisper.cpp takes the precision a ggml file name gives when the request left the default, says so,
// and refuses an explicit precision that contradicts the file.
TEST(ModelIds, GgmlFileNameGivesWhisperCppItsPrecision) {
    const auto from_file = estimate(cpp_request("ggml-medium-q5_0.bin"));
    const auto explicit_q5 = estimate(cpp_request("medium", "q5_0"));
    EXPECT_EQ(from_file.request.model, "medium");
    EXPECT_EQ(from_file.request.precision, "q5_0");
    EXPECT_EQ(weights_of(from_file), weights_of(explicit_q5));
    EXPECT_EQ(from_file.recommended_bytes, explicit_q5.recommended_bytes);
    EXPECT_TRUE(has_note(from_file, "precision q5_0 taken from the file name 'ggml-medium-q5_0.bin'"));
    EXPECT_LT(weights_of(from_file), weights_of(estimate(cpp_request("medium"))));  // q5_0 < f16
    // The same precision given explicitly: no note needed.
    const auto same = estimate(cpp_request("ggml-medium-q5_0.bin", "q5_0"));
    EXPECT_EQ(same.request.precision, "q5_0");
    EXPECT_FALSE(has_note(same, "taken from the file name"));
    // A plain ggml file is f16, the default: nothing changes.
    const auto plain = estimate(cpp_request("models/ggml-large-v3.bin"));
    EXPECT_EQ(plain.request.precision, "f16");
    EXPECT_EQ(plain.recommended_bytes, estimate(cpp_request("large-v3")).recommended_bytes);
    EXPECT_FALSE(has_note(plain, "taken from the file name"));
    // A contradicting explicit precision names both.
    for (const char* conflicting : {"q8_0", "int8", "f32"}) {
        const std::string message =
            usage_message_of([&] { (void)estimate(cpp_request("ggml-medium-q5_0.bin", conflicting)); });
        EXPECT_NE(message.find(fmt::format("precision '{}'", conflicting)), std::string::npos) << message;
        EXPECT_NE(message.find("'ggml-medium-q5_0.bin'"), std::string::npos) << message;
        EXPECT_NE(message.find("q5_0"), std::string::npos) << message;
    }
    EXPECT_NE(usage_message_of([] { (void)estimate(cpp_request("ggml-large-v3.bin", "q5_0")); }).find("f16"),
              std::string::npos);
    // A ggml type whisper.cpp's profile does not size is refused with the file named.
    const std::string unknown_type = usage_message_of([] { (void)estimate(cpp_request("ggml-large-v3-q9_9.bin")); });
    EXPECT_NE(unknown_type.find("'ggml-large-v3-q9_9.bin'"), std::string::npos) << unknown_type;
    // Another engine sizes the model the file holds at the request's own precision.
    estimate_request ct2 = cpp_request("ggml-medium-q5_0.bin");
    ct2.engine = "faster-whisper";
    EXPECT_EQ(estimate(ct2).request.precision, "float16");
}

// Every engine and the guide accept the id forms (they all go through find_model).
TEST(ModelIds, EveryEstimatorAcceptsTheIdForms) {
    EXPECT_EQ(estimate(make_guide_request("openai/whisper-large-v3")).recommended_bytes,
              estimate(make_guide_request("large-v3")).recommended_bytes);
    EXPECT_EQ(estimate(make_guide_request("openai/whisper-large-v3")).request.model, "large-v3");
    for (const char* engine : {"openai-whisper", "transformers", "faster-whisper", "whisper.cpp"}) {
        estimate_request a;
        a.engine = engine;
        a.model = "Systran/faster-distil-whisper-large-v3";
        estimate_request b = a;
        b.model = "distil-large-v3";
        EXPECT_EQ(estimate(a).recommended_bytes, estimate(b).recommended_bytes) << engine;
        EXPECT_EQ(estimate(a).request.model, "distil-large-v3") << engine;
    }
}

// Through the CLI: the id forms reach every command; the ggml precision and its note appear in --json;
// a conflicting precision and an unknown id exit 2 with the message.
TEST(ModelIds, TheCliTakesEveryForm) {
    auto r = test::cli("calc ggml-medium-q5_0.bin --engine whisper.cpp --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["model"], "medium");
    EXPECT_EQ(j["precision"], "q5_0");
    EXPECT_NE(j["notes"].dump().find("precision q5_0 taken from the file name"), std::string::npos) << j["notes"];
    r = test::cli("calc ggml-medium-q5_0.bin --engine whisper.cpp --precision q8_0");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("conflicts with the model file 'ggml-medium-q5_0.bin'"), std::string::npos) << r.err;
    r = test::cli("check Systran/faster-whisper-large-v3 --engine faster-whisper --simulate T4 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    r = test::cli("calc openai/whisper-large-v3 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["model"], "large-v3");
    r = test::cli("calc openai/whisper-larg-v3");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("did you mean 'openai/whisper-large-v3'?"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace whisper_vram
