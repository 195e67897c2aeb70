// Progress of a long run, for people watching a terminal: one line on
// stderr, rewritten in place ("vulkan:1  case 41 of 328, 12 s, about 85 s
// left: paged/b3_h8x2..."). Nothing is written when stderr is not a terminal
// (logs and pipes stay clean) or when the tool was asked to be quiet.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace vkattn_samples {

class Progress {
 public:
  explicit Progress(bool wanted) : shown_(wanted && isatty(fileno(stderr)) == 1) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { clear(); }

  // A new run of `total` steps named `label`.
  void start(const std::string& label, size_t total) {
    label_ = label;
    total_ = total;
    begin_ = Clock::now();
  }

  // Step `done` of the run (0-based: steps before it are finished) begins;
  // `what` names it. The line is redrawn at most ten times a second.
  void step(size_t done, const std::string& what) {
    if (!shown_) return;
    const Clock::time_point now = Clock::now();
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - begin_).count();
    char left[48] = "";
    if (done > 0) std::snprintf(left, sizeof(left), ", about %.0f s left", elapsed / done * (total_ - done));
    char line[160];
    std::snprintf(line, sizeof(line), "%s  %zu of %zu, %.0f s%s: %s", label_.c_str(), done + 1, total_, elapsed,
                  left, what.c_str());
    // Fit a common 120-column terminal so that the line never wraps.
    std::fprintf(stderr, "\r\033[K%.118s", line);
    std::fflush(stderr);
    drawn_ = true;
  }

  // Erases the line, before other output or at the end.
  void clear() {
    if (!shown_ || !drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool shown_;
  bool drawn_ = false;
  std::string label_;
  size_t total_ = 0;
  Clock::time_point begin_ = Clock::now();
  Clock::time_point last_draw_ = Clock::now();
};

}  // namespace vkattn_samples
