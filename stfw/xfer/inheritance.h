// inheritance.h — C inheritance by struct prefix: a "derived" struct whose layout
// begins with a "base" struct's (its first member is the base, or it repeats the
// base's members at the same offsets, as macros like lighttpd's DATA_UNSET do), so
// a `base *` to a derived object is a view of the same object, not a second type
// claiming it. And the most specific evidence of an object's type its allocation
// site gives: the function the site is in returns `derived *` (a constructor).
// Used by the typing (engine_pointers.cc). UNTRUSTED, freestanding.
#ifndef TTST_STFW_XFER_INHERITANCE_H
#define TTST_STFW_XFER_INHERITANCE_H

#include <stdint.h>

#include "dwarfmeta/image.h"

namespace ttst::stfw {

// True when struct `base`'s layout is a prefix of struct `derived`'s (both stripped
// TypeIds of `meta`; equal types count). Unions, arrays and scalars are never views.
bool layout_prefix(const dwarfmeta::image::View& meta, uint32_t base, uint32_t derived);

// The struct or union a site's function returns a pointer to (stripped TypeId), or
// 0 (unknown function, no pointer, void *: an allocation wrapper). The one
// "site's function returns T *" rule: the constructor evidence below and the
// return-type typing (engine_values.cc) both read it.
uint32_t site_returned_pointee(const dwarfmeta::image::View& meta, const dwarfmeta::image::ImageAllocSite& site);

// The struct a site's function returns a pointer to (stripped TypeId), or 0: the
// function is unknown, returns no pointer to a struct (an allocation wrapper returns
// void *), or its struct is smaller than `object_size` allows (not a whole number of
// them). `site_link` is the site's link-time return address.
uint32_t site_returned_struct(const dwarfmeta::image::View& meta, uint64_t site_link, uint64_t object_size);

}  // namespace ttst::stfw

#endif  // TTST_STFW_XFER_INHERITANCE_H
