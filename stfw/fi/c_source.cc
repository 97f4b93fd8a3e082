// c_source.cc — masking, function and statement delimiting for c_source.h.
#include "stfw/fi/c_source.h"

#include <cctype>

namespace ttst::fi {

bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string mask_c(const std::string &src) {
  std::string m = src;
  size_t i = 0, n = src.size();
  bool line_start = true;
  while (i < n) {
    char c = src[i];
    if (line_start && c == '#') {  // a preprocessor line, with its continuations
      while (i < n && !(src[i] == '\n' && src[i - 1] != '\\')) m[i++] = ' ';
      continue;
    }
    if (c == '/' && i + 1 < n && src[i + 1] == '/') {
      while (i < n && src[i] != '\n') m[i++] = ' ';
      continue;
    }
    if (c == '/' && i + 1 < n && src[i + 1] == '*') {
      size_t e = src.find("*/", i + 2);
      e = e == std::string::npos ? n : e + 2;
      for (; i < e; ++i)
        if (src[i] != '\n') m[i] = ' ';
      continue;
    }
    if (c == '"' || c == '\'') {  // keep the quotes, blank the contents
      for (++i; i < n && src[i] != c; ++i) {
        if (src[i] == '\\' && i + 1 < n) m[i++] = ' ';
        m[i] = ' ';
      }
      ++i;
      line_start = false;
      continue;
    }
    if (c == '\n') line_start = true;
    else if (!std::isspace(static_cast<unsigned char>(c))) line_start = false;
    ++i;
  }
  return m;
}

size_t match_bracket(const std::string &m, size_t open) {
  char o = m[open], c = o == '(' ? ')' : o == '[' ? ']' : '}';
  int depth = 0;
  for (size_t i = open; i < m.size(); ++i) {
    if (m[i] == o) ++depth;
    else if (m[i] == c && --depth == 0) return i;
  }
  return std::string::npos;
}

int line_of(const std::string &src, size_t offset) {
  int line = 1;
  for (size_t i = 0; i < offset && i < src.size(); ++i) line += src[i] == '\n';
  return line;
}

std::string ident_before(const std::string &s, size_t end, size_t *begin) {
  size_t e = end;
  while (e > 0 && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  size_t b = e;
  while (b > 0 && is_ident_char(s[b - 1])) --b;
  if (begin) *begin = b;
  return s.substr(b, e - b);
}

std::vector<Function> find_functions(const std::string &m) {
  std::vector<Function> out;
  int depth = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '{' && depth == 0) {
      // a definition: `name(params)` then optional spaces before '{'
      size_t j = i;
      while (j > 0 && std::isspace(static_cast<unsigned char>(m[j - 1]))) --j;
      if (j > 0 && m[j - 1] == ')') {
        int d = 0;
        size_t k = j - 1;
        for (;; --k) {
          if (m[k] == ')') ++d;
          else if (m[k] == '(' && --d == 0) break;
          if (k == 0) break;
        }
        std::string name = ident_before(m, k);
        size_t close = match_bracket(m, i);
        if (!name.empty() && name != "if" && name != "while" && name != "for" && close != std::string::npos) {
          out.push_back({name, i, close + 1});
          i = close;
          continue;
        }
      }
    }
    if (m[i] == '{') ++depth;
    if (m[i] == '}') --depth;
  }
  return out;
}

namespace {

bool starts_word(const std::string &m, size_t at, const char *w) {
  size_t n = std::char_traits<char>::length(w);
  return m.compare(at, n, w) == 0 && (at + n >= m.size() || !is_ident_char(m[at + n]));
}

// One past the ';' ending the statement at `at` (brackets skipped), or npos when
// a '{' or '}' comes first.
size_t statement_end(const std::string &m, size_t at, size_t end) {
  for (size_t i = at; i < end; ++i) {
    if (m[i] == '(' || m[i] == '[') {
      i = match_bracket(m, i);
      if (i == std::string::npos || i >= end) return std::string::npos;
    } else if (m[i] == '{' || m[i] == '}') {
      return std::string::npos;
    } else if (m[i] == ';') {
      return i + 1;
    }
  }
  return std::string::npos;
}

}  // namespace

std::vector<Statement> simple_statements(const std::string &m, size_t begin, size_t end) {
  std::vector<Statement> out;
  size_t i = begin;
  while (i < end) {
    while (i < end && (std::isspace(static_cast<unsigned char>(m[i])) || m[i] == '{' || m[i] == '}' || m[i] == ';')) ++i;
    if (i >= end) break;
    if (starts_word(m, i, "if")) {
      size_t open = m.find('(', i), close = open == std::string::npos ? open : match_bracket(m, open);
      if (close == std::string::npos || close >= end) break;
      size_t body = close + 1;
      while (body < end && std::isspace(static_cast<unsigned char>(m[body]))) ++body;
      size_t e = body < end && m[body] != '{' ? statement_end(m, body, end) : std::string::npos;
      if (e != std::string::npos) {
        size_t after = e;  // an `else` makes it more than a simple statement
        while (after < end && std::isspace(static_cast<unsigned char>(m[after]))) ++after;
        if (!starts_word(m, after, "else")) out.push_back({i, e});
      }
      i = close + 1;  // continue inside its body
      continue;
    }
    if (starts_word(m, i, "for") || starts_word(m, i, "while") || starts_word(m, i, "switch")) {
      size_t open = m.find('(', i), close = open == std::string::npos ? open : match_bracket(m, open);
      if (close == std::string::npos) break;
      i = close + 1;
      continue;
    }
    if (starts_word(m, i, "else") || starts_word(m, i, "do")) {
      i += m[i] == 'e' ? 4 : 2;
      continue;
    }
    size_t e = statement_end(m, i, end);
    if (e == std::string::npos) {  // a nested block or a construct we do not delimit
      size_t b = m.find_first_of("{}", i);
      i = b == std::string::npos ? end : b + 1;
      continue;
    }
    out.push_back({i, e});
    i = e;
  }
  return out;
}

}  // namespace ttst::fi
