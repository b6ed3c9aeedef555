// The engine registry (issue 10): lookups, precision resolution into values, the generated
// texts, every profile's consistency, and the docs (README table, Python docstring) checked
// against the registry so that they cannot drift from it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/text.hpp"
#include "support/usage_message.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/precision.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"

namespace whisper_vram {
namespace {

using test::usage_message_of;

std::uint64_t component(const memory_estimate& e, const std::string& key) {
    for (const auto& c : e.breakdown) {
        if (c.key == key) return c.bytes;
    }
    ADD_FAILURE() << "no component " << key;
    return 0;
}

// The source tree, read from the build tree's CMakeCache.txt (tests/ is a subdirectory of the build root).
std::string source_dir() {
    std::ifstream cache(std::string(WHISPER_VRAM_TEST_BINARY_DIR) + "/../CMakeCache.txt");
    std::string line;
    const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    while (std::getline(cache, line)) {
        if (line.rfind(key, 0) == 0) return line.substr(key.size());
    }
    ADD_FAILURE() << "CMAKE_HOME_DIRECTORY not found in the build tree's CMakeCache.txt";
    return ".";
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string backticked(std::span<const std::string_view> names) {
    std::vector<std::string> items;
    for (const auto n : names) items.push_back(fmt::format("`{}`", n));
    return detail::join(items);
}

TEST(EngineRegistry, OrderNamesAndLists) {
    EXPECT_EQ(engine_names_text(), "guide, openai-whisper, transformers, faster-whisper, whisper.cpp, whisperx");
    EXPECT_EQ(engine_list_text(),
              "guide (the guide's formula, default), openai-whisper (aliases: openai, whisper), transformers (aliases: "
              "hf, huggingface), faster-whisper (aliases: ctranslate2, ct2), whisper.cpp (aliases: ggml, "
              "whisper-cpp, whispercpp), whisperx");
    EXPECT_EQ(engine_precisions_text(),
              "guide: float32, float16, bfloat16, int8, int4; openai-whisper: float32, float16; transformers: float32, "
              "float16, bfloat16; faster-whisper: float32, float16, bfloat16, int8, int8_float16, int8_float32, "
              "int8_bfloat16, int16; whisper.cpp: f32, f16, q8_0, q5_0, q5_1, q4_0, q4_1; whisperx: float32, "
              "float16, bfloat16, int8, int8_float16, int8_float32, int8_bfloat16, int16");
    ASSERT_EQ(engine_registry().size(), 6U);
    EXPECT_TRUE(engine_registry()[0]->resolves_itself);
}

TEST(EngineRegistry, LookupByNameAndAlias) {
    EXPECT_EQ(find_engine(" CT2 ").name, "faster-whisper");
    EXPECT_EQ(find_engine("whisper-cpp").name, "whisper.cpp");
    EXPECT_EQ(find_engine("GUIDE").name, "guide");
    EXPECT_EQ(try_find_engine("vllm"), nullptr);
    EXPECT_EQ(try_find_engine(""), nullptr);
    EXPECT_EQ(usage_message_of([] { (void)find_engine("vllm"); }),
              "unknown engine 'vllm': accepted: " + engine_list_text());
}

TEST(EngineRegistry, NamesAndAliasesAreUniqueAcrossTheRegistry) {
    std::set<std::string_view> seen;
    for (const auto* p : engine_registry()) {
        EXPECT_TRUE(seen.insert(p->name).second) << p->name;
        for (const auto a : p->aliases) {
            EXPECT_TRUE(seen.insert(a).second) << a;
            EXPECT_EQ(detail::to_lower(a), a) << "aliases are matched lower case: " << a;
        }
    }
}

TEST(EngineRegistry, PrecisionsResolveToValues) {
    const auto& ggml = find_engine("ggml");
    EXPECT_EQ(resolve_precision(ggml, "int8").id, precision_id::q8_0);
    EXPECT_EQ(resolve_precision(ggml, "int8").name, "q8_0");
    EXPECT_EQ(resolve_precision(ggml, " FP16 ").id, precision_id::float16);
    EXPECT_EQ(resolve_precision(ggml, "float16").name, "f16");
    EXPECT_EQ(resolve_precision(ggml, "int4").id, precision_id::q4_0);
    EXPECT_EQ(resolve_precision(find_engine("ct2"), "int8_float16").id, precision_id::int8_float16);
    EXPECT_EQ(resolve_precision(find_engine("hf"), "bf16").id, precision_id::bfloat16);
    EXPECT_EQ(usage_message_of([] { (void)resolve_precision(find_engine("openai"), "bf16"); }),
              "precision 'bf16' is not supported by openai-whisper: accepted: float32, float16 (aliases: fp32 = "
              "float32, fp16 = float16)");
    EXPECT_EQ(usage_message_of([] { (void)resolve_precision(find_engine("ggml"), "int8_float16"); }),
              "precision 'int8_float16' is not supported by whisper.cpp: accepted: f32, f16, q8_0, q5_0, q5_1, q4_0, "
              "q4_1 (aliases: float32/fp32 = f32, float16/fp16 = f16, int8 = q8_0, int4 = q4_0)");
}

TEST(EngineRegistry, GuidePrecisionsComeFromTheirTable) {
    EXPECT_EQ(usage_message_of([] { (void)parse_guide_precision("fp8"); }),
              "unknown precision 'fp8': accepted: float32, float16, bfloat16, int8, int4 (aliases: fp32 = float32, "
              "fp16 = float16, bf16 = bfloat16; bfloat16 is sized as float16)");
    EXPECT_EQ(parse_guide_precision("BF16").name, "bfloat16");
    EXPECT_EQ(parse_guide_precision("bf16").sizing, guide_precision::float16);
    EXPECT_EQ(parse_guide_precision("int4").sizing, guide_precision::int4);
    EXPECT_EQ(to_string(guide_precision::int8), "int8");
    EXPECT_EQ(to_string(precision_id::int8_bfloat16), "int8_bfloat16");
    EXPECT_EQ(to_string(precision_id::q4_1), "q4_1");
    EXPECT_EQ(to_string(static_cast<precision_id>(200)), "?");
    EXPECT_EQ(to_string(guide_row::medium), "medium");
    EXPECT_EQ(find_engine("guide").precisions.size(), guide_precision_spellings().size());
}

TEST(EngineRegistry, EveryEngineProfileIsCompleteAndItsWeightsMatchItsEstimate) {
    const model_architecture tiny = find_model("tiny").architecture;
    for (const auto* p : engine_registry()) {
        ASSERT_NE(p->estimate, nullptr) << p->name;
        EXPECT_FALSE(p->precisions.empty()) << p->name;
        std::set<std::string_view> spellings;
        std::set<precision_id> ids;
        for (const auto& s : p->precisions) {
            EXPECT_TRUE(ids.insert(s.id).second) << p->name << " lists " << s.name << " twice";
            EXPECT_TRUE(spellings.insert(s.name).second) << s.name;
            for (const auto a : s.aliases) EXPECT_TRUE(spellings.insert(a).second) << p->name << ": " << a;
        }
        if (p->resolves_itself) continue;
        ASSERT_NE(p->weight_bytes, nullptr) << p->name;
        EXPECT_GE(p->default_beam_size, 1) << p->name;
        const std::uint64_t widest = p->weight_bytes(p->precisions.front().id, tiny);
        for (const auto& s : p->precisions) {
            estimate_request r;
            r.engine = std::string(p->name);
            r.model = "tiny";
            r.precision = std::string(s.name);
            const memory_estimate e = estimate(r);
            EXPECT_EQ(e.request.precision, s.name) << p->name;
            EXPECT_EQ(component(e, "weights"), p->weight_bytes(s.id, tiny)) << p->name << " " << s.name;
            EXPECT_LE(p->weight_bytes(s.id, tiny), widest) << p->name << " " << s.name << " is wider than the first";
            EXPECT_EQ(engine_weight_bytes(p->name, s.name, tiny), p->weight_bytes(s.id, tiny));
        }
    }
}

TEST(EngineRegistry, ResolveRequestFillsTheProfilesDefaults) {
    estimate_request r;
    r.model = "turbo";
    r.precision = "fp16";
    const resolved_request hf = resolve_request(find_engine("hf"), r);
    EXPECT_EQ(hf.model->name, "large-v3-turbo");
    EXPECT_EQ(hf.precision->id, precision_id::float16);
    EXPECT_EQ(hf.beams, 1U);
    EXPECT_TRUE(hf.flash_attention);
    EXPECT_EQ(hf.gpu, nullptr);
    r.gpu_name = "T4";
    r.beam_size = 3;
    const resolved_request ct2 = resolve_request(find_engine("faster-whisper"), r);
    EXPECT_EQ(ct2.beams, 3U);
    EXPECT_FALSE(ct2.flash_attention);
    ASSERT_NE(ct2.gpu, nullptr);
    EXPECT_EQ(ct2.gpu->name, "T4");
    // The guide's formula validates the raw request itself.
    const resolved_request guide = resolve_request(find_engine("guide"), r);
    EXPECT_EQ(guide.model, nullptr);
    EXPECT_EQ(guide.request, &r);
    r.beam_size = 65;
    EXPECT_EQ(usage_message_of([&] { (void)resolve_request(find_engine("hf"), r); }),
              "beam size 65 is invalid: must be an integer from 1 to 64");
}

// README.md's engine table: one row per engine-aware profile, no other, each starting with the
// profile's name and aliases, its precisions in order and its default beam.
TEST(EngineRegistry, ReadmeEngineTableMatchesTheRegistry) {
    const auto lines = read_lines(source_dir() + "/README.md");
    const auto header = std::find_if(lines.begin(), lines.end(),
                                     [](const std::string& l) { return l.rfind("| engine (aliases) |", 0) == 0; });
    ASSERT_NE(header, lines.end()) << "README.md has no engine table";
    std::vector<std::string> rows;
    for (auto it = header + 2; it != lines.end() && it->rfind("|", 0) == 0; ++it) rows.push_back(*it);
    std::vector<const engine_profile*> engines;
    for (const auto* p : engine_registry()) {
        if (!p->resolves_itself) engines.push_back(p);
    }
    ASSERT_EQ(rows.size(), engines.size()) << "README engine table rows differ from the registry's engines";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const engine_profile& p = *engines[i];
        const auto cells = detail::split(rows[i], '|');
        ASSERT_GE(cells.size(), 5U) << rows[i];
        EXPECT_EQ(detail::trim(cells[1]), p.aliases.empty() ? fmt::format("`{}`", p.name)
                                                            : fmt::format("`{}` ({})", p.name, backticked(p.aliases)))
            << rows[i];
        std::vector<std::string_view> names;
        for (const auto& s : p.precisions) names.push_back(s.name);
        EXPECT_EQ(detail::trim(cells[2]).rfind(backticked(names), 0), 0U)
            << "precisions of " << p.name << " should start with " << backticked(names) << ": " << rows[i];
        EXPECT_EQ(detail::trim(cells[3]).rfind(std::to_string(p.default_beam_size), 0), 0U) << rows[i];
    }
}

// The Python docstring names every engine with the registry's list.
TEST(EngineRegistry, PythonDocstringListsTheRegistry) {
    const std::string marker = "``engine`` is one of: ";
    int found = 0;
    for (const auto& line : read_lines(source_dir() + "/python/whisper_vram/__init__.py")) {
        const auto at = line.find(marker);
        if (at == std::string::npos) continue;
        ++found;
        EXPECT_EQ(line.substr(at + marker.size()), engine_names_text()) << line;
    }
    EXPECT_EQ(found, 1) << "python/whisper_vram/__init__.py should list the engines once";
}

}  // namespace
}  // namespace whisper_vram

namespace whisper_vram {
namespace {

// The guide formula (core) cannot name the engines; its profile appends them from the registry.
TEST(EngineRegistry, GuideMessagesListTheRegistrysEngineAwareProfiles) {
    estimate_request turbo;
    turbo.model = "large-v3-turbo";
    const std::string no_row = usage_message_of([&] { (void)estimate(turbo); });
    EXPECT_NE(no_row.find("has no row in the guide's table"), std::string::npos) << no_row;
    EXPECT_TRUE(no_row.ends_with("--engine openai-whisper | transformers | faster-whisper | whisper.cpp | whisperx"))
        << no_row;

    estimate_request beam;
    beam.model = "tiny";
    beam.beam_size = 5;
    const std::string beam_message = usage_message_of([&] { (void)estimate(beam); });
    EXPECT_TRUE(
        beam_message.ends_with("choose an engine with --engine openai-whisper | transformers | faster-whisper | "
                               "whisper.cpp | whisperx"))
        << beam_message;
}

}  // namespace
}  // namespace whisper_vram
