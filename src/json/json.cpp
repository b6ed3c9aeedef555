// The helpers every JSON form shares (json.hpp): the GiB + `_bytes` pair, optional values.
#include "whisper_vram/json/json.hpp"

#include <string>

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {

memory_figure::memory_figure(std::string_view figure_key, std::uint64_t figure_bytes)
    : key(figure_key), gib(bytes_to_gib(figure_bytes)), bytes(figure_bytes) {}

memory_figure::memory_figure(std::string_view figure_key, double figure_gib, std::uint64_t figure_bytes)
    : key(figure_key), gib(figure_gib), bytes(figure_bytes) {}

void put_bytes(nlohmann::ordered_json& j, std::string_view key, std::uint64_t bytes) {
    put_bytes(j, key, bytes_to_gib(bytes), bytes);
}

void put_bytes(nlohmann::ordered_json& j, std::string_view key, const std::optional<std::uint64_t>& bytes) {
    if (bytes) {
        put_bytes(j, key, *bytes);
    } else {
        j[std::string(key)] = nullptr;
        j[std::string(key) + "_bytes"] = nullptr;
    }
}

void put_bytes(nlohmann::ordered_json& j, std::string_view key, double gib, std::uint64_t bytes) {
    j[std::string(key)] = gib;
    j[std::string(key) + "_bytes"] = bytes;
}

void put_bytes_grouped(nlohmann::ordered_json& j, std::initializer_list<memory_figure> figures) {
    for (const auto& f : figures) j[std::string(f.key)] = f.gib;
    for (const auto& f : figures) j[std::string(f.key) + "_bytes"] = f.bytes;
}

void put_configuration(nlohmann::ordered_json& j, const estimate_request& request) {
    j["engine"] = request.engine;
    j["precision"] = request.precision;
    j["segment_duration"] = request.segment_seconds;
    j["batch_size"] = request.batch_size;
}

nlohmann::ordered_json text_or_null(const std::string& text) {
    return text.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(text);
}

}  // namespace whisper_vram
