// image/codec.h on libpng and libjpeg(-turbo) instead of OpenCV: the codecs of the
// -DDIFFEDIT_GPU_CHECK=ON build (scripts/gpu-check.sh), for a machine where Debian's OpenCV, with
// the ~200 MB of libraries its codecs pull in, cannot be brought. The main build has codec_opencv.cpp.
//
// It decodes what OpenCV's imdecode(IMREAD_UNCHANGED) decodes, through the same libraries OpenCV's
// PNG and JPEG codecs call: PNG samples as stored (8 or 16 bits; palettes expanded to RGB, to RGBA
// when they have transparency; gray + alpha as RGBA with the gray replicated; 1/2/4-bit gray to 8
// bits), JPEG as RGB or gray (CMYK converted as OpenCV does), no EXIF rotation. Other formats
// (which OpenCV would also read) are refused. It encodes with OpenCV's settings, to the same bytes.
#include <jpeglib.h>
#include <png.h>
#include <cstdio>  // before jpeglib.h, which uses FILE

#include <cstdlib>
#include <cstring>
#include <vector>

#include "image/codec.h"

namespace diffedit::image::codec {

namespace {

// The codecs report errors through callbacks that must not return: they throw CodecError, which
// decode() and encode() prefix with what failed.

// ---- PNG ---------------------------------------------------------------------------------------

struct PngReader {
  const std::string& bytes;
  std::size_t at = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;

  explicit PngReader(const std::string& b) : bytes(b) {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, &PngReader::on_error, &PngReader::on_warning);
    if (!png) throw CodecError("libpng: out of memory");
    info = png_create_info_struct(png);
    if (!info) {
      png_destroy_read_struct(&png, nullptr, nullptr);
      throw CodecError("libpng: out of memory");
    }
    png_set_read_fn(png, this, &PngReader::on_read);
    png_read_info(png, info);
  }
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  static void on_read(png_structp p, png_bytep out, png_size_t n) {
    auto* self = static_cast<PngReader*>(png_get_io_ptr(p));
    if (self->at + n > self->bytes.size()) throw CodecError("truncated PNG data");
    std::memcpy(out, self->bytes.data() + self->at, n);
    self->at += n;
  }
  [[noreturn]] static void on_error(png_structp, png_const_charp message) { throw CodecError(std::string("libpng: ") + message); }
  static void on_warning(png_structp, png_const_charp) {}
};

Pixels decode_png(const std::string& bytes) {
  PngReader r(bytes);
  const int type = png_get_color_type(r.png, r.info);
  const int depth = png_get_bit_depth(r.png, r.info);
  const bool transparency = png_get_valid(r.png, r.info, PNG_INFO_tRNS) != 0;
  Pixels px;
  px.width = static_cast<int>(png_get_image_width(r.png, r.info));
  px.height = static_cast<int>(png_get_image_height(r.png, r.info));
  px.sample = depth == 16 ? Sample::u16 : Sample::u8;
  // OpenCV's channel counts: RGB and palette 3 (4 with a tRNS chunk), gray + alpha and RGBA 4, gray 1.
  const bool colour_or_palette = type == PNG_COLOR_TYPE_RGB || type == PNG_COLOR_TYPE_PALETTE;
  px.channels = colour_or_palette ? (transparency ? 4 : 3) : (type & PNG_COLOR_MASK_ALPHA) ? 4 : 1;
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(r.png);
  if (px.channels == 4 && transparency) png_set_tRNS_to_alpha(r.png);
  if (px.channels != 4 && (type & PNG_COLOR_MASK_ALPHA) == 0 && transparency) png_set_strip_alpha(r.png);  // gray + tRNS: ignored
  if (depth == 16) png_set_swap(r.png);                                                                    // PNG stores big-endian
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  const std::size_t row = png_get_rowbytes(r.png, r.info);
  if (row != static_cast<std::size_t>(px.width) * px.channels * (depth == 16 ? 2 : 1)) throw CodecError("libpng: unexpected row layout");
  px.data.resize(row * static_cast<std::size_t>(px.height));
  std::vector<png_bytep> rows(static_cast<std::size_t>(px.height));
  for (int y = 0; y < px.height; ++y) rows[static_cast<std::size_t>(y)] = px.data.data() + row * static_cast<std::size_t>(y);
  png_read_image(r.png, rows.data());
  png_read_end(r.png, nullptr);
  return px;
}

void png_write_to_string(png_structp p, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
}
void png_flush_nothing(png_structp) {}

std::string encode_png(const Pixels& px) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, &PngReader::on_error, &PngReader::on_warning);
  if (!png) throw CodecError("libpng: out of memory");
  png_infop info = png_create_info_struct(png);
  struct Guard {
    png_structp* p;
    png_infop* i;
    ~Guard() { png_destroy_write_struct(p, i); }
  } guard{&png, &info};
  if (!info) throw CodecError("libpng: out of memory");
  png_set_write_fn(png, &out, &png_write_to_string, &png_flush_nothing);
  const int depth = px.sample == Sample::u16 ? 16 : 8;
  const int type = px.channels == 1 ? PNG_COLOR_TYPE_GRAY : px.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, static_cast<png_uint_32>(px.width), static_cast<png_uint_32>(px.height), depth, type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  // OpenCV's defaults: tuned for speed (the Sub filter, zlib level 1), run-length strategy.
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_set_compression_level(png, 1);
  png_set_compression_strategy(png, 3 /* Z_RLE */);
  png_write_info(png, info);
  if (depth == 16) png_set_swap(png);
  const std::size_t row = static_cast<std::size_t>(px.width) * px.channels * (depth == 16 ? 2 : 1);
  for (int y = 0; y < px.height; ++y) png_write_row(png, const_cast<png_bytep>(px.data.data() + row * static_cast<std::size_t>(y)));
  png_write_end(png, nullptr);
  return out;
}

