// c_source.h — just enough of C's lexical structure for source-level mutation:
// comments and literals masked out, function definitions and their bodies found,
// parentheses and statements delimited. Not a parser: ttst-fi mutates code it can
// delimit this way and skips the rest (stfw/fi/README.md, "Operators").
#ifndef TTST_STFW_FI_C_SOURCE_H
#define TTST_STFW_FI_C_SOURCE_H

#include <cstddef>
#include <string>
#include <vector>

namespace ttst::fi {

// The source with every comment, string and character literal's contents and
// every preprocessor line replaced by spaces (same length: offsets agree with
// the original), so that scanning sees only code.
std::string mask_c(const std::string &src);

struct Function {
  std::string name;
  size_t body_begin = 0, body_end = 0;  // offsets of '{' and one past '}'
};
// Function definitions at file scope (a name, a parameter list, then '{').
std::vector<Function> find_functions(const std::string &masked);

// The offset of the bracket closing the one at `open` ('(' / '[' / '{'), or npos.
size_t match_bracket(const std::string &masked, size_t open);
// 1-based line of an offset.
int line_of(const std::string &src, size_t offset);
bool is_ident_char(char c);
// The identifier ending just before `end` (skipping spaces), or "".
std::string ident_before(const std::string &s, size_t end, size_t *begin = nullptr);

struct Statement {
  size_t begin = 0, end = 0;  // [begin, end): end is one past its ';'
};
// The simple statements directly in a body (not nested control statements'
// heads): expression statements and declarations ending in ';' at bracket depth
// 0, and `if (...) stmt;` with a single-statement body, within [begin, end).
std::vector<Statement> simple_statements(const std::string &masked, size_t begin, size_t end);

}  // namespace ttst::fi

#endif  // TTST_STFW_FI_C_SOURCE_H
