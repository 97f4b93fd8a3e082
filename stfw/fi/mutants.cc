// mutants.cc — the mutation operators of mutants.h over c_source.h's delimiting.
#include "stfw/fi/mutants.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cstdio>
#include <map>
#include <random>
#include <regex>

#include "stfw/fi/c_source.h"

namespace ttst::fi {
namespace {

const std::set<std::string> kPointerCalls = {"ttst_xfer_ptr",     "ttst_xfer_new_owned", "ttst_xfer_owned",
                                             "ttst_xfer_source",  "ttst_xfer_scratch",   "malloc",
                                             "calloc",            "realloc",             "strdup"};
const std::set<std::string> kCopyCalls = {"ttst_xfer_copy", "memcpy", "memmove", "memset"};
const char kTrap[] = "__asm__ volatile(\"ud2\");";
const std::set<std::string> kNotTypes = {"return", "goto", "case", "else", "static", "break", "continue", "do"};

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string one_line(std::string s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    bool ws = std::isspace(static_cast<unsigned char>(c));
    if (ws && !space) out += ' ';
    if (!ws) out += c;
    space = ws;
  }
  return out.size() > 90 ? out.substr(0, 87) + "..." : out;
}

// Generation state for one file.
struct Gen {
  const MutationInput &in;
  std::string m;  // masked
  std::vector<Mutant> out;
  std::map<std::string, int> counters;
  std::set<std::string> local_functions;

  const std::string &src() const { return in.source; }
  std::string text(size_t b, size_t e) const { return src().substr(b, e - b); }

  std::mt19937_64 rng_for(size_t at, int variant) const {
    return std::mt19937_64(in.seed * 1000003u + at * 31u + static_cast<uint64_t>(variant));
  }

  void add(const std::string &fault, const Function &f, Edit edit, Edit probe) {
    Mutant mu;
    std::string key = in.target + "." + f.name + "." + fault;
    mu.id = key + "." + std::to_string(counters[key]++);
    mu.target = in.target, mu.fault = fault, mu.function = f.name;
    mu.line = line_of(src(), edit.begin);
    mu.description = "`" + one_line(text(edit.begin, edit.end)) + "` -> `" + one_line(edit.text) + "`";
    mu.site = in.target + ":" + std::to_string(probe.begin) + "-" + std::to_string(probe.end) + ":" +
              std::to_string(std::hash<std::string>()(probe.text));
    mu.edit = std::move(edit), mu.probe = std::move(probe);
    out.push_back(std::move(mu));
  }

  // The trap is `ud2` in asm, not __builtin_trap(): the compiler must not learn that
  // the code after it is unreachable (a start-up probe would remove the update point).
  Edit expr_probe(size_t b, size_t e) const { return {b, e, "(({ " + std::string(kTrap) + " }), (" + text(b, e) + "))"}; }
  Edit stmt_probe(const Statement &s) const { return {s.begin, s.end, "{ " + std::string(kTrap) + " " + text(s.begin, s.end) + " }"}; }

