/// @file measurement_record.cpp
/// The measurement record: JSON line in, validated record out, and back. Pure.

#include "whisper_vram/core/measurement_record.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"

namespace whisper_vram {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::size_t max_text_field_bytes = 4096;
constexpr int max_count = 4096;

/// Every key this version knows, in the order to_json_line writes them.
constexpr std::array<std::string_view, 20> known_keys = {"version",
                                                         "engine",
                                                         "model",
                                                         "precision",
                                                         "batch_size",
                                                         "beam_size",
                                                         "gpu_name",
                                                         "peak_bytes",
                                                         "peak_method",
                                                         "compute_capability",
                                                         "gpu_uuid",
                                                         "driver_version",
                                                         "cuda_driver_version",
                                                         "cuda_module_loading",
                                                         "baseline_bytes",
                                                         "duration_s",
                                                         "exit_status",
                                                         "estimate_total_bytes",
                                                         "time",
                                                         "notes"};

bool is_known_key(std::string_view key) {
    for (const auto known : known_keys) {
        if (known == key) {
            return true;
        }
    }
    return false;
}

/// Thrown inside the parser, turned into a record_parse_error at its edge.
struct field_error {
    std::string field;
    std::string message;
};

[[noreturn]] void fail(std::string_view field, std::string message) {
    throw field_error{std::string(field), std::move(message)};
}

std::string shown(const ojson& value) {
    std::string text = value.dump(-1, ' ', false, ojson::error_handler_t::replace);
    constexpr std::size_t limit = 60;
    if (text.size() > limit) {
        text = text.substr(0, limit) + "…";
    }
    return text;
}

std::string type_name(const ojson& value) {
    if (value.is_number_float()) {
        return "a fractional number";
    }
    if (value.is_number()) {
        return "a number";
    }
    return fmt::format("a {}", value.type_name());
}

const ojson* find(const ojson& object, std::string_view key) {
    const auto it = object.find(std::string(key));
    if (it == object.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

const ojson& require(const ojson& object, std::string_view key, std::string_view allowed) {
    const ojson* value = find(object, key);
    if (value == nullptr) {
        fail(key, fmt::format("{}: missing (required: {})", key, allowed));
    }
    return *value;
}

std::string text_field(std::string_view key, const ojson& value, bool allow_empty = false) {
    if (!value.is_string()) {
        fail(key, fmt::format("{}: {} is {}, not allowed: a string", key, shown(value), type_name(value)));
    }
    auto text = value.get<std::string>();
    if (!allow_empty && text.empty()) {
        fail(key, fmt::format("{}: empty, not allowed: a non-empty string", key));
    }
    if (text.size() > max_text_field_bytes) {
        fail(key, fmt::format("{}: {} bytes, not allowed: at most {} bytes", key, text.size(), max_text_field_bytes));
    }
    return text;
}

std::uint64_t bytes_field(std::string_view key, const ojson& value) {
    if (value.is_number_unsigned()) {
        return value.get<std::uint64_t>();
    }
    if (value.is_number_integer()) {
        fail(key, fmt::format("{}: {} is negative, not allowed: an integer ≥ 0 (bytes)", key, shown(value)));
    }
    fail(key, fmt::format("{}: {} is {}, not allowed: an integer ≥ 0 (bytes)", key, shown(value), type_name(value)));
}

long long integer_field(std::string_view key, const ojson& value, long long low, long long high) {
    const std::string allowed = fmt::format("an integer {} … {}", low, high);
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        if (number > static_cast<std::uint64_t>(high)) {
            fail(key, fmt::format("{}: {} is out of range, allowed: {}", key, number, allowed));
        }
        return static_cast<long long>(number);
    }
    if (value.is_number_integer()) {
        const auto number = value.get<std::int64_t>();
        if (number < low || number > high) {
            fail(key, fmt::format("{}: {} is out of range, allowed: {}", key, number, allowed));
        }
        return number;
    }
    fail(key, fmt::format("{}: {} is {}, not allowed: {}", key, shown(value), type_name(value), allowed));
}

double seconds_field(std::string_view key, const ojson& value) {
    if (!value.is_number()) {
        fail(key,
             fmt::format("{}: {} is {}, not allowed: a number ≥ 0 (seconds)", key, shown(value), type_name(value)));
    }
    const auto number = value.get<double>();
    if (!std::isfinite(number) || number < 0.0) {
        fail(key, fmt::format("{}: {} is not allowed: a finite number ≥ 0 (seconds)", key, shown(value)));
    }
    return number;
}

bool all_digits(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (const char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
            return false;
        }
    }
    return true;
}

bool valid_compute_capability(std::string_view text) {
    const auto dot = text.find('.');
    if (dot == std::string_view::npos) {
        return false;
    }
    const auto major = text.substr(0, dot);
    const auto minor = text.substr(dot + 1);
    return all_digits(major) && all_digits(minor) && major.size() <= 2 && minor.size() <= 2;
}

int two_digits(std::string_view text, std::size_t at) { return ((text[at] - '0') * 10) + (text[at + 1] - '0'); }

/// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM); 't'/'z' and ' ' as separator allowed.
bool valid_rfc3339(std::string_view text) {
    constexpr std::size_t date_time_length = 19;
    if (text.size() < date_time_length + 1) {
        return false;
    }
    for (const std::size_t at : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U, 11U, 12U, 14U, 15U, 17U, 18U}) {
        if (std::isdigit(static_cast<unsigned char>(text[at])) == 0) {
            return false;
        }
    }
    if (text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') {
        return false;
    }
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') {
        return false;
    }
    const int month = two_digits(text, 5);
    const int day = two_digits(text, 8);
    const int hour = two_digits(text, 11);
    const int minute = two_digits(text, 14);
    const int second = two_digits(text, 17);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return false;
    }
    std::size_t at = date_time_length;
    if (text[at] == '.') {
        ++at;
        const std::size_t start = at;
        while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) != 0) {
            ++at;
        }
        if (at == start) {
            return false;
        }
    }
    const auto zone = text.substr(at);
    if (zone == "Z" || zone == "z") {
        return true;
    }
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') {
        return false;
    }
    if (!all_digits(zone.substr(1, 2)) || !all_digits(zone.substr(4, 2))) {
        return false;
    }
    return two_digits(zone, 1) <= 23 && two_digits(zone, 4) <= 59;
}

