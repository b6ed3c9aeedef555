#pragma once
/// @file json.hpp
/// JSON forms of every result type, in one place, with the stable keys the CLI's --json, the Python
/// module and the HTTP service share. Memory is a GiB float (unrounded, 1024^3) plus the exact
/// `<key>_bytes` integer; one thing has one name everywhere: a GPU's UUID in a lease or a
/// reservation is `gpu_uuid`, `reserved_bytes` is the driver's reserve of a GPU (gpus) and
/// `ledger_reserved_bytes` the outstanding ledger reservations on it.
///
/// Definitions are grouped by layer in src/json/ (estimate_json.cpp, gpu_json.cpp,
/// planner_json.cpp, sched_json.cpp, facade_json.cpp); they are pure (part of whisper_vram_core).

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/facade/concurrency.hpp"
#include "whisper_vram/facade/run_outcome.hpp"
#include "whisper_vram/gpu/cuda_debug.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/planner/kubernetes.hpp"
#include "whisper_vram/planner/planner.hpp"
#include "whisper_vram/planner/ray.hpp"
#include "whisper_vram/planner/replan.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/ledger.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {

// ---- helpers ----------------------------------------------------------------------------------------

/// Writes the pair every memory figure has: @p key = @p bytes in GiB (float) and `<key>_bytes` = @p bytes.
void put_bytes(nlohmann::ordered_json& j, std::string_view key, std::uint64_t bytes);
/// The same for an optional figure: both null when @p bytes is nullopt.
void put_bytes(nlohmann::ordered_json& j, std::string_view key, const std::optional<std::uint64_t>& bytes);
/// The same with the GiB value given: an estimate's own GiB figure (the bytes are rounded up from it).
void put_bytes(nlohmann::ordered_json& j, std::string_view key, double gib, std::uint64_t bytes);

/// One memory figure for put_bytes_grouped().
struct memory_figure {
    std::string_view key;
    double gib = 0;
    std::uint64_t bytes = 0;
    /// gib = bytes_to_gib(@p bytes).
    memory_figure(std::string_view key, std::uint64_t bytes);
    /// An estimate's own GiB figure with its bytes.
    memory_figure(std::string_view key, double gib, std::uint64_t bytes);
};
/// Several figures with the GiB keys first, then the `_bytes` keys in the same order
/// ({total, used, free, total_bytes, used_bytes, free_bytes}): the order the older results use.
void put_bytes_grouped(nlohmann::ordered_json& j, std::initializer_list<memory_figure> figures);

/// {engine, precision, segment_duration, batch_size} of @p request, the configuration most results repeat.
void put_configuration(nlohmann::ordered_json& j, const estimate_request& request);

/// @p value, or null when nullopt.
template <typename T>
[[nodiscard]] nlohmann::ordered_json optional_json(const std::optional<T>& value) {
    return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json();
}
/// @p text, or null when empty.
[[nodiscard]] nlohmann::ordered_json text_or_null(const std::string& text);

/// Appends @p value to @p out exactly as `value.dump(2, ' ', false, error_handler_t::replace)`
/// writes it (two-space indent, UTF-8 kept, bytes that are not UTF-8 as U+FFFD), with a fraction
/// of the work: keys and strings of plain ASCII are copied as they are, numbers formatted with
/// nlohmann's own functions, any other string left to nlohmann. What every --json and every HTTP
/// answer is printed with (src/json/json_text.cpp; tests/unit/json_text_test.cpp compares the two).
void append_json_text(std::string& out, const nlohmann::ordered_json& value);
/// append_json_text() into a new string.
[[nodiscard]] std::string json_text(const nlohmann::ordered_json& value);

/// [to_json(item)…] (declared below for every item type; found at instantiation).
template <typename T>
[[nodiscard]] nlohmann::ordered_json to_json_array(const std::vector<T>& items) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const auto& item : items) array.push_back(to_json(item));
    return array;
}

