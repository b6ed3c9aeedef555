// parse_gres_conf (planner/slurm.hpp) on any text: only usage_error for bad input; what it returns
// is consistent (a group's per-GPU counts add up to no more than its shards), check_shards agrees
// with the counts, and a plan it writes parses back to the same per-GPU counts.

#include <algorithm>
#include <numeric>

#include "harness.hpp"
#include "whisper_vram/planner/slurm.hpp"

namespace whisper_vram::fuzz {

void fuzz_slurm_gres_conf(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    std::vector<node_shards> nodes;
    if (!expected_outcome([&] { nodes = parse_gres_conf(text); })) return;
    std::uint64_t most = 0;
    for (const auto& node : nodes) {
        for (const auto& group : node.groups) {
            std::uint64_t listed = 0;
            for (const auto n : group.per_gpu) {
                require(listed <= UINT64_MAX - n, "per-GPU counts overflow");
                listed += n;
            }
            require(listed <= group.shards, "per-GPU counts add up to more than the group's shards");
            if (!group.per_gpu.empty())
                most = std::max(most, *std::max_element(group.per_gpu.begin(), group.per_gpu.end()));
        }
    }
    if (most > 0 && most < UINT64_MAX) {
        // A listed per-GPU count is a lower bound of what check_shards finds.
        require(check_shards(nodes, most).fits, "check_shards refuses the largest listed per-GPU count");
    }
    // Round trip: a plan from the first bytes (sizes 1..256 GiB) parses back to its counts.
    if (size >= 2) {
        const std::uint64_t gib = std::uint64_t{1} << 30;
        std::vector<shard_gpu_input> gpus;
        for (std::size_t i = 0; i < std::min<std::size_t>(size, 8); ++i) {
            gpus.push_back({static_cast<unsigned>(i), "g", (std::uint64_t{data[i]} + 1) * gib, 0});
        }
        const gres_plan plan = plan_gres("n", gpus, gib);
        const auto back = parse_gres_conf(gres_conf_text(plan));
        require(back.size() == 1 && back[0].groups.size() == 1, "a written gres.conf parses to one group");
        require(back[0].groups[0].shards == plan.total_shards, "a written gres.conf loses shards");
        require(back[0].groups[0].gpus == plan.gpus.size(), "a written gres.conf loses GPUs");
        for (std::size_t i = 0; i < plan.gpus.size(); ++i) {
            require(back[0].groups[0].per_gpu[i] == plan.gpus[i].shards,
                    "a written per-GPU count reads back differently");
        }
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("slurm_gres_conf", fuzz_slurm_gres_conf)
