// JSON forms of the cluster results (planner/kubernetes.hpp, planner/ray.hpp): `k8s resources`,
// `k8s advertise`, `ray resources`, `ray request`.
#include "whisper_vram/json/json.hpp"

#include <string>

namespace whisper_vram {

using json = nlohmann::ordered_json;

json to_json(const k8s_resources& r) {
    json j;
    j["flavor"] = std::string(to_string(r.flavor));
    put_bytes_grouped(j, {{"recommended", r.recommended_bytes}, {"requested", r.requested_bytes}});
    if (r.flavor == k8s_flavor::dra) {
        j["resources"] = nullptr;
        json request = {{"name", "gpu"},
                        {"exactly",
                         {{"deviceClassName", r.device_class},
                          {"allocationMode", "ExactCount"},
                          {"count", 1},
                          {"capacity", {{"requests", {{"memory", r.memory_quantity}}}}}}}};
        j["resource_claim_template"] = {{"apiVersion", "resource.k8s.io/v1"},
                                        {"kind", "ResourceClaimTemplate"},
                                        {"metadata", {{"name", r.claim_name}}},
                                        {"spec", {{"spec", {{"devices", {{"requests", json::array({request})}}}}}}}};
    } else {
        json limits = json::object();
        for (const auto& [name, quantity] : r.limits) limits[name] = quantity;
        j["resources"] = {{"limits", limits}};
        j["resource_claim_template"] = nullptr;
    }
    j["notes"] = r.notes;
    return j;
}

json to_json(const k8s_node_capacity& c) {
    json j;
    j["resource"] = c.resource_name;
    j["value"] = std::to_string(c.total_mib);
    j["total_mib"] = c.total_mib;
    j["largest_gpu_mib"] = c.largest_gpu_mib;
    json gpus = json::array();
    for (const auto& g : c.gpus) {
        json gj;
        gj["index"] = g.index;
        gj["name"] = g.name;
        put_bytes(gj, "total", g.total_bytes);
        gj["mib"] = g.mib;
        gj["counted"] = g.counted;
        gj["reason"] = text_or_null(g.reason);
        gpus.push_back(std::move(gj));
    }
    j["gpus"] = std::move(gpus);
    return j;
}

json to_json(const ray_node_resources& r) {
    json j;
    put_bytes(j, "granule", r.granule_bytes);
    j["key"] = r.key;
    j["total_granules"] = r.total_granules;
    json resources;
    resources[r.key] = r.total_granules;
    json gpus = json::array();
    for (const auto& g : r.gpus) {
        if (g.counted) resources[r.key + "_" + std::to_string(g.index)] = g.granules;
        json gj;
        gj["index"] = g.index;
        gj["name"] = g.name;
        put_bytes(gj, "total", g.total_bytes);
        gj["granules"] = g.granules;
        gj["counted"] = g.counted;
        gj["reason"] = text_or_null(g.reason);
        gpus.push_back(std::move(gj));
    }
    j["resources"] = std::move(resources);
    j["gpus"] = std::move(gpus);
    return j;
}

json to_json(const ray_task_request& r) {
    json j;
    j["fits"] = r.fits();
    j["num_gpus"] = static_cast<double>(r.num_gpus_units) / static_cast<double>(ray_fraction_units);
    j["num_gpus_units"] = r.num_gpus_units;
    j["resources"] = {{r.key, r.granules}};
    j["options"] = ray_task_options(r);
    put_bytes_grouped(
        j, {{"recommended", r.recommended_bytes}, {"gpu_memory", r.gpu_bytes}, {"granule", r.granule_bytes}});
    j["key"] = r.key;
    j["granules"] = r.granules;
    return j;
}

}  // namespace whisper_vram
