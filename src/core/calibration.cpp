/// @file calibration.cpp
/// History parsing, the fit, the profile parser and applying a profile to an estimate. Pure.

#include "whisper_vram/core/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"

namespace whisper_vram {
namespace {

using ojson = nlohmann::ordered_json;

struct fit_point {
    double estimate = 0.0;
    double peak = 0.0;
};

struct fit_parameters {
    correction_kind kind = correction_kind::factor;
    double factor = 1.0;
    double offset = 0.0;
    double lift = 0.0;
};

double predicted(const fit_parameters& p, double estimate) {
    const double value = (p.factor * estimate) + p.offset + p.lift;
    return value > 0.0 ? std::ceil(value) : 0.0;
}

/// The rule of calibration.hpp on @p points (at least one, every estimate > 0).
fit_parameters fit(const std::vector<fit_point>& points) {
    fit_parameters p;
    const auto n = static_cast<double>(points.size());
    double low = std::numeric_limits<double>::max();
    double high = 0.0;
    for (const auto& point : points) {
        low = std::min(low, point.estimate);
        high = std::max(high, point.estimate);
    }
    bool fitted = false;
    if (points.size() >= min_records_for_offset && high >= low * min_spread_for_offset) {
        double mean_e = 0.0;
        double mean_m = 0.0;
        for (const auto& point : points) {
            mean_e += point.estimate / n;
            mean_m += point.peak / n;
        }
        double sxx = 0.0;
        double sxy = 0.0;
        for (const auto& point : points) {
            sxx += (point.estimate - mean_e) * (point.estimate - mean_e);
            sxy += (point.estimate - mean_e) * (point.peak - mean_m);
        }
        if (sxx > 0.0 && sxy / sxx > 0.0) {
            p.kind = correction_kind::factor_offset;
            p.factor = sxy / sxx;
            p.offset = mean_m - (p.factor * mean_e);
            fitted = true;
        }
    }
    if (!fitted) {
        double sem = 0.0;
        double see = 0.0;
        for (const auto& point : points) {
            sem += point.estimate * point.peak;
            see += point.estimate * point.estimate;
        }
        p.kind = correction_kind::factor;
        p.factor = sem / see;
        p.offset = 0.0;
    }
    // The safety lift: no record of the group below its measured peak.
    for (const auto& point : points) {
        p.lift = std::max(p.lift, point.peak - ((p.factor * point.estimate) + p.offset));
    }
    for (const auto& point : points) {
        // Rounding guard: the calibrated figure is an integer ≥ the peak for every record.
        while (predicted(p, point.estimate) < point.peak) {
            p.lift += 1.0;
        }
    }
    return p;
}

double error_pct(double value, double peak) { return (value - peak) / peak * 100.0; }

/// Leave-one-out: each point predicted by the rule fitted on the others; empty with one point.
std::vector<double> held_out(const std::vector<fit_point>& points) {
    std::vector<double> errors;
    if (points.size() < 2) {
        return errors;
    }
    for (std::size_t i = 0; i < points.size(); ++i) {
        std::vector<fit_point> others;
        for (std::size_t k = 0; k < points.size(); ++k) {
            if (k != i) {
                others.push_back(points[k]);
            }
        }
        errors.push_back(error_pct(predicted(fit(others), points[i].estimate), points[i].peak));
    }
    return errors;
}

double mean_abs(const std::vector<double>& values) {
    double sum = 0.0;
    for (const double v : values) {
        sum += std::abs(v);
    }
    return sum / static_cast<double>(values.size());
}

std::optional<int> cc_major_of(const measurement_record& record) {
    if (record.compute_capability) {
        const auto dot = record.compute_capability->find('.');
        return std::stoi(record.compute_capability->substr(0, dot));
    }
    if (const auto* card = match_nvml_name(record.gpu_name, 0)) {
        return card->cc_major;
    }
    try {
        return find_gpu_model(record.gpu_name).cc_major;
    } catch (const usage_error&) {
        return std::nullopt;
    }
}

[[noreturn]] void profile_fail(std::string_view source, const std::string& message) {
    throw usage_error(fmt::format("calibration profile {}: {}", source, message));
}

double profile_number(const ojson& object, std::string_view source, const char* key, bool non_negative) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number() || !std::isfinite(it->get<double>()) ||
        (non_negative && it->get<double>() < 0.0)) {
        profile_fail(source, fmt::format("group key {}: missing or not allowed: a finite number{}", key,
                                         non_negative ? " ≥ 0" : ""));
    }
    return it->get<double>();
}