/// Parses @p line with a callback that refuses duplicate keys at any depth (nlohmann keeps the
/// last one silently) and rejects nesting deeper than a limit.
ojson parse_json_strictly(std::string_view line) {
    constexpr int max_depth = 32;
    std::vector<std::set<std::string>> keys_per_object;
    std::string duplicate;
    bool too_deep = false;
    const ojson::parser_callback_t callback = [&](int depth, ojson::parse_event_t event, ojson& parsed) {
        switch (event) {
            case ojson::parse_event_t::object_start:
                keys_per_object.emplace_back();
                break;
            case ojson::parse_event_t::object_end:
                if (!keys_per_object.empty()) {
                    keys_per_object.pop_back();
                }
                break;
            case ojson::parse_event_t::key:
                if (!keys_per_object.empty() && duplicate.empty() &&
                    !keys_per_object.back().insert(parsed.get<std::string>()).second) {
                    duplicate = parsed.get<std::string>();
                }
                break;
            default:
                break;
        }
        if (depth > max_depth) {
            too_deep = true;
        }
        return true;
    };
    ojson parsed;
    try {
        parsed = ojson::parse(line.begin(), line.end(), callback, /*allow_exceptions=*/true,
                              /*ignore_comments=*/false);
    } catch (const ojson::exception& error) {  // parse_error, or out_of_range.406: a number beyond a double
        fail("", fmt::format("not one JSON object (truncated line, NaN/Infinity or junk?): {}", error.what()));
    }
    if (!duplicate.empty()) {
        fail(duplicate, fmt::format("{}: duplicate key, not allowed: each key once", duplicate));
    }
    if (too_deep) {
        fail("", fmt::format("nested deeper than {} levels, not allowed", max_depth));
    }
    return parsed;
}

