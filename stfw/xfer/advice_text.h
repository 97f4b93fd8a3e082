// advice_text.h — the wording of a refusal's fix, shared by the engine's refusals
// (refusal_advice.cc, freestanding: its Message) and the plan (dwarfmeta/
// plan_fixes.cc: a std::string), so the plan and the refusal print the same line:
//   add TTST_K(args); to the new version (ttst.h; or ttst-cc's TTST_ANNOTATIONS="K(args)")
//   write fwd_struct_s and bwd_struct_s in a transfer plugin (TTST_XFER_TYPE_FORWARD("struct s",
//   fwd_struct_s); ttst-meta xfer-skeleton V1 V2 --out DIR writes them) and pass --xfer
// Alternatives are joined by ", or ". `Out` has `text(const char*)`. Header only, no
// includes (the engine has no libc).
#ifndef TTST_STFW_XFER_ADVICE_TEXT_H
#define TTST_STFW_XFER_ADVICE_TEXT_H

namespace ttst::stfw::advice {

constexpr const char* kOr = ", or ";

// An annotation of kind `kind` ("IXFER", "TAGGED", ...) with arguments `args`.
template <class Out>
void annotation(Out& out, const char* kind, const char* args) {
  out.text("add TTST_").text(kind).text("(").text(args).text(");");
  out.text(" to the new version (ttst.h; or ttst-cc's TTST_ANNOTATIONS=\"").text(kind).text("(").text(args).text(")\")");
}

// The plugin functions of a type ("struct entry", a typedef name) or of a global
// (its state ID), named as `ttst-meta xfer-skeleton` names them: fwd_/bwd_ and the
// target with every character that is not a letter or digit made '_'.
template <class Out>
void plugin(Out& out, const char* target, bool global) {
  char c_name[128];
  unsigned n = 0;
  for (const char* p = target; *p && n + 1 < sizeof c_name; ++p)
    c_name[n++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ? *p : '_';
  c_name[n] = 0;
  out.text("write fwd_").text(c_name).text(" and bwd_").text(c_name).text(" in a transfer plugin (");
  out.text(global ? "TTST_XFER_GLOBAL_FORWARD(\"" : "TTST_XFER_TYPE_FORWARD(\"").text(target).text("\", fwd_");
  out.text(c_name).text("); ttst-meta xfer-skeleton V1 V2 --out DIR writes them) and pass --xfer");
}

}  // namespace ttst::stfw::advice

#endif
