// engine_plugin_call.h — one call of a transfer plugin's function: the context the
// C API (plugin/ttst_xfer.h) hands back to the engine, opaque to the plugin. Shared
// by engine_plugin.cc (write phase) and engine_plugin_place.cc (map phase).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#ifndef TTST_STFW_XFER_ENGINE_PLUGIN_CALL_H
#define TTST_STFW_XFER_ENGINE_PLUGIN_CALL_H

#include "stfw/xfer/engine_impl.h"

// The call context the C API hands back (declared opaque in ttst_xfer.h).
struct ttst_xfer {
  ttst::stfw::engine_detail::Engine* engine;
  const ttst_xfer_entry* entry;
  uint32_t object;              // table index, or kNoPluginObject (init callbacks)
  uint32_t src_type, dst_type;  // the element's types (globals: the whole type)
  const uint8_t* src;
  uint8_t* dst;
  uint64_t element;
  const uint8_t* before;  // backward: the destination element as it was (R's own bytes)
  uint64_t src_room, dst_room;  // the element's bytes in the source and here (ttst_xfer_room)
  uint64_t src_addr;            // the element's address in the source (ttst_xfer_source_address)
  uint32_t placing;             // a place function's call (TTST_XFER_TYPE_PLACE): ttst_xfer_place allowed
};

#endif  // TTST_STFW_XFER_ENGINE_PLUGIN_CALL_H
