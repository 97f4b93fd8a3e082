// image.h — the flat metadata image: layout and a header-only, freestanding reader.
//
// A Program (model.h) serialised into one contiguous, position-independent block:
// every reference is an offset from the image start or an index into a table, so
// the image can be mapped anywhere (a file, the agent's private mapping) and read
// in place. The reader below needs no libc, never allocates, never throws, and
// validates everything (bounds, indices, strings, checksum) in View::open before
// any lookup, so a corrupt image is refused, never followed.
//
// Include with -ffreestanding: only <stdint.h> and <stddef.h> are used.
// Written by image_writer.h (ImageWriter / write_image); cached by cache.h.
//
// Layout (little-endian x86-64), each table 8-byte aligned:
//   ImageHeader
//   ImageType[type_count]              index = TypeId (0 = void)
//   ImageMember[member_count]          struct/union members, by type
//   ImageEnumerator[enumerator_count]
//   uint32_t params[param_count]       function type parameters (TypeIds)
//   ImageGlobal[global_count]          sorted by id (strcmp order)
//   ImageFunction[function_count]      sorted by low
//   uint32_t function_by_id[function_count]  indices sorted by function id
//   ImageAllocSite[site_count]         sorted by return_addr
//   ImageAnnotation[annotation_count]
//   ImageUpdatePoint[upoint_count]     sorted by addr
//   ImageRange[range_count]            read-only data with string literals
//   ImageLocal[local_count]            sorted by (function_low, cfa_offset)
//   ImageFramePlace[place_count]       sorted by function_low (version 3)
//   uint32_t candidates[candidate_count]  sites' candidate types, each list ended by 0;
//                                      [0] = 0, the empty list (version 4)
//   char strings[strings_size]         NUL-terminated; string refs are offsets here
#ifndef DWARFMETA_IMAGE_H
#define DWARFMETA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

namespace ttst::dwarfmeta::image {

inline constexpr char kMagic[8] = {'T', 'T', 'S', 'T', 'M', 'E', 'T', 'A'};
inline constexpr uint32_t kVersion = 5;  // 2: locals (ImageLocal); 3: frame places; 4: site candidates; 5: pieces' offsets
inline constexpr uint32_t kNone = 0xffffffffu;  // "no string" / "no index"

// TypeKind, Encoding, Linkage and AnnotKind values are those of model.h.
enum : uint8_t { kTypeDeclaration = 1, kTypeVariadic = 2 };
enum : uint32_t { kImagePie = 1 };
inline constexpr uint64_t kFlexibleCount = UINT64_MAX;

struct ImageHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t total_size;
  uint64_t checksum;  // checksum() of bytes [header_size, total_size)
  uint32_t flags;     // kImagePie
  uint32_t build_id;  // string
  uint32_t path;      // string: the binary the image was made from
  uint32_t pad;
  uint64_t runtime_addr;  // __ttst_runtime, 0 when not built with ttst-cc
  uint32_t type_count, member_count, enumerator_count, param_count, global_count, function_count, site_count,
      annotation_count, upoint_count, range_count;
  uint64_t types_off, members_off, enumerators_off, params_off, globals_off, functions_off, function_by_id_off,
      sites_off, annotations_off, upoints_off, ranges_off, strings_off, strings_size;
  uint32_t local_count, pad2;  // version 2
  uint64_t locals_off;
  uint32_t place_count, pad3;  // version 3
  uint64_t places_off;
  uint32_t candidate_count, pad4;  // version 4
  uint64_t candidates_off;
};

struct ImageType {
  uint8_t kind;      // TypeKind
  uint8_t encoding;  // Encoding
  uint8_t flags;     // kTypeDeclaration | kTypeVariadic
  uint8_t pad;
  uint32_t name;     // string or kNone when anonymous
  uint64_t size;
  uint64_t count;    // arrays: element count, kFlexibleCount
  uint32_t target;   // TypeId
  uint32_t first;    // first member / enumerator / param index
  uint32_t n;        // how many
  uint32_t pad2;
};

