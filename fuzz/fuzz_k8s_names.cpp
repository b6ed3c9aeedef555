// The Kubernetes names whisper-vram takes from a user (planner/kubernetes.hpp): --resource, --node,
// --flavor, and the object names it makes from a model name. Any text: usage_error or accepted, and
// what is accepted is safe where it goes — a resource name has exactly one '/', only characters
// that are plain YAML scalars, and its JSON Pointer token has no '/' left; a node name is lower
// case; a made object name is always a valid name.

#include <string>

#include "harness.hpp"
#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram::fuzz {

void fuzz_k8s_names(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    if (expected_outcome([&] { validate_k8s_resource_name(text, "--resource"); })) {
        require(text.find('/') != std::string_view::npos && text.find('/') == text.rfind('/'),
                "a resource name without exactly one '/' accepted");
        require(text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") ==
                    std::string_view::npos,
                "a resource name with a character YAML would need quoted");
        require(json_pointer_escape(text).find('/') == std::string::npos, "a '/' left in the JSON Pointer token");
        require(!text.starts_with("kubernetes.io/"), "a kubernetes.io resource accepted");
    }
    if (expected_outcome([&] { validate_k8s_node_name(text, "--node"); })) {
        require(!text.empty() && text.size() <= 253, "a node name of a bad length accepted");
        require(text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string_view::npos,
                "a node name with a character outside [a-z0-9-.] accepted");
    }
    k8s_flavor flavor{};
    if (expected_outcome([&] { flavor = parse_k8s_flavor(text); }))
        require(to_string(flavor) == text, "a flavor alias");
    const std::string name = k8s_object_name(text);
    require(expected_outcome([&] { validate_k8s_node_name(name, "name"); }), "k8s_object_name made an invalid name");
    require(name.size() <= 63, "k8s_object_name longer than 63");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("k8s_names", fuzz_k8s_names)
