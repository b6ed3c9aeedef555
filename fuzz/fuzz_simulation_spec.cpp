// parse_simulation_spec (gpu/gpu_probe.hpp, WHISPER_VRAM_SIMULATE / --simulate) on any text:
// usage_error or GPUs, and every GPU it returns is consistent: numbered in order, memory > 0,
// used ≤ total, free = total - used, a unique UUID and PCI id.

#include <set>
#include <string>

#include "harness.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram::fuzz {

void fuzz_simulation_spec(const std::uint8_t* data, std::size_t size) {
    std::vector<gpu_device> gpus;
    if (!expected_outcome([&] { gpus = parse_simulation_spec(as_text(data, size)); })) return;
    require(!gpus.empty(), "a spec accepted with no GPU");
    std::set<std::string> uuids;
    std::set<std::string> pci_ids;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        const auto& g = gpus[i];
        require(g.index == i, "simulated GPUs not numbered in order");
        require(g.total_bytes > 0, "a simulated GPU without memory");
        require(g.used_bytes <= g.total_bytes, "used exceeds total");
        require(g.free_bytes == g.total_bytes - g.used_bytes, "free is not total - used");
        require(!g.name.empty(), "a simulated GPU without a name");
        require(uuids.insert(g.uuid).second, "two simulated GPUs share a UUID");
        require(pci_ids.insert(g.pci_bus_id).second, "two simulated GPUs share a PCI id");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("simulation_spec", fuzz_simulation_spec)
