# The guide's "Usage" section, unchanged except the import line.
# Run on a simulated GPU:  WHISPER_VRAM_SIMULATE=8GiB python3 examples/guide/usage.py
from whisper_vram import gpu_manager

# 1. basic: memory needed by the medium model
result = gpu_manager.calculate_memory_usage("medium")
print(f"total: {result['total_required']:.2f}GB")
print(f"recommended: {result['recommended']:.2f}GB")

# 2. custom: large model, 600 s segments, batch 2, int8
result = gpu_manager.calculate_memory_usage(
    model_name="large", segment_duration=600, batch_size=2, precision="int8")
for component, memory in result['breakdown'].items():
    print(f"{component}: {memory:.2f}GB")

# 3. is the GPU memory sufficient?
result = gpu_manager.check_gpu_memory_sufficient(
    model_name="medium", gpu_ids=[0], segment_duration=300, batch_size=1, precision="float16")
if result['sufficient']:
    print("enough memory")
else:
    print(f"not enough: {result['message']}")
    for tip in result['optimization_suggestions']:
        print(f"  • {tip}")
