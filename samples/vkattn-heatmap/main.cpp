// vkattn-heatmap: a picture of where attention looks. It runs one small
// attention problem through the public C API, asking for the log-sum-exp
// output, recomputes every logit s_ij in double from Q and K (the tests'
// float64 reference, tests/support/reference.h: scale, soft-capping, ALiBi,
// masks), and draws the weights p_ij = exp(s_ij - LSE_i) as a PNG: a block
// of --scale pixels per (query i, key j), a perceptual colour map (viridis)
// for the keys a query sees and grey for those it does not (causal, window,
// key lengths, boolean mask), so the masking structure is visible.
//
// Since the weights come from the library's LSE, each row that sees a key
// must sum to 1 (with a sink: to 1 - exp(sink - LSE_i)), and a row that sees
// none must have LSE -inf (or the sink). The tool checks every row of every
// head, prints the largest |sum - 1|, and exits 1 when a row misses its
// tolerance (tests/support/tolerance.h's LSE bound): a check of the LSE.
//
//   vkattn-heatmap --out FILE.png [problem options] [--scale N] [--head H]
//                  [--backend auto|cpu|vulkan] [--device N]   (see kUsage)
//
// Rows are computed one tile at a time and written to the PNG as they are
// finished: nothing of size q_len x kv_len is held (apart from a boolean
// pair mask, which is an input of that size).
// Work is bounded (kMaxLogits, kMaxMultiplyAdds): a run takes seconds at most.
// The picture is written to a temporary file beside --out and renamed onto
// it when complete (png_writer.h).
// Exit codes: 0 drawn and checked, 1 the run or the check failed (the
// picture is still written when only the check failed), 2 a bad command line.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "args.h"
#include "png_writer.h"
#include "reference.h"
#include "tolerance.h"
#include "vkattn.h"

using vkattn_samples::ArgCursor;
using vkattn_samples::check;
using vkattn_samples::Failure;
using vkattn_samples::usage_error;
using vkattn_test::HostInputs;

