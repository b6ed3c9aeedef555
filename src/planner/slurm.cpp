// Slurm shard GRES sizing, gres.conf / scontrol parsers and the shard check (see slurm.hpp). Pure.

#include "whisper_vram/planner/slurm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

using detail::to_lower;
using detail::trim;

// Longest text quoted in an error message (parsers see whole files).
constexpr std::size_t max_quoted = 120;

std::string quoted(std::string_view text) {
    if (text.size() > max_quoted) return escape_for_terminal(text.substr(0, max_quoted)) + "...";
    return escape_for_terminal(text);
}

// A whole decimal number, no sign, no junk; nullopt otherwise (or on overflow).
std::optional<std::uint64_t> parse_whole(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// A Slurm count: a whole number with an optional K M G T P suffix (×1024ⁿ; slurm.conf(5), gres.conf(5)).
std::optional<std::uint64_t> parse_count(std::string_view text) {
    unsigned shift = 0;
    if (!text.empty()) {
        constexpr std::string_view suffixes = "KMGTP";
        const auto pos = suffixes.find(static_cast<char>(text.back() & ~0x20));
        if (pos != std::string_view::npos && (text.back() < '0' || text.back() > '9')) {
            shift = 10 * static_cast<unsigned>(pos + 1);
            text.remove_suffix(1);
        }
    }
    const auto value = parse_whole(text);
    if (!value) return std::nullopt;
    if (shift != 0 && *value > (std::numeric_limits<std::uint64_t>::max() >> shift)) return std::nullopt;
    return *value << shift;
}

std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
    if (a > std::numeric_limits<std::uint64_t>::max() - b) return std::nullopt;
    return a + b;
}

// Expands one bracket range of a device path: "/dev/nvidia[0-2,5]" → 0,1,2,5; no brackets → itself.
std::vector<std::string> expand_files(std::string_view text, std::string_view line) {
    const auto open = text.find('[');
    if (open == std::string_view::npos) return {std::string(text)};
    const auto close = text.find(']', open);
    const auto bad = [&](std::string_view why) {
        return usage_error(fmt::format("gres.conf: File={} in line '{}' {}; use e.g. /dev/nvidia[0-3]", quoted(text),
                                       quoted(line), why));
    };
    if (close == std::string_view::npos) throw bad("has no closing ']'");
    const std::string prefix(text.substr(0, open));
    const std::string suffix(text.substr(close + 1));
    constexpr std::uint64_t max_files = 1024;  // more devices than any node has: a typo
    std::vector<std::string> files;
    for (const auto item : detail::split(text.substr(open + 1, close - open - 1), ',')) {
        const auto dash = item.find('-');
        const auto first = parse_whole(item.substr(0, dash));
        const auto last = dash == std::string_view::npos ? first : parse_whole(item.substr(dash + 1));
        if (!first || !last || *last < *first) throw bad(fmt::format("has a bad range '{}'", quoted(item)));
        if (*last - *first >= max_files || files.size() + (*last - *first) >= max_files) {
            throw bad(fmt::format("names more than {} devices", max_files));
        }
        const std::size_t width = dash == std::string_view::npos ? item.size() : dash;  // keeps zero padding
        for (std::uint64_t i = *first; i <= *last; ++i) {
            files.push_back(fmt::format("{}{:0{}}{}", prefix, i, width, suffix));
        }
    }
    return files;
}

// Splits at commas outside parentheses: "gpu:a100:2(S:0,1),shard:a100:60" → 2 items.
std::vector<std::string_view> split_top_level(std::string_view text) {
    std::vector<std::string_view> items;
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '(') ++depth;
        if (text[i] == ')' && depth > 0) --depth;
        if (text[i] == ',' && depth == 0) {
            items.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    items.push_back(text.substr(start));
    return items;
}

// Words separated by blanks (space, tab, CR).
std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

node_shard_group& group_of(node_shards& node, const std::string& type) {
    for (auto& g : node.groups) {
        if (g.type == type) return g;
    }
    node.groups.push_back(node_shard_group{type, 0, 0, {}});
    return node.groups.back();
}

node_shards& node_of(std::vector<node_shards>& nodes, const std::string& name) {
    for (auto& n : nodes) {
        if (n.node == name) return n;
    }
    nodes.push_back(node_shards{name, {}});
    return nodes.back();
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

}  // namespace