// ---- core / estimate (estimate_json.cpp) --------------------------------------------------------------

/// {model, precision, segment_duration, batch_size, engine[, beam_size, gpu, flash_attention], margin,
///  unit:"GiB", breakdown{…in order…}, total_required, recommended, breakdown_bytes{…},
///  total_required_bytes, recommended_bytes[, host_memory, host_memory_bytes], notes}
nlohmann::ordered_json to_json(const memory_estimate& estimate);
/// Appends json_text(to_json(@p estimate)), byte for byte, without building the JSON value (a
/// third of the work: what `calc --json` and the service's estimates print). The fields are listed
/// once for both (estimate_json.cpp); tests/unit/json_text_test.cpp compares the two.
void append_json_text(std::string& out, const memory_estimate& estimate);

// ---- core / calibration (calibration_json.cpp) --------------------------------------------------------

/// {engine, compute_capability_major, label, correction, factor, offset_bytes, safety_lift_bytes, runs,
///  estimate_range_bytes{min, max}, held_out_error_pct}
nlohmann::ordered_json to_json(const calibration_group& group);
/// {file, line, engine, model, precision, batch_size, beam_size, gpu_name, compute_capability_major,
///  cuda_module_loading, peak_bytes, estimate_bytes, calibrated_bytes, error_before_pct, error_after_pct,
///  held_out_error_pct, group}
nlohmann::ordered_json to_json(const calibrated_record& record);
/// The profile file: {kind, version: 1, rule, groups[…], records[…]}.
nlohmann::ordered_json to_json(const calibration_profile& profile);

// ---- gpu (gpu_json.cpp) ---------------------------------------------------------------------------------

/// {index, name, uuid, pci_bus_id, total, used, free, total_bytes, used_bytes, free_bytes,
///  reserved_bytes (driver reserve or null), utilization_*_percent, compute_capability, mig_enabled,
///  mig_devices[…], processes[…], processes_known, state[, state_detail], catalog_name}
nlohmann::ordered_json to_json(const gpu_device& gpu);

/// {cuda_index, index, name, …}: to_json(gpu_device) preceded by the CUDA index (index stays NVML's).
nlohmann::ordered_json to_json(const visible_gpu& gpu);
/// to_json(visible_gpu) plus whisper-vram's view of it (one view of capacity, what `run` admits):
/// ledger_reserved (GiB) / ledger_reserved_bytes: Σ outstanding reservations; admittable /
/// admittable_bytes: what a new reservation may take now (admission_capacity()); reservations: their count.
nlohmann::ordered_json to_json(const visible_gpu& gpu, const gpu_capacity& capacity);

/// {name, memory, memory_bytes (usable; 0 = unified), compute_capability ("8.6"), family, marketed,
///  marketed_bytes, unified_memory, usable_memory_assumed, usable_memory_source, nvml_names[], aliases[]}:
///  one GPU catalog row (the service's /api/v1/gpu-catalog).
nlohmann::ordered_json to_json(const gpu_model& gpu);

/// {source, gpus:[…]} (+ reason when unavailable)
nlohmann::ordered_json to_json(const gpu_snapshot& snapshot);

/// {index, name, uuid, compute_capability|null, total_bytes, baseline, baseline_bytes, peak, peak_bytes,
///  peak_method, peak_at_seconds, process_tree_peak_bytes, device_delta_peak_bytes, lost_at_seconds|null, notes[…]}
nlohmann::ordered_json to_json(const gpu_measurement& gpu);

/// {interval_ms, duration_seconds, samples, misses, sampler_cpu_seconds, gpus[…]}
nlohmann::ordered_json to_json(const measurement_report& report);

