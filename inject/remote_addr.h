// remote_addr.h — typed addresses in another process (rr's remote_ptr as the
// model). TRUSTED.
//
// Two address spaces meet in every update: the link-time addresses an ELF file and
// its DWARF talk about (symbols, update points, function ranges, __ttst_runtime),
// and the run-time addresses a running process uses (registers, /proc/PID/maps,
// process_vm_readv). A PIE is mapped at a load bias, and an address of one kind
// used as the other reads the wrong bytes without any error. So each kind is its
// own class: a RemoteAddr never converts to a LinkAddr, neither converts to or from
// an integer implicitly, and the only way between them is a LoadBias, explicitly:
//   RemoteAddr r = link + bias;     LinkAddr l = r - bias;
// Offsets (sizes, member offsets) are plain integers added to either kind; the
// distance between two addresses of one kind is an integer.
#pragma once

#include <compare>
#include <cstdint>

namespace ttst::inject {

// An address of one kind (`Space` is a tag type, only used to tell kinds apart).
template <class Space>
class Address {
 public:
  constexpr Address() = default;
  constexpr explicit Address(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool is_null() const { return value_ == 0; }

  constexpr Address operator+(uint64_t offset) const { return Address(value_ + offset); }
  constexpr Address operator-(uint64_t offset) const { return Address(value_ - offset); }
  constexpr Address& operator+=(uint64_t offset) { value_ += offset; return *this; }
  // The distance from `from` to this address (this >= from).
  constexpr uint64_t operator-(Address from) const { return value_ - from.value_; }
  constexpr auto operator<=>(const Address&) const = default;

 private:
  uint64_t value_ = 0;
};

struct RunTimeSpace;
struct LinkTimeSpace;
// An address in a running process (registers, maps, process_vm_readv).
using RemoteAddr = Address<RunTimeSpace>;
// An address as the ELF file and its DWARF give it (before the load bias).
using LinkAddr = Address<LinkTimeSpace>;

// Where a PIE was mapped: run-time = link-time + bias (0 for a non-PIE).
class LoadBias {
 public:
  constexpr LoadBias() = default;
  constexpr explicit LoadBias(uint64_t value) : value_(value) {}
  // The bias that maps `link` (a segment's link-time address) onto `mapped`.
  static constexpr LoadBias between(LinkAddr link, RemoteAddr mapped) {
    return LoadBias(mapped.value() - link.value());
  }
  constexpr uint64_t value() const { return value_; }
  constexpr bool operator==(const LoadBias&) const = default;

 private:
  uint64_t value_ = 0;
};

constexpr RemoteAddr operator+(LinkAddr link, LoadBias bias) { return RemoteAddr(link.value() + bias.value()); }
constexpr LinkAddr operator-(RemoteAddr run, LoadBias bias) { return LinkAddr(run.value() - bias.value()); }

}  // namespace ttst::inject
