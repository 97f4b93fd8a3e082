// png_chart.h — a small chart writer of our own: bar and line charts drawn into an
// RGB raster with a built-in 5x7 bitmap font and encoded as PNG through zlib.
// Why: ttst's tools (ttst-fi's Figure 6, the downtime benchmark) draw figures
// without a plotting stack (no Python, no gnuplot on the CI box). Untrusted tooling:
// nothing here runs near the updated program.
// Text: ASCII letters (drawn upper-case), digits and common punctuation; other
// characters are drawn as '?'.
#ifndef TTST_STFW_FI_PNG_CHART_H
#define TTST_STFW_FI_PNG_CHART_H

#include <cstdint>
#include <string>
#include <vector>

namespace ttst::chart {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// An RGB raster, row-major, 3 bytes a pixel; drawing clips to its bounds.
class Image {
 public:
  Image(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return width_; }
  int height() const { return height_; }
  Rgb pixel(int x, int y) const;
  void set(int x, int y, Rgb c);
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);  // inclusive corners
  void line(int x0, int y0, int x1, int y1, Rgb c);       // Bresenham
  // Text with its top-left corner at (x, y); `scale` multiplies the 5x7 glyphs.
  void text(int x, int y, const std::string &s, Rgb c, int scale = 1);
  static int text_width(const std::string &s, int scale = 1);  // 6 px a character
  const std::vector<uint8_t> &rgb() const { return rgb_; }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

// The image as a PNG file's bytes (8-bit RGB, no interlace, filter 0, deflate).
std::vector<uint8_t> encode_png(const Image &image);
// Writes the PNG to `path`; false with *error set when it cannot.
bool write_png(const Image &image, const std::string &path, std::string *error);

struct Series {
  std::string name;            // the legend's label
  std::vector<double> values;  // one per category (bar) or per x (line)
};

// Grouped bars: one group per category, one bar per series, each bar labelled
// with its value.
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;
  std::vector<Series> series;
};

// Lines over a numeric x axis, one per series, with a marker on each point.
struct LineChart {
  std::string title, x_label, y_label;
  std::vector<double> x;
  std::vector<Series> series;
};

Image draw_bar_chart(const BarChart &chart, int width = 960, int height = 540);
Image draw_line_chart(const LineChart &chart, int width = 960, int height = 540);

// The palette series are drawn in (cycled).
Rgb series_color(size_t index);

}  // namespace ttst::chart

#endif  // TTST_STFW_FI_PNG_CHART_H
