// image_writer.cc — serialises a Program into the flat image and reads it back.
#include "dwarfmeta/image_writer.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

#include "dwarfmeta/error.h"

namespace ttst::dwarfmeta {
namespace {

using namespace image;

class Strings {
 public:
  uint32_t add(const std::string& s) {
    auto [it, fresh] = index_.emplace(s, static_cast<uint32_t>(data_.size()));
    if (fresh) data_.insert(data_.end(), s.c_str(), s.c_str() + s.size() + 1);
    return it->second;
  }
  const std::vector<char>& data() const { return data_; }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<char> data_;
};

template <class T>
void put(std::vector<uint8_t>& out, uint64_t& off, const std::vector<T>& table) {
  off = out.size();
  size_t bytes = table.size() * sizeof(T);
  out.resize(out.size() + bytes);
  if (bytes) std::memcpy(out.data() + off, table.data(), bytes);
  out.resize((out.size() + 7) & ~size_t(7), 0);
}

}  // namespace

namespace {

// The tables of an image, filled from a Program in the image's order (types,
// globals sorted by ID, functions by address plus an index by ID, sites by return
// address, annotations, update points by address, string ranges) and laid out
// after the header. Strings are shared through one table.
class ImageTables {
 public:
  explicit ImageTables(Strings& strs) : strs_(strs) {}

  void add_types(const std::vector<Type>& all) {
    types_.reserve(all.size());
    for (const Type& t : all) {
      ImageType it{};
      it.kind = static_cast<uint8_t>(t.kind);
      it.encoding = static_cast<uint8_t>(t.encoding);
      it.flags = uint8_t((t.declaration ? 1 : 0) * kTypeDeclaration | (t.variadic ? 1 : 0) * kTypeVariadic);
      it.name = t.name.empty() ? kNone : strs_.add(t.name);
      it.size = t.size;
      it.count = t.count;
      it.target = t.target;
      if (t.kind == TypeKind::Struct || t.kind == TypeKind::Union) {
        it.first = static_cast<uint32_t>(members_.size());
        it.n = static_cast<uint32_t>(t.members.size());
        for (const Member& m : t.members)
          members_.push_back(ImageMember{strs_.add(m.name), m.type, m.offset, m.bit_size, m.bit_offset});
      } else if (t.kind == TypeKind::Enum) {
        it.first = static_cast<uint32_t>(enums_.size());
        it.n = static_cast<uint32_t>(t.enumerators.size());
        for (const Enumerator& e : t.enumerators) enums_.push_back(ImageEnumerator{strs_.add(e.name), 0, e.value});
      } else if (t.kind == TypeKind::Function) {
        it.first = static_cast<uint32_t>(params_.size());
        it.n = static_cast<uint32_t>(t.params.size());
        params_.insert(params_.end(), t.params.begin(), t.params.end());
      }
      types_.push_back(it);
    }
  }

  void add_globals(const std::vector<Global>& all) {
    std::vector<const Global*> gs;
    for (const Global& g : all) gs.push_back(&g);
    std::sort(gs.begin(), gs.end(), [](const Global* a, const Global* b) {
      return View::compare(a->id.c_str(), b->id.c_str()) < 0;
    });
    for (size_t i = 0; i < gs.size(); ++i) {
      const Global& g = *gs[i];
      if (i > 0 && gs[i - 1]->id == g.id) continue;  // IDs are unique; keep the image valid regardless
      globals_.push_back(ImageGlobal{strs_.add(g.id), strs_.add(g.name), strs_.add(g.file), strs_.add(g.function),
                                     g.addr, g.size, g.type, static_cast<uint8_t>(g.linkage), g.tls, g.readonly, 0});
    }
  }

  void add_functions(const std::vector<Function>& all) {
    for (const Function& f : all) {
      ImageFunction x{};
      x.id = strs_.add(f.id), x.name = strs_.add(f.name), x.file = strs_.add(f.file), x.type = f.type;
      x.return_type = f.return_type;
      x.low = f.low, x.high = f.high, x.external = f.external;
      fns_.push_back(x);
    }
    std::stable_sort(fns_.begin(), fns_.end(),
                     [](const ImageFunction& a, const ImageFunction& b) { return a.low < b.low; });
    fn_by_id_.resize(fns_.size());
    for (uint32_t i = 0; i < fn_by_id_.size(); ++i) fn_by_id_[i] = i;
    const std::vector<char>& sd = strs_.data();
    std::sort(fn_by_id_.begin(), fn_by_id_.end(), [&](uint32_t a, uint32_t b) {
      return View::compare(sd.data() + fns_[a].id, sd.data() + fns_[b].id) < 0;
    });
  }

  void add_alloc_sites(const std::vector<AllocSite>& all) {
    for (const AllocSite& s : all)
      sites_.push_back(ImageAllocSite{strs_.add(s.id), strs_.add(s.caller), strs_.add(s.allocator), s.ordinal,
                                      s.call_addr, s.return_addr, s.type, add_candidates(s.candidates), s.size,
                                      s.uncertain ? 1u : 0u, 0});
    std::sort(sites_.begin(), sites_.end(),
              [](const ImageAllocSite& a, const ImageAllocSite& b) { return a.return_addr < b.return_addr; });
  }

