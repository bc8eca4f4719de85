// Barcodes for a member's digital card (docs/members.md, "Her digital card"): the code as a QR
// symbol or a Code 128 bar code, drawn as SVG or PNG. Pure functions, no I/O.
//
// QR comes from libqrencode (error correction level M: a cracked phone screen still scans);
// Code 128 is ours: character set B (ASCII 32..126), the modulo-103 check symbol, quiet zones of
// ten modules. Only printable ASCII is accepted, and at most kMaxBarcodeText characters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace accrue::cloud {

inline constexpr size_t kMaxBarcodeText = 128;

// A symbol as a grid of modules, row-major, 1 = dark. A linear code has one row that the
// drawing stretches to `row_height` modules; a matrix code has `height` rows of one module.
struct Barcode {
  int width = 0;
  int height = 0;
  int row_height = 1;
  int quiet = 0;  // light modules around the symbol, on every side
  std::vector<uint8_t> modules;
  bool dark(int x, int y) const { return modules[static_cast<size_t>(y) * width + x] != 0; }
};

enum class Symbology { kQr, kCode128 };

// The symbol values of `text` in Code 128 set B: start B (104), the characters, the check symbol,
// stop (106). kInvalidArgument for an empty text, one too long, or a character set B lacks.
Result<std::vector<int>> code128_values(std::string_view text);

// `text` as a symbol. Errors as code128_values; kInternal when libqrencode fails.
Result<Barcode> encode_barcode(Symbology symbology, std::string_view text);

// The symbol as an SVG document, `scale` pixels per module (1..32), dark on white, quiet zones
// included.
std::string barcode_svg(const Barcode& code, int scale);

// The same as a PNG image (1-bit greyscale); kUnavailable only when zlib runs out of memory.
Result<std::string> barcode_png(const Barcode& code, int scale);

}  // namespace accrue::cloud
