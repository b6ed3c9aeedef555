// PCI bus ids as select_gpus (gpu/gpu_selection.hpp) reads them, on both sides: the input is
// "DEVICE_PCI_ID\nID", the first line becoming the PCI id NVML reports for GPU 0 of the fixture
// (outside input too: it comes from the driver), the rest the --gpus id list. usage_error or a
// selection with the properties of every selection; an id equal to GPU 0's well-formed
// 8-digit-domain PCI id selects GPU 0.

#include <string>

#include "gpu_fixture.hpp"
#include "harness.hpp"
#include "selection_checks.hpp"

namespace whisper_vram::fuzz {

void fuzz_pci_ids(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    const auto nl = text.find('\n');
    auto snapshot = fixture_snapshot();
    std::string_view ids = text;
    if (nl != std::string_view::npos) {
        snapshot.gpus[0].pci_bus_id = std::string(text.substr(0, nl));
        ids = text.substr(nl + 1);
    }
    const auto visible = visible_gpus(snapshot, std::nullopt);
    std::vector<visible_gpu> chosen;
    if (!expected_outcome([&] { chosen = select_gpus(visible, ids); })) return;
    require(!chosen.empty(), "an accepted id list selected nothing");
    require_subset_once(chosen, visible);
    // "0000000X:YY:ZZ.F" with X, Y, Z, F hex digits, used as the id: it is GPU 0's (unless another GPU has it too,
    // which select_gpus would have refused as ambiguous).
    const auto& own = snapshot.gpus[0].pci_bus_id;
    const bool well_formed = own.size() == 16 && own[8] == ':' && own[11] == ':' && own[14] == '.' &&
                             own.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
    if (well_formed && ids == own) {
        require(chosen.size() == 1 && chosen.front().device.index == 0, "GPU 0's own PCI id did not select it");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("pci_ids", fuzz_pci_ids)