// ---- JPEG --------------------------------------------------------------------------------------

[[noreturn]] void jpeg_on_error(j_common_ptr c) {
  char message[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, message);
  throw CodecError(std::string("libjpeg: ") + message);
}
void jpeg_on_message(j_common_ptr, int) {}

struct JpegReader {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  explicit JpegReader(const std::string& bytes) {
    cinfo.err = jpeg_std_error(&err);
    err.error_exit = &jpeg_on_error;
    err.emit_message = &jpeg_on_message;
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&cinfo, TRUE);
  }
  ~JpegReader() { jpeg_destroy_decompress(&cinfo); }
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;
};

Pixels decode_jpeg(const std::string& bytes) {
  JpegReader r(bytes);
  const bool gray = r.cinfo.num_components == 1;
  const bool cmyk = r.cinfo.jpeg_color_space == JCS_CMYK || r.cinfo.jpeg_color_space == JCS_YCCK;
  r.cinfo.out_color_space = gray ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&r.cinfo);
  Pixels px;
  px.width = static_cast<int>(r.cinfo.output_width);
  px.height = static_cast<int>(r.cinfo.output_height);
  px.channels = gray ? 1 : 3;
  const int stored = r.cinfo.output_components;
  std::vector<std::uint8_t> line(static_cast<std::size_t>(px.width) * stored);
  px.data.resize(static_cast<std::size_t>(px.width) * px.height * px.channels);
  while (r.cinfo.output_scanline < r.cinfo.output_height) {
    const std::size_t y = r.cinfo.output_scanline;
    JSAMPROW row = line.data();
    jpeg_read_scanlines(&r.cinfo, &row, 1);
    std::uint8_t* out = px.data.data() + y * px.width * px.channels;
    if (!cmyk) {
      std::memcpy(out, line.data(), line.size());
      continue;
    }
    for (int x = 0; x < px.width; ++x) {  // OpenCV's CMYK -> RGB (Adobe's inverted CMYK)
      const int k = line[4 * x + 3];
      for (int c = 0; c < 3; ++c) out[3 * x + c] = static_cast<std::uint8_t>(k - (((255 - line[4 * x + c]) * k) >> 8));
    }
  }
  jpeg_finish_decompress(&r.cinfo);
  return px;
}

std::string encode_jpeg(const Pixels& px, int quality) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);
  err.error_exit = &jpeg_on_error;
  err.emit_message = &jpeg_on_message;
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  struct Guard {
    jpeg_compress_struct* c;
    unsigned char** b;
    ~Guard() {
      jpeg_destroy_compress(c);
      std::free(*b);
    }
  } guard{&cinfo, &buffer};
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(px.width);
  cinfo.image_height = static_cast<JDIMENSION>(px.height);
  cinfo.input_components = px.channels;
  cinfo.in_color_space = px.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t row = static_cast<std::size_t>(px.width) * px.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW line = const_cast<JSAMPROW>(px.data.data() + row * cinfo.next_scanline);
    jpeg_write_scanlines(&cinfo, &line, 1);
  }
  jpeg_finish_compress(&cinfo);
  return std::string(reinterpret_cast<const char*>(buffer), size);
}

}  // namespace

Pixels decode(const std::string& bytes, const std::string& format) {
  if (format != "png" && format != "jpeg")
    throw CodecError("not a PNG or JPEG image (this build reads images with libpng and libjpeg, without OpenCV)");
  try {
    return format == "png" ? decode_png(bytes) : decode_jpeg(bytes);
  } catch (const CodecError& e) {
    throw CodecError("cannot decode " + format + " data: " + e.what());
  }
}

std::string encode(const Pixels& px, bool png, int jpeg_quality) {
  try {
    return png ? encode_png(px) : encode_jpeg(px, jpeg_quality);
  } catch (const CodecError& e) {
    throw CodecError(std::string("could not encode the image: ") + e.what());
  }
}

}  // namespace diffedit::image::codec
