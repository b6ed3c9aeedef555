# The guide's "Debug commands", unchanged except the import lines.
import json

from whisper_vram import gpu_manager

gpu_info = gpu_manager.get_cuda_debug_info()          # detailed GPU information
print(json.dumps(gpu_info, indent=2, ensure_ascii=False))
gpu_manager.release_all_memory()                      # force-release all GPU memory
memory_info = gpu_manager.get_gpu_memory_info()       # current usage
print(f"used: {memory_info['gpus'][0]['used']:.2f}GB")
print(f"free: {memory_info['gpus'][0]['free']:.2f}GB")
