#pragma once
/// @file slurm.hpp
/// Slurm's `shard` GRES (Slurm ≥ 22.05) sized by GPU memory: one shard = one granule of GPU memory
/// (1 GiB by default). Pure: the gres.conf / slurm.conf lines for a node's GPUs, the shard count a
/// job asks for, parsers for a gres.conf and for `scontrol show node` output, the check "does some
/// single GPU have K shards", and the cap a job's shards put on its reservations.
///
///     shards per GPU = floor((usable − headroom) / granule)    (never more than the GPU holds)
///     shards a job asks for K = ceil(recommended / granule)     (never less than the job needs)
///
/// Slurm places a shard job on one GPU with K free shards, but it does not fence memory: a job
/// that allocates more than its shards still can. whisper-vram's node-local admission (`run`,
/// reserve) stays the last line of defence, and inside a job it caps reservations at K × granule.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace whisper_vram {

/// The default shard granule: 1 GiB (the choice: whole GiB are what estimates print).
inline constexpr std::uint64_t default_shard_granule_bytes = std::uint64_t{1} << 30;

/// One GPU a gres.conf is written for.
struct shard_gpu_input {
    unsigned index = 0;                ///< NVML index: the device file is /dev/nvidia<index>
    std::string name;                  ///< as the probe names it (for the comment)
    std::uint64_t usable_bytes = 0;    ///< the GPU's total memory as NVML (or the simulation) reports it
    std::uint64_t headroom_bytes = 0;  ///< kept out of the shards (other programs, the driver)
};

/// One GPU's shards in a gres plan.
struct shard_gpu {
    unsigned index = 0;
    std::string name;
    std::string device_file;  ///< "/dev/nvidia<index>"
    std::uint64_t usable_bytes = 0;
    std::uint64_t headroom_bytes = 0;
    std::uint64_t shards = 0;  ///< floor((usable − headroom) / granule)
};

/// The gres.conf / slurm.conf configuration of one node.
struct gres_plan {
    std::string node;  ///< NodeName in slurm.conf
    std::uint64_t granule_bytes = default_shard_granule_bytes;
    std::vector<shard_gpu> gpus;
    std::uint64_t total_shards = 0;  ///< Σ shards (slurm.conf `shard:SUM`)
};

/// Parses a shard granule (a size, see parse_size_bytes(); a bare number is GiB).
/// @throws usage_error naming @p what and the text when it is not a size or is 0 bytes.
[[nodiscard]] std::uint64_t parse_shard_granule(std::string_view text, std::string_view what = "--granule");

/// floor((usable − headroom) / granule).
/// @throws usage_error when @p granule is 0 or @p headroom ≥ @p usable (naming both sizes).
[[nodiscard]] std::uint64_t shards_per_gpu(std::uint64_t usable, std::uint64_t headroom, std::uint64_t granule);

/// The shards a job of @p bytes asks for: ceil(bytes / granule), at least 1 (checked arithmetic).
/// @throws usage_error when @p granule is 0.
[[nodiscard]] std::uint64_t shards_for_bytes(std::uint64_t bytes, std::uint64_t granule);

/// The plan for @p gpus on node @p node.
/// @throws usage_error for an empty node name, no GPUs, a 0 granule or a GPU whose headroom is
///         not below its memory (naming the GPU).
[[nodiscard]] gres_plan plan_gres(std::string node, const std::vector<shard_gpu_input>& gpus, std::uint64_t granule);

/// gres.conf text: a comment with the granule, headroom and formula, then `Name=gpu File=…` per GPU
/// and `Name=shard Count=K File=…` per GPU.
[[nodiscard]] std::string gres_conf_text(const gres_plan& plan);

/// slurm.conf lines: `GresTypes=gpu,shard` and `NodeName=<node> Gres=gpu:N,shard:SUM`, with a comment.
[[nodiscard]] std::string slurm_conf_text(const gres_plan& plan);

/// The shards of one group of GPUs of a node, as a gres.conf or `scontrol show node` describes them.
struct node_shard_group {
    std::string type;          ///< GRES type ("a100"), empty when untyped
    std::uint64_t gpus = 0;    ///< GPUs in the group (0 when the source lists no `gpu` GRES for it)
    std::uint64_t shards = 0;  ///< Σ shards in the group
    /// Shards per GPU when the source says (a gres.conf with File= per device); empty when only the
    /// group's total is known (`scontrol show node` in 22.05 prints `shard:SUM` only).
    std::vector<std::uint64_t> per_gpu;
};

/// The shard GRES of one node.
struct node_shards {
    std::string node;  ///< NodeName (empty: a node-local gres.conf without NodeName=)
    std::vector<node_shard_group> groups;
};

/// Parses a gres.conf: `Name=`, `Type=`, `Count=` (suffixes K M G T P = ×1024ⁿ, as Slurm reads
/// them), `File=` (with [0-3,5] ranges) and `NodeName=`, case-insensitive keys, `#` comments;
/// other keys (Cores=, Flags=, Links=…) and AutoDetect= lines are ignored. A shard line with
/// several files splits its Count evenly across them (what Slurm does); one without File= adds
/// to the group total only.
/// @throws usage_error naming the line for a line without Name=, a bad Count= or a bad File= range.
[[nodiscard]] std::vector<node_shards> parse_gres_conf(std::string_view text);

/// Parses `scontrol show node` output (multi-line or `-o` one line per node): each `NodeName=`
/// starts a node, its `Gres=` (e.g. `gpu:2,shard:30`, `gpu:a100:2(S:0-1),shard:a100:60(S:0-1)`,
/// `(null)`) gives the groups. Per-GPU shard counts are not in this output (Slurm 22.05).
/// @throws usage_error naming the node for a malformed Gres= item.
[[nodiscard]] std::vector<node_shards> parse_scontrol_nodes(std::string_view text);

/// Whether some single GPU has @p shards shards.
struct shard_check {
    bool fits = false;
    std::string node;  ///< where it fits (or the best candidate)
    std::string type;
    std::uint64_t best_gpu_shards = 0;  ///< the most shards one GPU has (or is assumed to have) there
    bool assumed_even = false;          ///< per-GPU counts were not known: an even spread was assumed
    bool unequal = false;               ///< the GPUs there have unequal counts (Slurm 22.05 spreads evenly)
    std::string reason;                 ///< one line for people
};

/// Checks @p shards against @p nodes. Per GPU: the gres.conf's counts when known, else
/// ceil(group shards / group GPUs) — an even spread (what `slurm gres-conf` writes for identical
/// GPUs); the assumption is named in the reason.
[[nodiscard]] shard_check check_shards(const std::vector<node_shards>& nodes, std::uint64_t shards);

/// The cap a Slurm job's shards put on its GPU reservations.
struct slurm_job_cap {
    std::uint64_t bytes = 0;  ///< SLURM_SHARDS_ON_NODE × granule
    std::string source;       ///< "this Slurm job's shards (SLURM_SHARDS_ON_NODE=10 x 1.00 GiB)"
};

/// SLURM_SHARDS_ON_NODE × @p granule; nullopt outside a job (@p job_id unset or empty) or in a job
/// without shards (@p shards_on_node unset or empty).
/// @throws usage_error naming SLURM_SHARDS_ON_NODE when it is not a whole number, and for a 0 granule
///         or an overflowing product.
[[nodiscard]] std::optional<slurm_job_cap> job_cap_from_slurm(const std::optional<std::string>& job_id,
                                                              const std::optional<std::string>& shards_on_node,
                                                              std::uint64_t granule);

}  // namespace whisper_vram
