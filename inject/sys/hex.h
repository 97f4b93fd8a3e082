// hex.h — hexadecimal rendering of addresses and other 64-bit values.
// Why: error messages, reports and tools print addresses the same way
// ("0x7f12ab", as gdb and /proc do without padding); kernel paths such as
// /proc/PID/map_files/START-END need the bare digits.
#pragma once

#include <cstdint>
#include <string>

namespace ttst::sys {

std::string hex(uint64_t v);         // "0x7f12ab"; "0x0" for zero
std::string hex_digits(uint64_t v);  // "7f12ab"; "0" for zero

}  // namespace ttst::sys