namespace {

const char kUsage[] =
    "usage: vkattn-heatmap --out FILE.png\n"
    "         [--q-len N] [--kv-len N] [--head-dim D] [--heads H] [--kv-heads H]   (default 128 128 64 1 1)\n"
    "         [--causal[=bottom-right|top-left|none]] [--window L,R] [--global-keys G]\n"
    "         [--kv-len-valid L] [--bool-mask keys:P|pairs:P] [--alibi] [--softcap C] [--sink S]\n"
    "         [--softmax-scale S] [--inputs local|random] [--seed N]\n"
    "         [--head H] [--scale N] [--norm row|max|log]\n"
    "         [--backend auto|cpu|vulkan] [--device N]\n"
    "Draws p_ij = exp(s_ij - LSE_i) of query head H (default 0), one block of N x N pixels per\n"
    "(query, key) (default: about 512 pixels across), in viridis: log10 p from -4 to 0 (--norm\n"
    "log, the default), or p from 0 to its row's largest (row) or the head's largest (max);\n"
    "grey: keys the query does not see. --causal alone is bottom-right (as in vkattn-run);\n"
    "--causal=MODE (or --causal MODE) names the alignment. --kv-len-valid: the key length L\n"
    "(keys from L on are padding); --bool-mask hides a fraction P of the keys (keys: from every\n"
    "query) or of the (query, key) pairs (pairs); --sink: one sink logit for every head.\n"
    "--inputs local (the default) makes keys that drift along the sequence and queries that\n"
    "resemble the key on their diagonal, so attention has a visible shape; random draws Q and K\n"
    "from N(0, 1). Every logit is recomputed in double on one thread, so the problem is kept\n"
    "small: heads x q_len x kv_len at most 16777216 (2^24) and, times head_dim, at most\n"
    "2147483648 (2^31).\n"
    "Checks that each row's weights sum to 1 (which checks the library's LSE); exits 1 if not.\n";

constexpr int64_t kMaxSequence = 32768;  // the picture's cells per side
constexpr int64_t kMaxPixels = 32768;    // the picture's pixels per side
constexpr int64_t kTileRows = 32;        // query rows computed at a time
// The work: every logit of every head is recomputed in double on one thread
// (about 1 ns per multiply-add and 0.1 us per logit here), and the drawn head
// once more, so a run takes at most ~10 s: heads x q_len x kv_len logits (which
// also bounds a --bool-mask pairs: mask, q_len x kv_len bytes) ...
constexpr int64_t kMaxLogits = int64_t{1} << 24;
// ... and as many multiply-adds times head_dim.
constexpr int64_t kMaxMultiplyAdds = int64_t{1} << 31;

// Whether the product of `factors` (each >= 1) is at most `limit`, without
// forming a product that could overflow.
bool product_at_most(std::initializer_list<int64_t> factors, int64_t limit) {
  int64_t product = 1;
  for (const int64_t factor : factors) {
    if (factor > limit / product) return false;
    product *= factor;
  }
  return true;
}

enum class MaskKind { kNone, kKeys, kPairs };
enum class Norm { kRow, kMax, kLog };

struct Options {
  std::string out;
  int64_t q_len = 128, kv_len = 128, head_dim = 64, heads = 1, kv_heads = 1;
  vkattn_causal causal = VKATTN_CAUSAL_NONE;
  int64_t window_left = -1, window_right = -1, global_keys = 0;
  int64_t kv_len_valid = -1;  // -1: no key lengths
  MaskKind mask = MaskKind::kNone;
  double mask_fraction = 0.0;
  bool alibi = false;
  float softcap = 0.0f;
  bool has_sink = false;
  float sink = 0.0f;
  float softmax_scale = 0.0f;
  bool local_inputs = true;
  uint64_t seed = 1;
  int64_t head = 0;
  int64_t scale = 0;  // 0: about 512 pixels across
  Norm norm = Norm::kLog;
  vkattn_backend backend = VKATTN_BACKEND_AUTO;
  int32_t device = -1;
};

Options parse_args(int argc, char** argv) {
  Options o;
  ArgCursor args(argc, argv);
  while (args.next()) {
    const std::string& arg = args.name();
    if (arg == "--out") o.out = args.value();
    else if (arg == "--q-len") o.q_len = args.int_value(1, kMaxSequence, "a length from 1 to 32768");
    else if (arg == "--kv-len") o.kv_len = args.int_value(1, kMaxSequence, "a length from 1 to 32768");
    else if (arg == "--head-dim") o.head_dim = args.int_value(1, 1 << 16, "a dimension >= 1");
    else if (arg == "--heads") o.heads = args.int_value(1, 1024, "a head count from 1 to 1024");
    else if (arg == "--kv-heads") o.kv_heads = args.int_value(1, 1024, "a head count from 1 to 1024");
    else if (arg == "--head") o.head = args.int_value(0, 1023, "a head index >= 0");
    else if (arg == "--causal") {
      // As vkattn-run: --causal alone is bottom-right, --causal=MODE names
      // one; --causal MODE too (the tool takes no operands, so an argument
      // after --causal that is not an option can only be its mode).
      ArgCursor ahead = args;
      const bool mode_follows = ahead.next() && ahead.raw()[0] != '-';
      o.causal = args.has_value() || mode_follows ? vkattn_samples::parse_causal(args.value(), true)
                                                  : VKATTN_CAUSAL_BOTTOM_RIGHT;
    }
    else if (arg == "--window") vkattn_samples::parse_window(args.value(), &o.window_left, &o.window_right);
    else if (arg == "--global-keys") o.global_keys = args.int_value(0, INT64_MAX / 4, "an integer >= 0");
    else if (arg == "--kv-len-valid") o.kv_len_valid = args.int_value(0, INT32_MAX, "a key length >= 0");
    else if (arg == "--bool-mask") {
      const std::string text = args.value();
      const size_t colon = text.find(':');
      const std::string kind = text.substr(0, colon);
      float fraction = -1.0f;
      if ((kind != "keys" && kind != "pairs") || colon == std::string::npos ||
          !vkattn_samples::parse_finite(text.substr(colon + 1), &fraction) || fraction < 0.0f || fraction > 1.0f) {
        throw usage_error("--bool-mask takes keys:P or pairs:P with 0 <= P <= 1, not '" + text + "'");
      }
      o.mask = kind == "keys" ? MaskKind::kKeys : MaskKind::kPairs;
      o.mask_fraction = fraction;
    } else if (arg == "--alibi" && !args.has_value()) {
      o.alibi = true;
    } else if (arg == "--softcap") {
      o.softcap = args.float_value(true);
    } else if (arg == "--sink") {
      o.sink = args.float_value(false);
      o.has_sink = true;
    } else if (arg == "--softmax-scale") {
      o.softmax_scale = args.float_value(false);
    } else if (arg == "--inputs") {
      const std::string text = args.value();
      if (text != "local" && text != "random") throw usage_error("--inputs must be local or random, not '" + text + "'");
      o.local_inputs = text == "local";
    } else if (arg == "--seed") {
      o.seed = static_cast<uint64_t>(args.int_value(0, INT64_MAX, "an integer >= 0"));
    } else if (arg == "--scale") {
      o.scale = args.int_value(1, 64, "pixels per cell from 1 to 64");
    } else if (arg == "--norm") {
      const std::string text = args.value();
      if (text == "row") o.norm = Norm::kRow;
      else if (text == "max") o.norm = Norm::kMax;
      else if (text == "log") o.norm = Norm::kLog;
      else throw usage_error("--norm must be row, max or log, not '" + text + "'");
    } else if (arg == "--backend") {
      o.backend = vkattn_samples::parse_backend(args.value());
    } else if (arg == "--device") {
      o.device = static_cast<int32_t>(args.int_value(0, 1 << 20, "an index >= 0"));
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      throw usage_error("unknown argument '" + std::string(args.raw()) + "'");
    }
  }
  if (o.out.empty()) throw usage_error("--out FILE.png is required");
  // The library checks the problem itself (and names the field it rejects);
  // these are what the inputs and the picture are built on before it runs.
  if (o.heads % o.kv_heads != 0) {
    throw usage_error("--kv-heads (" + std::to_string(o.kv_heads) + ") must divide --heads (" +
                      std::to_string(o.heads) + ")");
  }
  if (o.head >= o.heads) {
    throw usage_error("--head " + std::to_string(o.head) + " is not a head of --heads " + std::to_string(o.heads));
  }
  // The work, before anything of that size is made (the mask, the inputs).
  if (!product_at_most({o.heads, o.q_len, o.kv_len}, kMaxLogits)) {
    throw usage_error("heads x q_len x kv_len = " + std::to_string(o.heads) + " x " + std::to_string(o.q_len) +
                      " x " + std::to_string(o.kv_len) + " logits to recompute; a picture takes at most " +
                      std::to_string(kMaxLogits) + " (2^24; use fewer --heads or a shorter --q-len / --kv-len)");
  }
  if (!product_at_most({o.heads, o.q_len, o.kv_len, o.head_dim}, kMaxMultiplyAdds)) {
    throw usage_error("heads x q_len x kv_len x head_dim = " + std::to_string(o.heads) + " x " +
                      std::to_string(o.q_len) + " x " + std::to_string(o.kv_len) + " x " +
                      std::to_string(o.head_dim) + " multiply-adds to recompute; a picture takes at most " +
                      std::to_string(kMaxMultiplyAdds) + " (2^31; use a smaller --head-dim, fewer --heads or a "
                      "shorter sequence)");
  }
  const double elements = double(o.heads * o.q_len + 2 * o.kv_heads * o.kv_len) * double(o.head_dim);
  if (elements > double(1 << 28)) {
    throw usage_error("the problem holds " + std::to_string(int64_t(elements)) +
                      " values of Q, K and V; a picture needs at most 268435456 (use fewer heads, a shorter "
                      "sequence or a smaller --head-dim)");
  }
  if (o.scale == 0) o.scale = std::clamp<int64_t>(512 / std::max(o.q_len, o.kv_len), 1, 16);
  if (o.kv_len * o.scale > kMaxPixels || o.q_len * o.scale > kMaxPixels) {
    throw usage_error("the picture would be " + std::to_string(o.kv_len * o.scale) + " x " +
                      std::to_string(o.q_len * o.scale) + " pixels; at most 32768 per side (use a smaller --scale)");
  }
  return o;
}

// The problem (batch 1, dense BHSD, f32) and its inputs.
HostInputs make_problem(const Options& o) {
  HostInputs in;
  vkattn_attention_desc& d = in.desc;
  vkattn_attention_desc_init(&d);
  d.batch = 1;
  d.q_heads = o.heads;
  d.kv_heads = o.kv_heads;
  d.q_len = o.q_len;
  d.kv_len = o.kv_len;
  d.qk_dim = d.v_dim = o.head_dim;
  d.scale = o.softmax_scale;
  d.causal = o.causal;
  d.window_left = o.window_left;
  d.window_right = o.window_right;
  d.global_keys = o.global_keys;
  d.softcap = o.softcap;
  d.has_lse = 1;
  vkattn_attention_desc_set_dense_layouts(&d);
  if (o.kv_len_valid >= 0) {
    d.has_kv_lens = 1;
    in.kv_lens = {static_cast<int32_t>(o.kv_len_valid)};
  }
  std::mt19937_64 rng(o.seed);
  if (o.mask != MaskKind::kNone) {
    // [1, 1, 1, kv_len] (a key padding mask) or [1, 1, q_len, kv_len],
    // broadcast over the heads.
    d.has_bool_mask = 1;
    d.bool_mask_layout.batch_stride = d.bool_mask_layout.head_stride = 0;
    d.bool_mask_layout.row_stride = o.mask == MaskKind::kKeys ? 0 : o.kv_len;
    std::bernoulli_distribution hidden(o.mask_fraction);
    in.bool_mask.resize(static_cast<size_t>((o.mask == MaskKind::kKeys ? 1 : o.q_len) * o.kv_len));
    for (uint8_t& m : in.bool_mask) m = hidden(rng) ? 0 : 1;
  }
  if (o.alibi) {
    in.alibi_slopes.resize(static_cast<size_t>(o.heads));
    check(vkattn_alibi_slopes(o.heads, in.alibi_slopes.data()), "vkattn_alibi_slopes");
  }
  if (o.has_sink) in.sinks.assign(static_cast<size_t>(o.heads), o.sink);
  in.point_desc();

  const size_t D = static_cast<size_t>(o.head_dim);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  in.q.resize(static_cast<size_t>(o.heads * o.q_len) * D);
  in.k.resize(static_cast<size_t>(o.kv_heads * o.kv_len) * D);
  in.v.resize(in.k.size());
  for (float& x : in.v) x = normal(rng);
  if (!o.local_inputs) {
    for (float& x : in.k) x = normal(rng);
    for (float& x : in.q) x = normal(rng);
    return in;
  }
  // Keys drift along the sequence (each a mix of the previous one and fresh
  // noise, correlation 0.9), and each query is the key on its diagonal plus
  // noise: a query's logits fall off with the distance from its diagonal,
  // as in a trained model's local heads.
  const float rho = 0.9f, fresh = std::sqrt(1.0f - rho * rho);
  for (int64_t h = 0; h < o.kv_heads; ++h) {
    float* k = &in.k[static_cast<size_t>(h * o.kv_len) * D];
    for (size_t c = 0; c < D; ++c) k[c] = normal(rng);
    for (size_t x = D; x < static_cast<size_t>(o.kv_len) * D; ++x) k[x] = rho * k[x - D] + fresh * normal(rng);
  }
  const int64_t group = o.heads / o.kv_heads;
  for (int64_t h = 0; h < o.heads; ++h) {
    for (int64_t i = 0; i < o.q_len; ++i) {
      const int64_t j = std::clamp<int64_t>(vkattn_test::diagonal_key(in, 0, i), 0, o.kv_len - 1);
      const float* k = &in.k[static_cast<size_t>((h / group) * o.kv_len + j) * D];
      float* q = &in.q[static_cast<size_t>(h * o.q_len + i) * D];
      for (size_t c = 0; c < D; ++c) q[c] = k[c] + 0.5f * normal(rng);
    }
  }
  return in;
}

// One query row's weights against the library's LSE.
struct RowWeights {
  double sum = 0.0;         // of the visible keys' weights (the sink's not included)
  double max_weight = 0.0;  // the largest of them
  double magnitude = 0.0;   // the largest |scale| * sum_d |q_d k_d| (tolerance.h)
  int64_t keys = 0;         // keys the row sees
};

constexpr double kHidden = -1.0;  // the weight of a key the row does not see

// Rows [i0, i1) of query head h: weights[(i - i0) * kv_len + j] = exp(s_ij - LSE_i),
// s_ij recomputed in double, or kHidden.
void tile_weights(const HostInputs& in, const std::vector<float>& lse, int64_t h, int64_t i0, int64_t i1,
                  std::vector<double>* weights, std::vector<RowWeights>* rows) {
  const int64_t kv_len = in.desc.kv_len;
  weights->assign(static_cast<size_t>((i1 - i0) * kv_len), kHidden);
  rows->assign(static_cast<size_t>(i1 - i0), RowWeights{});
  for (int64_t i = i0; i < i1; ++i) {
    const double row_lse = lse[static_cast<size_t>(h * in.desc.q_len + i)];
    const std::vector<double> q = vkattn_test::reference_query(in, 0, h, i);
    RowWeights& row = (*rows)[static_cast<size_t>(i - i0)];
    double* w = &(*weights)[static_cast<size_t>((i - i0) * kv_len)];
    for (int64_t j = 0; j < kv_len; ++j) {
      if (!vkattn_test::reference_visible(in, 0, h, i, j)) continue;
      double magnitude = 0.0;
      w[j] = std::exp(vkattn_test::reference_logit(in, 0, h, i, j, q, &magnitude) - row_lse);
      row.sum += w[j];
      row.max_weight = std::max(row.max_weight, w[j]);
      row.magnitude = std::max(row.magnitude, magnitude);
      ++row.keys;
    }
  }
}

struct CheckResult {
  bool ok = true;
  std::string first_failure;
  double max_deviation = 0.0;  // largest |sum - 1| over rows that see a key
  double tolerance = 0.0;      // that row's tolerance
  int64_t rows = 0, empty_rows = 0;
  double head_max_weight = 0.0;  // of the drawn head (--norm max)
};

// Every row of every head: the weights (and the sink's share) sum to 1
// within the LSE tolerance; rows that see no key have LSE -inf (or the sink).
CheckResult check_rows(const HostInputs& in, const std::vector<float>& lse, int64_t drawn_head) {
  const vkattn_attention_desc& d = in.desc;
  CheckResult result;
  std::vector<double> weights;
  std::vector<RowWeights> rows;
  auto failed = [&](int64_t h, int64_t i, const std::string& what) {
    if (result.ok) result.first_failure = "head " + std::to_string(h) + ", query " + std::to_string(i) + ": " + what;
    result.ok = false;
  };
  for (int64_t h = 0; h < d.q_heads; ++h) {
    const bool sink = !in.sinks.empty();
    const double sink_logit = sink ? in.sinks[static_cast<size_t>(h)] : 0.0;
    for (int64_t i0 = 0; i0 < d.q_len; i0 += kTileRows) {
      const int64_t i1 = std::min(d.q_len, i0 + kTileRows);
      tile_weights(in, lse, h, i0, i1, &weights, &rows);
      for (int64_t i = i0; i < i1; ++i) {
        const RowWeights& row = rows[static_cast<size_t>(i - i0)];
        const double row_lse = lse[static_cast<size_t>(h * d.q_len + i)];
        char text[160];
        if (row.keys == 0) {
          ++result.empty_rows;
          const bool right = sink ? std::fabs(row_lse - sink_logit) <= vkattn_test::allowed_lse_error(sink_logit, 0, 1, 1)
                                  : row_lse == -std::numeric_limits<double>::infinity();
          if (!right) {
            std::snprintf(text, sizeof(text), "sees no key, but LSE = %.9g (expected %s)", row_lse,
                          sink ? "the sink logit" : "-inf");
            failed(h, i, text);
          }
          continue;
        }
        ++result.rows;
        const double total = row.sum + (sink ? std::exp(sink_logit - row_lse) : 0.0);
        const double deviation = std::fabs(total - 1.0);
        const double tolerance =
            std::expm1(vkattn_test::allowed_lse_error(row_lse, row.magnitude, d.qk_dim, row.keys));
        if (!std::isnan(result.max_deviation) && !(deviation <= result.max_deviation)) {  // NaN sticks
          result.max_deviation = deviation;
          result.tolerance = tolerance;
        }
        if (!(deviation <= tolerance)) {
          std::snprintf(text, sizeof(text), "weights sum to %.9g (LSE %.9g, %lld keys), off by %.3g > %.3g", total,
                        row_lse, static_cast<long long>(row.keys), deviation, tolerance);
          failed(h, i, text);
        }
        if (h == drawn_head) result.head_max_weight = std::max(result.head_max_weight, row.max_weight);
      }
    }
  }
  return result;
}

// Viridis (matplotlib's perceptually uniform map), 9 stops, interpolated.
void viridis(double t, uint8_t* rgb) {
  static const uint8_t kStops[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},   {44, 114, 142}, {33, 144, 140},
                                       {39, 173, 129}, {93, 200, 99},  {170, 220, 50},  {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  const int stop = std::min(7, static_cast<int>(t));
  const double f = t - stop;
  for (int c = 0; c < 3; ++c) {
    rgb[c] = static_cast<uint8_t>(std::lround(kStops[stop][c] + f * (kStops[stop + 1][c] - kStops[stop][c])));
  }
}

const uint8_t kHiddenColour[3] = {160, 160, 160};  // grey: a key the query does not see
const uint8_t kInvalidColour[3] = {255, 0, 255};   // magenta: a weight that is not a number

// The colour-map position of weight w in a row whose largest weight is row_max.
double map_position(double w, double row_max, double head_max, Norm norm) {
  switch (norm) {
    case Norm::kRow: return row_max > 0 ? w / row_max : 0.0;
    case Norm::kMax: return head_max > 0 ? w / head_max : 0.0;
    case Norm::kLog: return w > 0 ? (std::log10(w) + 4.0) / 4.0 : 0.0;
  }
  return 0.0;
}

// Draws query head o.head, tile by tile, each row straight into the PNG
// (opened for kv_len x q_len cells of o.scale pixels).
void draw(const HostInputs& in, const std::vector<float>& lse, const Options& o, double head_max,
          vkattn_samples::PngWriter& png) {
  const int64_t kv_len = in.desc.kv_len;
  std::vector<double> weights;
  std::vector<RowWeights> rows;
  std::vector<uint8_t> pixels(static_cast<size_t>(kv_len * o.scale) * 3);
  for (int64_t i0 = 0; i0 < o.q_len; i0 += kTileRows) {
    const int64_t i1 = std::min(o.q_len, i0 + kTileRows);
    tile_weights(in, lse, o.head, i0, i1, &weights, &rows);
    for (int64_t i = i0; i < i1; ++i) {
      const double* w = &weights[static_cast<size_t>((i - i0) * kv_len)];
      const double row_max = rows[static_cast<size_t>(i - i0)].max_weight;
      for (int64_t j = 0; j < kv_len; ++j) {
        uint8_t rgb[3];
        if (w[j] == kHidden) {
          std::copy(kHiddenColour, kHiddenColour + 3, rgb);
        } else if (!std::isfinite(w[j])) {
          std::copy(kInvalidColour, kInvalidColour + 3, rgb);
        } else {
          viridis(map_position(w[j], row_max, head_max, o.norm), rgb);
        }
        for (int64_t x = 0; x < o.scale; ++x) std::copy(rgb, rgb + 3, &pixels[static_cast<size_t>(j * o.scale + x) * 3]);
      }
      for (int64_t y = 0; y < o.scale; ++y) {
        if (!png.write_row(pixels.data())) throw Failure{1, png.error()};
      }
    }
  }
  if (!png.finish()) throw Failure{1, png.error()};
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

std::string describe(const Options& o) {
  std::string text = "q_len " + std::to_string(o.q_len) + ", kv_len " + std::to_string(o.kv_len) + ", head_dim " +
                     std::to_string(o.head_dim) + ", heads " + std::to_string(o.heads) + ":" +
                     std::to_string(o.kv_heads);
  if (o.causal != VKATTN_CAUSAL_NONE) {
    text += o.causal == VKATTN_CAUSAL_TOP_LEFT ? ", causal top-left" : ", causal bottom-right";
  }
  if (o.window_left >= 0 || o.window_right >= 0) {
    text += ", window " + std::to_string(o.window_left) + "," + std::to_string(o.window_right);
  }
  if (o.global_keys > 0) text += ", " + std::to_string(o.global_keys) + " global keys";
  if (o.kv_len_valid >= 0) text += ", key length " + std::to_string(o.kv_len_valid);
  if (o.mask != MaskKind::kNone) {
    char mask[64];
    std::snprintf(mask, sizeof(mask), ", boolean mask hiding %.0f%% of the %s", 100 * o.mask_fraction,
                  o.mask == MaskKind::kKeys ? "keys" : "pairs");
    text += mask;
  }
  if (o.alibi) text += ", ALiBi";
  if (o.softcap > 0) text += ", softcap " + number(o.softcap);
  if (o.has_sink) text += ", sink " + number(o.sink);
  if (o.softmax_scale != 0) text += ", scale " + number(o.softmax_scale);
  return text;
}

using ContextHandle = std::unique_ptr<std::remove_pointer_t<vkattn_context>, decltype(&vkattn_context_destroy)>;

int run(const Options& o) {
  // The file first, so that a directory that cannot be written fails at
  // once. The writer fills a temporary file beside --out and renames it onto
  // --out only once the picture is complete: a run that fails leaves an
  // existing --out as it was, and no temporary file.
  vkattn_samples::PngWriter png;
  if (!png.open(o.out, static_cast<uint32_t>(o.kv_len * o.scale), static_cast<uint32_t>(o.q_len * o.scale))) {
    throw Failure{1, png.error()};
  }
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = o.backend;
  options.device_index = o.device;
  vkattn_context raw = nullptr;
  check(vkattn_context_create(&options, &raw), "vkattn_context_create");
  const ContextHandle context(raw, vkattn_context_destroy);
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  check(vkattn_context_get_info(context.get(), &info), "vkattn_context_get_info");
  std::printf("vkattn-heatmap on %s %s: %s\n", info.backend == VKATTN_BACKEND_VULKAN ? "Vulkan" : "CPU", info.name,
              describe(o).c_str());

  const HostInputs in = make_problem(o);
  std::vector<float> out(static_cast<size_t>(o.heads * o.q_len * o.head_dim));
  std::vector<float> lse(static_cast<size_t>(o.heads * o.q_len));
  vkattn_host_tensors tensors;
  vkattn_host_tensors_init(&tensors);
  tensors.q = in.q.data();
  tensors.k = in.k.data();
  tensors.v = in.v.data();
  tensors.out = out.data();
  tensors.lse = lse.data();
  if (in.desc.has_kv_lens) tensors.kv_lens = in.kv_lens.data();
  if (in.desc.has_bool_mask) tensors.bool_mask = in.bool_mask.data();
  check(vkattn_attention(context.get(), &in.desc, &tensors), "vkattn_attention");

  const CheckResult result = check_rows(in, lse, o.head);
  std::printf("row sums of p_ij = exp(s_ij - LSE_i)%s: max |sum - 1| = %.3g over %lld rows that see a key "
              "(tolerance at that row %.3g); %lld rows see none%s\n",
              in.sinks.empty() ? "" : " + exp(sink - LSE_i)", result.max_deviation, static_cast<long long>(result.rows),
              result.tolerance, static_cast<long long>(result.empty_rows),
              result.empty_rows == 0 ? "" : in.sinks.empty() ? " (LSE -inf)" : " (LSE = sink)");

  draw(in, lse, o, result.head_max_weight, png);
  static const char* const kNormText[] = {"weight / row maximum", "weight / head maximum", "log10 weight, 1e-4 to 1"};
  std::printf("wrote %s: %lld x %lld pixels (%lld per cell), head %lld, colour: %s (viridis), grey: hidden keys\n",
              o.out.c_str(), static_cast<long long>(o.kv_len * o.scale), static_cast<long long>(o.q_len * o.scale),
              static_cast<long long>(o.scale), static_cast<long long>(o.head), kNormText[static_cast<int>(o.norm)]);
  if (!result.ok) {
    std::fprintf(stderr, "vkattn-heatmap: check failed: %s\n", result.first_failure.c_str());
    return 1;
  }
  std::printf("check: OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return vkattn_samples::run_main("vkattn-heatmap", kUsage, [&] { return run(parse_args(argc, argv)); });
}
