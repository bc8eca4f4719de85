#include "cloud/core/barcode.h"

#include <qrencode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <memory>

namespace accrue::cloud {

namespace {

// Bar and space widths of the 107 Code 128 symbols (ISO/IEC 15417, table 1): six elements of 1
// to 4 modules, bar first, 11 modules in all; the stop symbol has a seventh bar (13 modules).
constexpr std::array<const char*, 107> kCode128Widths = {
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112"};

constexpr int kStartB = 104;
constexpr int kStop = 106;
constexpr int kCode128Quiet = 10;
constexpr int kCode128Height = 40;  // modules; at least 15% of a card code's width
constexpr int kQrQuiet = 4;

Result<Barcode> code128(std::string_view text) {
  ACCRUE_ASSIGN_OR_RETURN(auto values, code128_values(text));
  Barcode b;
  b.quiet = kCode128Quiet;
  b.row_height = kCode128Height;
  b.height = 1;
  for (int v : values) {
    bool bar = true;
    for (const char* w = kCode128Widths[static_cast<size_t>(v)]; *w != '\0'; ++w, bar = !bar) {
      b.modules.insert(b.modules.end(), static_cast<size_t>(*w - '0'), bar ? 1 : 0);
    }
  }
  b.width = static_cast<int>(b.modules.size());
  return b;
}

Result<Barcode> qr(std::string_view text) {
  const std::string z(text);
  std::unique_ptr<QRcode, void (*)(QRcode*)> q(
      QRcode_encodeString(z.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (!q) return fail(ErrorCode::kInternal, "the QR encoder failed");
  Barcode b;
  b.width = b.height = q->width;
  b.quiet = kQrQuiet;
  b.modules.resize(static_cast<size_t>(q->width) * q->width);
  for (size_t i = 0; i < b.modules.size(); ++i) b.modules[i] = q->data[i] & 1;
  return b;
}

// The drawing's size in modules, quiet zones included.
int full_width(const Barcode& b) { return b.width + 2 * b.quiet; }
int full_height(const Barcode& b) { return b.height * b.row_height + 2 * b.quiet; }

void put_u32(std::string& out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.append(type, 4);
  out += data;
  const auto* p = reinterpret_cast<const Bytef*>(out.data() + start);
  put_u32(out, static_cast<uint32_t>(crc32(0, p, static_cast<uInt>(out.size() - start))));
}

}  // namespace

Result<std::vector<int>> code128_values(std::string_view text) {
  if (text.empty() || text.size() > kMaxBarcodeText) {
    return fail(ErrorCode::kInvalidArgument,
                "a bar code holds 1 to " + std::to_string(kMaxBarcodeText) + " characters");
  }
  std::vector<int> values{kStartB};
  int check = kStartB;
  int weight = 1;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 32 || c > 126) {
      return fail(ErrorCode::kInvalidArgument, "a Code 128 bar code holds printable ASCII only");
    }
    values.push_back(c - 32);
    check = (check + weight++ * (c - 32)) % 103;
  }
  values.push_back(check);
  values.push_back(kStop);
  return values;
}

Result<Barcode> encode_barcode(Symbology symbology, std::string_view text) {
  if (symbology == Symbology::kCode128) return code128(text);
  if (text.empty() || text.size() > kMaxBarcodeText ||
      !std::ranges::all_of(text, [](char c) { return c >= 32 && c <= 126; })) {
    return fail(ErrorCode::kInvalidArgument, "a QR code here holds 1 to " +
                                                 std::to_string(kMaxBarcodeText) +
                                                 " printable ASCII characters");
  }
  return qr(text);
}

std::string barcode_svg(const Barcode& b, int scale) {
  scale = std::clamp(scale, 1, 32);
  const int w = full_width(b), h = full_height(b);
  std::string d;
  // One rectangle per horizontal run of dark modules.
  for (int y = 0; y < b.height; ++y) {
    for (int x = 0; x < b.width;) {
      if (!b.dark(x, y)) {
        ++x;
        continue;
      }
      int end = x;
      while (end < b.width && b.dark(end, y)) ++end;
      d += "M" + std::to_string(b.quiet + x) + "," + std::to_string(b.quiet + y * b.row_height) +
           "h" + std::to_string(end - x) + "v" + std::to_string(b.row_height) + "h-" +
           std::to_string(end - x) + "z";
      x = end;
    }
  }
  const std::string vw = std::to_string(w), vh = std::to_string(h);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
         vw + " " + vh + "\" width=\"" + std::to_string(w * scale) + "\" height=\"" +
         std::to_string(h * scale) +
         "\" shape-rendering=\"crispEdges\">"
         "<rect width=\"" +
         vw + "\" height=\"" + vh + "\" fill=\"#fff\"/><path fill=\"#000\" d=\"" + d +
         "\"/></svg>\n";
}

Result<std::string> barcode_png(const Barcode& b, int scale) {
  scale = std::clamp(scale, 1, 32);
  const int w = full_width(b) * scale, h = full_height(b) * scale;
  const size_t stride = (static_cast<size_t>(w) + 7) / 8;
  // Filter byte 0 then the row's bits, most significant first; in 1-bit greyscale 1 is white.
  std::string raw;
  raw.reserve((stride + 1) * static_cast<size_t>(h));
  std::string row(stride + 1, '\0');
  for (int py = 0; py < h; ++py) {
    const int my = py / scale - b.quiet;  // the module row, or outside the symbol
    const int sy = my < 0 ? -1 : my / b.row_height;
    std::fill(row.begin(), row.end(), '\0');
    for (int px = 0; px < w; ++px) {
      const int mx = px / scale - b.quiet;
      const bool dark = sy >= 0 && sy < b.height && mx >= 0 && mx < b.width && b.dark(mx, sy);
      if (!dark) row[1 + px / 8] = static_cast<char>(row[1 + px / 8] | (0x80 >> (px % 8)));
    }
    raw += row;
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &size,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                9) != Z_OK) {
    return fail(ErrorCode::kUnavailable, "out of memory drawing a bar code");
  }
  packed.resize(size);

  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_u32(ihdr, static_cast<uint32_t>(w));
  put_u32(ihdr, static_cast<uint32_t>(h));
  ihdr += std::string("\x01\x00\x00\x00\x00", 5);  // depth 1, greyscale, deflate, no filter/lace
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", "");
  return out;
}

}  // namespace accrue::cloud
