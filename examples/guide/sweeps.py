# The guide's "Reduce memory use" comparisons, unchanged except the import line.
from whisper_vram import gpu_manager

for d in [30, 60, 120, 300, 600]:
    print(d, gpu_manager.calculate_memory_usage("medium", segment_duration=d)['recommended'])

for p in ["float32", "float16", "int8", "int4"]:
    print(p, gpu_manager.calculate_memory_usage("large", precision=p)['recommended'])
