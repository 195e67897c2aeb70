// vkattn-approx: when does an approximate attention mode pay off? For each
// sequence length S (1k to 64k by default) and two kinds of synthetic
// input, it runs exact attention and each approximate mode vkattn offers
// through the public C API on the same Q, K, V, and prints each mode's time
// and its error against the exact output; --plot draws both against S.
//
// Inputs (Q, K, V [1, heads, S, dim], f32, from --seed):
//   peaked  as in trained models: each query is a noisy copy of one earlier
//           key (its target), scaled so that the target's logit stands
//           about 15 above the others: the softmax puts almost all weight
//           on one key, which a feature-map approximation cannot resolve;
//   flat    Q and K uniform in [-0.5, 0.5]: logits of order 0.1, nearly
//           uniform weights, which linear attention approximates well.
// V is uniform in [-1, 1]. Attention is causal (bottom-right) unless
// --causal=none.
//
// Modes: linear attention with elu(x)+1 and with FAVOR+ (--features M
// random orthogonal features, vkattn_favor_features); without causal
// masking (--causal=none) also Linformer with --proj-len P projected keys,
// E = F = mean pooling (row p averages the p-th of P runs of consecutive
// keys, so K' and V' are pooled keys and values); and block-sparse
// attention in Longformer's pattern (vkattn_block_mask_longformer: blocks
// of 64, each query block sees its key block, 2 on either side and the
// first, and the first query block sees all); and top-k attention keeping
// each row's --topk K largest logits. The error is
// max |O - O_exact| / max |O_exact| over every output element (and the
// mean |O - O_exact| / mean |O_exact|). Times are the median of --repeat
// executions after one warm-up, as vkattn_plan_get_last_time reports them
// (GPU timestamps on Vulkan, wall time on the CPU).
//
//   vkattn-approx [--sizes 1024,2048,...] [--heads H] [--dim D] [--features M]
//                 [--proj-len P] [--topk K] [--causal=bottom-right|none] [--repeat N] [--seed N]
//                 [--backend auto|cpu|vulkan] [--device N] [--threads N]
//                 [--plot FILE.svg] [--json]
//
// Exit codes: 0 done, 1 a run failed, 2 a bad command line.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "args.h"
#include "json.h"
#include "vkattn.h"

using vkattn_samples::ArgCursor;
using vkattn_samples::check;
using vkattn_samples::Failure;
using vkattn_samples::input_error;
using vkattn_samples::usage_error;

