#include "roofline.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "quant_blocks.h"

namespace vkattn_bench {

namespace {

// Text for an SVG element or attribute: markup characters escaped, and
// control characters (which XML 1.0 cannot hold) replaced.
std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 && c != '\t' ? '?' : c;
    }
  }
  return out;
}

std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* pattern, ...) {
  va_list args, again;
  va_start(args, pattern);
  va_copy(again, args);
  const int size = std::vsnprintf(nullptr, 0, pattern, args);
  va_end(args);
  std::string text(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  if (size > 0) std::vsnprintf(&text[0], text.size() + 1, pattern, again);
  va_end(again);
  return text;
}

// A tick label for 10^k.
std::string decade_label(int k) {
  if (k >= 0 && k <= 5) return format("%.0f", std::pow(10.0, k));
  if (k < 0 && k >= -3) return format("%.*f", -k, std::pow(10.0, k));
  return format("1e%d", k);
}

// The colour of a case's family (the first word of its name).
const char* family_colour(const std::string& name) {
  static const struct {
    const char* prefix;
    const char* colour;
  } kFamilies[] = {{"prefill", "#1f77b4"}, {"decode", "#d62728"}, {"streaming", "#9467bd"},
                   {"cross", "#2ca02c"},   {"long", "#ff7f0e"}};
  for (const auto& family : kFamilies) {
    if (name.rfind(family.prefix, 0) == 0) return family.colour;
  }
  return "#555555";
}

bool plottable(const RooflinePoint& p) {
  return std::isfinite(p.flops_per_byte) && std::isfinite(p.gflops) && p.flops_per_byte > 0 && p.gflops > 0;
}

// Decades [lo, hi] covering every value with a factor of 2 to spare.
void decades(const std::vector<double>& values, int* lo, int* hi) {
  double min = 0, max = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v)) continue;
    min = min > 0 ? std::min(min, v) : v;
    max = std::max(max, v);
  }
  if (max <= 0) {
    *lo = -1;
    *hi = 3;
    return;
  }
  *lo = static_cast<int>(std::floor(std::log10(min / 2)));
  *hi = std::max(*lo + 1, static_cast<int>(std::ceil(std::log10(max * 2))));
}

// Panel geometry (pixels).
constexpr double kWidth = 1200;
constexpr double kPlotLeft = 80, kPlotWidth = 520, kPlotHeight = 340;
constexpr double kPlotTop = 74;   // below the panel's title and roof lines
constexpr double kLegendLeft = 650;
constexpr double kLineHeight = 15;
constexpr double kHeaderHeight = 92;  // the picture's title, subtitle and notes
constexpr double kPi = 3.14159265358979323846;

}  // namespace

double min_traffic_bytes(const vkattn_test::HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  double rows = 0;  // query rows of all sequences
  for (int64_t b = 0; b < d.batch; ++b) rows += double(vkattn_test::query_length(in, b));
  const double float_bytes = d.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  double bytes = rows * double(d.q_heads) * (double(d.qk_dim + d.v_dim) * float_bytes + (d.has_lse ? 4 : 0));
  const uint64_t keys = vkattn_test::count_read_keys(in);
  const vkattn_dtype k_type = vkattn_test::is_block_type(d.k_dtype) ? d.k_dtype : d.dtype;
  const vkattn_dtype v_type = vkattn_test::is_block_type(d.v_dtype) ? d.v_dtype : d.dtype;
  bytes += double(vkattn_test::values_bytes(k_type, keys * uint64_t(d.qk_dim)));
  bytes += double(vkattn_test::values_bytes(v_type, keys * uint64_t(d.v_dim)));
  // A mask is read once over its stored extent: a stride of 0 broadcasts.
  auto mask_bytes = [&](const vkattn_mask_layout& m, double element) {
    return element * double(m.batch_stride ? d.batch : 1) * double(m.head_stride ? d.q_heads : 1) *
           double(m.row_stride ? d.q_len : 1) * double(m.col_stride ? d.kv_len : 1);
  };
  if (d.has_additive_mask) bytes += mask_bytes(d.additive_mask_layout, 4);
  if (d.has_bool_mask) bytes += mask_bytes(d.bool_mask_layout, 1);
  return bytes;
}

