// JSON forms of the Slurm shard types (slurm.hpp): `whisper-vram slurm … --json`.
#include <string>

#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

using json = nlohmann::ordered_json;

json to_json(const gres_plan& plan) {
    json j;
    j["node"] = plan.node;
    put_bytes(j, "granule", plan.granule_bytes);
    j["total_shards"] = plan.total_shards;
    json gpus = json::array();
    for (const auto& g : plan.gpus) {
        json item;
        item["index"] = g.index;
        item["name"] = g.name;
        item["device_file"] = g.device_file;
        put_bytes_grouped(item, {{"usable", g.usable_bytes}, {"headroom", g.headroom_bytes}});
        item["shards"] = g.shards;
        gpus.push_back(std::move(item));
    }
    j["gpus"] = std::move(gpus);
    j["gres_conf"] = gres_conf_text(plan);
    j["slurm_conf"] = slurm_conf_text(plan);
    return j;
}

json to_json(const node_shards& node) {
    json j;
    j["node"] = node.node;
    json groups = json::array();
    for (const auto& g : node.groups) {
        json item;
        item["type"] = g.type;
        item["gpus"] = g.gpus;
        item["shards"] = g.shards;
        item["per_gpu"] = g.per_gpu;
        groups.push_back(std::move(item));
    }
    j["groups"] = std::move(groups);
    return j;
}

json to_json(const shard_check& check) {
    json j;
    j["fits"] = check.fits;
    j["node"] = check.node;
    j["type"] = check.type;
    j["best_gpu_shards"] = check.best_gpu_shards;
    j["assumed_even"] = check.assumed_even;
    j["unequal"] = check.unequal;
    j["reason"] = check.reason;
    return j;
}

}  // namespace whisper_vram