  void conditions(const Function &f);
  void declarations(const Function &f, std::vector<std::string> *locals);
  void calls(const Function &f);
  void literals(const Function &f);
  void statements(const Function &f, const std::vector<std::string> &locals);
  void relational(const Function &f, size_t b, size_t e);
  void declarators(const Function &f, size_t b, size_t e, std::vector<std::string> *locals);
  void wrong_rhs(const Function &f, const Statement &s, size_t eq, const std::vector<std::string> &locals);
};

// branch_flip and off_by_one on the conditions of if/while/for.
void Gen::conditions(const Function &f) {
  static const std::regex kw("\\b(if|while|for)\\s*\\(");
  for (std::sregex_iterator it(m.begin() + f.body_begin, m.begin() + f.body_end, kw), end; it != end; ++it) {
    size_t open = f.body_begin + it->position(0) + it->length(0) - 1, close = match_bracket(m, open);
    if (close == std::string::npos) continue;
    size_t b = open + 1, e = close;
    if ((*it)[1] == "for") {  // the middle clause
      size_t s1 = m.find(';', b), s2 = s1 == std::string::npos ? s1 : m.find(';', s1 + 1);
      if (s2 == std::string::npos || s2 > close) continue;
      declarators(f, b, s1, nullptr);
      b = s1 + 1, e = s2;
    }
    std::string cond = trim(text(b, e));
    if (cond.empty()) continue;
    add("branch_flip", f, {b, e, "!(" + text(b, e) + ")"}, expr_probe(b, e));
    add("branch_flip", f, {b, e, "0"}, expr_probe(b, e));  // stuck at false
    add("branch_flip", f, {b, e, "1"}, expr_probe(b, e));  // stuck at true
    relational(f, b, e);
  }
}

void Gen::relational(const Function &f, size_t b, size_t e) {
  for (size_t i = b; i < e; ++i) {
    char c = m[i];
    if (c != '<' && c != '>') continue;
    if (i > 0 && (m[i - 1] == '-' || m[i - 1] == c)) continue;  // -> << >>
    if (i + 1 < e && m[i + 1] == c) {
      ++i;
      continue;
    }
    bool eq = i + 1 < e && m[i + 1] == '=';
    std::string to = std::string(1, c) + (eq ? "" : "=");
    add("off_by_one", f, {i, i + (eq ? 2 : 1), to}, expr_probe(b, e));
    if (eq) ++i;
  }
}

// A declaration statement's declarators `name = init`: uninit sites.
void Gen::declarators(const Function &f, size_t b, size_t e, std::vector<std::string> *locals) {
  static const std::regex decl("^\\s*(const\\s+)?(unsigned\\s+|signed\\s+)?(struct\\s+\\w+|\\w+)[\\s\\*]+(const\\s+)?\\w+\\s*[=,;\\[]");
  std::string stmt = m.substr(b, e - b) + ";";
  std::smatch sm;
  if (!std::regex_search(stmt, sm, decl)) return;
  size_t w = stmt.find_first_not_of(" \t\n");
  size_t we = w;
  while (we < stmt.size() && is_ident_char(stmt[we])) ++we;
  if (kNotTypes.count(stmt.substr(w, we - w))) return;
  // walk the declarators at depth 0
  size_t i = b + sm.length(0) - 1;
  for (;;) {
    size_t nb;
    std::string name = ident_before(m, i, &nb);
    if (locals && !name.empty()) locals->push_back(name);
    size_t j = i;
    if (m[j] == '[') j = match_bracket(m, j) + 1;
    while (j < e && std::isspace(static_cast<unsigned char>(m[j]))) ++j;
    size_t init_end = j;
    if (j < e && m[j] == '=') {
      size_t k = j + 1;
      for (; k < e && m[k] != ',' && m[k] != ';'; ++k)
        if (m[k] == '(' || m[k] == '[' || m[k] == '{') k = match_bracket(m, k);
      init_end = std::min(k, e);
      size_t ib = j + 1;
      while (ib < init_end && std::isspace(static_cast<unsigned char>(m[ib]))) ++ib;
      if (ib < init_end && m[ib] != '{') {
        add("uninit", f, {nb + name.size(), init_end, ""}, expr_probe(ib, init_end));
        for (int v = 1; v < in.variants; ++v) {  // other stack contents: garbage of the variable's type
          char junk[160];
          std::snprintf(junk, sizeof junk, " = (__typeof__(%s))0x%llxull", name.c_str(),
                        static_cast<unsigned long long>(rng_for(ib, v)()));
          add("uninit", f, {nb + name.size(), init_end, junk}, expr_probe(ib, init_end));
        }
      }
    }
    if (init_end >= e || m[init_end] != ',') return;
    size_t next = init_end + 1;  // the next declarator's name
    while (next < e && (std::isspace(static_cast<unsigned char>(m[next])) || m[next] == '*')) ++next;
    while (next < e && is_ident_char(m[next])) ++next;
    if (next >= e) return;
    i = next;
  }
}

void Gen::declarations(const Function &f, std::vector<std::string> *locals) {
  for (const Statement &s : simple_statements(m, f.body_begin + 1, f.body_end - 1))
    declarators(f, s.begin, s.end - 1, locals);
}

// pointer (calls returning pointers) and overflow (copy sizes).
void Gen::calls(const Function &f) {
  static const std::regex call("\\b([A-Za-z_]\\w*)\\s*\\(");
  for (std::sregex_iterator it(m.begin() + f.body_begin, m.begin() + f.body_end, call), end; it != end; ++it) {
    std::string name = (*it)[1];
    size_t b = f.body_begin + it->position(0), open = b + it->length(0) - 1, close = match_bracket(m, open);
    if (close == std::string::npos) continue;
    if (kPointerCalls.count(name)) {
      std::string c = text(b, close + 1), p = "ttst_fi_p_";
      std::string head = "({ __typeof__(" + c + ") " + p + " = (" + c + "); " + p + " ? ";
      add("pointer", f, {b, close + 1, head + p + " + 1 : " + p + "; })"}, expr_probe(b, close + 1));
      add("pointer", f, {b, close + 1, head + p + " - 1 : " + p + "; })"}, expr_probe(b, close + 1));
      for (int v = 0; v < in.variants; ++v) {
        auto rng = rng_for(b, v);
        char addr[32];
        std::snprintf(addr, sizeof addr, "0x%llxul", static_cast<unsigned long long>(rng() & 0x7ffffffffff8ull));
        add("pointer", f, {b, close + 1, head + "(__typeof__(" + p + "))" + addr + " : " + p + "; })"},
            expr_probe(b, close + 1));
      }
    }
    if (kCopyCalls.count(name)) {
      size_t last = close;  // the last argument at depth 0
      for (size_t k = close - 1; k > open; --k) {
        if (m[k] == ')' || m[k] == ']') {
          int d = 0;
          for (; k > open; --k) {
            if (m[k] == ')' || m[k] == ']') ++d;
            else if ((m[k] == '(' || m[k] == '[') && --d == 0) break;
          }
          continue;
        }
        if (m[k] == ',') {
          last = k + 1;
          break;
        }
      }
      if (last == close) continue;
      std::string arg = trim(text(last, close));
      for (int v = 0; v < in.variants; ++v) {
        int pct = 1 + static_cast<int>(rng_for(last, v)() % 100);
        add("overflow", f, {last, close, " (" + arg + ") + ((" + arg + ") * " + std::to_string(pct) + " / 100 + 1)"},
            expr_probe(last, close));
      }
    }
  }
}

// off_by_one on integer literals in expressions.
void Gen::literals(const Function &f) {
  for (size_t i = f.body_begin; i < f.body_end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(m[i])) || is_ident_char(m[i - 1])) continue;
    size_t e = i;
    while (e < f.body_end && is_ident_char(m[e])) ++e;
    std::string lit = m.substr(i, e - i);
    size_t digits = lit.find_first_not_of("0123456789");
    std::string num = lit.substr(0, digits), suffix = digits == std::string::npos ? "" : lit.substr(digits);
    if (num.empty() || num.size() > 18 || (suffix.find_first_not_of("uUlL") != std::string::npos)) {
      i = e;
      continue;
    }
    unsigned long long v = std::stoull(num);
    add("off_by_one", f, {i, i + num.size(), std::to_string(v + 1)}, expr_probe(i, e));
    if (v > 0) add("off_by_one", f, {i, i + num.size(), std::to_string(v - 1)}, expr_probe(i, e));
    i = e;
  }
}

