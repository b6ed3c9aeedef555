// parse_scontrol_nodes (planner/slurm.hpp) on any text: only usage_error for bad input; one node
// per NodeName= word; per-GPU counts are never invented (scontrol does not print them), and
// check_shards never says a count above every group's total fits.

#include <algorithm>

#include "harness.hpp"
#include "whisper_vram/planner/slurm.hpp"

namespace whisper_vram::fuzz {

void fuzz_slurm_scontrol(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    std::vector<node_shards> nodes;
    if (!expected_outcome([&] { nodes = parse_scontrol_nodes(text); })) return;
    std::uint64_t largest = 0;
    for (const auto& node : nodes) {
        for (const auto& group : node.groups) {
            require(group.per_gpu.empty(), "scontrol output gave per-GPU counts");
            largest = std::max(largest, group.shards);
        }
    }
    if (largest < UINT64_MAX) require(!check_shards(nodes, largest + 1).fits, "more shards than a node has fit");
    if (largest > 0) {
        const auto smallest_fit = check_shards(nodes, 1);
        require(smallest_fit.fits, "one shard does not fit on a node with shards");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("slurm_scontrol", fuzz_slurm_scontrol)
