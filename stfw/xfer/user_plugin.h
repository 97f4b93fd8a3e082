// user_plugin.h — loads the user's transfer plugin (--xfer; plugin/ttst_xfer.h)
// inside the agent: the ELF the supervisor passed in the descriptor's `plugin`
// range (a static PIE built by `ttst-cc --xfer-plugin`) laid out in the agent's
// arena by its program headers, its R_X86_64_RELATIVE relocations applied, its
// code made executable; returns the entry's address for the engine
// (Config::plugin_entry). Anything else in the ELF (other relocations, an
// interpreter, imports) is refused with a one-line reason: a plugin gets no libc
// and no symbols from anywhere, only the API the engine hands its entry.
// UNTRUSTED (agent code, freestanding).
#ifndef TTST_STFW_XFER_USER_PLUGIN_H
#define TTST_STFW_XFER_USER_PLUGIN_H

#include <stdint.h>

namespace ttst::stfw {

// Loads the plugin at [bytes, bytes + size). Returns its entry's address, or 0
// with `*why` set to the reason.
uint64_t load_user_plugin(const uint8_t* bytes, uint64_t size, const char** why);

}  // namespace ttst::stfw

#endif
