#pragma once
// A fixed snapshot for the GPU selection harnesses: four GPUs whose UUIDs share prefixes, PCI ids
// with 8- and 4-digit domains, and one GPU with MIG devices.

#include <string>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram::fuzz {

inline gpu_device fixture_gpu(unsigned index, std::string uuid, std::string pci) {
    gpu_device g;
    g.index = index;
    g.name = "NVIDIA GeForce RTX 3090";
    g.uuid = std::move(uuid);
    g.pci_bus_id = std::move(pci);
    g.total_bytes = 24ULL << 30U;
    g.free_bytes = g.total_bytes;
    return g;
}

/// The snapshot: GPU-8a3f…, GPU-8a3e…, GPU-b0…, GPU-c1… (with two MIG devices).
inline gpu_snapshot fixture_snapshot() {
    gpu_snapshot s;
    s.source = probe_source::simulated;
    s.gpus.push_back(fixture_gpu(0, "GPU-8a3f0c2e-1111-2222-3333-444455556666", "00000000:01:00.0"));
    s.gpus.push_back(fixture_gpu(1, "GPU-8a3e9d10-aaaa-bbbb-cccc-ddddeeeeffff", "00000000:65:00.0"));
    s.gpus.push_back(fixture_gpu(2, "GPU-b0000000-0000-0000-0000-000000000002", "0000:b3:00.1"));
    auto mig = fixture_gpu(3, "GPU-c1d2e3f4-5555-6666-7777-888899990000", "00000001:ca:1f.7");
    mig.mig_enabled = true;
    mig.mig_devices.push_back(mig_device{});
    mig.mig_devices.back().uuid = "MIG-11112222-3333-4444-5555-666677778888";
    mig.mig_devices.push_back(mig_device{});
    mig.mig_devices.back().uuid = "MIG-9999aaaa-bbbb-cccc-dddd-eeeeffff0000";
    s.gpus.push_back(std::move(mig));
    return s;
}

}  // namespace whisper_vram::fuzz
