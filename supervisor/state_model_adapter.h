// state_model_adapter.h — fills diff's StateModel (types, globals, allocation sites)
// from dwarfmeta's Program of the running version, so differences between P and R
// are reported by name ("table.count", "heap object cmd_set#0 #17 +8 -> value")
// rather than by address. TRUSTED (reads only ELF/DWARF and P).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

#include "diff/differ.h"
#include "diff/state_model.h"
#include "dwarfmeta/model.h"
#include "inject/remote_addr.h"
#include "supervisor/report.h"

namespace ttst::supervisor {

// Types reachable from globals (not TLS, not read-only) and allocation sites;
// addresses made run-time with `bias`. The heap is left empty (read_heap_objects).
diff::StateModel state_model(const dwarfmeta::Program& prog, inject::LoadBias bias);

// The report's differences for a diff result: every byte range named through the
// model (heap objects read from P's runtime block at `runtime_block`), values
// rendered by type. At most `cap` entries; `total` gets the number of named values
// and unnamed ranges.
std::vector<Difference> name_for_report(const diff::Result& res, const dwarfmeta::Program& prog, inject::LoadBias bias,
                                        inject::RemoteAddr runtime_block, pid_t p, pid_t r, size_t cap,
                                        uint64_t& total);

}  // namespace ttst::supervisor
