// proc_stat.cc — see proc_stat.h. TRUSTED.
#include "supervisor/proc_stat.h"

#include <sstream>

namespace ttst::supervisor {

std::vector<std::string> stat_fields(const std::string& stat) {
  std::vector<std::string> fields;
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream in(stat.substr(close + 1));
  for (std::string w; in >> w;) fields.push_back(w);
  return fields;
}

}  // namespace ttst::supervisor
