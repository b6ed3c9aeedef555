# The guide's two concurrency helpers, unchanged except the import line. Note: the guide's
# can_run_concurrent_task counts running tasks twice (their memory is already missing from
# 'free'); gpu_manager.can_run_concurrent_task is the corrected version.
from whisper_vram import gpu_manager


def can_run_concurrent_task(model_name, current_tasks):
    """May a new concurrent task start?"""
    new_task_memory = gpu_manager.calculate_memory_usage(model_name)
    current_memory = sum(gpu_manager.calculate_memory_usage(task['model'])['recommended']
                         for task in current_tasks)
    gpu_info = gpu_manager.get_gpu_memory_info()
    available_memory = gpu_info['gpus'][0]['free']
    return (current_memory + new_task_memory['recommended']) <= available_memory


def assign_optimal_model(available_memory):
    """Pick the best model for the available memory."""
    for model in ["large", "medium", "small", "base", "tiny"]:
        if gpu_manager.calculate_memory_usage(model)['recommended'] <= available_memory:
            return model
    return "tiny"   # smallest model


if __name__ == "__main__":
    print("guide sample, no tasks running:", can_run_concurrent_task("medium", []))
    print("guide sample, one medium running:", can_run_concurrent_task("medium", [{"model": "medium"}]))
    print("best model for 8 GB:", assign_optimal_model(8))
    print("library, best model for 8 GB:", gpu_manager.assign_optimal_model(8))
