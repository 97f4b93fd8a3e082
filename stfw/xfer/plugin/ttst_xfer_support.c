/* ttst_xfer_support.c — linked into every transfer plugin by `ttst-cc --xfer-plugin`:
 * the byte functions a C compiler may call on its own (struct copies, zeroing) in
 * freestanding code, which no libc provides inside the agent. UNTRUSTED plugin side. */
#include <stddef.h>

void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *dd = d;
  const unsigned char *ss = s;
  while (n--) *dd++ = *ss++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  unsigned char *dd = d;
  const unsigned char *ss = s;
  if (dd < ss)
    while (n--) *dd++ = *ss++;
  else
    while (n--) dd[n] = ss[n];
  return d;
}

void *memset(void *d, int c, size_t n) {
  unsigned char *dd = d;
  while (n--) *dd++ = (unsigned char)c;
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n--; ++x, ++y)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}