std::uint64_t profile_bytes(const ojson& object, std::string_view source, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_unsigned()) {
        profile_fail(source, fmt::format("group key {}: missing or not allowed: an integer ≥ 0", key));
    }
    return it->get<std::uint64_t>();
}

/// Parses with a callback that refuses duplicate keys (nlohmann keeps the last one silently).
ojson parse_without_duplicates(std::string_view text, std::string* duplicate) {
    std::vector<std::set<std::string>> keys;
    const ojson::parser_callback_t callback = [&](int /*depth*/, ojson::parse_event_t event, ojson& parsed) {
        if (event == ojson::parse_event_t::object_start) {
            keys.emplace_back();
        } else if (event == ojson::parse_event_t::object_end && !keys.empty()) {
            keys.pop_back();
        } else if (event == ojson::parse_event_t::key && !keys.empty() && duplicate->empty() &&
                   !keys.back().insert(parsed.get<std::string>()).second) {
            *duplicate = parsed.get<std::string>();
        }
        return true;
    };
    return ojson::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
}

}  // namespace

std::string calibration_rule_text() {
    return fmt::format(
        "records are grouped by engine (and, when an engine's records span several GPU architectures, also by "
        "compute capability major, for each architecture with at least {} records); a group with fewer than {} "
        "records or whose estimates spread less than {:g}x fits one factor (least squares through the origin), "
        "otherwise factor + offset (least squares); the offset is then lifted until no record is estimated below "
        "its measured peak (the safety lift); held-out error: leave-one-out, mean absolute %",
        min_records_per_architecture, min_records_for_offset, min_spread_for_offset);
}

std::string history_error::text() const {
    return line == 0 ? fmt::format("{}: {}", file, message) : fmt::format("{}:{}: {}", file, line, message);
}

history_parse_result parse_history(std::string_view text, std::string_view file_name) noexcept {
    history_parse_result result;
    try {
        if (text.size() > max_history_file_bytes) {
            result.error = history_error{std::string(file_name), 0, "",
                                         fmt::format("{} bytes, not allowed: at most {} bytes ({} MiB)", text.size(),
                                                     max_history_file_bytes, max_history_file_bytes / bytes_per_mib)};
            return result;
        }
        std::size_t line_number = 0;
        std::size_t start = 0;
        while (start < text.size()) {
            ++line_number;
            const auto end = text.find('\n', start);
            const auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
            start = end == std::string_view::npos ? text.size() : end + 1;
            if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
                continue;  // blank lines are allowed
            }
            auto parsed = parse_measurement_record(line);
            if (!parsed.ok()) {
                result.records.clear();
                result.error =
                    history_error{std::string(file_name), line_number, parsed.error->field, parsed.error->message};
                return result;
            }
            result.records.push_back(located_record{std::string(file_name), line_number, std::move(*parsed.record)});
        }
    } catch (const std::exception& error) {
        result.records.clear();
        result.error = history_error{std::string(file_name), 0, "", error.what()};
    }
    return result;
}

std::string_view to_string(correction_kind kind) noexcept {
    return kind == correction_kind::factor_offset ? "factor+offset" : "factor";
}

std::uint64_t calibration_group::apply(std::uint64_t estimate_bytes) const noexcept {
    const double value =
        predicted(fit_parameters{kind, factor, offset_bytes, safety_lift_bytes}, static_cast<double>(estimate_bytes));
    if (value >= static_cast<double>(std::numeric_limits<std::uint64_t>::max())) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return static_cast<std::uint64_t>(value);
}

bool calibration_group::extrapolates(std::uint64_t estimate_bytes) const noexcept {
    return estimate_bytes < min_estimate_bytes || estimate_bytes > max_estimate_bytes;
}

std::string calibration_group::label() const {
    return cc_major ? fmt::format("{}, compute capability {}.x", engine, *cc_major) : engine;
}

const calibration_group* calibration_profile::find(std::string_view engine,
                                                   std::optional<int> cc_major) const noexcept {
    const calibration_group* any = nullptr;
    for (const auto& group : groups) {
        if (group.engine != engine) {
            continue;
        }
        if (group.cc_major && cc_major && *group.cc_major == *cc_major) {
            return &group;
        }
        if (!group.cc_major && any == nullptr) {
            any = &group;
        }
    }
    return any;
}