bool write_roofline_svg(const std::string& path, const std::string& title, const std::string& subtitle,
                        const std::vector<RooflineTarget>& targets, const std::vector<RooflinePoint>& points,
                        std::string* error) {
  // One pair of axes for every panel, so that panels compare at a glance.
  std::vector<double> xs, ys;
  for (const RooflinePoint& p : points) {
    if (!plottable(p)) continue;
    xs.push_back(p.flops_per_byte);
    ys.push_back(p.gflops);
  }
  for (const RooflineTarget& t : targets) {
    ys.push_back(t.peak_gflops);
    if (t.peak_gflops > 0 && t.peak_gbytes > 0) xs.push_back(t.peak_gflops / t.peak_gbytes);  // the ridge
  }
  int x_lo, x_hi, y_lo, y_hi;
  decades(xs, &x_lo, &x_hi);
  decades(ys, &y_lo, &y_hi);
  const double x_decade = kPlotWidth / (x_hi - x_lo), y_decade = kPlotHeight / (y_hi - y_lo);

  std::string body;
  double top = kHeaderHeight;
  for (size_t t = 0; t < targets.size(); ++t) {
    const RooflineTarget& target = targets[t];
    std::vector<const RooflinePoint*> mine;
    for (const RooflinePoint& p : points) {
      if (p.target == target.label) mine.push_back(&p);
    }
    const double plot_top = top + kPlotTop;
    auto px = [&](double ai) { return kPlotLeft + (std::log10(ai) - x_lo) * x_decade; };
    auto py = [&](double gflops) { return plot_top + kPlotHeight - (std::log10(gflops) - y_lo) * y_decade; };
    const double x_min = std::pow(10.0, x_lo), x_max = std::pow(10.0, x_hi);

    body += format("<g class=\"panel\" data-target=\"%s\">\n", xml_escape(target.label).c_str());
    body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">%s: %s</text>\n", kPlotLeft,
                   top + 20, xml_escape(target.label).c_str(), xml_escape(target.device).c_str());
    // What the roofs are, or why there is none.
    std::string roofs;
    if (target.peak_gflops > 0) roofs += format("FMA peak %.1f GFLOP/s", target.peak_gflops);
    else roofs += "no measured FMA peak";
    if (target.peak_gbytes > 0) roofs += format(", read bandwidth %.1f GB/s", target.peak_gbytes);
    else roofs += ", no measured read bandwidth";
    if (target.peak_gflops > 0 && target.peak_gbytes > 0) {
      roofs += format(", ridge at %.2g FLOP/byte (all measured in this run)", target.peak_gflops / target.peak_gbytes);
    } else {
      roofs += ": no roof drawn for what was not measured";
    }
    body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", kPlotLeft, top + 38,
                   xml_escape(roofs).c_str());
    if (!target.note.empty()) {
      body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" fill=\"#b00000\">%s</text>\n", kPlotLeft, top + 54,
                     xml_escape(target.note).c_str());
    }

    // Frame, grid and ticks.
    body += format("<clipPath id=\"plot%zu\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n", t,
                   kPlotLeft, plot_top, kPlotWidth, kPlotHeight);
    body += format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fcfcfc\" stroke=\"#888\"/>\n",
                   kPlotLeft, plot_top, kPlotWidth, kPlotHeight);
    for (int k = x_lo; k <= x_hi; ++k) {
      const double x = px(std::pow(10.0, k));
      for (int m = 2; m <= 9 && k < x_hi; ++m) {
        body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", px(m * std::pow(10.0, k)),
                       plot_top, px(m * std::pow(10.0, k)), plot_top + kPlotHeight);
      }
      body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>\n", x, plot_top, x,
                     plot_top + kPlotHeight);
      body += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x,
                     plot_top + kPlotHeight + 15, decade_label(k).c_str());
    }
    for (int k = y_lo; k <= y_hi; ++k) {
      const double y = py(std::pow(10.0, k));
      for (int m = 2; m <= 9 && k < y_hi; ++m) {
        body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", kPlotLeft,
                       py(m * std::pow(10.0, k)), kPlotLeft + kPlotWidth, py(m * std::pow(10.0, k)));
      }
      body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>\n", kPlotLeft, y,
                     kPlotLeft + kPlotWidth, y);
      body += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", kPlotLeft - 6, y + 4,
                     decade_label(k).c_str());
    }
    body += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">arithmetic intensity "
                   "(FLOP per byte of least traffic)</text>\n",
                   kPlotLeft + kPlotWidth / 2, plot_top + kPlotHeight + 34);
    body += format("<text transform=\"translate(%.1f %.1f) rotate(-90)\" font-size=\"12\" "
                   "text-anchor=\"middle\">GFLOP/s</text>\n",
                   kPlotLeft - 50, plot_top + kPlotHeight / 2);

    // The roofs: bandwidth x intensity up to the ridge, then the FMA peak.
    body += format("<g clip-path=\"url(#plot%zu)\" class=\"roof\">\n", t);
    const double P = target.peak_gflops, B = target.peak_gbytes;
    if (P > 0 && B > 0) {
      const double ridge = P / B;
      body += format("<polyline fill=\"none\" stroke=\"#222\" stroke-width=\"2\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
                     px(x_min), py(x_min * B), px(ridge), py(P), px(x_max), py(P));
      body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-dasharray=\"3 3\"/>\n",
                     px(ridge), py(P), px(ridge), plot_top + kPlotHeight);
    } else if (P > 0) {
      body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"2\"/>\n", px(x_min),
                     py(P), px(x_max), py(P));
    } else if (B > 0) {
      body += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"2\"/>\n", px(x_min),
                     py(x_min * B), px(x_max), py(x_max * B));
    }
    if (P > 0) {
      body += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">FMA peak %.1f GFLOP/s</text>\n",
                     kPlotLeft + kPlotWidth - 4, py(P) - 5, P);
    }
    if (B > 0) {
      // Along the bandwidth line, near its left end.
      const double ai = std::pow(10.0, x_lo + 0.25);
      const double angle = -std::atan2(y_decade, x_decade) * 180 / kPi;
      body += format("<text transform=\"translate(%.1f %.1f) rotate(%.1f)\" font-size=\"11\">%.1f GB/s</text>\n", px(ai),
                     py(ai * B) - 5, angle, B);
    }
    body += "</g>\n";
    if (P <= 0 && B <= 0) {
      body += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#b00000\" text-anchor=\"middle\">no measured "
                     "peak: no roof</text>\n",
                     kPlotLeft + kPlotWidth / 2, plot_top + 20);
    }

    // The cases: a numbered point each, and a legend line.
    double legend_y = plot_top + 10;
    const std::string header = format("%2s %-38s %8s %7s %5s", "#", "case", "GFLOP/s", "FLOP/B", "roof");
    body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" font-family=\"monospace\" font-weight=\"bold\" "
                   "xml:space=\"preserve\">%s</text>\n",
                   kLegendLeft, legend_y, header.c_str());
    legend_y += kLineHeight + 2;
    if (mine.empty()) {
      body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\">no case ran on this target</text>\n", kLegendLeft,
                     legend_y);
      legend_y += kLineHeight;
    }
    for (size_t n = 0; n < mine.size(); ++n) {
      const RooflinePoint& p = *mine[n];
      const std::string name = xml_escape(p.case_name);
      const char* colour = family_colour(p.case_name);
      std::string line = format("%2zu %-38s", n + 1, name.c_str());  // markup: escaped parts only
      if (plottable(p)) {
        const double roof = P > 0 && B > 0 ? std::min(P, p.flops_per_byte * B)
                                           : P > 0 ? P : B > 0 ? p.flops_per_byte * B : 0.0;
        line += format(" %8.2f %7.3g", p.gflops, p.flops_per_byte);
        if (roof > 0) line += format(" %4.0f%%", 100 * p.gflops / roof);
        if (p.wrong) line += " WRONG";
        const double x = px(p.flops_per_byte), y = py(p.gflops);
        // A wrong result keeps its point, ringed in red.
        body += format("<g class=\"case\" data-case=\"%s\"><title>%s on %s: %.2f GFLOP/s at %.3g FLOP/byte%s</title>"
                       "<circle class=\"case\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" fill-opacity=\"0.8\" "
                       "stroke=\"%s\" stroke-width=\"%s\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">%zu%s</text></g>\n",
                       name.c_str(), name.c_str(), xml_escape(target.label).c_str(), p.gflops, p.flops_per_byte,
                       p.wrong ? ", WRONG result" : "", x, y, colour, p.wrong ? "#ff0000" : "#000",
                       p.wrong ? "2.5" : "0.5", x + 6, y - 4, p.wrong ? "#ff0000" : colour, n + 1,
                       p.wrong ? " WRONG" : "");
      } else {
        // Why it did not run, cut to the legend's width (whole in the tooltip).
        const std::string why = p.why_not.empty() ? "not plotted: no time" : p.why_not;
        line += " " + xml_escape(why.size() > 36 ? why.substr(0, 33) + "..." : why);
        line += "<title>" + xml_escape(why) + "</title>";
      }
      body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"11\" font-family=\"monospace\" fill=\"%s\" "
                     "xml:space=\"preserve\">%s</text>\n",
                     kLegendLeft, legend_y, colour, line.c_str());
      legend_y += kLineHeight;
    }
    body += "</g>\n";
    top = std::max(plot_top + kPlotHeight + 50, legend_y + 10) + 16;
  }
  if (targets.empty()) {
    body += format("<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\">no target was measured</text>\n", kPlotLeft, top + 20);
    top += 40;
  }

  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
               "<text x=\"%.0f\" y=\"24\" font-size=\"17\" font-weight=\"bold\">%s</text>\n"
               "<text x=\"%.0f\" y=\"44\" font-size=\"12\">%s</text>\n"
               "<text x=\"%.0f\" y=\"60\" font-size=\"12\">Roofs: the FMA peak (flat) and the read bandwidth "
               "(slope) that the probes measured in this run.</text>\n"
               "<text x=\"%.0f\" y=\"76\" font-size=\"12\">Points: each case's median GFLOP/s against its counted "
               "FLOPs per byte of least traffic (Q, O, and the K/V rows that some query sees, as stored).</text>\n",
               kWidth, top, kWidth, top, kPlotLeft, xml_escape(title).c_str(), kPlotLeft, xml_escape(subtitle).c_str(),
               kPlotLeft, kPlotLeft);
  std::fputs(body.c_str(), f);
  std::fputs("</svg>\n", f);
  const bool failed = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || failed) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace vkattn_bench