// The `=` of an assignment statement at depth 0 (not ==, <=, >=, !=), or npos.
size_t assignment_eq(const std::string &m, const Statement &s) {
  for (size_t i = s.begin; i < s.end; ++i) {
    if (m[i] == '(' || m[i] == '[') {
      i = match_bracket(m, i);
      if (i == std::string::npos) return i;
      continue;
    }
    if (m[i] == '=' && m[i + 1] != '=' && !std::strchr("=<>!+-*/%&|^", m[i - 1])) return i;
    if (m[i] == '=' && m[i + 1] == '=') ++i;
  }
  return std::string::npos;
}

// field_wrong: the stored value taken from another member of the same object, or
// another local variable.
void Gen::wrong_rhs(const Function &f, const Statement &s, size_t eq, const std::vector<std::string> &locals) {
  static const std::regex member("\\b([A-Za-z_]\\w*)\\s*(->|\\.)\\s*([A-Za-z_]\\w*)");
  std::string rhs = m.substr(eq + 1, s.end - 1 - (eq + 1));
  std::smatch sm;
  std::string body = m.substr(f.body_begin, f.body_end - f.body_begin);
  if (std::regex_search(rhs, sm, member)) {
    std::string base = sm[1], name = sm[3];
    size_t at = eq + 1 + sm.position(3);
    std::set<std::string> others;
    for (std::sregex_iterator it(body.begin(), body.end(), member), end; it != end; ++it)
      if ((*it)[1] == base && (*it)[3] != name) others.insert((*it)[3]);
    int n = 0;
    for (const std::string &o : others)
      if (n++ < 2) add("field_wrong", f, {at, at + name.size(), o}, stmt_probe(s));
    return;
  }
  std::string r = trim(rhs);
  size_t rb = rhs.find(r);
  if (r.empty() || !std::all_of(r.begin(), r.end(), is_ident_char) || std::isdigit(static_cast<unsigned char>(r[0])))
    return;
  int n = 0;
  for (const std::string &o : std::set<std::string>(locals.begin(), locals.end()))
    if (o != r && n++ < 2) add("field_wrong", f, {eq + 1 + rb, eq + 1 + rb + r.size(), o}, stmt_probe(s));
}

