// whisper-vram calc --engine …, in-process (JSON keys, sweeps, notes, errors).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/cli_in_process.hpp"
#include "whisper_vram/engines/registry.hpp"

namespace whisper_vram {
namespace {

using test::cli;

TEST(CliEngines, JsonCarriesTheEngineInputsAndBytes) {
    const auto j =
        test::cli_json("calc large-v3 --engine ctranslate2 --precision int8_float16 --gpu T4 --beam 2 --json");
    EXPECT_EQ(j["engine"], "faster-whisper");
    EXPECT_EQ(j["precision"], "int8_float16");
    EXPECT_EQ(j["beam_size"], 2);
    EXPECT_EQ(j["gpu"], "T4");
    EXPECT_EQ(j["flash_attention"], false);
    ASSERT_EQ(j["breakdown_bytes"].size(), 12U);
    std::uint64_t sum = 0;
    for (const auto& [key, value] : j["breakdown_bytes"].items()) sum += value.get<std::uint64_t>();
    EXPECT_EQ(j["total_required_bytes"].get<std::uint64_t>(), sum);
    // cross cache: 2 × 32 × 1500 × 1280 × 2 B, once (CTranslate2 does not replicate it per beam).
    EXPECT_EQ(j["breakdown_bytes"]["cross_attention_cache"], 245760000);
    // 30 s of audio on the host: 480,000 × 4 B + 128 × 3000 × 4 B.
    EXPECT_EQ(j["host_memory_bytes"], 3456000);
    EXPECT_FALSE(j["notes"].empty());
}

TEST(CliEngines, SegmentSweepIsFlatAndPrecisionAllSweepsTheEnginesPrecisions) {
    auto r = cli("calc medium --engine transformers --segment 30,600,3600 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 3U);
    EXPECT_EQ(j[0]["total_required_bytes"], j[2]["total_required_bytes"]);
    EXPECT_LT(j[0]["host_memory_bytes"].get<std::uint64_t>(), j[2]["host_memory_bytes"].get<std::uint64_t>());
    r = cli("calc large-v3 --engine faster-whisper --precision all --json");
    ASSERT_EQ(r.status, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 8U);
    EXPECT_EQ(j[0]["precision"], "float32");
    EXPECT_EQ(j[7]["precision"], "int16");
    r = cli("calc turbo --engine ggml --precision all");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("q5_1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("self_attention_cache"), std::string::npos) << r.out;
}

TEST(CliEngines, HumanOutputShowsNotesAndHostMemory) {
    const auto r = cli("calc large-v2 --engine faster-whisper --gpu \"GTX 1080\"");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("engine faster-whisper | beam 5 | flash attention off | GPU GTX 1080"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("note: GTX 1080 (CC 6.1): no efficient float16"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("host memory"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cross_attention_cache"), std::string::npos) << r.out;
}

TEST(CliEngines, HelpListsTheRegistrysEnginesAndPrecisions) {
    const auto r = cli("calc --help");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(engine_list_text()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(engine_precisions_text()), std::string::npos) << r.out;
    const auto recommend = cli("recommend --help");
    ASSERT_EQ(recommend.status, 0) << recommend.err;
    EXPECT_NE(recommend.out.find(engine_list_text()), std::string::npos) << recommend.out;
}

// WHISPER_VRAM_ENGINE sets the default engine of every command that takes --engine; --engine wins.
TEST(CliEngines, EnvironmentSetsTheDefaultEngineEverywhere) {
    auto env = test::no_gpu_environment();
    env.engine = "ct2";
    EXPECT_EQ(test::cli_json("calc medium --json", env)["engine"], "faster-whisper");
    EXPECT_EQ(test::cli_json("calc medium --engine guide --json", env)["engine"], "guide");
    EXPECT_EQ(test::cli_json("calc medium --engine hf --json", env)["engine"], "transformers");
    // A planning command (check) gets it through the shared options.
    const auto check = cli("check medium --simulate 80GiB --json", env);
    ASSERT_EQ(check.status, 0) << check.err;
    EXPECT_EQ(nlohmann::json::parse(check.out)["required"]["engine"], "faster-whisper");
    env.engine = "whisperx";
    EXPECT_EQ(test::cli_json("calc medium --json", env)["batch_size"], 16);
    env.engine = "vllm";
    const auto bad = cli("calc medium", env);
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("WHISPER_VRAM_ENGINE='vllm' is invalid"), std::string::npos) << bad.err;
    EXPECT_EQ(cli("calc medium --engine guide", env).status, 0);  // not used: not an error
}

// CUDA_MODULE_LOADING fills --cuda-module-loading for engine estimates; the flag wins; the guide
// ignores the variable (it is CUDA's) and stays exact.
TEST(CliEngines, CudaModuleLoadingFromTheFlagOrTheEnvironment) {
    const auto bytes = [](const nlohmann::json& j) { return j["total_required_bytes"].get<std::uint64_t>(); };
    const auto unstated = test::cli_json("calc medium --engine openai-whisper --json");
    const auto lazy = test::cli_json("calc medium --engine openai-whisper --cuda-module-loading LAZY --json");
    const auto eager = test::cli_json("calc medium --engine openai-whisper --cuda-module-loading eager --json");
    EXPECT_EQ(lazy["cuda_module_loading"], "lazy");
    EXPECT_EQ(eager["cuda_module_loading"], "eager");
    EXPECT_EQ(bytes(eager) - bytes(lazy), 627'310'592U);
    EXPECT_EQ(bytes(unstated), bytes(eager));
    auto env = test::no_gpu_environment();
    env.cuda_module_loading = "DEFAULT";  // = LAZY
    EXPECT_EQ(bytes(test::cli_json("calc medium --engine openai-whisper --json", env)), bytes(lazy));
    EXPECT_EQ(bytes(test::cli_json("calc medium --engine openai-whisper --cuda-module-loading eager --json", env)),
              bytes(eager));
    EXPECT_DOUBLE_EQ(test::cli_json("calc medium --json", env)["total_required"].get<double>(), 4.21875);
    env.cuda_module_loading = "sometimes";
    const auto bad = cli("calc medium --engine ct2", env);
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("CUDA_MODULE_LOADING 'sometimes' is invalid"), std::string::npos) << bad.err;
    EXPECT_EQ(cli("calc medium", env).status, 0);  // the guide does not read it
}

TEST(CliEngines, UsageErrorsExitTwo) {
    test::expect_usage_errors({
        {"calc tiny --engine vllm", "unknown engine 'vllm'"},
        {"calc tiny --engine faster-whisper --precision q4_0", "int8_float16"},
        {"calc tiny --engine whisper.cpp --beam 9", "at most 8 decoders"},
        {"calc tiny --engine transformers --beam 0", "beam size '0'"},
        {"calc tiny --engine hf --flash-attention maybe", "on, off"},
        {"calc tiny --engine faster-whisper --gpu T4 --precision bf16", "compute capability 8.0"},
        {"calc tiny --beam 5", "choose an engine"},
        {"calc tiny --engine ct2 --cuda-module-loading sometimes", "--cuda-module-loading 'sometimes' is invalid"},
        {"calc tiny --cuda-module-loading lazy", "choose an engine"},
        {"calc tiny --engine whisperx --language 12", "language '12' is invalid"},
        {"calc tiny --engine hf --no-align", "WhisperX stages"},
    });
}

}  // namespace
}  // namespace whisper_vram