/// {source, nvml:{status, error, library_candidates[{path, loaded, error}], loaded_library,
///  loaded_library_file, stub_library, missing_symbol, init_symbol, init_return, init_return_name,
///  resolved_symbols[]}, driver_version, nvml_version, cuda_driver_version ("12.4" or null),
///  cuda_driver_version_raw, cuda_driver_version_source, errors{…}, environment{CUDA_VISIBLE_DEVICES,
///  CUDA_DEVICE_ORDER, WHISPER_VRAM_NVML_LIBRARY}, gpu_count, visible_gpu_count,
///  gpus[cuda_index (null when hidden) + to_json(gpu_device)], notes[]}
nlohmann::ordered_json to_json(const cuda_debug_info& info);

// ---- planner (planner_json.cpp) -------------------------------------------------------------------------

/// {model, fits, recommended, memory, recommended_bytes, memory_bytes, engine, precision,
///  segment_duration, batch_size, ladder, notes, message}
nlohmann::ordered_json to_json(const best_model_result& result);

/// {quantity, value, fits, unit, model, engine, precision, segment_duration, batch_size, margin,
///  memory, memory_bytes, recommended, recommended_bytes, next_step_recommended_bytes, notes, message}
/// (max_concurrent adds total / total_bytes; min_memory gives value in GiB and value_bytes).
nlohmann::ordered_json to_json(const solve_result& result);

/// {precision, model, fits, recommended, recommended_bytes, max_segment, max_concurrent, notes}
nlohmann::ordered_json to_json(const gpu_plan& plan);

/// {gpu, index, uuid, memory, memory_bytes, total, total_bytes, state, reason, model, fits,
///  recommended, recommended_bytes, max_segment, max_concurrent, precision, notes, int8:{…}|null}
nlohmann::ordered_json to_json(const gpu_recommendation& recommendation);

/// {source, engine, precision, segment_duration, batch_size, gpus:[…]}
nlohmann::ordered_json to_json(const recommendation_result& result);

/// {name, model, segment_duration, batch_size, precision, max_concurrent, target_gpu}
nlohmann::ordered_json to_json(const guide_preset& preset);

/// {name, model, segment_duration, batch_size, precision, max_concurrent, target_gpu,
///  total_required, recommended (one task), total_required_all, recommended_all (× max_concurrent),
///  *_bytes, target_memory, target_memory_bytes, fits_target, max_concurrent_on_target,
///  max_segment_on_target, message}
nlohmann::ordered_json to_json(const preset_evaluation& evaluation);

/// {change, config:{model, segment_duration, batch_size, precision}, recommended, recommended_bytes,
///  [free_needed, free_needed_bytes,] text}
nlohmann::ordered_json to_json(const check_suggestion& suggestion);

/// {index, nvml_index, name, uuid, state, total, free, required, shortfall, *_bytes, fits, reason}
nlohmann::ordered_json to_json(const check_gpu_row& row);

/// {sufficient, message, optimization_suggestions, suggestions, gpus, required, source}
nlohmann::ordered_json to_json(const check_result& result);

/// {change, config{model, …}, recommended, recommended_bytes, corrected_bytes|null, available_bytes, fits, text}
nlohmann::ordered_json to_json(const replan_suggestion& suggestion);

/// run's oom_advice: {message, gpu_index, gpu_name, available, available_bytes, other_jobs,
///  other_jobs_bytes, peak_bytes|null, failed{recommended_bytes, total_required_bytes}, correction|null,
///  suggestions[…], notes[…]}
nlohmann::ordered_json to_json(const oom_advice& advice);

// ---- sched (sched_json.cpp) -----------------------------------------------------------------------------

/// {id, pid, gpu_uuid, gpu_index, model, bytes, reserved (GiB), since (ISO 8601 UTC), since_ms, child_pid}
nlohmann::ordered_json to_json(const reservation_record& record);
/// {id, pid, gpus, model, bytes, needed (GiB), since, since_ms}
nlohmann::ordered_json to_json(const waiter_record& record);