// field_skip (a store or a transfer call not made), field_wrong, control.
void Gen::statements(const Function &f, const std::vector<std::string> &locals) {
  static const std::regex lead_call("^\\s*(if\\s*\\(\\s*)?([A-Za-z_]\\w*)\\s*\\(");
  for (const Statement &s : simple_statements(m, f.body_begin + 1, f.body_end - 1)) {
    std::string st = m.substr(s.begin, s.end - s.begin);
    std::smatch sm;
    bool call = std::regex_search(st, sm, lead_call) &&
                (in.transfer_calls.count(sm[2]) || local_functions.count(sm[2]) || kCopyCalls.count(sm[2])) &&
                (!sm[1].matched || st.find("return") != std::string::npos);
    size_t eq = call ? std::string::npos : assignment_eq(m, s);
    std::string lhs = eq == std::string::npos ? "" : m.substr(s.begin, eq - s.begin);
    bool store = !lhs.empty() && (lhs.find("->") != std::string::npos || lhs.find('.') != std::string::npos ||
                                  lhs.find('[') != std::string::npos || trim(lhs)[0] == '*');
    std::regex decl_like("^\\s*(const\\s+)?(struct\\s+)?\\w+[\\s\\*]+\\w+\\s*$");
    if (store && std::regex_match(lhs, decl_like)) store = false;
    if (!call && !store) continue;
    add("field_skip", f, {s.begin, s.end, ";"}, stmt_probe(s));
    if (store) wrong_rhs(f, s, eq, locals);
    if (store) add("control", f, {s.begin, s.end, "{ " + text(s.begin, s.end) + " }"}, stmt_probe(s));
  }
}

}  // namespace

const std::vector<std::string> &fault_types() {
  static const std::vector<std::string> kTypes = {"branch_flip", "uninit",     "pointer",     "off_by_one",
                                                  "overflow",    "field_skip", "field_wrong", "control"};
  return kTypes;
}

std::string apply(const std::string &source, const Edit &edit) {
  return source.substr(0, edit.begin) + edit.text + source.substr(edit.end);
}

std::vector<Mutant> generate_mutants(const MutationInput &in) {
  Gen g{in, mask_c(in.source), {}, {}, {}};
  std::vector<Function> functions = find_functions(g.m);
  for (const Function &f : functions) g.local_functions.insert(f.name);
  for (const Function &f : functions) {
    if (!in.functions.empty() && !in.functions.count(f.name)) continue;
    std::vector<std::string> locals;
    g.declarations(f, &locals);
    g.conditions(f);
    g.calls(f);
    g.literals(f);
    g.statements(f, locals);
  }
  return std::move(g.out);
}

}  // namespace ttst::fi