namespace {

const char kUsage[] =
    "usage: vkattn-approx [--sizes 1024,2048,...] [--heads H] [--dim D] [--features M]\n"
    "                     [--proj-len P] [--topk K] [--causal=bottom-right|none] [--repeat N] [--seed N]\n"
    "                     [--backend auto|cpu|vulkan] [--device N] [--threads N]\n"
    "                     [--plot FILE.svg] [--json]\n";

struct Options {
  std::vector<int64_t> sizes{1024, 2048, 4096, 8192, 16384, 32768, 65536};
  int64_t heads = 4;
  int64_t dim = 64;
  int64_t features = 256;
  int64_t proj_len = 256;  // Linformer (without causal masking)
  int64_t topk = 64;       // top-k attention
  vkattn_causal causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  int repeat = 3;
  uint64_t seed = 1;
  vkattn_backend backend = VKATTN_BACKEND_AUTO;
  int32_t device = -1;
  int32_t threads = 0;
  std::string plot;
  bool json = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  ArgCursor args(argc, argv);
  while (args.next()) {
    const std::string& arg = args.name();
    if (arg == "--sizes") {
      o.sizes.clear();
      const std::string text = args.value();
      for (const std::string& part : vkattn_samples::filter_parts(text)) {
        int64_t n = 0;
        if (!vkattn_samples::parse_int(part, 1, int64_t{1} << 20, &n)) {
          throw usage_error("--sizes takes comma-separated lengths from 1 to 1048576, not '" + text + "'");
        }
        o.sizes.push_back(n);
      }
      if (o.sizes.empty()) throw usage_error("--sizes needs at least one length");
    } else if (arg == "--heads") {
      o.heads = args.int_value(1, 256, "a count from 1 to 256");
    } else if (arg == "--dim") {
      o.dim = args.int_value(1, 512, "a head dimension from 1 to 512");
    } else if (arg == "--features") {
      o.features = args.int_value(1, VKATTN_MAX_FEATURES, "a feature count from 1 to 4096");
    } else if (arg == "--proj-len") {
      o.proj_len = args.int_value(1, VKATTN_MAX_PROJECTION, "a projected length from 1 to 4096");
    } else if (arg == "--topk") {
      o.topk = args.int_value(1, VKATTN_MAX_TOPK, "a key count from 1 to 4096");
    } else if (arg == "--causal") {
      o.causal = vkattn_samples::parse_causal(args.value(), true);
      if (o.causal == VKATTN_CAUSAL_TOP_LEFT) throw usage_error("--causal must be bottom-right or none");
    } else if (arg == "--repeat") {
      o.repeat = static_cast<int>(args.int_value(1, 1000, "a count from 1 to 1000"));
    } else if (arg == "--seed") {
      o.seed = static_cast<uint64_t>(args.int_value(0, INT64_MAX, "an integer >= 0"));
    } else if (arg == "--backend") {
      o.backend = vkattn_samples::parse_backend(args.value());
    } else if (arg == "--device") {
      o.device = static_cast<int32_t>(args.int_value(0, 1 << 20, "a device index"));
    } else if (arg == "--threads") {
      o.threads = static_cast<int32_t>(args.int_value(1, 4096, "a count from 1 to 4096"));
    } else if (arg == "--plot") {
      o.plot = args.value();
      if (o.plot.empty()) throw usage_error("--plot needs a file name");
    } else if (arg == "--json" && !args.has_value()) {
      o.json = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      throw usage_error("unknown argument '" + std::string(args.raw()) + "'");
    }
  }
  return o;
}

// Q, K, V of one input kind, [1, heads, S, dim] each.
struct Inputs {
  std::vector<float> q, k, v;
};

Inputs make_inputs(const Options& o, int64_t s, bool peaked) {
  std::mt19937_64 rng(o.seed * 1000003u + static_cast<uint64_t>(s) * 2 + (peaked ? 1 : 0));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const size_t count = static_cast<size_t>(o.heads * s * o.dim);
  Inputs in;
  in.q.resize(count);
  in.k.resize(count);
  in.v.resize(count);
  for (float& x : in.v) x = uniform(rng);
  if (!peaked) {
    for (float& x : in.q) x = 0.5f * uniform(rng);
    for (float& x : in.k) x = 0.5f * uniform(rng);
    return in;
  }
  // Keys: unit-variance Gaussians. Query i: alpha k_t + noise for a target
  // t <= i, alpha chosen so that scale * alpha * |k_t|^2 is about 15.
  for (float& x : in.k) x = normal(rng);
  const float alpha = 15.0f / std::sqrt(static_cast<float>(o.dim));
  for (int64_t h = 0; h < o.heads; ++h) {
    for (int64_t i = 0; i < s; ++i) {
      const int64_t target = std::uniform_int_distribution<int64_t>(0, i)(rng);
      const float* key = &in.k[static_cast<size_t>((h * s + target) * o.dim)];
      float* query = &in.q[static_cast<size_t>((h * s + i) * o.dim)];
      for (int64_t d = 0; d < o.dim; ++d) query[d] = alpha * key[d] + 0.3f * normal(rng);
    }
  }
  return in;
}

struct Mode {
  std::string name;
  vkattn_attention_mode mode;
  vkattn_feature_map map;
};

// Linformer's E = F for S keys: P rows, row p the mean of keys
// [p S / P, (p + 1) S / P) (at least one key each; P <= S).
std::vector<float> mean_pooling(int64_t proj_len, int64_t s) {
  std::vector<float> pool(static_cast<size_t>(proj_len * s), 0.0f);
  for (int64_t p = 0; p < proj_len; ++p) {
    const int64_t first = p * s / proj_len, end = std::max(first + 1, (p + 1) * s / proj_len);
    for (int64_t j = first; j < end; ++j) pool[static_cast<size_t>(p * s + j)] = 1.0f / static_cast<float>(end - first);
  }
  return pool;
}

struct Row {
  int64_t size;
  std::string data, mode;
  double ms, max_error, mean_error;  // errors < 0: exact itself
};

// One plan on one context: buffers, a warm-up, `repeat` timed executions;
// the median time and the output.
double run_mode(vkattn_context context, const Options& o, int64_t s, const Inputs& in, const Mode& mode,
                const std::vector<float>& features, std::vector<float>* out) {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = desc.kv_heads = o.heads;
  desc.q_len = desc.kv_len = s;
  desc.qk_dim = desc.v_dim = o.dim;
  desc.causal = o.causal;
  desc.mode = mode.mode;
  desc.topk.k = o.topk;
  desc.linear.feature_map = mode.map;
  if (mode.map == VKATTN_FEATURE_MAP_FAVOR) {
    desc.linear.num_features = o.features;
    desc.linear.features = features.data();
  }
  std::vector<uint8_t> blocks;
  if (mode.mode == VKATTN_MODE_BLOCK_SPARSE) {
    const int64_t count = (s + 63) / 64;
    blocks.resize(static_cast<size_t>(count * count));
    check(vkattn_block_mask_longformer(count, count, 2, 1, blocks.data()), "vkattn_block_mask_longformer");
    desc.block_sparse.block_q = desc.block_sparse.block_k = 64;
    desc.block_sparse.mask_batch = desc.block_sparse.mask_heads = 1;
    desc.block_sparse.mask = blocks.data();
  }
  std::vector<float> pool;
  if (mode.mode == VKATTN_MODE_LINFORMER) {
    pool = mean_pooling(std::min(o.proj_len, s), s);
    desc.linformer.proj_len = std::min(o.proj_len, s);
    desc.linformer.e = pool.data();
    desc.linformer.f = pool.data();
  }
  vkattn_attention_desc_set_dense_layouts(&desc);
  vkattn_plan plan = nullptr;
  check(vkattn_plan_create(context, &desc, 0, &plan), "vkattn_plan_create");
  const uint64_t bytes = in.q.size() * sizeof(float);
  vkattn_buffer buffers[4] = {};
  const float* sources[3] = {in.q.data(), in.k.data(), in.v.data()};
  for (int b = 0; b < 4; ++b) check(vkattn_buffer_create(context, bytes, 0, &buffers[b]), "vkattn_buffer_create");
  for (int b = 0; b < 3; ++b) check(vkattn_buffer_write(buffers[b], 0, sources[b], bytes), "vkattn_buffer_write");
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = buffers[0];
  bindings.k = buffers[1];
  bindings.v = buffers[2];
  bindings.out = buffers[3];
  std::vector<double> times;
  for (int r = 0; r <= o.repeat; ++r) {  // the first is a warm-up
    check(vkattn_plan_execute(plan, &bindings), "vkattn_plan_execute");
    check(vkattn_context_finish(context), "vkattn_context_finish");
    double ms = 0.0;
    check(vkattn_plan_get_last_time(plan, &ms), "vkattn_plan_get_last_time");
    if (r > 0) times.push_back(ms);
  }
  out->resize(in.q.size());
  check(vkattn_buffer_read(buffers[3], 0, out->data(), bytes), "vkattn_buffer_read");
  for (vkattn_buffer buffer : buffers) vkattn_buffer_destroy(buffer);
  vkattn_plan_destroy(plan);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// --- the plot: error and time against S, log-log, one line per mode and input.

struct Series {
  std::string label, colour;
  bool dashed;
  std::vector<std::pair<double, double>> points;  // (S, value)
};

std::string panel(double x0, double y0, double w, double h, const std::string& title, const std::string& y_label,
                  const std::vector<Series>& series, double x_min, double x_max) {
  double y_min = INFINITY, y_max = 0;
  for (const Series& s : series) {
    for (const auto& p : s.points) {
      if (p.second > 0) y_min = std::min(y_min, p.second), y_max = std::max(y_max, p.second);
    }
  }
  if (!(y_max > 0)) y_min = 1, y_max = 10;
  const double ly0 = std::floor(std::log10(y_min)), ly1 = std::max(ly0 + 1, std::ceil(std::log10(y_max)));
  const double lx0 = std::log2(x_min), lx1 = std::max(lx0 + 1, std::log2(x_max));
  auto px = [&](double x) { return x0 + (std::log2(x) - lx0) / (lx1 - lx0) * w; };
  auto py = [&](double y) { return y0 + h - (std::log10(y) - ly0) / (ly1 - ly0) * h; };
  char buf[512];
  std::string svg;
  std::snprintf(buf, sizeof(buf),
                "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#444'/>\n"
                "<text x='%.1f' y='%.1f' font-size='14' text-anchor='middle'>%s</text>\n"
                "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle' transform='rotate(-90 %.1f %.1f)'>%s</text>\n"
                "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>S (keys = queries)</text>\n",
                x0, y0, w, h, x0 + w / 2, y0 - 8, title.c_str(), x0 - 48, y0 + h / 2, x0 - 48, y0 + h / 2,
                y_label.c_str(), x0 + w / 2, y0 + h + 34);
  svg += buf;
  for (double ly = ly0; ly <= ly1; ++ly) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                  "<text x='%.1f' y='%.1f' font-size='10' text-anchor='end'>1e%d</text>\n",
                  x0, py(std::pow(10, ly)), x0 + w, py(std::pow(10, ly)), x0 - 4, py(std::pow(10, ly)) + 3, (int)ly);
    svg += buf;
  }
  for (double lx = std::ceil(lx0); lx <= lx1; ++lx) {
    const double x = std::pow(2, lx);
    std::snprintf(buf, sizeof(buf),
                  "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                  "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%gk</text>\n",
                  px(x), y0, px(x), y0 + h, px(x), y0 + h + 14, x / 1024);
    svg += buf;
  }
  for (const Series& s : series) {
    std::string path;
    for (const auto& p : s.points) {
      if (!(p.second > 0)) continue;
      std::snprintf(buf, sizeof(buf), "%s%.1f,%.1f", path.empty() ? "" : " ", px(p.first), py(p.second));
      path += buf;
    }
    if (path.empty()) continue;
    std::snprintf(buf, sizeof(buf), "<polyline points='%s' fill='none' stroke='%s' stroke-width='2'%s/>\n",
                  path.c_str(), s.colour.c_str(), s.dashed ? " stroke-dasharray='6,4'" : "");
    svg += buf;
  }
  return svg;
}

