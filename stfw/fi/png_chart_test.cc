// png_chart_test — the PNG a chart encodes decodes back (signature, IHDR, CRCs,
// the inflated raster) to the pixels drawn, and the charts put their bars and
// lines where the values say.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstring>

#include "stfw/fi/png_chart.h"

using namespace ttst::chart;

namespace {

uint32_t be32(const uint8_t *p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

// Decodes what encode_png writes (one IDAT, filter 0) back into an Image.
Image decode(const std::vector<uint8_t> &png) {
  REQUIRE(png.size() > 8);
  REQUIRE(std::memcmp(png.data(), "\x89PNG\r\n\x1a\n", 8) == 0);
  size_t at = 8;
  int w = 0, h = 0;
  std::vector<uint8_t> idat;
  while (at + 12 <= png.size()) {
    uint32_t len = be32(&png[at]);
    std::string type(reinterpret_cast<const char *>(&png[at + 4]), 4);
    REQUIRE(at + 12 + len <= png.size());
    uint32_t crc = static_cast<uint32_t>(crc32(0, &png[at + 4], len + 4));
    CHECK(crc == be32(&png[at + 8 + len]));
    if (type == "IHDR") w = static_cast<int>(be32(&png[at + 8])), h = static_cast<int>(be32(&png[at + 12]));
    if (type == "IDAT") idat.assign(&png[at + 8], &png[at + 8] + len);
    at += 12 + len;
    if (type == "IEND") break;
  }
  REQUIRE(at == png.size());
  std::vector<uint8_t> raw(static_cast<size_t>(w * 3 + 1) * h);
  uLongf n = raw.size();
  REQUIRE(uncompress(raw.data(), &n, idat.data(), static_cast<uLong>(idat.size())) == Z_OK);
  REQUIRE(n == raw.size());
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    CHECK(raw[y * (w * 3 + 1)] == 0);
    for (int x = 0; x < w; ++x) {
      const uint8_t *p = &raw[y * (w * 3 + 1) + 1 + x * 3];
      img.set(x, y, {p[0], p[1], p[2]});
    }
  }
  return img;
}

bool same(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

int count(const Image &img, Rgb c) {
  int n = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) n += same(img.pixel(x, y), c);
  return n;
}

}  // namespace

TEST_CASE("an image round-trips through the PNG encoding") {
  Image img(7, 5);
  img.set(0, 0, {1, 2, 3});
  img.fill_rect(2, 1, 4, 3, {200, 10, 20});
  Image back = decode(encode_png(img));
  REQUIRE(back.width() == 7);
  REQUIRE(back.height() == 5);
  CHECK(back.rgb() == img.rgb());
}

TEST_CASE("text draws glyph pixels; unknown characters draw as '?'") {
  Image a(20, 10), b(20, 10);
  a.text(0, 0, "1", {0, 0, 0});
  CHECK(count(a, {0, 0, 0}) == 10);  // the glyph '1' has 10 pixels set
  a = Image(20, 10);
  a.text(0, 0, "\x01", {0, 0, 0});
  b.text(0, 0, "?", {0, 0, 0});
  CHECK(a.rgb() == b.rgb());
  CHECK(Image::text_width("abc", 2) == 36);
}

TEST_CASE("bar heights follow the values: twice the value, twice the pixels") {
  BarChart c{"t", "n", {"a", "b"}, {{"s", {10, 20}}}};
  Image img = draw_bar_chart(c, 400, 300);
  int first = 0, second = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x)
      if (same(img.pixel(x, y), series_color(0))) (x < 70 + 155 ? first : second)++;  // plot 70..380: two groups of 155 px
  CHECK(first > 0);
  // the legend's swatch (11x8 px) is drawn in the same colour on the left half
  int swatch = 11 * 8;
  CHECK(std::abs((first - swatch) * 2 - second) <= second / 20);
}

TEST_CASE("a line chart draws each series in its colour and encodes") {
  LineChart c{"t", "x", "y", {1, 2, 4}, {{"one", {1, 2, 3}}, {"two", {3, 2, 1}}}};
  Image img = draw_line_chart(c, 500, 300);
  CHECK(count(img, series_color(0)) > 25);
  CHECK(count(img, series_color(1)) > 25);
  CHECK(decode(encode_png(img)).rgb() == img.rgb());
  std::string err;
  CHECK_FALSE(write_png(img, "/nonexistent-dir/x.png", &err));
  CHECK(err.find("/nonexistent-dir/x.png") != std::string::npos);
}
