#pragma once
/// @file json.hpp
/// JSON forms of the result types, with the stable keys the CLI's --json and the Python module
/// share. Memory in GiB floats (unrounded) plus `_bytes` integers.

#include <nlohmann/json.hpp>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram {

/// {model, precision, segment_duration, batch_size, unit:"GiB", engine, margin,
///  breakdown{…in order…}, breakdown_bytes{…}, total_required, recommended,
///  total_required_bytes, recommended_bytes, notes[, host_bytes, beam_size…]}
nlohmann::ordered_json to_json(const memory_estimate& estimate);

/// {index, name, uuid, pci_bus_id, total, used, free, total_bytes, used_bytes, free_bytes, …}
nlohmann::ordered_json to_json(const gpu_device& gpu);

/// {cuda_index, index, name, …}: to_json(gpu_device) preceded by the CUDA index (index stays NVML's).
nlohmann::ordered_json to_json(const visible_gpu& gpu);

/// {source, gpus:[…]} (+ reason when unavailable)
nlohmann::ordered_json to_json(const gpu_snapshot& snapshot);

}  // namespace whisper_vram
