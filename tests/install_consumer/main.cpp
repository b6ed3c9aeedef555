// Consumes the installed whisper_vram package: the guide's medium example.
#include <cstdio>

#include <whisper_vram/facade/gpu_manager.hpp>

int main() {
    const whisper_vram::gpu_manager manager(whisper_vram::make_simulated_probe("8GiB"));
    const auto result = manager.calculate_memory_usage("medium");
    std::printf("%g %g\n", result.total_required_gib, result.recommended_gib);
    return 0;
}