/// {status, granted, message, requested, requested_bytes, waited_seconds,
///  lease:{id, gpu_uuid, gpu_index, cuda_index, gpu_name, bytes, model}|null, best_available,
///  best_available_bytes, queue_position, reason}
nlohmann::ordered_json to_json(const reserve_result& result);

/// {uuid, index, name, usable, unusable_reason, total, free, ledger_reserved, unmanaged_used, available,
///  total_bytes, free_bytes, ledger_reserved_bytes, seen_managed_bytes, counted_managed_bytes,
///  unmanaged_used_bytes, available_bytes, reservations}
nlohmann::ordered_json to_json(const gpu_capacity& capacity);

/// {forced, refused, dropped_count, dropped_bytes, dropped_gib, dropped[…], reaped[…], live[…], message}
nlohmann::ordered_json to_json(const reservations_release& report);

// ---- facade (facade_json.cpp) ---------------------------------------------------------------------------

/// run --json-out / --json-fd (run_json.cpp): {outcome, exit_status, command[…],
///  reservation{status, message, waited_seconds, requested, requested_bytes},
///  placement{reservation_id, gpu_uuid, gpu_index, cuda_index, gpu_name, model, reserved,
///  reserved_bytes}|null, pid, exit_code, signal, exec_error, survivors_killed, ran_seconds,
///  measurement (to_json(measurement_report))|null, peak_over_reservation, warnings[…], oom_advice|null}
nlohmann::ordered_json to_json(const run_outcome& outcome);

/// {can_run, model, new_task, new_task_bytes, current_tasks[…], current_tasks_memory,
///  current_tasks_bytes, gpu{index, uuid}, free, free_bytes, ledger_reserved_bytes, available,
///  available_bytes, guide_result, message}
nlohmann::ordered_json to_json(const concurrent_task_check& check);

/// {reservations_dropped[…], reservations_dropped_bytes, hooks_called[…], hook_errors[…],
///  gpus[{index, uuid, name, free_before, free_after, freed, *_bytes}][, gpu_info_unavailable_reason],
///  cannot_free[…]}
nlohmann::ordered_json to_json(const release_report& report);

// ---- clusters: Kubernetes, Ray (cluster_json.cpp) ------------------------------------------------------

/// k8s resources --json: {flavor, recommended, requested, recommended_bytes, requested_bytes,
///  resources{limits{NAME: N…}}|null, resource_claim_template{apiVersion, kind, metadata, spec}|null, notes[…]}
nlohmann::ordered_json to_json(const k8s_resources& resources);

/// k8s advertise --json's capacity: {resource, value (the quantity string), total_mib, largest_gpu_mib,
///  gpus[{index, name, total, total_bytes, mib, counted, reason}]}
nlohmann::ordered_json to_json(const k8s_node_capacity& capacity);

/// ray resources --json: {granule, granule_bytes, key, total_granules, resources{KEY: N, KEY_i: N…},
///  gpus[{index, name, total, total_bytes, granules, counted, reason}]}
nlohmann::ordered_json to_json(const ray_node_resources& resources);

/// ray request --json: {fits, num_gpus, num_gpus_units, resources{KEY: N}, options, recommended, gpu_memory,
///  granule, recommended_bytes, gpu_memory_bytes, granule_bytes, key, granules}
nlohmann::ordered_json to_json(const ray_task_request& request);
// ---- Slurm (slurm_json.cpp) ----
/// {node, granule, granule_bytes, total_shards, gpus: [{index, name, device_file, usable, headroom, …, shards}],
/// gres_conf, slurm_conf}
nlohmann::ordered_json to_json(const gres_plan& plan);
/// {node, groups: [{type, gpus, shards, per_gpu}]}
nlohmann::ordered_json to_json(const node_shards& node);
/// {fits, node, type, best_gpu_shards, assumed_even, unequal, reason}
nlohmann::ordered_json to_json(const shard_check& check);

}  // namespace whisper_vram
