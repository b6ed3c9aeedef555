#pragma once
// The estimate memo of `whisper-vram serve`: the same request within a short time gets the same
// answer without a second run. Direct-mapped and lock-striped, so that a lookup or an insert holds
// one small lock for a compare or two pointer swaps, never the whole memo: no rehash, no mass free,
// no lock held while an answer is copied or freed (serve_http.cpp uses it; bench/serve_bench.cpp
// measures it).

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "serve_api.hpp"

namespace whisper_vram::cli {

/// A bounded, thread-safe memo of answers by request key. Each key has one slot (its hash modulo
/// the slot count): a newer key in the same slot replaces the older one, so memory is bounded by
/// the slot count and nothing is ever swept. An answer older than the TTL is not returned.
class answer_memo {
public:
    using clock_type = std::chrono::steady_clock;

    /// @p slot_count slots (at least 1), answers kept for @p ttl.
    answer_memo(std::size_t slot_count, clock_type::duration ttl);

    /// The answer put for @p key less than the TTL before @p now; null when none (never put, older,
    /// or replaced by another key of the same slot).
    [[nodiscard]] std::shared_ptr<const api_response> find(std::string_view key, clock_type::time_point now) const;

    /// Remembers @p answer for @p key as of @p now, replacing what the slot held (freed after the
    /// slot's lock is released).
    void put(std::string key, std::shared_ptr<const api_response> answer, clock_type::time_point now);

    /// The number of slots.
    [[nodiscard]] std::size_t slot_count() const noexcept { return slots_.size(); }

private:
    struct slot {
        std::string key;
        clock_type::time_point at;
        std::shared_ptr<const api_response> answer;
    };
    // Slot i is guarded by locks_[i % locks_.size()]: 64 locks, so two of the 128 workers rarely
    // wait on each other, and a worker preempted while holding one stalls 1/64 of the keys only.
    static constexpr std::size_t lock_count = 64;

    [[nodiscard]] std::size_t slot_of(std::string_view key) const noexcept;

    clock_type::duration ttl_;
    std::vector<slot> slots_;
    mutable std::array<std::mutex, lock_count> locks_;
};

}  // namespace whisper_vram::cli
