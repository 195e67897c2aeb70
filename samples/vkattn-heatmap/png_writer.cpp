#include "png_writer.h"

#include <png.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vkattn_samples {

// libpng reports errors through a callback that must not return: it keeps
// the message and jumps back to the setjmp of the call in progress. The
// functions that setjmp hold no objects with destructors, so the jump skips
// nothing that needs one.
struct PngCallbacks {
  static void error(png_structp png, png_const_charp message) {
    static_cast<PngWriter*>(png_get_error_ptr(png))->error_ = message;
    png_longjmp(png, 1);
  }
  static void warning(png_structp, png_const_charp) {}
};

namespace {

png_structp as_png(void* p) { return static_cast<png_structp>(p); }
png_infop as_info(void* p) { return static_cast<png_infop>(p); }

}  // namespace

PngWriter::~PngWriter() {
  if (file_ != nullptr) {
    release();
    std::remove(temp_path_.c_str());
  }
}

void PngWriter::release() {
  if (png_ != nullptr) {
    png_structp png = as_png(png_);
    png_infop info = as_info(info_);
    png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
    png_ = info_ = nullptr;
  }
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

bool PngWriter::fail(const std::string& message) {
  error_ = message;
  if (file_ != nullptr) {
    release();
    std::remove(temp_path_.c_str());
  }
  return false;
}

bool PngWriter::open(const std::string& path, uint32_t width, uint32_t height) {
  path_ = path;
  error_.clear();
  // PATH.tmp-PID (-N where that exists, say from a run that was killed),
  // created exclusively with the permissions a new file gets (0666 less the
  // umask), which the rename gives the picture.
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    temp_path_ = path + ".tmp-" + std::to_string(static_cast<long>(getpid()));
    if (attempt > 0) temp_path_ += "-" + std::to_string(attempt);
    fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    error_ = "cannot create " + path + " (its temporary file " + temp_path_ + "): " + std::strerror(errno);
    return false;
  }
  file_ = fdopen(fd, "wb");
  if (file_ == nullptr) {
    error_ = "cannot create " + path + ": " + std::strerror(errno);
    ::close(fd);
    std::remove(temp_path_.c_str());
    return false;
  }
  png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, this, PngCallbacks::error, PngCallbacks::warning);
  if (png_ != nullptr) info_ = png_create_info_struct(as_png(png_));
  if (png_ == nullptr || info_ == nullptr) return fail("libpng: out of memory");
  if (setjmp(png_jmpbuf(as_png(png_)))) return fail("libpng: " + error_);
  png_init_io(as_png(png_), file_);
  png_set_IHDR(as_png(png_), as_info(info_), width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(as_png(png_), as_info(info_));
  return true;
}

bool PngWriter::write_row(const uint8_t* rgb) {
  if (png_ == nullptr) return false;
  if (setjmp(png_jmpbuf(as_png(png_)))) return fail("libpng: " + error_);
  png_write_row(as_png(png_), rgb);
  return true;
}

bool PngWriter::finish() {
  if (png_ == nullptr) return false;
  if (setjmp(png_jmpbuf(as_png(png_)))) return fail("libpng: " + error_);
  png_write_end(as_png(png_), nullptr);
  png_structp png = as_png(png_);
  png_infop info = as_info(info_);
  png_destroy_write_struct(&png, &info);
  png_ = info_ = nullptr;
  FILE* file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0) {
    error_ = "cannot write " + temp_path_ + ": " + std::strerror(errno);
    std::remove(temp_path_.c_str());
    return false;
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    error_ = "cannot rename " + temp_path_ + " to " + path_ + ": " + std::strerror(errno);
    std::remove(temp_path_.c_str());
    return false;
  }
  return true;
}

}  // namespace vkattn_samples