  // A site's candidate list (ended by 0) in the candidates table; 0: none.
  uint32_t add_candidates(const std::vector<TypeId>& types) {
    if (candidates_.empty()) candidates_.push_back(0);  // [0]: the empty list
    if (types.empty()) return 0;
    uint32_t first = static_cast<uint32_t>(candidates_.size());
    candidates_.insert(candidates_.end(), types.begin(), types.end());
    candidates_.push_back(0);
    return first;
  }

  void add_annotations(const std::vector<Annotation>& all) {
    for (const Annotation& a : all) {
      ImageAnnotation x{};
      x.kind = static_cast<uint8_t>(a.kind), x.file = strs_.add(a.file), x.target = strs_.add(a.target),
      x.arg = strs_.add(a.arg);
      annots_.push_back(x);
    }
  }

  void add_update_points(const std::vector<UpdatePoint>& all) {
    for (const UpdatePoint& u : all) ups_.push_back(ImageUpdatePoint{u.addr, strs_.add(u.function), 0});
    std::sort(ups_.begin(), ups_.end(),
              [](const ImageUpdatePoint& a, const ImageUpdatePoint& b) { return a.addr < b.addr; });
  }

  void add_locals(const std::vector<Local>& all) {  // already sorted (model.h)
    for (const Local& l : all) locals_.push_back(ImageLocal{l.function_low, l.cfa_offset, l.size, strs_.add(l.name), l.type});
  }

  void add_frame_places(const std::vector<FramePlace>& all) {  // already sorted (model.h)
    for (const FramePlace& l : all) {
      ImageFramePlace x{};
      x.function_low = l.function_low, x.pc_low = l.pc_low, x.pc_high = l.pc_high, x.offset = l.offset;
      x.name = strs_.add(l.name), x.type = l.type, x.kind = static_cast<uint8_t>(l.kind), x.reg = l.reg;
      x.piece_size = l.piece_size, x.piece_at = l.piece_at;
      places_.push_back(x);
    }
  }

  void add_string_ranges(const std::vector<Range>& all) {
    for (const Range& r : all) ranges_.push_back(ImageRange{strs_.add(r.name), 0, r.start, r.end});
  }

  // The image: `h` completed with the counts, offsets, sizes and checksum, then
  // every table, 8-byte aligned.
  std::vector<uint8_t> serialise(ImageHeader h) const {
    h.type_count = static_cast<uint32_t>(types_.size());
    h.member_count = static_cast<uint32_t>(members_.size());
    h.enumerator_count = static_cast<uint32_t>(enums_.size());
    h.param_count = static_cast<uint32_t>(params_.size());
    h.global_count = static_cast<uint32_t>(globals_.size());
    h.function_count = static_cast<uint32_t>(fns_.size());
    h.site_count = static_cast<uint32_t>(sites_.size());
    h.annotation_count = static_cast<uint32_t>(annots_.size());
    h.upoint_count = static_cast<uint32_t>(ups_.size());
    h.range_count = static_cast<uint32_t>(ranges_.size());
    h.local_count = static_cast<uint32_t>(locals_.size());
    h.place_count = static_cast<uint32_t>(places_.size());
    h.candidate_count = static_cast<uint32_t>(candidates_.size());
    std::vector<uint8_t> out(sizeof(ImageHeader), 0);
    put(out, h.types_off, types_);
    put(out, h.members_off, members_);
    put(out, h.enumerators_off, enums_);
    put(out, h.params_off, params_);
    put(out, h.globals_off, globals_);
    put(out, h.functions_off, fns_);
    put(out, h.function_by_id_off, fn_by_id_);
    put(out, h.sites_off, sites_);
    put(out, h.annotations_off, annots_);
    put(out, h.upoints_off, ups_);
    put(out, h.ranges_off, ranges_);
    put(out, h.locals_off, locals_);
    put(out, h.places_off, places_);
    put(out, h.candidates_off, candidates_);
    put(out, h.strings_off, strs_.data());
    h.strings_size = strs_.data().size();
    h.total_size = out.size();
    h.checksum = checksum(out.data() + sizeof(ImageHeader), out.size() - sizeof(ImageHeader));
    std::memcpy(out.data(), &h, sizeof h);
    return out;
  }

