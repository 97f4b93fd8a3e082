// png_chart.cc — the raster, its 5x7 font, the PNG encoder (zlib) and the bar and
// line chart layouts of png_chart.h.
#include "stfw/fi/png_chart.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ttst::chart {
namespace {

// 5x7 glyphs, one byte a row, bit 4 the leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};
const Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'\'', {0x0C, 0x04, 0x08, 0, 0, 0, 0}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
};

const Glyph &glyph_of(char c) {
  char u = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  for (const Glyph &g : kFont)
    if (g.c == u) return g;
  return kFont[sizeof kFont / sizeof kFont[0] - 1];  // '?'
}

void put_be32(std::vector<uint8_t> &out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_chunk(std::vector<uint8_t> &out, const char type[4], const std::vector<uint8_t> &data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  uLong crc = crc32(0L, out.data() + start, static_cast<uInt>(out.size() - start));
  put_be32(out, static_cast<uint32_t>(crc));
}

const Rgb kBlack{0, 0, 0}, kGrey{200, 200, 200}, kDark{80, 80, 80};

// A "nice" axis maximum and step (1, 2 or 5 times a power of ten) for [0, max].
void nice_axis(double max, double *top, double *step) {
  if (!(max > 0)) max = 1;
  double raw = max / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double unit = raw / mag <= 1 ? 1 : raw / mag <= 2 ? 2 : raw / mag <= 5 ? 5 : 10;
  *step = unit * mag;
  *top = std::ceil(max / *step) * *step;
}

std::string number(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (std::fabs(v) >= 10) std::snprintf(buf, sizeof buf, "%.1f", v);
  else std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// The plot area and its frame: title, y label, the y axis with grid lines.
struct Frame {
  int left = 70, top = 50, right = 0, bottom = 0;
  double y_top = 1, y_step = 1;
  int y_of(double v) const { return bottom - static_cast<int>(std::lround((v / y_top) * (bottom - top))); }
};

Frame draw_frame(Image &img, const std::string &title, const std::string &y_label, double max,
                 int legend_rows) {
  Frame f;
  f.right = img.width() - 20;
  f.bottom = img.height() - 60 - 14 * legend_rows;
  nice_axis(max, &f.y_top, &f.y_step);
  img.text((img.width() - Image::text_width(title, 2)) / 2, 12, title, kBlack, 2);
  img.text(8, f.top - 16, y_label, kDark);
  for (double v = 0; v <= f.y_top + f.y_step / 2; v += f.y_step) {
    int y = f.y_of(v);
    img.line(f.left, y, f.right, y, kGrey);
    std::string s = number(v);
    img.text(f.left - 6 - Image::text_width(s), y - 3, s, kDark);
  }
  img.line(f.left, f.top, f.left, f.bottom, kBlack);
  img.line(f.left, f.bottom, f.right, f.bottom, kBlack);
  return f;
}

void draw_legend(Image &img, const std::vector<Series> &series, int y) {
  int x = 70;
  for (size_t i = 0; i < series.size(); ++i) {
    int w = 16 + Image::text_width(series[i].name) + 18;
    if (x + w > img.width() - 10) x = 70, y += 14;
    img.fill_rect(x, y, x + 10, y + 7, series_color(i));
    img.text(x + 14, y, series[i].name, kBlack);
    x += w;
  }
}

double max_value(const std::vector<Series> &series) {
  double m = 0;
  for (const Series &s : series)
    for (double v : s.values) m = std::max(m, v);
  return m;
}

int legend_rows(const std::vector<Series> &series, int width) {
  int rows = 1, x = 70;
  for (const Series &s : series) {
    int w = 16 + Image::text_width(s.name) + 18;
    if (x + w > width - 10) ++rows, x = 70;
    x += w;
  }
  return rows;
}

}  // namespace

Image::Image(int width, int height, Rgb background)
    : width_(std::max(width, 1)), height_(std::max(height, 1)),
      rgb_(static_cast<size_t>(width_) * height_ * 3) {
  fill_rect(0, 0, width_ - 1, height_ - 1, background);
}

Rgb Image::pixel(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return {};
  size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void Image::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  rgb_[i] = c.r, rgb_[i + 1] = c.g, rgb_[i + 2] = c.b;
}

void Image::fill_rect(int x0, int y0, int x1, int y1, Rgb c) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  for (int y = std::max(y0, 0); y <= std::min(y1, height_ - 1); ++y)
    for (int x = std::max(x0, 0); x <= std::min(x1, width_ - 1); ++x) set(x, y, c);
}

