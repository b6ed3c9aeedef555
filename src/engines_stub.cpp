// Placeholder until the engine-aware estimators land: only the guide formula exists.
#include <fmt/format.h>

#include "whisper_vram/error.hpp"
#include "whisper_vram/estimate.hpp"

namespace whisper_vram::detail {

memory_estimate estimate_engine(const estimate_request& request) {
    throw usage_error(fmt::format("unknown engine '{}': accepted: guide", request.engine));
}

}  // namespace whisper_vram::detail
