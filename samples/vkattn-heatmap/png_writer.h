// An 8-bit RGB PNG written with libpng one pixel row at a time, so a picture
// of any size never sits in memory whole. The rows go to a temporary file
// beside the target (same directory, so on the same file system), which
// finish() renames onto it: the target, if it exists, is replaced only by a
// complete picture, and left as it was otherwise. Every failure (cannot
// create the file, disk full, a libpng error, a failed rename) is a false
// return and a message, and the temporary file is removed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace vkattn_samples {

class PngWriter {
 public:
  PngWriter() = default;
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
  ~PngWriter();  // an unfinished temporary file is removed; `path` is untouched

  // Creates the temporary file for a width x height picture to be saved as
  // `path`, and writes its header.
  bool open(const std::string& path, uint32_t width, uint32_t height);
  // The next pixel row: width RGB triples.
  bool write_row(const uint8_t* rgb);
  // After the last row: writes the end of the file, closes it and renames
  // it to `path`.
  bool finish();

  const std::string& error() const { return error_; }

 private:
  friend struct PngCallbacks;
  bool fail(const std::string& message);  // records it, removes the temporary file; false
  void release();

  std::string path_;       // the picture's name
  std::string temp_path_;  // where it is written until finish()
  std::string error_;
  FILE* file_ = nullptr;
  void* png_ = nullptr;   // png_structp
  void* info_ = nullptr;  // png_infop
};

}  // namespace vkattn_samples
