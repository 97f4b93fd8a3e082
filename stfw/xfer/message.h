// message.h — lines of text written into a caller's fixed buffer: the engine's
// message and the agent tasks' output. Text, decimal and hexadecimal numbers; each
// line NUL-terminated, never past the buffer. Freestanding (UNTRUSTED agent code
// has no libc): the one writer of such lines in stfw.
#ifndef TTST_STFW_XFER_MESSAGE_H
#define TTST_STFW_XFER_MESSAGE_H

#include <stdint.h>

#include "stfw/xfer/decimal.h"

namespace ttst::stfw {

struct Message {
  char* buf;
  uint64_t size, used = 0;
  Message& text(const char* t) {
    while (t && *t && used + 1 < size) buf[used++] = *t++;
    if (used < size) buf[used] = 0;
    return *this;
  }
  Message& number(uint64_t v) {
    char digits[kDecimalDigitsMax];
    decimal_digits(v, digits);
    return text(digits);
  }
  Message& signed_number(int64_t v) { return v < 0 ? text("-").number(uint64_t(-(v + 1)) + 1) : number(uint64_t(v)); }
  Message& hex(uint64_t v) {
    char r[19] = "0x";
    int n = 0;
    uint64_t t = v;
    do ++n, t >>= 4;
    while (t);
    for (int k = 0; k < n; ++k) r[2 + k] = "0123456789abcdef"[(v >> (4 * (n - 1 - k))) & 15];
    r[2 + n] = 0;
    return text(r);
  }
  void end() {  // terminate the line: lines are NUL-separated
    if (used + 1 < size) buf[used++] = 0;
    if (used < size) buf[used] = 0;
  }
};

}  // namespace ttst::stfw

#endif
