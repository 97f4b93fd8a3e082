// frame_pieces.cc — locals split in pieces at -O2. GCC's scalar replacement keeps
// the members of a struct local apart (`struct roots { struct server *srv;
// unsigned long *wakeups; } roots` in r12 and rbx, or one in a register and one in
// a stack slot), and DWARF describes it as a composite location (DW_OP_regN
// DW_OP_piece 8 DW_OP_fbreg -232 DW_OP_piece 8), recorded by dwarfmeta as one place
// per piece (frame_places.h). Each readable piece of the source's frame (a register
// the unwinder recovered for that frame, a stack slot of the copy) is cut into the
// pointer members it holds (typed by the struct member at their offset, nested
// structs by member path); each is paired by member name with the same member of
// the same local of this process's paired frame, whole (a stack slot) or in pieces,
// and visited as a pointer local (frame_roots.cc): it types its target, and F's
// value is superseded by the translated one (its register by the supervisor, its
// stack slot by engine_frames.cc), or backward must equal it. A member with no
// readable place in this process is left unpaired: refuse_piece_locals names the
// local when it is an object's only root.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {
namespace {

using dwarfmeta::image::ImageFramePlace;
using dwarfmeta::image::ImageFunction;
using dwarfmeta::image::ImageMember;

constexpr uint32_t kMaxPieceBytes = 256;  // a piece larger than this is not read
constexpr uint32_t kMaxPath = 4;          // nested struct members followed
constexpr uint32_t kMaxLeaves = 16;       // Engine::kMaxPieceRoots

struct Leaf {
  uint32_t type = 0;    // the pointer member's type
  uint64_t offset = 0;  // its byte offset in the local
  uint32_t path[kMaxPath] = {};
  uint32_t depth = 0;
};

// The pointer members (not in unions, arrays or bitfields) of struct `type` at
// `base` that lie wholly inside [lo, hi).
void pointer_leaves(const View& meta, uint32_t type, uint64_t base, uint64_t lo, uint64_t hi, Leaf& cur, Leaf* out,
                    uint32_t* n) {
  const ImageType& t = meta.type(meta.strip(type));
  if (t.kind == kPointer) {
    if (base >= lo && base + 8 <= hi && *n < kMaxLeaves) cur.type = type, cur.offset = base, out[(*n)++] = cur;
    return;
  }
  if (t.kind != kStruct || cur.depth >= kMaxPath) return;
  const ImageMember* m = meta.members(t);
  for (uint32_t i = 0; i < t.n; ++i) {
    if (m[i].bit_size || base + m[i].offset >= hi) continue;
    cur.path[cur.depth++] = i;
    pointer_leaves(meta, m[i].type, base + m[i].offset, lo, hi, cur, out, n);
    --cur.depth;
  }
}

// The destination's member reached by the source's member path (names matched at
// each level): its type and offset; false when a level has no such member.
bool member_by_path(const View& src, const View& dst, uint32_t src_type, uint32_t dst_type, const uint32_t* path,
                    uint32_t depth, uint32_t* type, uint64_t* offset) {
  *offset = 0;
  for (uint32_t d = 0; d < depth; ++d) {
    const ImageType& s = src.type(src.strip(src_type));
    const ImageType& t = dst.type(dst.strip(dst_type));
    if (s.kind != kStruct || t.kind != kStruct) return false;
    const ImageMember& sm = src.members(s)[path[d]];
    const ImageMember* dm = dst.members(t);
    uint32_t i = 0;
    while (i < t.n && (dm[i].bit_size || !streq(dst.str(dm[i].name), src.str(sm.name)))) ++i;
    if (i == t.n || !*src.str(sm.name)) return false;
    *offset += dm[i].offset, src_type = sm.type, dst_type = dm[i].type;
  }
  *type = dst_type;
  return dst.type(dst.strip(dst_type)).kind == kPointer;
}

// The length of "roots.srv.next" (the local's name and the member path), NUL included.
uint64_t member_name_size(const View& meta, uint32_t type, const char* local, const Leaf& leaf) {
  uint64_t len = 0;
  while (local[len]) ++len;
  uint64_t size = len + 1;
  uint32_t t = type;
  for (uint32_t d = 0; d < leaf.depth; ++d) {
    const ImageMember& m = meta.members(meta.type(meta.strip(t)))[leaf.path[d]];
    for (const char* c = meta.str(m.name); *c; ++c) ++size;
    ++size, t = m.type;
  }
  return size;
}

void write_member_name(const View& meta, uint32_t type, const char* local, const Leaf& leaf, char* out, uint64_t size) {
  Message msg{out, size};
  msg.text(local);
  uint32_t t = type;
  for (uint32_t d = 0; d < leaf.depth; ++d) {
    const ImageMember& m = meta.members(meta.type(meta.strip(t)))[leaf.path[d]];
    msg.text(".").text(meta.str(m.name));
    t = m.type;
  }
}

}  // namespace

