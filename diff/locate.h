// locate.h — find the differing bytes of two equal-length buffers, fast when they
// are equal: memcmp per 4 KiB block, word-level scan only inside blocks that differ.
// Why: the inner loop of the differ, kept separate so it can be tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace ttst::diff {

// Calls `emit(offset, length)` for each maximal run of differing 8-byte words of
// a and b (n a multiple of 8), trimmed to its first and last differing byte, in
// increasing order. Runs never cross a 4 KiB boundary of the buffers.
void locate(const uint8_t* a, const uint8_t* b, size_t n,
            const std::function<void(size_t off, size_t len)>& emit);

}  // namespace ttst::diff
