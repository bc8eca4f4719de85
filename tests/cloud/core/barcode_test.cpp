// The digital card's bar codes: Code 128 golden values and module patterns, QR's structure, and
// SVG and PNG drawings read back (the PNG inflated and compared pixel by pixel).
#include "cloud/core/barcode.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace accrue::cloud {
namespace {

std::string row_of(const Barcode& b) {
  std::string s;
  for (int x = 0; x < b.width; ++x) s += b.dark(x, 0) ? '1' : '0';
  return s;
}

TEST(Code128Test, ValuesAndCheckSymbolMatchTheHandComputation) {
  // "PJJ123C": 104 + 1*48 + 2*42 + 3*42 + 4*17 + 5*18 + 6*19 + 7*35 = 879 = 8*103 + 55.
  auto v = code128_values("PJJ123C");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<int>{104, 48, 42, 42, 17, 18, 19, 35, 55, 106}));
}

TEST(Code128Test, ModulesAreStartBTheCharactersTheCheckAndStop) {
  auto b = encode_barcode(Symbology::kCode128, "A");
  ASSERT_TRUE(b);
  // Start B, 'A' (33), check (104 + 33) % 103 = 34 ('B', 131123), stop.
  EXPECT_EQ(row_of(*b),
            std::string("11010010000") + "10100011000" + "10001011000" + "1100011101011");
  EXPECT_EQ(b->height, 1);
  EXPECT_EQ(b->quiet, 10);
  EXPECT_GE(b->row_height, 10);
}

TEST(Code128Test, EveryCardCodeIsElevenModulesASymbol) {
  const std::string code = "AC0123456789ABCDEF";
  auto b = encode_barcode(Symbology::kCode128, code);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->width, 11 * static_cast<int>(code.size() + 3) + 2);
}

TEST(Code128Test, RefusesWhatSetBCannotHold) {
  EXPECT_FALSE(code128_values(""));
  EXPECT_FALSE(code128_values("caf\xc3\xa9"));
  EXPECT_FALSE(code128_values("tab\there"));
  EXPECT_FALSE(code128_values(std::string(kMaxBarcodeText + 1, 'A')));
  EXPECT_TRUE(code128_values(std::string(kMaxBarcodeText, 'A')));
}

// A QR finder pattern: a 7x7 dark ring, a light ring, a 3x3 dark centre.
bool finder_at(const Barcode& b, int x0, int y0) {
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 7; ++x) {
      const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
      const bool centre = x >= 2 && x <= 4 && y >= 2 && y <= 4;
      if (b.dark(x0 + x, y0 + y) != (ring || centre)) return false;
    }
  }
  return true;
}

TEST(QrTest, ACardCodeIsAVersionOneSymbolWithItsThreeFinders) {
  auto b = encode_barcode(Symbology::kQr, "AC0123456789ABCDEF");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->width, 21);  // 18 alphanumeric characters fit version 1 at level M
  EXPECT_EQ(b->height, 21);
  EXPECT_EQ(b->quiet, 4);
  EXPECT_TRUE(finder_at(*b, 0, 0));
  EXPECT_TRUE(finder_at(*b, 14, 0));
  EXPECT_TRUE(finder_at(*b, 0, 14));
  EXPECT_FALSE(finder_at(*b, 14, 14));
  EXPECT_FALSE(encode_barcode(Symbology::kQr, ""));
  EXPECT_FALSE(encode_barcode(Symbology::kQr, "line\nbreak"));
}

TEST(BarcodeSvgTest, DrawsOneRectanglePerRunInsideItsQuietZone) {
  auto b = encode_barcode(Symbology::kCode128, "A");
  ASSERT_TRUE(b);
  const std::string svg = barcode_svg(*b, 2);
  EXPECT_TRUE(svg.starts_with("<?xml"));
  const int w = 11 * 4 + 2 + 20, h = b->row_height + 20;
  EXPECT_NE(svg.find("viewBox=\"0 0 " + std::to_string(w) + " " + std::to_string(h) + "\""),
            std::string::npos);
  EXPECT_NE(svg.find("width=\"" + std::to_string(2 * w) + "\""), std::string::npos);
  // The start symbol's first bar: two modules wide, from x = 10 (the quiet zone).
  EXPECT_NE(svg.find("d=\"M10,10h2v" + std::to_string(b->row_height) + "h-2z"), std::string::npos);
}

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

TEST(BarcodePngTest, IsAValidOneBitImageOfTheModules) {
  auto b = encode_barcode(Symbology::kQr, "AC0123456789ABCDEF");
  ASSERT_TRUE(b);
  const int scale = 3;
  auto png = barcode_png(*b, scale);
  ASSERT_TRUE(png);
  ASSERT_TRUE(png->starts_with(std::string("\x89PNG\r\n\x1a\n", 8)));
  // Chunks: length, type, data, CRC over type and data.
  std::string idat;
  uint32_t width = 0, height = 0;
  size_t at = 8;
  std::vector<std::string> types;
  while (at < png->size()) {
    const uint32_t len = be32(*png, at);
    const std::string type = png->substr(at + 4, 4);
    const std::string data = png->substr(at + 8, len);
    const uint32_t crc = be32(*png, at + 8 + len);
    EXPECT_EQ(crc, crc32(0, reinterpret_cast<const Bytef*>(png->data() + at + 4), len + 4)) << type;
    if (type == "IHDR") {
      width = be32(data, 0);
      height = be32(data, 4);
      EXPECT_EQ(data.substr(8), std::string("\x01\x00\x00\x00\x00", 5));
    }
    if (type == "IDAT") idat += data;
    types.push_back(type);
    at += 12 + len;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  ASSERT_EQ(width, static_cast<uint32_t>((21 + 8) * scale));
  ASSERT_EQ(height, width);
  const size_t stride = (width + 7) / 8 + 1;
  std::string raw(stride * height, '\0');
  uLongf size = raw.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &size,
                       reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
            Z_OK);
  ASSERT_EQ(size, raw.size());
  int wrong = 0;
  for (uint32_t py = 0; py < height; ++py) {
    EXPECT_EQ(raw[py * stride], '\0');  // filter: none
    for (uint32_t px = 0; px < width; ++px) {
      const bool white = (static_cast<uint8_t>(raw[py * stride + 1 + px / 8]) >> (7 - px % 8)) & 1;
      const int mx = static_cast<int>(px) / scale - 4, my = static_cast<int>(py) / scale - 4;
      const bool dark = mx >= 0 && my >= 0 && mx < 21 && my < 21 && b->dark(mx, my);
      if (white == dark) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace accrue::cloud