struct ImageMember {
  uint32_t name;     // string ("" for anonymous members)
  uint32_t type;
  uint64_t offset;
  uint32_t bit_size;
  uint32_t bit_offset;
};

struct ImageEnumerator {
  uint32_t name;
  uint32_t pad;
  int64_t value;
};

struct ImageGlobal {
  uint32_t id, name, file, function;  // strings (function: "" unless function-static)
  uint64_t addr;                      // link-time; TLS: offset in the TLS block
  uint64_t size;
  uint32_t type;
  uint8_t linkage;                    // Linkage
  uint8_t tls;
  uint8_t readonly;
  uint8_t pad;
};

struct ImageFunction {
  uint32_t id, name, file;
  uint32_t type;
  uint64_t low, high;
  uint8_t external;
  uint8_t pad[3];
  uint32_t return_type;  // TypeId (void when unknown)
};

struct ImageAllocSite {
  uint32_t id, caller, allocator, ordinal;
  uint64_t call_addr, return_addr;
  uint32_t type;  // TypeId hint (0: unknown), see model.h AllocSite::type
  uint32_t candidates;  // index of its list in the candidates table (0: none), model.h AllocSite::candidates
  uint64_t size;        // model.h AllocSite::size (0: unknown)
  uint32_t uncertain;   // model.h AllocSite::uncertain (0 / 1)
  uint32_t pad;
};

struct ImageAnnotation {
  uint8_t kind;  // AnnotKind
  uint8_t pad[3];
  uint32_t file, target, arg;
};

struct ImageUpdatePoint {
  uint64_t addr;
  uint32_t function;  // string: Function id
  uint32_t pad;
};

struct ImageRange {
  uint32_t name;
  uint32_t pad;
  uint64_t start, end;
};

struct ImageLocal {  // model.h Local
  uint64_t function_low;
  int64_t cfa_offset;
  uint64_t size;
  uint32_t name;
  uint32_t type;  // TypeId of its declared type
};

struct ImageFramePlace {  // model.h FramePlace
  uint64_t function_low, pc_low, pc_high;
  int64_t offset;
  uint32_t name, type;
  uint8_t kind, reg;  // PlaceKind, DWARF register
  uint16_t piece_size;  // pieces (version 5): length and byte offset in the local
  uint32_t piece_at;
};

