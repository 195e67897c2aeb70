// The roofline picture of a bench run (vkattn-bench --plot FILE.svg): for
// each target (backend and device) the roofs measured in the same run — the
// FMA peak and the read bandwidth the probes found — over arithmetic
// intensity (FLOP per byte, log scale) against GFLOP/s (log scale), and each
// case that ran as a numbered point with a legend (cases that did not run
// are listed with the reason). Plain SVG text. A target
// whose probe failed gets no roof, and its legend says so: a roof is never
// invented.
#pragma once

#include <string>
#include <vector>

#include "reference.h"

namespace vkattn_bench {

struct RooflineTarget {
  std::string label;         // "cpu", "vulkan:1"
  std::string device;        // the device's name
  double peak_gflops = 0.0;  // measured FMA peak; 0: none measured
  double peak_gbytes = 0.0;  // measured read bandwidth (GB/s); 0: none measured
  std::string note;          // why a peak is missing (the probe's message), or empty
};

struct RooflinePoint {
  std::string case_name;
  std::string target;           // a RooflineTarget's label
  double flops_per_byte = 0.0;  // arithmetic intensity
  double gflops = 0.0;          // achieved (median time)
  std::string why_not;          // a case that did not run: why (listed, not plotted)
  bool wrong = false;           // its output missed the reference: marked WRONG
};

// The least memory traffic of a problem, in bytes: Q read, O (and LSE)
// written, the masks read once, and the rows of K and V that at least one
// query sees (vkattn_test::count_read_keys), as stored (f32, f16, q8_0 or
// q4_0 blocks). Key lengths and block tables are not counted.
double min_traffic_bytes(const vkattn_test::HostInputs& in);

// Writes the picture to `path`: a title and a line under it (the run's
// settings), then one panel per target, in order, all on the same axes.
// False, with *error, if the file cannot be written.
bool write_roofline_svg(const std::string& path, const std::string& title, const std::string& subtitle,
                        const std::vector<RooflineTarget>& targets, const std::vector<RooflinePoint>& points,
                        std::string* error);

}  // namespace vkattn_bench