std::uint64_t parse_shard_granule(std::string_view text, std::string_view what) {
    const std::uint64_t bytes = parse_size_bytes(text, what);
    if (bytes == 0) {
        throw usage_error(fmt::format(
            "{} '{}' is 0 bytes: a shard granule must be at least 1 byte, e.g. 1GiB or 512MiB", what, quoted(text)));
    }
    return bytes;
}

std::uint64_t shards_per_gpu(std::uint64_t usable, std::uint64_t headroom, std::uint64_t granule) {
    if (granule == 0) throw usage_error("the shard granule is 0 bytes: give a granule of at least 1 byte, e.g. 1GiB");
    if (headroom >= usable) {
        throw usage_error(
            fmt::format("--headroom {} ({} bytes) is not below the GPU's memory {} ({} bytes): give a "
                        "smaller headroom",
                        format_gib(headroom), headroom, format_gib(usable), usable));
    }
    return (usable - headroom) / granule;
}

std::uint64_t shards_for_bytes(std::uint64_t bytes, std::uint64_t granule) {
    if (granule == 0) throw usage_error("the shard granule is 0 bytes: give a granule of at least 1 byte, e.g. 1GiB");
    return std::max<std::uint64_t>(1, ceil_div(bytes, granule));  // ceil without bytes + granule − 1 overflowing
}

gres_plan plan_gres(std::string node, const std::vector<shard_gpu_input>& gpus, std::uint64_t granule) {
    if (trim(node).empty() || node.find_first_of(" \t\n=,") != std::string::npos) {
        throw usage_error(fmt::format(
            "--node '{}' is not a Slurm node name: give the NodeName of slurm.conf, e.g. gpu01", quoted(node)));
    }
    if (gpus.empty()) throw usage_error("no GPU to write shards for: the probe found no usable GPU");
    if (granule == 0) throw usage_error("the shard granule is 0 bytes: give a granule of at least 1 byte, e.g. 1GiB");
    gres_plan plan;
    plan.node = std::move(node);
    plan.granule_bytes = granule;
    for (const auto& g : gpus) {
        shard_gpu s;
        s.index = g.index;
        s.name = g.name;
        s.device_file = fmt::format("/dev/nvidia{}", g.index);
        s.usable_bytes = g.usable_bytes;
        s.headroom_bytes = g.headroom_bytes;
        try {
            s.shards = shards_per_gpu(g.usable_bytes, g.headroom_bytes, granule);
        } catch (const usage_error& e) {
            throw usage_error(fmt::format("GPU {} ({}): {}", g.index, quoted(g.name), e.what()));
        }
        if (s.shards == 0) {
            throw usage_error(
                fmt::format("GPU {} ({}): {} minus headroom {} holds no shard of {}: give a smaller "
                            "--granule or --headroom",
                            g.index, quoted(g.name), format_gib(g.usable_bytes), format_gib(g.headroom_bytes),
                            format_gib(granule)));
        }
        const auto sum = checked_add(plan.total_shards, s.shards);
        if (!sum) throw usage_error("the GPUs' shards add up to more than 2^64: give a larger --granule");
        plan.total_shards = *sum;
        plan.gpus.push_back(std::move(s));
    }
    return plan;
}

std::string gres_conf_text(const gres_plan& plan) {
    std::string text = fmt::format(
        "# gres.conf for node {}: {} GPU(s), shard granule {} ({} bytes); shards per GPU = floor((usable - "
        "headroom) / granule)\n",
        plan.node, plan.gpus.size(), format_gib(plan.granule_bytes), plan.granule_bytes);
    for (const auto& g : plan.gpus) {
        text += fmt::format("# GPU {} {}: usable {} - headroom {} = {} shards ({} of GPU memory)\n", g.index,
                            g.name.empty() ? "?" : g.name, format_gib(g.usable_bytes), format_gib(g.headroom_bytes),
                            g.shards, format_gib(g.shards * plan.granule_bytes));
    }
    text += "# File= is /dev/nvidia<NVML index>: check it against the device minor (nvidia-smi -q | grep Minor)\n";
    const auto [low, high] = std::minmax_element(
        plan.gpus.begin(), plan.gpus.end(), [](const shard_gpu& a, const shard_gpu& b) { return a.shards < b.shards; });
    if (low != plan.gpus.end() && low->shards != high->shards) {
        text += fmt::format(
            "# WARNING: unequal shard counts ({} to {}). slurmctld 22.05.8 was seen to spread a node's shards evenly "
            "over its GPUs\n# whatever Count= says here; keep GPUs of one size per node, or give every GPU {} "
            "shards.\n",
            low->shards, high->shards, low->shards);
    }
    for (const auto& g : plan.gpus) text += fmt::format("Name=gpu File={}\n", g.device_file);
    for (const auto& g : plan.gpus) text += fmt::format("Name=shard Count={} File={}\n", g.shards, g.device_file);
    return text;
}

