// model.h — the state metadata of one program version, as plain C++ values.
//
// A drgn-like model that reads like the C it describes: a Program holds Types
// (indexed by TypeId), Globals named by version-agnostic state IDs, Functions,
// allocation sites, annotations and update points. Everything is link-time (no
// load bias): the supervisor adds the bias of the running process.
// Built by dwarfmeta::load() (load.h); serialised by image_writer (image.h).
#ifndef DWARFMETA_MODEL_H
#define DWARFMETA_MODEL_H

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ttst::dwarfmeta {

// Index into Program::types. Type 0 is always `void`.
using TypeId = uint32_t;
inline constexpr TypeId kVoid = 0;

enum class TypeKind : uint8_t {
  Void = 0,
  Base = 1,      // int, char, double, _Bool ...: `encoding` and `size`
  Struct = 2,    // `members`, `size`; `declaration` when only declared
  Union = 3,
  Enum = 4,      // `enumerators`, `size`, `target` = underlying type (or void)
  Pointer = 5,   // `target` = pointee (void for void *)
  Array = 6,     // `target` = element, `count` (one dimension; T[2][3] nests)
  Typedef = 7,   // `name`, `target`
  Const = 8,     // qualifiers: `target` is the qualified type
  Volatile = 9,
  Restrict = 10,
  Atomic = 11,
  Function = 12, // a function type: `target` = return, `params`, `variadic`
};
const char* kind_name(TypeKind k);

enum class Encoding : uint8_t {
  None = 0,
  Signed = 1,        // int, short, long ...
  Unsigned = 2,
  SignedChar = 3,    // char (x86-64: signed), signed char
  UnsignedChar = 4,
  Bool = 5,
  Float = 6,
  Complex = 7,
  Other = 8,
};
const char* encoding_name(Encoding e);

struct Member {
  std::string name;       // empty for anonymous struct/union members
  TypeId type = kVoid;
  uint64_t offset = 0;    // byte offset of the storage unit in the enclosing type
  // Bitfields: bit_size > 0; bit_offset counts from `offset * 8`, little-endian
  // (DWARF 4+ DW_AT_data_bit_offset semantics, converted from DWARF 2/3 form).
  uint32_t bit_size = 0;
  uint32_t bit_offset = 0;
  bool is_bitfield() const { return bit_size != 0; }
  bool operator==(const Member&) const = default;
};

struct Enumerator {
  std::string name;
  int64_t value = 0;
  bool operator==(const Enumerator&) const = default;
};

// Array element counts: kFlexible for `T x[]` (no bound in DWARF).
inline constexpr uint64_t kFlexible = UINT64_MAX;

struct Type {
  TypeKind kind = TypeKind::Void;
  std::string name;       // tag for struct/union/enum, empty when anonymous
  uint64_t size = 0;      // bytes (0 for void, functions, flexible arrays)
  Encoding encoding = Encoding::None;
  TypeId target = kVoid;  // see TypeKind
  uint64_t count = 0;     // arrays: element count, 0 = zero-length, kFlexible
  bool declaration = false;  // struct/union/enum only declared (incomplete)
  bool variadic = false;     // functions
  std::vector<Member> members;
  std::vector<Enumerator> enumerators;
  std::vector<TypeId> params;  // functions
  bool operator==(const Type&) const = default;
};

enum class Linkage : uint8_t { External = 0, FileStatic = 1, FunctionStatic = 2 };

struct Global {
  std::string id;         // state ID: "name", "file.c::name" or "func::name"
  std::string name;       // the C identifier
  std::string file;       // basename of the translation unit that defines it
  std::string function;   // enclosing function for function statics
  Linkage linkage = Linkage::External;
  uint64_t addr = 0;      // link-time address; for TLS the offset in the TLS block
  uint64_t size = 0;      // bytes (symbol size when larger, e.g. flexible arrays)
  TypeId type = kVoid;
  bool tls = false;       // _Thread_local / __thread
  bool readonly = false;  // lives in a read-only section (const)
  bool operator==(const Global&) const = default;
};

struct Function {
  std::string id;         // "name" or "file.c::name" for static functions
  std::string name;
  std::string file;       // empty when unknown (no DWARF for it, e.g. crt code)
  uint64_t low = 0;       // [low, high) link-time
  uint64_t high = 0;
  bool external = true;
  TypeId type = kVoid;    // a Function type when DWARF describes it
  TypeId return_type = kVoid;  // what it returns, from DWARF (void when unknown)
  bool operator==(const Function&) const = default;
};

struct AllocSite {
  std::string id;         // "caller#ordinal": stable across rebuilds of the same code
  std::string caller;     // Function::id of the caller
  uint32_t ordinal = 0;   // 0-based, in address order within the caller
  std::string allocator;  // "malloc", "calloc", ... or an annotated allocator
  uint64_t call_addr = 0;
  uint64_t return_addr = 0;  // what the runtime records in ttst_heap_desc::site
  // A hint, not a fact: T when the returned pointer is stored straight into a
  // global (or a member/element of one) of type T *, or (-O0, rbp frames) into a
  // local of type T * at a fixed frame place; void when unknown.
  TypeId type = kVoid;
  // -O2, no single hint (site_hints.h): several struct or union types proven to
  // receive the result (certain), or, with no proof, the suspects: pointer-typed
  // locals and parameters in scope at the call (never a type: the transfer refuses
  // a record they fit whose layout changes, else copies its bytes).
  std::vector<TypeId> candidates;
  // Bytes it allocates when DWARF's call site says so (a constant size argument of
  // a standard allocator); 0: unknown. Candidates are those it is a whole number of.
  uint64_t size = 0;
  // A `void *` / `char *` local or parameter is in scope too (site_hints.h): the
  // result may go there, so even one candidate is only a possibility.
  bool uncertain = false;
  bool operator==(const AllocSite&) const = default;
};

enum class AnnotKind : uint8_t {
  IXfer = 1, PXfer = 2, RenamedFrom = 3, NoTransfer = 4, Allocator = 5, Deallocator = 6, Container = 7, PointsTo = 8,
  UsedN = 9, Dropped = 10,
  KeepNew = 11,
  Tagged = 14,
  FreeSlots = 12,
  Embedded = 17,
};
const char* annot_kind_name(AnnotKind k);

struct Annotation {
  AnnotKind kind = AnnotKind::IXfer;
  std::string file;       // as the runtime wrote it (__FILE__)
  std::string target;     // grammar in stfw/abi/ttst_abi.h
  std::string arg;
  bool operator==(const Annotation&) const = default;
};

struct UpdatePoint {
  uint64_t addr = 0;
  std::string function;   // Function::id of the enclosing function, "" if none
  bool operator==(const UpdatePoint&) const = default;
};

// A local variable or parameter kept in its function's stack frame at one fixed
// place for the whole function (DWARF: DW_OP_fbreg N with a frame base of
// DW_OP_call_frame_cfa, GCC; or rbp, clang: then N - 16 from the CFA, ttst-cc keeps
// frame pointers). Locals in registers or location lists (-O2) are not recorded.
// Used to name a stack slot in messages (stfw/xfer/engine_frames.cc).
struct Local {
  uint64_t function_low = 0;  // Function::low of the function whose frame holds it
  std::string name;           // "loop"; an inlined function's local: "inlined::loop"
  int64_t cfa_offset = 0;     // its address minus the frame's CFA
  uint64_t size = 0;          // bytes (its type's size)
  TypeId type = kVoid;        // its declared type (alloc_sites.cc: a site's type hint)
  bool operator==(const Local&) const = default;
};

// Where a local or parameter is over a range of its function's code, as DWARF's
// location (list) says at -O2 too: a register, the frame's CFA plus an offset, or a
// register plus an offset (memory). The roots of the frames at the update point
// (stfw/xfer/frame_roots.cc): each frame's places valid at its pc are evaluated
// against the unwound registers. One per location (list) entry of one simple
// operation (DW_OP_regN, DW_OP_bregN k, DW_OP_fbreg k with a CFA or rbp frame
// base); entries with other expressions (values, entry values) are left out.
// A composite location (DW_OP_piece, a struct split at -O2) is one entry per piece,
// `piece_at` its byte offset in the local and `piece_size` its length: in register
// `reg` (kPieceRegister), in a stack slot at CFA + offset (kPieceCfaOffset) or at
// `reg` + offset (kPieceRegisterOffset), or anything else (kPieceOther: optimised
// out, a computed value). The engine reads the pointer members each readable piece
// holds, pairs them by member name with the other version's local (whole or in
// pieces) and writes them (stfw/xfer/frame_pieces.cc).
enum class PlaceKind : uint8_t {
  kCfaOffset = 1,
  kRegister = 2,
  kRegisterOffset = 3,
  kPieceRegister = 4,
  kPieceOther = 5,
  kPieceCfaOffset = 6,
  kPieceRegisterOffset = 7,
};
struct FramePlace {
  uint64_t function_low = 0;      // Function::low of the concrete function whose frame holds it
  uint64_t pc_low = 0, pc_high = 0;  // link-time [low, high); both 0: the whole function
  std::string name;               // "srv"; an inlined function's local: "inlined::srv"
  TypeId type = kVoid;
  PlaceKind kind = PlaceKind::kCfaOffset;
  uint8_t reg = 0;                // DWARF register number (x86-64: 3 rbx, 6 rbp, 12..15 r12..r15)
  int64_t offset = 0;             // CFA or register offset (kCfaOffset, kRegisterOffset and their pieces)
  uint32_t piece_at = 0;          // pieces: the piece's byte offset in the local
  uint16_t piece_size = 0;        // pieces: its length in bytes
  bool operator==(const FramePlace&) const = default;
};

struct Range {
  std::string name;       // section name
  uint64_t start = 0, end = 0;
  bool operator==(const Range&) const = default;
};

struct Program {
  std::string path;
  std::string build_id;   // lowercase hex, empty when the binary has none
  std::string debug_file; // where DWARF came from (path itself or a .debug file)
  bool pie = false;
  uint64_t runtime_addr = 0;  // __ttst_runtime (TTST_RUNTIME_SYMBOL); 0: not built with ttst-cc
  std::vector<Type> types;  // types[0] is void
  std::vector<Global> globals;
  std::vector<Function> functions;      // sorted by low
  std::vector<AllocSite> alloc_sites;   // sorted by return_addr
  std::vector<Annotation> annotations;
  std::vector<UpdatePoint> update_points;
  std::vector<Range> string_ranges;     // read-only data holding string literals
  std::vector<Local> locals;            // sorted by (function_low, cfa_offset)
  std::vector<FramePlace> frame_places; // sorted by (function_low, name, pc_low)
  uint64_t die_count = 0;               // DIEs visited (benchmarks)

  const Type& type(TypeId id) const { return types.at(id); }
  const Global* global(const std::string& id) const;
  const Function* function(const std::string& id) const;   // by id or plain name
  const Function* function_at(uint64_t addr) const;        // enclosing function
  const AllocSite* alloc_site_at(uint64_t return_addr) const;
  // The type with typedefs and qualifiers removed (a loop of them: where it closes).
  TypeId strip(TypeId id) const;
  // C spelling: "struct s", "int *", "char [3]", "int (*)(int, char *)";
  // kUnspellable for a chain of pointers/arrays/qualifiers that loops (broken DWARF).
  std::string type_name(TypeId id) const;
  static constexpr const char* kUnspellable = "?";
  // C declaration of `name` with type `id`: "char str[3]", "int (*cb)(int)".
  std::string declaration(TypeId id, const std::string& name) const;
  // Call after changing globals/functions/alloc_sites.
  void reindex();

 private:
  std::unordered_map<std::string, size_t> global_index_, function_index_;
};

}  // namespace ttst::dwarfmeta

#endif
