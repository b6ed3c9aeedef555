#pragma once
// Two writers behind one set of calls, for a result whose JSON is written field by field once
// (estimate_json.cpp): dom_writer builds the nlohmann::ordered_json that to_json() returns;
// text_writer appends the text json_text() would print for that value, byte for byte, without
// building it. A result's fields are then listed once, and both forms cannot drift apart.
//
// Calls, in document order: begin_object() for the document, begin_object(key) for a nested
// object, field(key, value) for a value (a string, a number, a bool, an optional number, a list
// of strings), end_object() for each begin. A key is given once per object (a repeated key would
// replace the earlier value in the DOM and be written twice in the text); the caller sees to it.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace whisper_vram::json_detail {

/// True when every byte of @p s is written as itself in a JSON string: printable ASCII but '"' and
/// '\\' (0x7F too, as nlohmann writes it with ensure_ascii false).
[[nodiscard]] bool verbatim(std::string_view s) noexcept;
/// Appends @p s as a JSON string, as nlohmann's dump(…, false, replace) writes it (json_text.cpp).
void append_string(std::string& out, std::string_view s);
/// Appends @p x as nlohmann writes a double (its shortest round-trip form; null when not finite).
void append_double(std::string& out, double x);

/// Builds the value to_json() returns, in @p document (held by the caller: a writer holding a JSON
/// value would have a destructor that may throw, nlohmann's freeing of nested values allocating).
class dom_writer {
public:
    explicit dom_writer(nlohmann::ordered_json& document) : document_(document) {}

    /// The document; @p expected_keys reserves room (an ordered_json object grows by copying its pairs).
    void begin_object(std::size_t expected_keys = 0) {
        document_ = nlohmann::ordered_json::object();
        document_.get_ref<nlohmann::ordered_json::object_t&>().reserve(expected_keys);
        open_.push_back(&document_);
    }
    void begin_object(std::string_view key, std::size_t expected_keys = 0) {
        nlohmann::ordered_json& child = top()[std::string(key)] = nlohmann::ordered_json::object();
        child.get_ref<nlohmann::ordered_json::object_t&>().reserve(expected_keys);
        open_.push_back(&child);  // its parent gets no key while it is open: the pointer stays valid
    }
    void end_object() { open_.pop_back(); }

    void field(std::string_view key, std::string_view value) { top()[std::string(key)] = value; }
    void field(std::string_view key, const char* value) { field(key, std::string_view(value)); }
    void field(std::string_view key, bool value) { top()[std::string(key)] = value; }
    void field(std::string_view key, double value) { top()[std::string(key)] = value; }
    template <std::integral T>
    void field(std::string_view key, T value) {
        top()[std::string(key)] = value;
    }
    void field(std::string_view key, const std::optional<double>& value) {
        top()[std::string(key)] = value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json();
    }
    void field(std::string_view key, const std::vector<std::string>& values) { top()[std::string(key)] = values; }

private:
    nlohmann::ordered_json& top() { return *open_.back(); }
    nlohmann::ordered_json& document_;
    std::vector<nlohmann::ordered_json*> open_;
};

/// Appends what json_text() prints for the value dom_writer would build (two-space indent).
class text_writer {
public:
    explicit text_writer(std::string& out) : out_(out) {}

    void begin_object(std::size_t /*expected_keys*/ = 0) { open(); }
    void begin_object(std::string_view key, std::size_t /*expected_keys*/ = 0) {
        put_key(key);
        open();
    }
    void end_object() {
        const bool empty = first_.back() != 0;
        first_.pop_back();
        if (empty) {
            out_ += '}';
            return;
        }
        out_ += '\n';
        out_.append(2 * first_.size(), ' ');
        out_ += '}';
    }

    void field(std::string_view key, std::string_view value) {
        put_key(key);
        append_string(out_, value);
    }
    void field(std::string_view key, const char* value) { field(key, std::string_view(value)); }
    void field(std::string_view key, bool value) {
        put_key(key);
        out_ += value ? "true" : "false";
    }
    void field(std::string_view key, double value) {
        put_key(key);
        append_double(out_, value);
    }
    template <std::integral T>
    void field(std::string_view key, T value) {
        put_key(key);
        const fmt::format_int digits(value);
        out_.append(digits.data(), digits.size());
    }
    void field(std::string_view key, const std::optional<double>& value) {
        if (!value) {
            put_key(key);
            out_ += "null";
            return;
        }
        field(key, *value);
    }
    void field(std::string_view key, const std::vector<std::string>& values) {
        put_key(key);
        if (values.empty()) {
            out_ += "[]";
            return;
        }
        out_ += '[';
        for (std::size_t i = 0; i < values.size(); ++i) {
            out_ += i == 0 ? "\n" : ",\n";
            out_.append(2 * (first_.size() + 1), ' ');
            append_string(out_, values[i]);
        }
        out_ += '\n';
        out_.append(2 * first_.size(), ' ');
        out_ += ']';
    }

private:
    void open() {
        out_ += '{';
        first_.push_back(1);
    }
    // The separator, the indent and the key in one append (each std::string append is a call):
    // a key is written some 25 times per estimate.
    void put_key(std::string_view key) {
        const bool first = first_.back() != 0;
        first_.back() = 0;
        const std::size_t indent = 2 * first_.size();
        std::array<char, 160> piece;  // written before it is read: no need to clear it
        const std::size_t length = (first ? 1 : 2) + indent + key.size() + 4;
        if (length > piece.size() || !verbatim(key)) {
            out_ += first ? "\n" : ",\n";
            out_.append(indent, ' ');
            append_string(out_, key);
            out_ += ": ";
            return;
        }
        char* p = piece.data();
        if (!first) *p++ = ',';
        *p++ = '\n';
        p = std::fill_n(p, indent, ' ');
        *p++ = '"';
        p = std::copy(key.begin(), key.end(), p);
        *p++ = '"';
        *p++ = ':';
        *p++ = ' ';
        out_.append(piece.data(), p);
    }
    std::string& out_;
    std::vector<unsigned char> first_;  // per open object: 1 while no key is written
};

}  // namespace whisper_vram::json_detail