std::string slurm_conf_text(const gres_plan& plan) {
    return fmt::format(
        "# slurm.conf for node {}: {} shard(s) of {} in all (add your CPUs=, RealMemory=... to the NodeName line)\n"
        "GresTypes=gpu,shard\n"
        "NodeName={} Gres=gpu:{},shard:{}\n",
        plan.node, plan.total_shards, format_gib(plan.granule_bytes), plan.node, plan.gpus.size(), plan.total_shards);
}

std::vector<node_shards> parse_gres_conf(std::string_view text) {
    std::vector<node_shards> nodes;
    for (auto raw : detail::split(text, '\n')) {
        std::string_view line = raw;
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        std::string name;
        std::string type;
        std::string node;
        std::optional<std::uint64_t> count;
        std::vector<std::string> files;
        bool autodetect_only = true;
        for (const auto word : words(line)) {
            const auto eq = word.find('=');
            if (eq == std::string_view::npos) {
                throw usage_error(
                    fmt::format("gres.conf: '{}' in line '{}' is not KEY=VALUE (e.g. Name=shard Count=10 "
                                "File=/dev/nvidia0)",
                                quoted(word), quoted(line)));
            }
            const std::string key = to_lower(word.substr(0, eq));
            const std::string_view value = word.substr(eq + 1);
            if (key != "autodetect") autodetect_only = false;
            if (key == "name") {
                name = to_lower(value);
            } else if (key == "type") {
                type = std::string(value);
            } else if (key == "nodename") {
                node = std::string(value);
            } else if (key == "count") {
                count = parse_count(value);
                if (!count) {
                    throw usage_error(
                        fmt::format("gres.conf: Count={} in line '{}' is not a whole number (optionally "
                                    "with K, M, G, T or P)",
                                    quoted(value), quoted(line)));
                }
            } else if (key == "file" || key == "files") {
                files = expand_files(value, line);
            }
        }
        if (autodetect_only) continue;  // AutoDetect=nvml: nothing we can count
        if (name.empty()) {
            throw usage_error(fmt::format(
                "gres.conf: line '{}' has no Name= (e.g. Name=shard Count=10 File=/dev/nvidia0)", quoted(line)));
        }
        if (name != "gpu" && name != "shard") continue;
        auto& group = group_of(node_of(nodes, node), type);
        if (name == "gpu") {
            const std::uint64_t n = files.empty() ? count.value_or(1) : files.size();
            const auto sum = checked_add(group.gpus, n);
            if (!sum) throw usage_error(fmt::format("gres.conf: line '{}' overflows the GPU count", quoted(line)));
            group.gpus = *sum;
            continue;
        }
        const std::uint64_t shards = count.value_or(1);  // gres.conf(5): Count defaults to 1
        const auto sum = checked_add(group.shards, shards);
        if (!sum) throw usage_error(fmt::format("gres.conf: line '{}' overflows the shard count", quoted(line)));
        group.shards = *sum;
        if (files.empty()) continue;  // node total only: where the shards sit is not said
        // Slurm spreads a shard Count over the listed files evenly; the remainder to the first ones.
        for (std::size_t i = 0; i < files.size(); ++i) {
            group.per_gpu.push_back(shards / files.size() + (i < shards % files.size() ? 1 : 0));
        }
    }
    return nodes;
}