// 64-bit checksum, 8 bytes at a time (fast enough to check a cached image each load).
inline uint64_t checksum(const uint8_t* p, uint64_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    for (int b = 0; b < 8; ++b) w |= uint64_t(p[i + b]) << (8 * b);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// A validated image, read in place. Default-constructed views are empty.
class View {
 public:
  // Checks everything; on failure returns false and sets *why (a static string).
  static bool open(const void* data, uint64_t size, View* out, const char** why) {
    const uint8_t* b = static_cast<const uint8_t*>(data);
    auto fail = [&](const char* w) {
      if (why) *why = w;
      return false;
    };
    if (!data || size < sizeof(ImageHeader)) return fail("metadata image too small");
    if ((reinterpret_cast<uintptr_t>(data) & 7) != 0) return fail("metadata image not 8-byte aligned");
    const ImageHeader* h = static_cast<const ImageHeader*>(data);
    for (int i = 0; i < 8; ++i)
      if (h->magic[i] != kMagic[i]) return fail("not a ttst metadata image (bad magic)");
    if (h->version != kVersion) return fail("metadata image version mismatch");
    if (h->header_size != sizeof(ImageHeader) || h->total_size != size) return fail("metadata image size mismatch");
    if (checksum(b + h->header_size, size - h->header_size) != h->checksum)
      return fail("metadata image checksum mismatch");
    auto table = [&](uint64_t off, uint64_t count, uint64_t elem) {
      return off % 8 == 0 && off >= sizeof(ImageHeader) && off <= size && count <= (size - off) / elem;
    };
    if (!table(h->types_off, h->type_count, sizeof(ImageType)) ||
        !table(h->members_off, h->member_count, sizeof(ImageMember)) ||
        !table(h->enumerators_off, h->enumerator_count, sizeof(ImageEnumerator)) ||
        !table(h->params_off, h->param_count, 4) || !table(h->globals_off, h->global_count, sizeof(ImageGlobal)) ||
        !table(h->functions_off, h->function_count, sizeof(ImageFunction)) ||
        !table(h->function_by_id_off, h->function_count, 4) ||
        !table(h->sites_off, h->site_count, sizeof(ImageAllocSite)) ||
        !table(h->annotations_off, h->annotation_count, sizeof(ImageAnnotation)) ||
        !table(h->upoints_off, h->upoint_count, sizeof(ImageUpdatePoint)) ||
        !table(h->ranges_off, h->range_count, sizeof(ImageRange)) ||
        !table(h->locals_off, h->local_count, sizeof(ImageLocal)) ||
        !table(h->places_off, h->place_count, sizeof(ImageFramePlace)) || h->strings_off > size ||
        h->strings_size > size - h->strings_off)
      return fail("metadata image table out of bounds");
    if (h->type_count == 0) return fail("metadata image has no void type");
    View v;
    v.base_ = b, v.h_ = h;
    if (h->strings_size == 0 || v.strings()[h->strings_size - 1] != 0)
      return fail("metadata image string table not terminated");
    auto str_ok = [&](uint32_t s) { return s == kNone || s < h->strings_size; };
    auto type_ok = [&](uint32_t t) { return t < h->type_count; };
    if (!str_ok(h->build_id) || !str_ok(h->path)) return fail("metadata image bad string");
    for (uint32_t i = 0; i < h->type_count; ++i) {
      const ImageType& t = v.types()[i];
      if (!str_ok(t.name) || !type_ok(t.target)) return fail("metadata image bad type");
      uint64_t limit = t.kind == 2 || t.kind == 3 ? h->member_count
                       : t.kind == 4               ? h->enumerator_count
                       : t.kind == 12              ? h->param_count
                                                   : 0;
      if (t.first > limit || t.n > limit - t.first) return fail("metadata image bad type children");
    }
    for (uint32_t i = 0; i < h->member_count; ++i)
      if (!str_ok(v.members()[i].name) || !type_ok(v.members()[i].type)) return fail("metadata image bad member");
    for (uint32_t i = 0; i < h->enumerator_count; ++i)
      if (!str_ok(v.enumerators()[i].name)) return fail("metadata image bad enumerator");
    for (uint32_t i = 0; i < h->param_count; ++i)
      if (!type_ok(v.params()[i])) return fail("metadata image bad parameter");
    for (uint32_t i = 0; i < h->global_count; ++i) {
      const ImageGlobal& g = v.globals()[i];
      if (!str_ok(g.id) || !str_ok(g.name) || !str_ok(g.file) || !str_ok(g.function) || !type_ok(g.type) ||
          g.id == kNone)
        return fail("metadata image bad global");
      if (i > 0 && compare(v.str(v.globals()[i - 1].id), v.str(g.id)) >= 0)
        return fail("metadata image globals not sorted");
    }
    for (uint32_t i = 0; i < h->function_count; ++i) {
      const ImageFunction& f = v.functions()[i];
      if (!str_ok(f.id) || !str_ok(f.name) || !str_ok(f.file) || !type_ok(f.type) || !type_ok(f.return_type) || f.id == kNone)
        return fail("metadata image bad function");
      if (v.function_by_id()[i] >= h->function_count) return fail("metadata image bad function index");
      if (i > 0 && v.functions()[i - 1].low > f.low) return fail("metadata image functions not sorted");
    }
    for (uint32_t i = 0; i < h->site_count; ++i) {
      const ImageAllocSite& s = v.sites()[i];
      if (!str_ok(s.id) || !str_ok(s.caller) || !str_ok(s.allocator) || !type_ok(s.type))
        return fail("metadata image bad alloc site");
      if (i > 0 && v.sites()[i - 1].return_addr > s.return_addr) return fail("metadata image sites not sorted");
    }
    if (const char* bad = v.check_candidates()) return fail(bad);
    for (uint32_t i = 0; i < h->annotation_count; ++i) {
      const ImageAnnotation& a = v.annotations()[i];
      if (!str_ok(a.file) || !str_ok(a.target) || !str_ok(a.arg)) return fail("metadata image bad annotation");
    }
    for (uint32_t i = 0; i < h->upoint_count; ++i)
      if (!str_ok(v.update_points()[i].function)) return fail("metadata image bad update point");
    for (uint32_t i = 0; i < h->range_count; ++i)
      if (!str_ok(v.ranges()[i].name)) return fail("metadata image bad range");
    for (uint32_t i = 0; i < h->local_count; ++i) {
      const ImageLocal& l = v.locals()[i];
      if (!str_ok(l.name) || l.name == kNone || l.type >= h->type_count) return fail("metadata image bad local");
      if (i > 0 && v.locals()[i - 1].function_low > l.function_low) return fail("metadata image locals not sorted");
    }
    for (uint32_t i = 0; i < h->place_count; ++i) {
      const ImageFramePlace& l = v.places()[i];
      if (!str_ok(l.name) || l.name == kNone || !type_ok(l.type) || l.reg > 16 || l.kind < 1 || l.kind > 7)  // 4-7: pieces
        return fail("metadata image bad frame place");
      if (i > 0 && v.places()[i - 1].function_low > l.function_low) return fail("metadata image places not sorted");
    }
    *out = v;
    return true;
  }

  bool valid() const { return h_ != nullptr; }
  const ImageHeader& header() const { return *h_; }
  bool pie() const { return h_->flags & kImagePie; }
  const char* build_id() const { return str(h_->build_id); }
  const char* path() const { return str(h_->path); }
  uint64_t runtime_addr() const { return h_->runtime_addr; }

  // Strings: "" for kNone.
  const char* str(uint32_t off) const { return off == kNone ? "" : strings() + off; }

  uint32_t type_count() const { return h_->type_count; }
  const ImageType& type(uint32_t id) const { return types()[id < h_->type_count ? id : 0]; }
  // The type with typedefs and qualifiers removed (chains as long as C wrote them;
  // only a loop, in a corrupt image, ends after type_count() steps).
  uint32_t strip(uint32_t id) const {
    for (uint32_t step = 0; step <= h_->type_count; ++step) {
      uint8_t k = type(id).kind;
      if (k != 7 && k != 8 && k != 9 && k != 10 && k != 11) return id;
      id = type(id).target;
    }
    return id;
  }
  const ImageMember* members(const ImageType& t) const { return members() + (t.kind == 2 || t.kind == 3 ? t.first : 0); }
  uint32_t member_count(const ImageType& t) const { return t.kind == 2 || t.kind == 3 ? t.n : 0; }
  const ImageMember* member(const ImageType& t, const char* name) const {
    for (uint32_t i = 0; i < member_count(t); ++i)
      if (compare(str(members(t)[i].name), name) == 0) return &members(t)[i];
    return nullptr;
  }
  const ImageEnumerator* enumerators(const ImageType& t) const { return enumerators() + (t.kind == 4 ? t.first : 0); }
  uint32_t enumerator_count(const ImageType& t) const { return t.kind == 4 ? t.n : 0; }
  const uint32_t* params(const ImageType& t) const { return params() + (t.kind == 12 ? t.first : 0); }
  uint32_t param_count(const ImageType& t) const { return t.kind == 12 ? t.n : 0; }

  uint32_t global_count() const { return h_->global_count; }
  const ImageGlobal& global_at(uint32_t i) const { return globals()[i]; }
  // By state ID ("name", "file.c::name", "func::name"); binary search.
  const ImageGlobal* global(const char* id) const {
    uint32_t i = find_sorted(h_->global_count, [&](uint32_t k) { return compare(str(globals()[k].id), id); });
    return i < h_->global_count ? &globals()[i] : nullptr;
  }

  uint32_t function_count() const { return h_->function_count; }
  const ImageFunction& function_at_index(uint32_t i) const { return functions()[i]; }
  // By function id ("name" or "file.c::name"); binary search.
  const ImageFunction* function(const char* id) const {
    auto id_at = [&](uint32_t k) { return compare(str(functions()[function_by_id()[k]].id), id); };
    uint32_t i = find_sorted(h_->function_count, id_at);
    return i < h_->function_count ? &functions()[function_by_id()[i]] : nullptr;
  }
  // The function whose [low, high) holds `addr` (link-time).
  const ImageFunction* function_containing(uint64_t addr) const {
    uint32_t lo = 0, hi = h_->function_count;
    while (lo < hi) {  // first with low > addr
      uint32_t mid = lo + (hi - lo) / 2;
      if (functions()[mid].low <= addr) lo = mid + 1;
      else hi = mid;
    }
    while (lo > 0) {
      const ImageFunction& f = functions()[--lo];
      if (addr >= f.low && addr < f.high) return &f;
      if (f.high > f.low) break;
    }
    return nullptr;
  }

  uint32_t site_count() const { return h_->site_count; }
  const ImageAllocSite& site_at(uint32_t i) const { return sites()[i]; }
  // By link-time return address (ttst_heap_desc::site minus the load bias).
  const ImageAllocSite* alloc_site(uint64_t return_addr) const {
    uint32_t i = find_sorted(h_->site_count, [&](uint32_t k) {
      uint64_t a = sites()[k].return_addr;
      return a < return_addr ? -1 : a > return_addr ? 1 : 0;
    });
    return i < h_->site_count ? &sites()[i] : nullptr;
  }

  // open(): the candidates table in bounds, every entry a type, the last list
  // ended, every site's list inside it; else why not.
  const char* check_candidates() const {
    const uint64_t off = h_->candidates_off, size = h_->total_size;
    if (off % 8 != 0 || off < sizeof(ImageHeader) || off > size || h_->candidate_count > (size - off) / 4)
      return "metadata image table out of bounds";
    for (uint32_t i = 0; i < h_->site_count; ++i)
      if (sites()[i].candidates != 0 && sites()[i].candidates >= h_->candidate_count)
        return "metadata image bad alloc site";
    const uint32_t* c = at<uint32_t>(h_->candidates_off);
    for (uint32_t i = 0; i < h_->candidate_count; ++i)
      if (c[i] >= h_->type_count) return "metadata image bad site candidate";
    if (h_->candidate_count != 0 && c[h_->candidate_count - 1] != 0) return "metadata image site candidates not terminated";
    return nullptr;
  }

  // A site's candidate types (model.h AllocSite::candidates), a list ended by 0.
  const uint32_t* site_candidates(const ImageAllocSite& s) const {
    static const uint32_t kEmpty = 0;
    return s.candidates == 0 ? &kEmpty : at<uint32_t>(h_->candidates_off) + s.candidates;
  }

  uint32_t annotation_count() const { return h_->annotation_count; }
  const ImageAnnotation& annotation(uint32_t i) const { return annotations()[i]; }
  uint32_t update_point_count() const { return h_->upoint_count; }
  const ImageUpdatePoint& update_point(uint32_t i) const { return update_points()[i]; }
  uint32_t range_count() const { return h_->range_count; }
  const ImageRange& range(uint32_t i) const { return ranges()[i]; }
  // Is `addr` inside read-only data that holds string literals?
  bool in_string_ranges(uint64_t addr) const {
    for (uint32_t i = 0; i < h_->range_count; ++i)
      if (addr >= ranges()[i].start && addr < ranges()[i].end) return true;
    return false;
  }

  uint32_t local_count() const { return h_->local_count; }
  const ImageLocal& local_at(uint32_t i) const { return locals()[i]; }
  // The local of the function starting at `function_low` whose bytes hold the frame
  // slot at `cfa_offset` from the frame's CFA, or nullptr.
  const ImageLocal* local_holding(uint64_t function_low, int64_t cfa_offset) const {
    uint32_t lo = 0, hi = h_->local_count;
    while (lo < hi) {  // first local of that function
      uint32_t mid = lo + (hi - lo) / 2;
      if (locals()[mid].function_low < function_low) lo = mid + 1;
      else hi = mid;
    }
    for (; lo < h_->local_count && locals()[lo].function_low == function_low; ++lo) {
      const ImageLocal& l = locals()[lo];
      if (cfa_offset >= l.cfa_offset && uint64_t(cfa_offset - l.cfa_offset) < (l.size ? l.size : 1)) return &l;
    }
    return nullptr;
  }

  uint32_t place_count() const { return h_->place_count; }
  const ImageFramePlace& place_at(uint32_t i) const { return places()[i]; }
  // The index of the first place of the function starting at `function_low`
  // (place_count() when it has none); its places follow while function_low matches.
  uint32_t first_place(uint64_t function_low) const {
    uint32_t lo = 0, hi = h_->place_count;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (places()[mid].function_low < function_low) lo = mid + 1;
      else hi = mid;
    }
    return lo < h_->place_count && places()[lo].function_low == function_low ? lo : h_->place_count;
  }

  static int compare(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return int(static_cast<unsigned char>(*a)) - int(static_cast<unsigned char>(*b));
  }

 private:
  // Binary search of entries 0..n-1 sorted by key: the index of the one whose
  // key_vs_target(index) is 0, else n (key_vs_target < 0: the entry sorts first).
  template <class KeyVsTarget>
  static uint32_t find_sorted(uint32_t n, KeyVsTarget key_vs_target) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      int c = key_vs_target(mid);
      if (c == 0) return mid;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    return n;
  }

  template <class T>
  const T* at(uint64_t off) const {
    return reinterpret_cast<const T*>(base_ + off);
  }
  const char* strings() const { return at<char>(h_->strings_off); }
  const ImageType* types() const { return at<ImageType>(h_->types_off); }
  const ImageMember* members() const { return at<ImageMember>(h_->members_off); }
  const ImageEnumerator* enumerators() const { return at<ImageEnumerator>(h_->enumerators_off); }
  const uint32_t* params() const { return at<uint32_t>(h_->params_off); }
  const ImageGlobal* globals() const { return at<ImageGlobal>(h_->globals_off); }
  const ImageFunction* functions() const { return at<ImageFunction>(h_->functions_off); }
  const uint32_t* function_by_id() const { return at<uint32_t>(h_->function_by_id_off); }
  const ImageAllocSite* sites() const { return at<ImageAllocSite>(h_->sites_off); }
  const ImageAnnotation* annotations() const { return at<ImageAnnotation>(h_->annotations_off); }
  const ImageUpdatePoint* update_points() const { return at<ImageUpdatePoint>(h_->upoints_off); }
  const ImageRange* ranges() const { return at<ImageRange>(h_->ranges_off); }
  const ImageLocal* locals() const { return at<ImageLocal>(h_->locals_off); }
  const ImageFramePlace* places() const { return at<ImageFramePlace>(h_->places_off); }

  const uint8_t* base_ = nullptr;
  const ImageHeader* h_ = nullptr;
};

}  // namespace ttst::dwarfmeta::image

#endif
