// The estimate memo (serve_memo.hpp).

#include "serve_memo.hpp"

#include <algorithm>
#include <functional>
#include <utility>

namespace whisper_vram::cli {

answer_memo::answer_memo(std::size_t slot_count, clock_type::duration ttl)
    : ttl_(ttl), slots_(std::max<std::size_t>(slot_count, 1)) {}

std::size_t answer_memo::slot_of(std::string_view key) const noexcept {
    return std::hash<std::string_view>{}(key) % slots_.size();
}

std::shared_ptr<const api_response> answer_memo::find(std::string_view key, clock_type::time_point now) const {
    const std::size_t i = slot_of(key);
    const std::lock_guard lock(locks_[i % lock_count]);
    const slot& s = slots_[i];
    if (s.answer == nullptr || s.key != key || now - s.at >= ttl_) return nullptr;
    return s.answer;
}

void answer_memo::put(std::string key, std::shared_ptr<const api_response> answer, clock_type::time_point now) {
    const std::size_t i = slot_of(key);
    {
        const std::lock_guard lock(locks_[i % lock_count]);
        slot& s = slots_[i];
        s.key.swap(key);
        s.answer.swap(answer);
        s.at = now;
    }
    // key and answer now hold the slot's former ones: freed here, outside the lock.
}

}  // namespace whisper_vram::cli