std::vector<node_shards> parse_scontrol_nodes(std::string_view text) {
    std::vector<node_shards> nodes;
    node_shards* current = nullptr;
    for (const auto line : detail::split(text, '\n')) {
        for (const auto word : words(line)) {
            if (word.starts_with("NodeName=")) {
                nodes.push_back(node_shards{std::string(word.substr(9)), {}});
                current = &nodes.back();
                continue;
            }
            if (current == nullptr || !word.starts_with("Gres=")) continue;
            const std::string_view gres = word.substr(5);
            if (gres.empty() || gres == "(null)") continue;
            for (auto item : split_top_level(gres)) {
                if (const auto paren = item.find('('); paren != std::string_view::npos) item = item.substr(0, paren);
                const auto fields = detail::split(item, ':');
                const auto bad = [&] {
                    return usage_error(
                        fmt::format("scontrol output: node {} has Gres item '{}', not NAME[:TYPE]:COUNT "
                                    "(e.g. gpu:2 or shard:a100:60)",
                                    quoted(current->node), quoted(item)));
                };
                if (fields.size() < 2 || fields.size() > 3) throw bad();
                const auto count = parse_count(fields.back());
                if (!count) throw bad();
                const std::string name = to_lower(fields.front());
                if (name != "gpu" && name != "shard") continue;
                const std::string type = fields.size() == 3 ? std::string(fields[1]) : std::string();
                auto& group = group_of(*current, type == "(null)" ? std::string() : type);
                auto& field = name == "gpu" ? group.gpus : group.shards;
                const auto sum = checked_add(field, *count);
                if (!sum) throw bad();
                field = *sum;
            }
        }
    }
    return nodes;
}

shard_check check_shards(const std::vector<node_shards>& nodes, std::uint64_t shards) {
    shard_check best;
    bool any = false;
    for (const auto& node : nodes) {
        for (const auto& group : node.groups) {
            if (group.shards == 0) continue;
            std::uint64_t most = 0;
            bool assumed = false;
            bool unequal = false;
            if (!group.per_gpu.empty()) {
                const auto [low, high] = std::minmax_element(group.per_gpu.begin(), group.per_gpu.end());
                most = *high;
                unequal = *low != *high;
            } else {
                most = ceil_div(group.shards, std::max<std::uint64_t>(group.gpus, 1));
                assumed = group.gpus > 1;
            }
            const bool fits = most >= shards;
            if (!any || (fits && !best.fits) || (fits == best.fits && most > best.best_gpu_shards)) {
                best.fits = fits;
                best.node = node.node;
                best.type = group.type;
                best.best_gpu_shards = most;
                best.assumed_even = assumed;
                best.unequal = unequal;
                any = true;
            }
        }
    }
    const std::string where = best.node.empty() ? std::string("this node") : fmt::format("node {}", quoted(best.node));
    const std::string type = best.type.empty() ? std::string() : fmt::format(" (type {})", quoted(best.type));
    std::string assumption =
        best.assumed_even ? " (per-GPU counts not listed: shards assumed spread evenly over the GPUs)" : "";
    if (best.unequal) {
        assumption +=
            "; note: the GPUs there have unequal shard counts, and slurmctld 22.05 spreads a node's shards evenly "
            "over its GPUs, so a job may land on a GPU with fewer shards than it asked for";
    }
    if (!any) {
        best.reason = fmt::format("no node has shard GRES: {} shard(s) can never be allocated", shards);
    } else if (best.fits) {
        best.reason = fmt::format("fits: one GPU of {}{} has {} shard(s), {} needed{}", where, type,
                                  best.best_gpu_shards, shards, assumption);
    } else {
        best.reason = fmt::format(
            "does not fit: the job needs {} shard(s) on one GPU, the most any single GPU has is {} ({}{}){}; Slurm "
            "would accept the job and leave it pending forever",
            shards, best.best_gpu_shards, where, type, assumption);
    }
    return best;
}

std::optional<slurm_job_cap> job_cap_from_slurm(const std::optional<std::string>& job_id,
                                                const std::optional<std::string>& shards_on_node,
                                                std::uint64_t granule) {
    if (!job_id || job_id->empty() || !shards_on_node || shards_on_node->empty()) return std::nullopt;
    if (granule == 0) throw usage_error("the shard granule is 0 bytes: give a granule of at least 1 byte, e.g. 1GiB");
    const auto shards = parse_whole(trim(*shards_on_node));
    if (!shards) {
        throw usage_error(fmt::format("SLURM_SHARDS_ON_NODE='{}' (Slurm job {}) is not a whole number of shards",
                                      quoted(*shards_on_node), quoted(*job_id)));
    }
    if (*shards > std::numeric_limits<std::uint64_t>::max() / granule) {
        throw usage_error(fmt::format("SLURM_SHARDS_ON_NODE={} x granule {} bytes overflows", *shards, granule));
    }
    return slurm_job_cap{*shards * granule, fmt::format("Slurm job {}'s shards (SLURM_SHARDS_ON_NODE={} x {})",
                                                        quoted(*job_id), *shards, format_gib(granule))};
}

}  // namespace whisper_vram