estimate_request request_for_record(const measurement_record& record) {
    if (is_guide_engine(record.engine)) {
        throw usage_error(
            "engine: 'guide' is not allowed: the guide's formula is the specification and is never calibrated; "
            "record the engine the job runs (" +
            engine_names_text() + " except guide)");
    }
    estimate_request request;
    request.engine = canonical_engine(record.engine);
    request.model = record.model;
    request.precision = record.precision;
    request.batch_size = record.batch_size;
    request.beam_size = record.beam_size;
    request.cuda_module_loading = record.cuda_module_loading;
    const gpu_model* card = match_nvml_name(record.gpu_name, 0);
    if (card == nullptr) {
        try {
            card = &find_gpu_model(record.gpu_name);
        } catch (const usage_error& error) {
            if (!record.compute_capability) {
                throw usage_error(fmt::format(
                    "gpu_name: {} (add compute_capability to the record to calibrate for a card not in the catalog)",
                    error.what()));
            }
        }
    }
    if (card != nullptr) {
        request.gpu_name = std::string(card->name);
    } else {
        const auto major = cc_major_of(record).value_or(0);
        const auto dot = record.compute_capability->find('.');
        request.target_gpu =
            gpu_target{record.gpu_name, major, std::stoi(record.compute_capability->substr(dot + 1)), 0};
    }
    (void)estimate(request);  // throws usage_error when the library cannot estimate it
    return request;
}

calibration_profile fit_calibration(const std::vector<located_record>& records) {
    if (records.empty()) {
        throw usage_error("no records to calibrate from: give history files with at least one record");
    }
    calibration_profile profile;
    for (const auto& located : records) {
        const auto& r = located.record;
        calibrated_record row;
        row.file = located.file;
        row.line = located.line;
        try {
            const auto request = request_for_record(r);
            row.engine = request.engine;
            row.estimate_bytes = estimate(request).total_required_bytes;
        } catch (const usage_error& error) {
            throw usage_error(fmt::format("{}:{}: cannot be estimated: {}", located.file, located.line, error.what()));
        }
        if (r.peak_bytes == 0) {
            throw usage_error(
                fmt::format("{}:{}: peak_bytes: 0 is not allowed for calibration: a peak > 0 (a job that "
                            "used no GPU memory says nothing about the estimate)",
                            located.file, located.line));
        }
        row.model = r.model;
        row.precision = r.precision;
        row.batch_size = r.batch_size;
        row.beam_size = r.beam_size;
        row.gpu_name = r.gpu_name;
        row.cc_major = cc_major_of(r);
        row.cuda_module_loading = r.cuda_module_loading;
        row.peak_bytes = r.peak_bytes;
        row.error_before_pct = error_pct(static_cast<double>(row.estimate_bytes), static_cast<double>(r.peak_bytes));
        profile.records.push_back(std::move(row));
    }

    // Groups: every engine; and each architecture of an engine with several, when it has enough records.
    std::map<std::string, std::vector<std::size_t>> by_engine;
    for (std::size_t i = 0; i < profile.records.size(); ++i) {
        by_engine[profile.records[i].engine].push_back(i);
    }
    const auto add_group = [&profile](const std::string& engine, std::optional<int> cc,
                                      const std::vector<std::size_t>& members) {
        std::vector<fit_point> points;
        calibration_group group;
        group.engine = engine;
        group.cc_major = cc;
        group.runs = members.size();
        group.min_estimate_bytes = std::numeric_limits<std::uint64_t>::max();
        for (const auto i : members) {
            const auto& row = profile.records[i];
            points.push_back({static_cast<double>(row.estimate_bytes), static_cast<double>(row.peak_bytes)});
            group.min_estimate_bytes = std::min(group.min_estimate_bytes, row.estimate_bytes);
            group.max_estimate_bytes = std::max(group.max_estimate_bytes, row.estimate_bytes);
        }
        const auto p = fit(points);
        group.kind = p.kind;
        group.factor = p.factor;
        group.offset_bytes = p.offset;
        group.safety_lift_bytes = p.lift;
        auto errors = held_out(points);
        if (!errors.empty()) {
            group.held_out_error_pct = mean_abs(errors);
        }
        profile.groups.push_back(group);
        return errors;
    };
    // Per-record figures come from the most specific group: the engine's first, then overwritten
    // by its architecture's.
    for (const auto& [engine, members] : by_engine) {
        const auto errors = add_group(engine, std::nullopt, members);
        for (std::size_t k = 0; k < members.size(); ++k) {
            auto& row = profile.records[members[k]];
            row.group = profile.groups.back().label();
            row.calibrated_bytes = profile.groups.back().apply(row.estimate_bytes);
            if (!errors.empty()) {
                row.held_out_error_pct = errors[k];
            }
        }
        std::map<int, std::vector<std::size_t>> by_arch;
        for (const auto i : members) {
            if (profile.records[i].cc_major) {
                by_arch[*profile.records[i].cc_major].push_back(i);
            }
        }
        if (by_arch.size() < 2) {
            continue;
        }
        for (const auto& [cc, arch_members] : by_arch) {
            if (arch_members.size() < min_records_per_architecture) {
                continue;
            }
            const auto arch_errors = add_group(engine, cc, arch_members);
            for (std::size_t k = 0; k < arch_members.size(); ++k) {
                auto& row = profile.records[arch_members[k]];
                row.group = profile.groups.back().label();
                row.calibrated_bytes = profile.groups.back().apply(row.estimate_bytes);
                row.held_out_error_pct = arch_errors.empty() ? std::nullopt : std::optional<double>(arch_errors[k]);
            }
        }
    }
    for (auto& row : profile.records) {
        row.error_after_pct = error_pct(static_cast<double>(row.calibrated_bytes), static_cast<double>(row.peak_bytes));
    }
    return profile;
}