measurement_record record_from(const ojson& object) {
    if (!object.is_object()) {
        fail("", fmt::format("{} is {}, not allowed: one JSON object per line", shown(object), type_name(object)));
    }
    measurement_record record;
    const auto& version = require(object, "version", "1");
    if (!version.is_number_integer() || version.get<std::int64_t>() != measurement_record_version) {
        fail("version", fmt::format("version: {} is not allowed: 1 (the only record version)", shown(version)));
    }
    record.engine = text_field("engine", require(object, "engine", "an engine name"));
    record.model = text_field("model", require(object, "model", "a model name"));
    record.precision = text_field("precision", require(object, "precision", "a precision name"));
    record.batch_size = static_cast<int>(
        integer_field("batch_size", require(object, "batch_size", "an integer 1 … 4096"), 1, max_count));
    record.beam_size =
        static_cast<int>(integer_field("beam_size", require(object, "beam_size", "an integer 1 … 4096"), 1, max_count));
    record.gpu_name = text_field("gpu_name", require(object, "gpu_name", "the GPU's name as NVML reports it"));
    record.peak_bytes = bytes_field("peak_bytes", require(object, "peak_bytes", "an integer ≥ 0 (bytes)"));
    const auto& method = require(object, "peak_method", "process_tree or device_delta");
    const auto kind = method.is_string() ? parse_peak_method(method.get<std::string>()) : std::nullopt;
    if (!kind) {
        fail("peak_method",
             fmt::format(R"(peak_method: {} is not allowed: "process_tree" or "device_delta")", shown(method)));
    }
    record.peak_method = *kind;

    if (const auto* value = find(object, "compute_capability")) {
        auto text = text_field("compute_capability", *value);
        if (!valid_compute_capability(text)) {
            fail("compute_capability",
                 fmt::format(R"(compute_capability: {} is not allowed: "major.minor", e.g. "8.6")", shown(*value)));
        }
        record.compute_capability = std::move(text);
    }
    for (const auto& [key, field] : {std::pair{"gpu_uuid", &measurement_record::gpu_uuid},
                                     std::pair{"driver_version", &measurement_record::driver_version},
                                     std::pair{"cuda_driver_version", &measurement_record::cuda_driver_version}}) {
        if (const auto* value = find(object, key)) {
            record.*field = text_field(key, *value);
        }
    }
    if (const auto* value = find(object, "cuda_module_loading")) {
        const auto text = text_field("cuda_module_loading", *value);
        try {
            record.cuda_module_loading = parse_cuda_module_loading(text, "cuda_module_loading");
        } catch (const usage_error& error) {
            fail("cuda_module_loading", error.what());
        }
    }
    if (const auto* value = find(object, "baseline_bytes")) {
        record.baseline_bytes = bytes_field("baseline_bytes", *value);
    }
    if (const auto* value = find(object, "duration_s")) {
        record.duration_s = seconds_field("duration_s", *value);
    }
    if (const auto* value = find(object, "exit_status")) {
        constexpr long long max_exit_status = 255;
        record.exit_status = static_cast<int>(integer_field("exit_status", *value, 0, max_exit_status));
    }
    if (const auto* value = find(object, "estimate_total_bytes")) {
        record.estimate_total_bytes = bytes_field("estimate_total_bytes", *value);
    }
    if (const auto* value = find(object, "time")) {
        auto text = text_field("time", *value);
        if (!valid_rfc3339(text)) {
            fail("time", fmt::format("time: {} is not allowed: an RFC 3339 date-time, e.g. \"2026-12-02T04:50:39Z\"",
                                     shown(*value)));
        }
        record.time = std::move(text);
    }
    if (const auto* value = find(object, "notes")) {
        record.notes = text_field("notes", *value, /*allow_empty=*/true);
    }
    for (const auto& [key, value] : object.items()) {
        if (!is_known_key(key)) {
            record.extra[key] = value;
        }
    }
    return record;
}

}  // namespace

