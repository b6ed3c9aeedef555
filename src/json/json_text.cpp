// JSON text: what nlohmann's dump(2, ' ', false, replace) writes, byte for byte, with less work.
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <string>
#include <string_view>

#include "json_writer.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {
namespace json_detail {

using json = nlohmann::ordered_json;

namespace {
// The bytes a JSON string holds as themselves, looked up (a third of the work of four comparisons).
constexpr std::array<bool, 256> verbatim_bytes = [] {
    std::array<bool, 256> table{};
    for (int b = 0x20; b < 0x80; ++b) table[static_cast<std::size_t>(b)] = b != '"' && b != '\\';
    return table;
}();
}  // namespace

bool verbatim(std::string_view s) noexcept {
    bool all = true;
    for (const char c : s) all &= verbatim_bytes[static_cast<unsigned char>(c)];
    return all;
}

void append_string(std::string& out, std::string_view s) {
    if (verbatim(s)) {
        out += '"';
        out += s;
        out += '"';
    } else {  // escapes, UTF-8 and bytes that are not UTF-8 (→ U+FFFD): nlohmann's own rules
        out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    }
}

void append_double(std::string& out, double x) {
    if (!std::isfinite(x)) {
        out += "null";
        return;
    }
    // nlohmann's own shortest round-trip form (Grisu2, "1.0" for whole numbers, its exponent
    // rules): the one function it formats a double with.
    std::array<char, 64> buffer{};
    char* end = nlohmann::detail::to_chars(buffer.data(), buffer.data() + buffer.size(), x);
    out.append(buffer.data(), end);
}

}  // namespace json_detail

namespace {
using json_detail::append_double;
using json_detail::append_string;

using json = nlohmann::ordered_json;

// Thrown at a binary value (no result of ours holds one): the whole value is then left to nlohmann.
struct binary_seen {};

void append_value(std::string& out, const json& value, std::size_t indent) {
    switch (value.type()) {
        case json::value_t::object: {
            const auto& object = value.get_ref<const json::object_t&>();
            if (object.empty()) {
                out += "{}";
                return;
            }
            out += "{\n";
            bool first = true;
            for (const auto& [key, item] : object) {
                if (!first) out += ",\n";
                first = false;
                out.append(indent + 2, ' ');
                append_string(out, key);
                out += ": ";
                append_value(out, item, indent + 2);
            }
            out += '\n';
            out.append(indent, ' ');
            out += '}';
            return;
        }
        case json::value_t::array: {
            const auto& array = value.get_ref<const json::array_t&>();
            if (array.empty()) {
                out += "[]";
                return;
            }
            out += "[\n";
            bool first = true;
            for (const auto& item : array) {
                if (!first) out += ",\n";
                first = false;
                out.append(indent + 2, ' ');
                append_value(out, item, indent + 2);
            }
            out += '\n';
            out.append(indent, ' ');
            out += ']';
            return;
        }
        case json::value_t::string:
            append_string(out, value.get_ref<const std::string&>());
            return;
        case json::value_t::boolean:
            out += value.get<bool>() ? "true" : "false";
            return;
        case json::value_t::number_integer: {
            const fmt::format_int digits(value.get<json::number_integer_t>());
            out.append(digits.data(), digits.size());
            return;
        }
        case json::value_t::number_unsigned: {
            const fmt::format_int digits(value.get<json::number_unsigned_t>());
            out.append(digits.data(), digits.size());
            return;
        }
        case json::value_t::number_float:
            append_double(out, value.get<double>());
            return;
        case json::value_t::null:
            out += "null";
            return;
        case json::value_t::discarded:
            out += "<discarded>";
            return;
        case json::value_t::binary:
            throw binary_seen{};
    }
}

}  // namespace

void append_json_text(std::string& out, const nlohmann::ordered_json& value) {
    const std::size_t start = out.size();
    try {
        append_value(out, value, 0);
    } catch (const binary_seen&) {
        out.resize(start);
        out += value.dump(2, ' ', false, json::error_handler_t::replace);
    }
}

std::string json_text(const nlohmann::ordered_json& value) {
    std::string out;
    out.reserve(1024);
    append_json_text(out, value);
    return out;
}

}  // namespace whisper_vram