bool looks_like_calibration_profile(std::string_view text) noexcept {
    try {
        const auto parsed = ojson::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
        return parsed.is_object() && parsed.contains("kind") && parsed["kind"] == calibration_profile_kind;
    } catch (...) {
        return false;
    }
}

calibration_profile parse_calibration_profile(std::string_view text, std::string_view source) {
    if (text.size() > max_profile_file_bytes) {
        profile_fail(source,
                     fmt::format("{} bytes, not allowed: at most {} bytes", text.size(), max_profile_file_bytes));
    }
    std::size_t bad = 0;
    if (!is_valid_utf8(text, &bad)) {
        profile_fail(source, fmt::format("invalid UTF-8 at byte {}, not allowed: UTF-8 text", bad + 1));
    }
    ojson j;
    std::string duplicate;
    try {
        j = parse_without_duplicates(text, &duplicate);
    } catch (const ojson::exception& error) {  // parse_error, or out_of_range.406: a number beyond a double
        profile_fail(source, fmt::format("not JSON: {}", error.what()));
    }
    if (!duplicate.empty()) {
        profile_fail(source, fmt::format("duplicate key {}, not allowed: each key once", duplicate));
    }
    if (!j.is_object() || !j.contains("kind") || j["kind"] != calibration_profile_kind) {
        profile_fail(source, fmt::format("not a calibration profile: allowed: a JSON object with \"kind\": \"{}\" (as "
                                         "`whisper-vram calibrate --out` writes)",
                                         calibration_profile_kind));
    }
    if (!j.contains("version") || j["version"] != calibration_profile_version) {
        profile_fail(source, "version: not allowed: 1 (the only profile version)");
    }
    if (!j.contains("groups") || !j["groups"].is_array()) {
        profile_fail(source, "groups: missing or not allowed: an array of groups");
    }
    calibration_profile profile;
    profile.source = std::string(source);
    for (const auto& g : j["groups"]) {
        if (!g.is_object()) {
            profile_fail(source, "groups: an item is not allowed: each group is an object");
        }
        calibration_group group;
        const auto engine = g.find("engine");
        if (engine == g.end() || !engine->is_string()) {
            profile_fail(source, "group key engine: missing or not allowed: an engine name");
        }
        const auto* profile_engine = try_find_engine(engine->get<std::string>());
        if (profile_engine == nullptr || is_guide_engine(engine->get<std::string>())) {
            profile_fail(source, fmt::format("group key engine: {} is not allowed: {} except guide", engine->dump(),
                                             engine_names_text()));
        }
        group.engine = std::string(profile_engine->name);
        if (const auto cc = g.find("compute_capability_major"); cc != g.end() && !cc->is_null()) {
            constexpr int max_cc_major = 99;
            if (!cc->is_number_unsigned() || cc->get<std::uint64_t>() > max_cc_major) {
                profile_fail(source, "group key compute_capability_major: not allowed: null or an integer 0 … 99");
            }
            group.cc_major = cc->get<int>();
        }
        const auto kind = g.find("correction");
        if (kind == g.end() || !kind->is_string() || (*kind != "factor" && *kind != "factor+offset")) {
            profile_fail(source, R"(group key correction: missing or not allowed: "factor" or "factor+offset")");
        }
        group.kind = *kind == "factor" ? correction_kind::factor : correction_kind::factor_offset;
        group.factor = profile_number(g, source, "factor", true);
        if (!(group.factor > 0.0)) {
            profile_fail(source, "group key factor: not allowed: a number > 0");
        }
        group.offset_bytes = profile_number(g, source, "offset_bytes", false);
        group.safety_lift_bytes = profile_number(g, source, "safety_lift_bytes", true);
        group.runs = profile_bytes(g, source, "runs");
        if (group.runs == 0) {
            profile_fail(source, "group key runs: 0 is not allowed: an integer ≥ 1");
        }
        const auto range = g.find("estimate_range_bytes");
        if (range == g.end() || !range->is_object()) {
            profile_fail(source, "group key estimate_range_bytes: missing or not allowed: {\"min\": …, \"max\": …}");
        }
        group.min_estimate_bytes = profile_bytes(*range, source, "min");
        group.max_estimate_bytes = profile_bytes(*range, source, "max");
        if (const auto held = g.find("held_out_error_pct"); held != g.end() && !held->is_null()) {
            group.held_out_error_pct = profile_number(g, source, "held_out_error_pct", true);
        }
        profile.groups.push_back(std::move(group));
    }
    return profile;
}