void write_plot(const std::string& path, const std::string& subtitle, const std::vector<Row>& rows,
                const std::vector<Mode>& modes) {
  std::vector<Series> errors, times;
  const char* colours[] = {"#222222", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  double x_min = INFINITY, x_max = 0;
  for (size_t m = 0; m < modes.size(); ++m) {
    for (const char* data : {"peaked", "flat"}) {
      Series s{modes[m].name + " (" + data + ")", colours[m % 5], std::strcmp(data, "flat") == 0, {}};
      Series t = s;
      for (const Row& r : rows) {
        if (r.mode != modes[m].name || r.data != data) continue;
        x_min = std::min(x_min, double(r.size)), x_max = std::max(x_max, double(r.size));
        if (r.max_error >= 0) s.points.push_back({double(r.size), std::max(r.max_error, 1e-9)});
        t.points.push_back({double(r.size), r.ms});
      }
      if (!s.points.empty()) errors.push_back(s);
      times.push_back(t);
    }
  }
  std::string svg =
      "<svg xmlns='http://www.w3.org/2000/svg' width='960' height='470' font-family='sans-serif'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='480' y='22' font-size='16' text-anchor='middle'>vkattn-approx: error and time against S</text>\n"
      "<text x='480' y='40' font-size='11' text-anchor='middle'>" + subtitle + "</text>\n";
  svg += panel(80, 70, 340, 300, "max |O - O_exact| / max |O_exact|", "relative error", errors, x_min, x_max);
  svg += panel(560, 70, 340, 300, "time per execution", "ms", times, x_min, x_max);
  double y = 425;
  double x = 80;
  for (size_t i = 0; i < times.size(); ++i) {
    char buf[400];
    std::snprintf(buf, sizeof(buf),
                  "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='%s' stroke-width='2'%s/>"
                  "<text x='%.0f' y='%.0f' font-size='11'>%s</text>\n",
                  x, y, x + 24, y, times[i].colour.c_str(), times[i].dashed ? " stroke-dasharray='6,4'" : "", x + 30,
                  y + 4, times[i].label.c_str());
    svg += buf;
    x += 210;
    if (x > 800) x = 80, y += 18;
  }
  svg += "</svg>\n";
  // Written beside the target and renamed onto it: never half a file.
  const std::string temporary = path + ".tmp";
  FILE* f = std::fopen(temporary.c_str(), "wb");
  if (f == nullptr) throw input_error("cannot write " + temporary + ": " + std::strerror(errno));
  const bool written = std::fwrite(svg.data(), 1, svg.size(), f) == svg.size();
  if (std::fclose(f) != 0 || !written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw input_error("cannot write " + path);
  }
}

int run(const Options& o) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = o.backend;
  options.device_index = o.device;
  options.cpu_threads = o.threads;
  vkattn_context context = nullptr;
  check(vkattn_context_create(&options, &context), "vkattn_context_create");
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  check(vkattn_context_get_info(context, &info), "vkattn_context_get_info");
  std::vector<float> features(static_cast<size_t>(o.features * o.dim));
  check(vkattn_favor_features(o.features, o.dim, o.seed, features.data()), "vkattn_favor_features");
  std::vector<Mode> modes = {{"exact", VKATTN_MODE_EXACT, VKATTN_FEATURE_MAP_NONE},
                             {"linear-elu", VKATTN_MODE_LINEAR, VKATTN_FEATURE_MAP_ELU},
                             {"linear-favor" + std::to_string(o.features), VKATTN_MODE_LINEAR,
                              VKATTN_FEATURE_MAP_FAVOR}};
  modes.push_back({"longformer64", VKATTN_MODE_BLOCK_SPARSE, VKATTN_FEATURE_MAP_NONE});
  modes.push_back({"topk" + std::to_string(o.topk), VKATTN_MODE_TOPK, VKATTN_FEATURE_MAP_NONE});
  // Linformer has no causal form.
  if (o.causal == VKATTN_CAUSAL_NONE) {
    modes.push_back({"linformer" + std::to_string(o.proj_len), VKATTN_MODE_LINFORMER, VKATTN_FEATURE_MAP_NONE});
  }
  char subtitle[256];
  std::snprintf(subtitle, sizeof(subtitle), "%s on %s: %lld heads, dim %lld, %s, f32",
                info.backend == VKATTN_BACKEND_VULKAN ? "vulkan" : "cpu", vkattn_samples::json_escape(info.name).c_str(),
                (long long)o.heads, (long long)o.dim, o.causal == VKATTN_CAUSAL_NONE ? "not causal" : "causal");
  if (!o.json) {
    std::printf("%s\n%-8s %-7s %-18s %12s %14s %12s %14s\n", subtitle, "S", "input", "mode", "ms", "vs exact time",
                "max error", "mean error");
  }
  std::vector<Row> rows;
  for (int64_t s : o.sizes) {
    for (bool peaked : {true, false}) {
      const Inputs in = make_inputs(o, s, peaked);
      std::vector<float> exact;
      double exact_ms = 0.0;
      for (const Mode& mode : modes) {
        std::vector<float> out;
        const double ms = run_mode(context, o, s, in, mode, features, &out);
        Row row{s, peaked ? "peaked" : "flat", mode.name, ms, -1.0, -1.0};
        if (mode.mode == VKATTN_MODE_EXACT) {
          exact = out;
          exact_ms = ms;
        } else {
          double max_diff = 0, max_exact = 0, sum_diff = 0, sum_exact = 0;
          for (size_t e = 0; e < out.size(); ++e) {
            const double diff = std::fabs(double(out[e]) - exact[e]);
            max_diff = std::isnan(diff) ? INFINITY : std::max(max_diff, diff);
            max_exact = std::max(max_exact, std::fabs(double(exact[e])));
            sum_diff += diff;
            sum_exact += std::fabs(double(exact[e]));
          }
          row.max_error = max_exact > 0 ? max_diff / max_exact : max_diff;
          row.mean_error = sum_exact > 0 ? sum_diff / sum_exact : sum_diff;
        }
        rows.push_back(row);
        if (o.json) {
          std::printf("{\"size\": %lld, \"input\": \"%s\", \"mode\": \"%s\", \"ms\": %.6f, \"max_error\": %.6g, "
                      "\"mean_error\": %.6g}\n",
                      (long long)s, row.data.c_str(), row.mode.c_str(), ms, row.max_error, row.mean_error);
        } else if (row.max_error < 0) {
          std::printf("%-8lld %-7s %-18s %12.3f %14s %12s %14s\n", (long long)s, row.data.c_str(), row.mode.c_str(), ms,
                      "1.00x", "-", "-");
        } else {
          std::printf("%-8lld %-7s %-18s %12.3f %13.2fx %12.2e %14.2e\n", (long long)s, row.data.c_str(),
                      row.mode.c_str(), ms, ms / exact_ms, row.max_error, row.mean_error);
        }
        std::fflush(stdout);
      }
    }
  }
  vkattn_context_destroy(context);
  if (!o.plot.empty()) {
    write_plot(o.plot, subtitle, rows, modes);
    if (!o.json) std::printf("wrote %s\n", o.plot.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return vkattn_samples::run_main("vkattn-approx", kUsage, [&] { return run(parse_args(argc, argv)); });
}
