#pragma once
/// @file gpu_selection.hpp
/// Which GPUs a user means. Ids are NVML indices, UUIDs (or a unique prefix) and PCI bus ids.
///
/// CUDA_VISIBLE_DEVICES: when set, CUDA programs (PyTorch…) see only the listed GPUs, renumbered
/// from 0 in the listed order. visible_gpus() applies the same filter to a snapshot, so an index
/// id means what a PyTorch user means by it ("cuda:0" = the first visible GPU). Entries may be
/// indices, UUIDs with their "GPU-" prefix (a unique prefix is enough) or MIG UUIDs ("MIG-…", which
/// select the parent GPU here); PCI bus ids are not CUDA_VISIBLE_DEVICES entries. Like CUDA,
/// parsing stops at the first entry that is invalid: matching nothing, ambiguous, listed twice. CUDA's default
/// CUDA_DEVICE_ORDER is FASTEST_FIRST, which is not NVML's PCI-bus order; indices in CUDA_VISIBLE_DEVICES are
/// interpreted in NVML (PCI bus) order, which is exact with CUDA_DEVICE_ORDER=PCI_BUS_ID and on machines with one GPU
/// model.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {

/// A GPU as CUDA programs number it, with its NVML record.
struct visible_gpu {
    unsigned cuda_index = 0;  ///< index a CUDA program uses (after CUDA_VISIBLE_DEVICES)
    gpu_device device;        ///< device.index stays the NVML index
};

/// The snapshot's GPUs in CUDA's numbering. @p cuda_visible_devices is the variable's value
/// (nullopt = unset: every GPU, cuda_index = NVML index; "" = none visible).
std::vector<visible_gpu> visible_gpus(const gpu_snapshot& snapshot,
                                      const std::optional<std::string>& cuda_visible_devices);

/// Selects GPUs by comma-separated ids ("0,1", "GPU-8a3f", "8a3f", "00000000:65:00.0"); an empty
/// @p ids selects every visible GPU. Index ids are CUDA indices (see visible_gpus()); an all-digit
/// id is always an index. UUIDs may be given as a unique prefix with or without "GPU-"; PCI bus ids
/// as "[domain:]bus:device.function" in hex, with NVML's 8-digit or the usual 4-digit domain,
/// compared as numbers. A GPU given twice is selected once.
/// @throws usage_error for an id that matches nothing or several GPUs, naming the GPUs there are.
std::vector<visible_gpu> select_gpus(const std::vector<visible_gpu>& visible, std::string_view ids);

}  // namespace whisper_vram