void apply_calibration(const calibration_profile& profile, std::string_view engine, std::optional<int> cc_major,
                       memory_estimate& result) {
    const auto* group = profile.find(engine, cc_major);
    if (group == nullptr) {
        result.notes.push_back(fmt::format("calibration profile {} has no runs of {}: this estimate is uncalibrated",
                                           profile.source, engine));
        return;
    }
    uncalibrated_figures before{result.total_required_gib, result.recommended_gib, result.total_required_bytes,
                                result.recommended_bytes};
    const bool extrapolated = group->extrapolates(before.total_required_bytes);
    std::uint64_t total = group->apply(result.total_required_bytes);
    // Outside the range its runs cover, a correction is a guess: it may raise an estimate, never lower
    // it (a capacity tool errs on the safe side; the runs say nothing about a configuration this far off).
    const bool kept_uncalibrated = extrapolated && total < before.total_required_bytes;
    if (kept_uncalibrated) total = before.total_required_bytes;
    result.total_required_bytes = total;
    result.total_required_gib = bytes_to_gib(total);
    result.recommended_bytes =
        static_cast<std::uint64_t>(std::ceil(static_cast<double>(total) * (1.0 + result.request.margin)));
    result.recommended_gib = bytes_to_gib(result.recommended_bytes);
    result.calibration = calibration_applied{profile.source,
                                             group->label(),
                                             group->runs,
                                             group->held_out_error_pct,
                                             extrapolated,
                                             group->factor,
                                             group->offset_bytes + group->safety_lift_bytes};
    result.uncalibrated = before;
    const std::string held =
        group->held_out_error_pct ? fmt::format("{:.1f}%", *group->held_out_error_pct) : std::string("n/a: one run");
    result.notes.push_back(fmt::format(
        "calibrated from {} run{} ({}), held-out error {}: total {:.2f} GiB (uncalibrated {:.2f} GiB) = {:.4f} × "
        "estimate {:+.2f} GiB; the breakdown above is uncalibrated",
        group->runs, group->runs == 1 ? "" : "s", profile.source, held, result.total_required_gib,
        before.total_required_gib, group->factor, (group->offset_bytes + group->safety_lift_bytes) / bytes_per_gib));
    if (extrapolated) {
        result.notes.push_back(fmt::format(
            "the calibration is extrapolated: the uncalibrated estimate {:.2f} GiB lies outside the {:.2f}–{:.2f} GiB "
            "its runs cover",
            before.total_required_gib, bytes_to_gib(group->min_estimate_bytes),
            bytes_to_gib(group->max_estimate_bytes)));
    }
    if (kept_uncalibrated) {
        result.notes.push_back(
            fmt::format("the correction ({:.4f} × estimate {:+.2f} GiB) would lower this estimate outside the range "
                        "its runs cover: "
                        "the uncalibrated total {:.2f} GiB is kept (the safe side)",
                        group->factor, (group->offset_bytes + group->safety_lift_bytes) / bytes_per_gib,
                        before.total_required_gib));
    }
}

}  // namespace whisper_vram