 private:
  Strings& strs_;
  std::vector<ImageType> types_;
  std::vector<ImageMember> members_;
  std::vector<ImageEnumerator> enums_;
  std::vector<uint32_t> params_;
  std::vector<ImageGlobal> globals_;
  std::vector<ImageFunction> fns_;
  std::vector<uint32_t> fn_by_id_;
  std::vector<ImageAllocSite> sites_;
  std::vector<ImageAnnotation> annots_;
  std::vector<ImageUpdatePoint> ups_;
  std::vector<ImageRange> ranges_;
  std::vector<ImageLocal> locals_;
  std::vector<ImageFramePlace> places_;
  std::vector<uint32_t> candidates_;  // sites' candidate lists (add_candidates)
};

}  // namespace

std::vector<uint8_t> write_image(const Program& p) {
  Strings strs;
  strs.add("");
  ImageHeader h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.header_size = sizeof(ImageHeader);
  h.flags = p.pie ? uint32_t(kImagePie) : 0u;
  h.build_id = strs.add(p.build_id);
  h.path = strs.add(p.path);
  h.runtime_addr = p.runtime_addr;
  ImageTables tables(strs);
  tables.add_types(p.types);
  tables.add_globals(p.globals);
  tables.add_functions(p.functions);
  tables.add_alloc_sites(p.alloc_sites);
  tables.add_annotations(p.annotations);
  tables.add_update_points(p.update_points);
  tables.add_string_ranges(p.string_ranges);
  tables.add_locals(p.locals);
  tables.add_frame_places(p.frame_places);
  return tables.serialise(h);
}

Program read_image(const image::View& v) {
  Program p;
  p.path = v.path();
  p.build_id = v.build_id();
  p.debug_file = p.path;
  p.pie = v.pie();
  p.runtime_addr = v.runtime_addr();
  p.types.resize(v.type_count());
  for (uint32_t i = 0; i < v.type_count(); ++i) {
    const ImageType& it = v.type(i);
    Type& t = p.types[i];
    t.kind = static_cast<TypeKind>(it.kind);
    t.encoding = static_cast<Encoding>(it.encoding);
    t.declaration = it.flags & kTypeDeclaration;
    t.variadic = it.flags & kTypeVariadic;
    t.name = v.str(it.name);
    t.size = it.size;
    t.count = it.count;
    t.target = it.target;
    for (uint32_t m = 0; m < v.member_count(it); ++m) {
      const ImageMember& im = v.members(it)[m];
      t.members.push_back(Member{v.str(im.name), im.type, im.offset, im.bit_size, im.bit_offset});
    }
    for (uint32_t e = 0; e < v.enumerator_count(it); ++e)
      t.enumerators.push_back(Enumerator{v.str(v.enumerators(it)[e].name), v.enumerators(it)[e].value});
    t.params.assign(v.params(it), v.params(it) + v.param_count(it));
  }
  for (uint32_t i = 0; i < v.global_count(); ++i) {
    const ImageGlobal& g = v.global_at(i);
    Global x;
    x.id = v.str(g.id), x.name = v.str(g.name), x.file = v.str(g.file), x.function = v.str(g.function);
    x.linkage = static_cast<Linkage>(g.linkage), x.addr = g.addr, x.size = g.size, x.type = g.type;
    x.tls = g.tls, x.readonly = g.readonly;
    p.globals.push_back(std::move(x));
  }
  for (uint32_t i = 0; i < v.function_count(); ++i) {
    const ImageFunction& f = v.function_at_index(i);
    p.functions.push_back(
        Function{v.str(f.id), v.str(f.name), v.str(f.file), f.low, f.high, f.external != 0, f.type, f.return_type});
  }
  for (uint32_t i = 0; i < v.site_count(); ++i) {
    const ImageAllocSite& s = v.site_at(i);
    p.alloc_sites.push_back(
        AllocSite{v.str(s.id), v.str(s.caller), s.ordinal, v.str(s.allocator), s.call_addr, s.return_addr, s.type, {}, s.size,
                  s.uncertain != 0});
    for (const uint32_t* c = v.site_candidates(s); *c; ++c) p.alloc_sites.back().candidates.push_back(*c);
  }
  for (uint32_t i = 0; i < v.annotation_count(); ++i) {
    const ImageAnnotation& a = v.annotation(i);
    p.annotations.push_back(Annotation{static_cast<AnnotKind>(a.kind), v.str(a.file), v.str(a.target), v.str(a.arg)});
  }
  for (uint32_t i = 0; i < v.update_point_count(); ++i)
    p.update_points.push_back(UpdatePoint{v.update_point(i).addr, v.str(v.update_point(i).function)});
  for (uint32_t i = 0; i < v.range_count(); ++i)
    p.string_ranges.push_back(Range{v.str(v.range(i).name), v.range(i).start, v.range(i).end});
  for (uint32_t i = 0; i < v.local_count(); ++i) {
    const ImageLocal& l = v.local_at(i);
    p.locals.push_back(Local{l.function_low, v.str(l.name), l.cfa_offset, l.size, l.type});
  }
  for (uint32_t i = 0; i < v.place_count(); ++i) {
    const ImageFramePlace& l = v.place_at(i);
    p.frame_places.push_back(FramePlace{l.function_low, l.pc_low, l.pc_high, v.str(l.name), l.type,
                                        static_cast<PlaceKind>(l.kind), l.reg, l.offset, l.piece_at,
                                        l.piece_size});
  }
  p.reindex();
  return p;
}

Program read_image(const void* data, uint64_t size) {
  image::View v;
  const char* why = nullptr;
  if (!image::View::open(data, size, &v, &why))
    throw Error(ErrorKind::BadImage, std::string(why) + ": delete the cached image and run again");
  return read_image(v);
}

}  // namespace ttst::dwarfmeta