// The pointer members piece `p` (of frame k of the source, valid there) holds, each
// with the paired value of this process's frames when one is readable.
uint32_t Engine::piece_roots(const ImageFramePlace& p, const ImageFunction& f, uint32_t nth, uint32_t k,
                             const ttst_stfw_frame* peer, uint32_t peer_count, const ttst_stfw_frame* self,
                             uint32_t self_count, PieceRoot* out) {
  if (src_meta().type(src_meta().strip(p.type)).kind != kStruct || !p.piece_size || p.piece_size > kMaxPieceBytes)
    return 0;
  uint8_t reg[8];
  const uint8_t* bytes = frame_local_bytes(p, peer, peer_count, k, false, p.piece_size, reg);
  if (!bytes) return 0;  // not readable (kPieceOther, a register this frame does not recover)
  Leaf leaves[kMaxPieceRoots], cur;
  uint32_t n = 0;
  pointer_leaves(src_meta(), p.type, 0, p.piece_at, uint64_t(p.piece_at) + p.piece_size, cur, leaves, &n);
  for (uint32_t i = 0; i < n; ++i) {
    PieceRoot& r = out[i];
    r = PieceRoot{};
    r.p = p, r.p.type = leaves[i].type;
    r.v = load_uint(bytes + (leaves[i].offset - p.piece_at), 8);
    const uint64_t size = member_name_size(src_meta(), p.type, src_meta().str(p.name), leaves[i]);
    char* name = alloc<char>(size);
    if (!name) return 0;
    write_member_name(src_meta(), p.type, src_meta().str(p.name), leaves[i], name, size);
    r.name = name;
    r.paired = paired_piece_value(f, nth, src_meta().str(p.name), leaves[i].path, leaves[i].depth, p.type, self,
                                  self_count, r);
  }
  return n;
}

// The same for a source local kept whole (a struct in a stack slot) whose paired
// local here is split in pieces (the two versions built differently): each pointer
// member, with this process's piece holding the same member.
uint32_t Engine::whole_roots(const ImageFramePlace& p, const ImageFunction& f, uint32_t nth, const uint8_t* src,
                             const ttst_stfw_frame* self, uint32_t self_count, PieceRoot* out) {
  const ImageType& t = src_meta().type(src_meta().strip(p.type));
  if (t.kind != kStruct || !src) return 0;
  Leaf leaves[kMaxPieceRoots], cur;
  uint32_t n = 0;
  pointer_leaves(src_meta(), p.type, 0, 0, t.size, cur, leaves, &n);
  for (uint32_t i = 0; i < n; ++i) {
    PieceRoot& r = out[i];
    r = PieceRoot{};
    r.p = p, r.p.type = leaves[i].type;
    r.v = load_uint(src + leaves[i].offset, 8);
    const uint64_t size = member_name_size(src_meta(), p.type, src_meta().str(p.name), leaves[i]);
    char* name = alloc<char>(size);
    if (!name) return 0;
    write_member_name(src_meta(), p.type, src_meta().str(p.name), leaves[i], name, size);
    r.name = name;
    r.paired = paired_piece_value(f, nth, src_meta().str(p.name), leaves[i].path, leaves[i].depth, p.type, self,
                                  self_count, r);
  }
  return n;
}

// This process's value of the member: its local of the same name (or renamed) in
// the paired frame, whole at the pc (a struct in a stack slot) or the piece that
// holds the member wholly (a register its frame recovers, a stack slot).
bool Engine::paired_piece_value(const ImageFunction& f, uint32_t nth, const char* local, const uint32_t* path,
                                uint32_t depth, uint32_t src_type, const ttst_stfw_frame* self, uint32_t self_count,
                                PieceRoot& r) {
  uint32_t j = 0;
  uint64_t at = 0;
  const ImageFunction* g = paired_frame(f, nth, self, self_count, &j, &at);
  const char* id = src_meta().str(f.id);
  for (uint32_t i = g ? dst_meta().first_place(g->low) : dst_meta().place_count(); i < dst_meta().place_count(); ++i) {
    const ImageFramePlace& q = dst_meta().place_at(i);
    if (q.function_low != g->low) break;
    const char* name = dst_meta().str(q.name);
    if (!place_valid_at(q, at) || !(streq(name, local) || renamed_local(id, local, name))) continue;
    uint32_t type = 0;
    uint64_t off = 0;
    if (!member_by_path(src_meta(), dst_meta(), src_type, q.type, path, depth, &type, &off)) return false;
    const bool piece = place_is_piece(q);
    if (piece && (off < q.piece_at || off + 8 > uint64_t(q.piece_at) + q.piece_size || q.piece_size > kMaxPieceBytes))
      continue;  // another piece of it
    const uint64_t size = piece ? q.piece_size : dst_meta().type(dst_meta().strip(q.type)).size;
    uint8_t reg[8];
    const uint8_t* bytes = frame_local_bytes(q, self, self_count, j, true, size, reg);
    if (!bytes) return false;
    r.q = q, r.q.type = type;
    r.w = load_uint(bytes + (piece ? off - q.piece_at : off), 8);
    return true;
  }
  return false;
}

}  // namespace ttst::stfw::engine_detail
