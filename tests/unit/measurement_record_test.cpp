// The measurement record (issue 13, item 2): one JSON line in, a validated record out, and back.
#include "whisper_vram/core/measurement_record.hpp"

#include <gtest/gtest.h>

#include <string>

namespace whisper_vram {
namespace {

const std::string minimal =
    R"({"version":1,"engine":"faster-whisper","model":"large-v3","precision":"float16","batch_size":1,)"
    R"("beam_size":5,"gpu_name":"NVIDIA GeForce RTX 3090","peak_bytes":4831838208,"peak_method":"process_tree"})";

std::string with(const std::string& extra_json) {
    return minimal.substr(0, minimal.size() - 1) + "," + extra_json + "}";
}

record_parse_error error_of(const std::string& line) {
    const auto result = parse_measurement_record(line);
    EXPECT_FALSE(result.ok()) << line;
    return result.error.value_or(record_parse_error{"<none>", "<parsed>"});
}

TEST(MeasurementRecord, ParsesTheRequiredKeys) {
    const auto result = parse_measurement_record(minimal);
    ASSERT_TRUE(result.ok()) << result.error->message;
    const auto& record = *result.record;
    EXPECT_EQ(record.engine, "faster-whisper");
    EXPECT_EQ(record.model, "large-v3");
    EXPECT_EQ(record.batch_size, 1);
    EXPECT_EQ(record.beam_size, 5);
    EXPECT_EQ(record.peak_bytes, 4831838208U);
    EXPECT_EQ(record.peak_method, peak_method_kind::process_tree);
    EXPECT_FALSE(record.time.has_value());
    EXPECT_TRUE(record.extra.empty());
}

TEST(MeasurementRecord, RoundTripKeepsEveryFieldAndUnknownKeysInOrder) {
    const std::string line = with(
        R"("compute_capability":"8.6","gpu_uuid":"GPU-1","driver_version":"550.54.14","cuda_driver_version":"12.4",)"
        R"("cuda_module_loading":"lazy","baseline_bytes":1024,"duration_s":12.5,"exit_status":0,)"
        R"("estimate_total_bytes":5000000000,"time":"2026-12-02T04:50:39Z","notes":"línea","zz_mine":{"a":[1,2]},"aa_other":true)");
    const auto first = parse_measurement_record(line);
    ASSERT_TRUE(first.ok()) << first.error->message;
    const auto written = to_json_line(*first.record);
    EXPECT_EQ(written.find('\n'), std::string::npos);
    // Stable order: the known keys as given above, then the unknown keys in their order.
    EXPECT_EQ(written, line);
    const auto second = parse_measurement_record(written);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(to_json_line(*second.record), written);
    EXPECT_EQ(second.record->duration_s, 12.5);
    EXPECT_EQ(second.record->exit_status, 0);
    EXPECT_EQ(second.record->extra.size(), 2U);
}

TEST(MeasurementRecord, NewlineInNotesStaysEscaped) {
    auto record = *parse_measurement_record(minimal).record;
    record.notes = "two\nlines";
    const auto line = to_json_line(record);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(parse_measurement_record(line).record->notes, "two\nlines");
}

TEST(MeasurementRecord, CrLfLineEndingAccepted) { EXPECT_TRUE(parse_measurement_record(minimal + "\r").ok()); }

TEST(MeasurementRecord, NullOptionalIsAbsent) {
    const auto result = parse_measurement_record(with(R"("time":null)"));
    ASSERT_TRUE(result.ok());
    EXPECT_FALSE(result.record->time.has_value());
}

TEST(MeasurementRecord, ModuleLoadingCanonicalised) {
    EXPECT_EQ(parse_measurement_record(with(R"("cuda_module_loading":"EAGER")")).record->cuda_module_loading, "eager");
    EXPECT_EQ(parse_measurement_record(with(R"("cuda_module_loading":"DEFAULT")")).record->cuda_module_loading, "lazy");
    EXPECT_EQ(error_of(with(R"("cuda_module_loading":"sometimes")")).field, "cuda_module_loading");
}

TEST(MeasurementRecord, HostileLinesRefusedWithFieldAndAllowed) {
    // Truncated line.
    auto error = error_of(minimal.substr(0, 40));
    EXPECT_EQ(error.field, "");
    EXPECT_NE(error.message.find("not one JSON object"), std::string::npos) << error.message;
    // NaN / Infinity are not JSON.
    EXPECT_EQ(error_of(with(R"("duration_s":NaN)")).field, "");
    EXPECT_EQ(error_of(with(R"("duration_s":Infinity)")).field, "");
    // Negative bytes.
    error = error_of(R"({"version":1,"engine":"e","model":"m","precision":"p","batch_size":1,"beam_size":1,)"
                     R"("gpu_name":"g","peak_bytes":-5,"peak_method":"process_tree"})");
    EXPECT_EQ(error.field, "peak_bytes");
    EXPECT_NE(error.message.find("-5 is negative"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("an integer ≥ 0"), std::string::npos) << error.message;
    // Wrong types.
    error = error_of(R"({"version":1,"engine":"e","model":"m","precision":"p","batch_size":"1","beam_size":1,)"
                     R"("gpu_name":"g","peak_bytes":5,"peak_method":"process_tree"})");
    EXPECT_EQ(error.field, "batch_size");
    EXPECT_NE(error.message.find("is a string"), std::string::npos) << error.message;
    EXPECT_EQ(error_of(with(R"("baseline_bytes":1.5)")).field, "baseline_bytes");
    EXPECT_EQ(error_of(with(R"("exit_status":256)")).field, "exit_status");
    EXPECT_EQ(error_of(with(R"("compute_capability":86)")).field, "compute_capability");
    EXPECT_EQ(error_of(with(R"("compute_capability":"8,6")")).field, "compute_capability");
    EXPECT_EQ(error_of(with(R"("time":"yesterday")")).field, "time");
    EXPECT_EQ(error_of(with(R"("time":"2026-13-02T04:50:39Z")")).field, "time");
    EXPECT_TRUE(parse_measurement_record(with(R"("time":"2026-12-02T04:50:39.25+01:00")")).ok());
    // Duplicate keys, at top level and nested in an unknown key.
    error = error_of(with(R"("peak_bytes":1)"));
    EXPECT_EQ(error.field, "peak_bytes");
    EXPECT_NE(error.message.find("duplicate key"), std::string::npos) << error.message;
    EXPECT_EQ(error_of(with(R"("mine":{"a":1,"a":2})")).field, "a");
    // Invalid UTF-8 (a lone continuation byte inside a string).
    error = error_of(with("\"notes\":\"bad \x80 byte\""));
    EXPECT_NE(error.message.find("invalid UTF-8"), std::string::npos) << error.message;
    // Over-long line.
    error = error_of(with("\"notes\":\"" + std::string(max_record_line_bytes, 'x') + "\""));
    EXPECT_NE(error.message.find("at most 65536 bytes"), std::string::npos) << error.message;
    // Not an object; wrong version; missing key; unknown peak method.
    EXPECT_EQ(error_of("[1,2]").field, "");
    EXPECT_EQ(error_of(R"({"version":2})").field, "version");
    error = error_of(R"({"version":1,"engine":"e"})");
    EXPECT_EQ(error.field, "model");
    EXPECT_NE(error.message.find("missing"), std::string::npos);
    error = error_of(R"({"version":1,"engine":"e","model":"m","precision":"p","batch_size":1,"beam_size":1,)"
                     R"("gpu_name":"g","peak_bytes":5,"peak_method":"guess"})");
    EXPECT_EQ(error.field, "peak_method");
    EXPECT_NE(error.message.find("\"process_tree\" or \"device_delta\""), std::string::npos);
    EXPECT_EQ(error_of(with(R"("batch_size":0)")).field, "batch_size");
}

TEST(MeasurementRecord, Utf8Validator) {
    std::size_t offset = 0;
    EXPECT_TRUE(is_valid_utf8("plain ascii é ✓ 😀"));
    EXPECT_FALSE(is_valid_utf8("\xC0\xAF", &offset));  // overlong '/'
    EXPECT_EQ(offset, 0U);
    EXPECT_FALSE(is_valid_utf8("ab\xED\xA0\x80", &offset));  // surrogate U+D800
    EXPECT_EQ(offset, 2U);
    EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xE2\x9C"));          // truncated
}

}  // namespace
}  // namespace whisper_vram
