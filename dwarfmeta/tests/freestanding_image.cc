// Compiled freestanding (no libc, no C++ library, no exceptions) by a genrule to
// prove image.h is usable from the agent: the object must have no undefined symbols.
#include "dwarfmeta/image.h"

extern "C" long ttst_image_probe(const void* data, unsigned long size, unsigned long ret) {
  ttst::dwarfmeta::image::View v;
  const char* why = nullptr;
  if (!ttst::dwarfmeta::image::View::open(data, size, &v, &why)) return -1;
  long n = 0;
  if (const auto* g = v.global("var")) n += static_cast<long>(v.type(v.strip(g->type)).size);
  if (const auto* f = v.function("main")) n += static_cast<long>(f->high - f->low);
  if (const auto* s = v.alloc_site(ret)) n += s->ordinal;
  if (const auto* f = v.function_containing(ret)) n += static_cast<long>(f->low != 0);
  return n;
}
