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

  std::vector<ImageType> types;
  std::vector<ImageMember> members;
  std::vector<ImageEnumerator> enums;
  std::vector<uint32_t> params;
  types.reserve(p.types.size());
  for (const Type& t : p.types) {
    ImageType it{};
    it.kind = static_cast<uint8_t>(t.kind);
    it.encoding = static_cast<uint8_t>(t.encoding);
    it.flags = uint8_t((t.declaration ? 1 : 0) * kTypeDeclaration | (t.variadic ? 1 : 0) * kTypeVariadic);
    it.name = t.name.empty() ? kNone : strs.add(t.name);
    it.size = t.size;
    it.count = t.count;
    it.target = t.target;
    if (t.kind == TypeKind::Struct || t.kind == TypeKind::Union) {
      it.first = static_cast<uint32_t>(members.size());
      it.n = static_cast<uint32_t>(t.members.size());
      for (const Member& m : t.members)
        members.push_back(ImageMember{strs.add(m.name), m.type, m.offset, m.bit_size, m.bit_offset});
    } else if (t.kind == TypeKind::Enum) {
      it.first = static_cast<uint32_t>(enums.size());
      it.n = static_cast<uint32_t>(t.enumerators.size());
      for (const Enumerator& e : t.enumerators) enums.push_back(ImageEnumerator{strs.add(e.name), 0, e.value});
    } else if (t.kind == TypeKind::Function) {
      it.first = static_cast<uint32_t>(params.size());
      it.n = static_cast<uint32_t>(t.params.size());
      params.insert(params.end(), t.params.begin(), t.params.end());
    }
    types.push_back(it);
  }
  std::vector<const Global*> gs;
  for (const Global& g : p.globals) gs.push_back(&g);
  std::sort(gs.begin(), gs.end(), [](const Global* a, const Global* b) {
    return View::compare(a->id.c_str(), b->id.c_str()) < 0;
  });
  std::vector<ImageGlobal> globals;
  for (size_t i = 0; i < gs.size(); ++i) {
    const Global& g = *gs[i];
    if (i > 0 && gs[i - 1]->id == g.id) continue;  // IDs are unique; keep the image valid regardless
    globals.push_back(ImageGlobal{strs.add(g.id), strs.add(g.name), strs.add(g.file), strs.add(g.function), g.addr,
                                  g.size, g.type, static_cast<uint8_t>(g.linkage), g.tls, g.readonly, 0});
  }
  std::vector<ImageFunction> fns;
  for (const Function& f : p.functions) {
    ImageFunction x{};
    x.id = strs.add(f.id), x.name = strs.add(f.name), x.file = strs.add(f.file), x.type = f.type;
    x.return_type = f.return_type;
    x.low = f.low, x.high = f.high, x.external = f.external;
    fns.push_back(x);
  }
  std::stable_sort(fns.begin(), fns.end(), [](const ImageFunction& a, const ImageFunction& b) { return a.low < b.low; });
  std::vector<uint32_t> by_id(fns.size());
  for (uint32_t i = 0; i < by_id.size(); ++i) by_id[i] = i;
  const std::vector<char>& sd = strs.data();
  std::sort(by_id.begin(), by_id.end(), [&](uint32_t a, uint32_t b) {
    return View::compare(sd.data() + fns[a].id, sd.data() + fns[b].id) < 0;
  });
  std::vector<ImageAllocSite> sites;
  for (const AllocSite& s : p.alloc_sites)
    sites.push_back(ImageAllocSite{strs.add(s.id), strs.add(s.caller), strs.add(s.allocator), s.ordinal,
                                   s.call_addr, s.return_addr, s.type, 0});
  std::sort(sites.begin(), sites.end(),
            [](const ImageAllocSite& a, const ImageAllocSite& b) { return a.return_addr < b.return_addr; });
  std::vector<ImageAnnotation> annots;
  for (const Annotation& a : p.annotations) {
    ImageAnnotation x{};
    x.kind = static_cast<uint8_t>(a.kind), x.file = strs.add(a.file), x.target = strs.add(a.target),
    x.arg = strs.add(a.arg);
    annots.push_back(x);
  }
  std::vector<ImageUpdatePoint> ups;
  for (const UpdatePoint& u : p.update_points) ups.push_back(ImageUpdatePoint{u.addr, strs.add(u.function), 0});
  std::sort(ups.begin(), ups.end(), [](const ImageUpdatePoint& a, const ImageUpdatePoint& b) { return a.addr < b.addr; });
  std::vector<ImageRange> ranges;
  for (const Range& r : p.string_ranges) ranges.push_back(ImageRange{strs.add(r.name), 0, r.start, r.end});

  h.type_count = static_cast<uint32_t>(types.size());
  h.member_count = static_cast<uint32_t>(members.size());
  h.enumerator_count = static_cast<uint32_t>(enums.size());
  h.param_count = static_cast<uint32_t>(params.size());
  h.global_count = static_cast<uint32_t>(globals.size());
  h.function_count = static_cast<uint32_t>(fns.size());
  h.site_count = static_cast<uint32_t>(sites.size());
  h.annotation_count = static_cast<uint32_t>(annots.size());
  h.upoint_count = static_cast<uint32_t>(ups.size());
  h.range_count = static_cast<uint32_t>(ranges.size());

  std::vector<uint8_t> out(sizeof(ImageHeader), 0);
  put(out, h.types_off, types);
  put(out, h.members_off, members);
  put(out, h.enumerators_off, enums);
  put(out, h.params_off, params);
  put(out, h.globals_off, globals);
  put(out, h.functions_off, fns);
  put(out, h.function_by_id_off, by_id);
  put(out, h.sites_off, sites);
  put(out, h.annotations_off, annots);
  put(out, h.upoints_off, ups);
  put(out, h.ranges_off, ranges);
  put(out, h.strings_off, sd);
  h.strings_size = sd.size();
  h.total_size = out.size();
  h.checksum = checksum(out.data() + sizeof(ImageHeader), out.size() - sizeof(ImageHeader));
  std::memcpy(out.data(), &h, sizeof h);
  return out;
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
        AllocSite{v.str(s.id), v.str(s.caller), s.ordinal, v.str(s.allocator), s.call_addr, s.return_addr, s.type});
  }
  for (uint32_t i = 0; i < v.annotation_count(); ++i) {
    const ImageAnnotation& a = v.annotation(i);
    p.annotations.push_back(Annotation{static_cast<AnnotKind>(a.kind), v.str(a.file), v.str(a.target), v.str(a.arg)});
  }
  for (uint32_t i = 0; i < v.update_point_count(); ++i)
    p.update_points.push_back(UpdatePoint{v.update_point(i).addr, v.str(v.update_point(i).function)});
  for (uint32_t i = 0; i < v.range_count(); ++i)
    p.string_ranges.push_back(Range{v.str(v.range(i).name), v.range(i).start, v.range(i).end});
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