void Image::line(int x0, int y0, int x1, int y1, Rgb c) {
  int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (;;) {
    set(x0, y0, c);
    if (x0 == x1 && y0 == y1) return;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void Image::text(int x, int y, const std::string &s, Rgb c, int scale) {
  for (char ch : s) {
    const Glyph &g = glyph_of(ch);
    for (int row = 0; row < 7; ++row)
      for (int col = 0; col < 5; ++col)
        if (g.rows[row] & (0x10 >> col))
          fill_rect(x + col * scale, y + row * scale, x + (col + 1) * scale - 1,
                    y + (row + 1) * scale - 1, c);
    x += 6 * scale;
  }
}

int Image::text_width(const std::string &s, int scale) { return static_cast<int>(s.size()) * 6 * scale; }

std::vector<uint8_t> encode_png(const Image &image) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> out(kSignature, kSignature + 8), ihdr;
  put_be32(ihdr, static_cast<uint32_t>(image.width()));
  put_be32(ihdr, static_cast<uint32_t>(image.height()));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, filter 0, no interlace
  put_chunk(out, "IHDR", ihdr);
  size_t row = static_cast<size_t>(image.width()) * 3;
  std::vector<uint8_t> raw;
  raw.reserve((row + 1) * image.height());
  for (int y = 0; y < image.height(); ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), image.rgb().begin() + y * row, image.rgb().begin() + (y + 1) * row);
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> idat(size);
  compress2(idat.data(), &size, raw.data(), static_cast<uLong>(raw.size()), 9);
  idat.resize(size);
  put_chunk(out, "IDAT", idat);
  put_chunk(out, "IEND", {});
  return out;
}

bool write_png(const Image &image, const std::string &path, std::string *error) {
  std::vector<uint8_t> bytes = encode_png(image);
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) {
    *error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) *error = "cannot write " + path + ": " + std::strerror(errno);
  return ok;
}

Rgb series_color(size_t index) {
  static const Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                 {188, 189, 34},  {23, 190, 207}};
  return kPalette[index % (sizeof kPalette / sizeof kPalette[0])];
}

Image draw_bar_chart(const BarChart &chart, int width, int height) {
  Image img(width, height);
  int rows = legend_rows(chart.series, width);
  Frame f = draw_frame(img, chart.title, chart.y_label, max_value(chart.series), rows);
  size_t groups = std::max<size_t>(chart.categories.size(), 1), bars = std::max<size_t>(chart.series.size(), 1);
  double group_w = static_cast<double>(f.right - f.left) / groups;
  double bar_w = group_w * 0.8 / bars;
  for (size_t g = 0; g < chart.categories.size(); ++g) {
    int gx = f.left + static_cast<int>(g * group_w);
    const std::string &label = chart.categories[g];
    img.text(gx + static_cast<int>(group_w / 2) - Image::text_width(label) / 2, f.bottom + 8, label, kBlack);
    for (size_t s = 0; s < chart.series.size(); ++s) {
      if (g >= chart.series[s].values.size()) continue;
      double v = chart.series[s].values[g];
      int x0 = gx + static_cast<int>(group_w * 0.1 + s * bar_w), x1 = x0 + std::max(static_cast<int>(bar_w) - 2, 1);
      int y = f.y_of(std::max(v, 0.0));
      if (v > 0) img.fill_rect(x0, y, x1, f.bottom - 1, series_color(s));
      std::string s_v = number(v);
      img.text((x0 + x1) / 2 - Image::text_width(s_v) / 2, y - 10, s_v, kDark);
    }
  }
  draw_legend(img, chart.series, f.bottom + 28);
  return img;
}

Image draw_line_chart(const LineChart &chart, int width, int height) {
  Image img(width, height);
  int rows = legend_rows(chart.series, width);
  Frame f = draw_frame(img, chart.title, chart.y_label, max_value(chart.series), rows);
  double x_min = chart.x.empty() ? 0 : *std::min_element(chart.x.begin(), chart.x.end());
  double x_max = chart.x.empty() ? 1 : *std::max_element(chart.x.begin(), chart.x.end());
  if (x_max <= x_min) x_max = x_min + 1;
  auto x_of = [&](double v) {
    return f.left + 10 + static_cast<int>(std::lround((v - x_min) / (x_max - x_min) * (f.right - f.left - 20)));
  };
  for (double v : chart.x) {
    std::string s = number(v);
    img.line(x_of(v), f.bottom, x_of(v), f.bottom + 4, kBlack);
    img.text(x_of(v) - Image::text_width(s) / 2, f.bottom + 8, s, kDark);
  }
  img.text(f.right - Image::text_width(chart.x_label), f.bottom + 20, chart.x_label, kDark);
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const std::vector<double> &vals = chart.series[s].values;
    size_t n = std::min(vals.size(), chart.x.size());
    for (size_t i = 0; i < n; ++i) {
      int x = x_of(chart.x[i]), y = f.y_of(std::max(vals[i], 0.0));
      img.fill_rect(x - 2, y - 2, x + 2, y + 2, series_color(s));
      if (i == 0) continue;
      int px = x_of(chart.x[i - 1]), py = f.y_of(std::max(vals[i - 1], 0.0));
      img.line(px, py, x, y, series_color(s));  // two pixels thick
      img.line(px, py + 1, x, y + 1, series_color(s));
    }
  }
  draw_legend(img, chart.series, f.bottom + 34);
  return img;
}

}  // namespace ttst::chart