std::string_view to_string(peak_method_kind method) noexcept {
    return method == peak_method_kind::device_delta ? "device_delta" : "process_tree";
}

std::optional<peak_method_kind> parse_peak_method(std::string_view text) noexcept {
    if (text == "process_tree") {
        return peak_method_kind::process_tree;
    }
    if (text == "device_delta") {
        return peak_method_kind::device_delta;
    }
    return std::nullopt;
}

bool is_valid_utf8(std::string_view text, std::size_t* bad_offset) noexcept {
    std::size_t i = 0;
    const auto bad = [&] {
        if (bad_offset != nullptr) {
            *bad_offset = i;
        }
        return false;
    };
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80U) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if ((lead & 0xE0U) == 0xC0U) {
            length = 2;
            code = lead & 0x1FU;
        } else if ((lead & 0xF0U) == 0xE0U) {
            length = 3;
            code = lead & 0x0FU;
        } else if ((lead & 0xF8U) == 0xF0U) {
            length = 4;
            code = lead & 0x07U;
        } else {
            return bad();
        }
        if (i + length > text.size()) {
            return bad();
        }
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0U) != 0x80U) {
                return bad();
            }
            code = (code << 6U) | (next & 0x3FU);
        }
        constexpr std::array<std::uint32_t, 5> smallest = {0, 0, 0x80, 0x800, 0x10000};
        if (code < smallest.at(length) || code > 0x10FFFFU || (code >= 0xD800U && code <= 0xDFFFU)) {
            return bad();
        }
        i += length;
    }
    return true;
}

std::string to_json_line(const measurement_record& record) {
    ojson j;
    j["version"] = record.version;
    j["engine"] = record.engine;
    j["model"] = record.model;
    j["precision"] = record.precision;
    j["batch_size"] = record.batch_size;
    j["beam_size"] = record.beam_size;
    j["gpu_name"] = record.gpu_name;
    j["peak_bytes"] = record.peak_bytes;
    j["peak_method"] = std::string(to_string(record.peak_method));
    const auto put = [&j](const char* key, const auto& value) {
        if (value) {
            j[key] = *value;
        }
    };
    put("compute_capability", record.compute_capability);
    put("gpu_uuid", record.gpu_uuid);
    put("driver_version", record.driver_version);
    put("cuda_driver_version", record.cuda_driver_version);
    put("cuda_module_loading", record.cuda_module_loading);
    put("baseline_bytes", record.baseline_bytes);
    put("duration_s", record.duration_s);
    put("exit_status", record.exit_status);
    put("estimate_total_bytes", record.estimate_total_bytes);
    put("time", record.time);
    put("notes", record.notes);
    if (record.extra.is_object()) {
        for (const auto& [key, value] : record.extra.items()) {
            if (!is_known_key(key)) {
                j[key] = value;
            }
        }
    }
    // replace: a string that is not valid UTF-8 (set by a caller, never by the parser) is written
    // with U+FFFD rather than throwing; dump(-1) never puts a newline inside.
    return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

record_parse_result parse_measurement_record(std::string_view line) noexcept {
    record_parse_result result;
    try {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > max_record_line_bytes) {
            fail("",
                 fmt::format("line of {} bytes, not allowed: at most {} bytes", line.size(), max_record_line_bytes));
        }
        std::size_t bad_offset = 0;
        if (!is_valid_utf8(line, &bad_offset)) {
            fail("", fmt::format("invalid UTF-8 at byte {}, not allowed: UTF-8 text", bad_offset + 1));
        }
        result.record = record_from(parse_json_strictly(line));
    } catch (const field_error& error) {
        result.error = record_parse_error{error.field, error.message};
    } catch (const std::exception& error) {
        result.error = record_parse_error{"", fmt::format("not a valid record: {}", error.what())};
    } catch (...) {
        result.error = record_parse_error{"", "not a valid record"};
    }
    return result;
}

}  // namespace whisper_vram
