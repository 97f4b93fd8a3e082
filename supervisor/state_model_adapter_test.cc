// state_model_adapter_test — dwarfmeta's view of kvserver v1 turned into diff's
// StateModel names addresses the way a report must: global.member, array
// elements, and nothing for an address outside every global.
#include <doctest/doctest.h>

#include "diff/state_model.h"
#include "dwarfmeta/load.h"
#include "supervisor/state_model_adapter.h"

namespace {

const ttst::dwarfmeta::Member* member(const ttst::dwarfmeta::Program& p, ttst::dwarfmeta::TypeId t, const std::string& name) {
  for (const auto& m : p.type(p.strip(t)).members)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("globals, members and array elements of kvserver are named; a bias is applied") {
  ttst::dwarfmeta::Program p = ttst::dwarfmeta::load("tests/programs/kvserver/kvserver_v1");
  const uint64_t bias = 0x555500000000;
  ttst::diff::StateModel m = ttst::supervisor::state_model(p, ttst::inject::LoadBias(bias));
  CHECK(m.globals.size() >= 5);
  const ttst::dwarfmeta::Global* cfg = p.global("config");
  REQUIRE(cfg != nullptr);
  const ttst::dwarfmeta::Member* port = member(p, cfg->type, "port");
  REQUIRE(port != nullptr);
  const ttst::dwarfmeta::Global* conns = p.global("kvserver.c::conns");
  REQUIRE(conns != nullptr);
  const ttst::dwarfmeta::Global* sets = p.global("kvserver.c::stats_sets");
  REQUIRE(sets != nullptr);

  ttst::diff::ModelNamer namer(std::move(m));
  auto n = namer.name(cfg->addr + bias + port->offset);
  REQUIRE(n.has_value());
  CHECK(n->path == "config.port");
  auto c = namer.name(conns->addr + bias + 3 * 8);
  REQUIRE(c.has_value());
  CHECK(c->path == "kvserver.c::conns[3]");
  auto s = namer.name(sets->addr + bias);
  REQUIRE(s.has_value());
  CHECK(s->path == "kvserver.c::stats_sets");
  uint8_t bytes[4] = {42, 0, 0, 0};
  CHECK(namer.render(*s, bytes) == "42");
  CHECK_FALSE(namer.name(cfg->addr + port->offset).has_value());  // without the bias: nothing
}
