// json_text(): byte for byte what nlohmann's dump(2, ' ', false, replace) writes — every --json
// and every HTTP answer is printed with it — over random documents (escapes, UTF-8, bytes that are
// not UTF-8, every kind of double and integer, nesting deeper than nlohmann's first indent buffer).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {
namespace {

using json = nlohmann::ordered_json;

std::string reference(const json& value) { return value.dump(2, ' ', false, json::error_handler_t::replace); }

// Strings from pieces that take each path: plain ASCII, JSON escapes, other control bytes, DEL,
// valid UTF-8 of 2, 3 and 4 bytes, and bytes that are not UTF-8 (lone continuation, truncated
// sequences, overlong, 0xFF).
std::string random_string(std::mt19937_64& rng) {
    static const char* const pieces[] = {
        "a",
        "Zz9",
        " ",
        "large-v3",
        "_bytes",
        "\"",
        "\\",
        "/",
        "\n",
        "\t",
        "\r",
        "\b",
        "\f",
        "\x01",
        "\x1f",
        "\x7f",
        "é",
        "中文",
        "\xF0\x9F\x8E\x99",
        "\x80",
        "\xE4\xB8",
        "\xC0\xAF",
        "\xFF",
        "\xED\xA0\x80",
        "",
    };
    std::uniform_int_distribution<int> length(0, 6);
    std::uniform_int_distribution<std::size_t> piece(0, std::size(pieces) - 1);
    std::string s;
    for (int i = length(rng); i > 0; --i) s += pieces[piece(rng)];
    return s;
}

double random_double(std::mt19937_64& rng) {
    static const double edges[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   29.62,
                                   35.544,
                                   1e15,
                                   1e16,
                                   1e-5,
                                   1e-4,
                                   123456789012345678.0,
                                   std::numeric_limits<double>::min(),
                                   std::numeric_limits<double>::denorm_min(),
                                   std::numeric_limits<double>::max(),
                                   std::numeric_limits<double>::lowest(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   std::numeric_limits<double>::quiet_NaN()};
    switch (rng() % 4) {
        case 0:
            return edges[rng() % std::size(edges)];
        case 1:
            return std::bit_cast<double>(rng());  // any bit pattern: NaNs, denormals, huge, tiny
        case 2:
            return static_cast<double>(static_cast<std::int64_t>(rng() % 2'000'001) - 1'000'000) / 1000.0;
        default:
            return static_cast<double>(rng() % (1ULL << 40)) / static_cast<double>(1ULL << 30);  // GiB
    }
}

json random_value(std::mt19937_64& rng, int depth) {
    const int kinds = depth > 0 ? 9 : 7;
    switch (rng() % static_cast<std::uint64_t>(kinds)) {
        case 0:
            return nullptr;
        case 1:
            return (rng() & 1U) != 0;
        case 2: {
            static const std::int64_t edges[] = {0, -1, 1, std::numeric_limits<std::int64_t>::min(),
                                                 std::numeric_limits<std::int64_t>::max()};
            return (rng() & 1U) != 0 ? edges[rng() % std::size(edges)] : static_cast<std::int64_t>(rng());
        }
        case 3:
            return (rng() & 1U) != 0 ? std::numeric_limits<std::uint64_t>::max() : rng();
        case 4:
        case 5:
            return random_double(rng);
        case 6:
            return random_string(rng);
        case 7: {
            json array = json::array();
            for (auto n = rng() % 5; n > 0; --n) array.push_back(random_value(rng, depth - 1));
            return array;
        }
        default: {
            json object = json::object();
            for (auto n = rng() % 6; n > 0; --n) object[random_string(rng)] = random_value(rng, depth - 1);
            return object;
        }
    }
}

TEST(JsonText, EqualsNlohmannsPrettyDumpForRandomDocuments) {
    std::mt19937_64 rng(20261203);
    for (int i = 0; i < 20000; ++i) {
        const json value = random_value(rng, 5);
        ASSERT_EQ(json_text(value), reference(value)) << "document " << i;
    }
}

TEST(JsonText, EqualsNlohmannsPrettyDumpBeyondItsFirstIndentBuffer) {
    // nlohmann starts with 512 spaces of indent and doubles them; 400 levels need 800.
    json value = json::object({{"leaf", 1.5}});
    for (int level = 0; level < 400; ++level) {
        value = (level % 2 == 0) ? json::array({value, "x"}) : json::object({{"k", value}, {"e", json::object()}});
    }
    EXPECT_EQ(json_text(value), reference(value));
}

TEST(JsonText, WritesTheTextItSays) {
    // Hand-written, so a change shared by both printers cannot hide.
    const json value = {{"model", "large"},
                        {"total_gib", 29.62},
                        {"total_bytes", 31804024340ULL},
                        {"delta", -3},
                        {"whole", 2.0},
                        {"ok", true},
                        {"none", nullptr},
                        {"notes", json::array({"a\"b", "tab\there", "\xFF"})},
                        {"empty", json::object()},
                        {"nan", std::numeric_limits<double>::quiet_NaN()}};
    EXPECT_EQ(json_text(value),
              "{\n"
              "  \"model\": \"large\",\n"
              "  \"total_gib\": 29.62,\n"
              "  \"total_bytes\": 31804024340,\n"
              "  \"delta\": -3,\n"
              "  \"whole\": 2.0,\n"
              "  \"ok\": true,\n"
              "  \"none\": null,\n"
              "  \"notes\": [\n"
              "    \"a\\\"b\",\n"
              "    \"tab\\there\",\n"
              "    \"\xEF\xBF\xBD\"\n"
              "  ],\n"
              "  \"empty\": {},\n"
              "  \"nan\": null\n"
              "}");
    EXPECT_EQ(json_text(json::array()), "[]");
    EXPECT_EQ(json_text(json("plain")), "\"plain\"");
}

TEST(JsonText, ABinaryValueIsLeftToNlohmann) {
    const json value = {{"a", 1}, {"blob", json::binary({1, 2, 3}, 7)}};
    EXPECT_EQ(json_text(value), reference(value));
    std::string out = "kept:";
    append_json_text(out, value);
    EXPECT_EQ(out, "kept:" + reference(value));
}

TEST(JsonText, AnEstimateIsPrintedAsNlohmannPrintsIt) {
    estimate_request request;
    request.model = "large";
    request.segment_seconds = 600;
    request.batch_size = 2;
    request.precision = "int8";
    const json value = to_json(estimate(request));
    EXPECT_EQ(json_text(value), reference(value));
}

// An estimate with every optional field set, or none, and random contents (strings with escapes and
// bytes that are not UTF-8, any double, empty and long breakdowns): append_json_text() writes what
// json_text(to_json()) prints.
memory_estimate random_estimate(std::mt19937_64& rng) {
    const auto coin = [&] { return (rng() & 1U) != 0; };
    memory_estimate e;
    e.request.model = random_string(rng);
    e.request.precision = random_string(rng);
    e.request.segment_seconds = random_double(rng);
    e.request.batch_size = static_cast<int>(rng() % 5000) - 10;
    e.request.engine = coin() ? std::string("whisperx") : random_string(rng);
    e.request.margin = random_double(rng);
    if (coin()) e.request.beam_size = static_cast<int>(rng() % 9);
    if (coin()) e.request.gpu_name = random_string(rng);
    if (coin()) e.request.flash_attention = coin();
    if (coin()) e.request.cuda_module_loading = random_string(rng);
    if (coin()) e.request.language = random_string(rng);
    if (coin()) e.request.align = coin();
    e.request.diarize = coin();
    e.request.staged = coin();
    for (auto n = rng() % 7; n > 0; --n) {
        // A key once per object (json_writer.hpp): the index keeps random keys apart.
        e.breakdown.push_back({random_string(rng) + std::to_string(n), random_double(rng), rng(), "unused"});
    }
    e.total_required_gib = random_double(rng);
    e.recommended_gib = random_double(rng);
    e.total_required_bytes = rng();
    e.recommended_bytes = coin() ? std::numeric_limits<std::uint64_t>::max() : rng();
    for (auto n = rng() % 4; n > 0; --n) e.notes.push_back(random_string(rng));
    if (coin()) e.host_bytes = rng() % (1ULL << 45);
    if (coin()) e.uncalibrated = uncalibrated_figures{random_double(rng), random_double(rng), rng(), rng()};
    if (coin()) {
        calibration_applied c;
        c.profile = random_string(rng);
        c.group = random_string(rng);
        c.runs = rng() % 100;
        if (coin()) c.held_out_error_pct = random_double(rng);
        c.extrapolated = coin();
        c.factor = random_double(rng);
        c.offset_bytes = random_double(rng);
        e.calibration = c;
    }
    return e;
}

TEST(JsonText, AnEstimateWrittenDirectlyEqualsItsJsonValuePrinted) {
    std::mt19937_64 rng(20261204);
    for (int i = 0; i < 5000; ++i) {
        const memory_estimate e = random_estimate(rng);
        std::string direct = "kept:";
        append_json_text(direct, e);
        ASSERT_EQ(direct, "kept:" + json_text(to_json(e))) << "estimate " << i;
    }
}

TEST(JsonText, AnEstimateOfEveryEngineWrittenDirectlyEqualsItsJsonValuePrinted) {
    std::size_t compared = 0;
    for (const char* engine :
         {"guide", "openai-whisper", "transformers", "faster-whisper", "whisperx", "whisper.cpp"}) {
        for (const char* precision : {"float16", "float32", "int8", "int8_float16", "f16", "q5_0"}) {
            estimate_request request;
            request.model = "large-v3";
            request.engine = engine;
            request.precision = precision;
            request.batch_size = 4;
            request.segment_seconds = 600;
            if (std::string_view(engine) != "guide") request.gpu_name = "T4";
            for (int variant = 0; variant < 3; ++variant) {
                if (variant > 0 && std::string_view(engine) == "guide") break;  // no other inputs
                if (variant == 1) {  // whisperx's every model; the others' beam and attention
                    request.diarize = true;
                    request.staged = true;
                    request.align = false;
                    request.beam_size = 1;
                }
                if (variant == 2) {
                    request.staged = false;
                    request.align = true;
                    request.flash_attention = true;
                    request.cuda_module_loading = "lazy";
                }
                memory_estimate e;
                try {
                    e = estimate(request);
                } catch (const usage_error&) {  // a precision or an input this engine does not have
                    continue;
                }
                std::string direct;
                append_json_text(direct, e);
                EXPECT_EQ(direct, json_text(to_json(e))) << engine << " " << precision << " " << variant;
                ++compared;
            }
        }
    }
    EXPECT_GE(compared, 20U);  // every engine at least once, in each variant
}

TEST(JsonText, AnEstimatesJsonHasItsKeysInOrder) {
    // The value both writers describe (json.hpp), with every optional field: pinned by hand.
    memory_estimate e;
    e.request.model = "large-v3";
    e.request.engine = "whisperx";
    e.request.beam_size = 5;
    e.request.gpu_name = "T4";
    e.request.flash_attention = false;
    e.request.cuda_module_loading = "lazy";
    e.request.language = "de";
    e.request.align = true;
    e.breakdown = {{"weights", 1.5, 1610612736, ""}, {"cuda_context", 0.25, 268435456, ""}};
    e.host_bytes = 1073741824;
    e.uncalibrated = uncalibrated_figures{1.75, 2.1, 1879048192, 2254857830};
    e.calibration = calibration_applied{"p.json", "whisperx", 3, std::nullopt, true, 1.25, -512.0};
    e.notes = {"n"};
    const json j = to_json(e);
    std::vector<std::string> keys;
    for (const auto& [key, value] : j.items()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"model",
                                              "precision",
                                              "segment_duration",
                                              "batch_size",
                                              "engine",
                                              "beam_size",
                                              "gpu",
                                              "flash_attention",
                                              "cuda_module_loading",
                                              "language",
                                              "align",
                                              "diarize",
                                              "staged",
                                              "margin",
                                              "unit",
                                              "breakdown",
                                              "total_required",
                                              "recommended",
                                              "breakdown_bytes",
                                              "total_required_bytes",
                                              "recommended_bytes",
                                              "host_memory",
                                              "host_memory_bytes",
                                              "uncalibrated",
                                              "calibration",
                                              "notes"}));
    EXPECT_EQ(j["breakdown"], json::parse(R"({"weights": 1.5, "cuda_context": 0.25})"));
    EXPECT_EQ(j["breakdown_bytes"], json::parse(R"({"weights": 1610612736, "cuda_context": 268435456})"));
    EXPECT_EQ(j["host_memory"], 1.0);
    EXPECT_EQ(j["calibration"].dump(), R"({"profile":"p.json","group":"whisperx","runs":3,"held_out_error_pct":null,)"
                                       R"("extrapolated":true,"factor":1.25,"offset_bytes":-512.0})");
    EXPECT_EQ(j["uncalibrated"].dump(), R"({"total_required":1.75,"recommended":2.1,)"
                                        R"("total_required_bytes":1879048192,"recommended_bytes":2254857830})");
    std::string direct;
    append_json_text(direct, e);
    EXPECT_EQ(direct, reference(j));
}

}  // namespace
}  // namespace whisper_vram
