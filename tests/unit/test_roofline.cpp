// vkattn-bench's roofline (bench/roofline.*): the least traffic of a case,
// and the SVG's roofs, points and notes.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "reference.h"
#include "roofline.h"

namespace {

vkattn_test::HostInputs decode(int64_t kv_len, vkattn_dtype kv_type) {
  vkattn_test::HostInputs in;
  vkattn_attention_desc& d = in.desc;
  vkattn_attention_desc_init(&d);
  d.batch = 1;
  d.q_heads = 32;
  d.kv_heads = 8;
  d.q_len = 1;
  d.kv_len = kv_len;
  d.qk_dim = d.v_dim = 128;
  d.dtype = VKATTN_DTYPE_F16;
  d.k_dtype = d.v_dtype = kv_type;
  d.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  vkattn_attention_desc_set_dense_layouts(&d);
  return in;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("min_traffic_bytes: Q and O, and the K/V rows some query sees, as stored") {
  const double q_and_o = 2.0 * 32 * 128 * 2;  // one f16 query row per head, and its output row
  CHECK(vkattn_bench::min_traffic_bytes(decode(1024, VKATTN_DTYPE_F16)) == q_and_o + 2.0 * 8 * 1024 * 128 * 2);
  // q8_0: 34 bytes per 32 values.
  CHECK(vkattn_bench::min_traffic_bytes(decode(1024, VKATTN_DTYPE_Q8_0)) == q_and_o + 2.0 * 8 * 1024 * 4 * 34);
  // A window of 1024 keys and 4 global keys over 32768: 1028 keys are read.
  vkattn_test::HostInputs streaming = decode(32768, VKATTN_DTYPE_F16);
  streaming.desc.window_left = 1023;
  streaming.desc.global_keys = 4;
  CHECK(vkattn_test::count_read_keys(streaming) == 8 * 1028);
  CHECK(vkattn_bench::min_traffic_bytes(streaming) == q_and_o + 2.0 * 8 * 1028 * 128 * 2);
  // LSE (f32 per row) and a key-padding mask broadcast over heads and rows.
  vkattn_test::HostInputs masked = decode(1024, VKATTN_DTYPE_F16);
  masked.desc.has_lse = 1;
  masked.desc.has_bool_mask = 1;
  masked.desc.bool_mask_layout.head_stride = masked.desc.bool_mask_layout.row_stride = 0;
  CHECK(vkattn_bench::min_traffic_bytes(masked) == q_and_o + 32 * 4 + 1024 + 2.0 * 8 * 1024 * 128 * 2);
}

TEST_CASE("the roofline SVG draws measured roofs only, a point per case that ran, and escapes names") {
  const std::string path = "vkattn_test_roofline.svg";
  std::vector<vkattn_bench::RooflineTarget> targets = {
      {"cpu", "A CPU", 200.0, 40.0, ""},
      {"vulkan:0", "GPU <&> \"x\"", 0.0, 0.0, "probe failed: no timestamps"},
  };
  std::vector<vkattn_bench::RooflinePoint> points = {
      {"prefill_a", "cpu", 128.0, 100.0, ""},
      {"decode_b", "cpu", 4.0, 30.0, ""},
      {"decode_b", "vulkan:0", 4.0, 2.0, "", true},
      {"cross_c", "vulkan:0", 40.0, 0.0, "skipped: over <budget>"},
  };
  std::string error;
  REQUIRE(vkattn_bench::write_roofline_svg(path, "title & more", "a <subtitle>", targets, points, &error));
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  const std::string svg = text.str();
  std::remove(path.c_str());
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(count(svg, "<circle class=\"case\"") == 3);  // cross_c did not run: listed, not drawn
  CHECK(count(svg, "<polyline") == 1);               // the CPU's roof; none for the unmeasured device
  CHECK(svg.find("ridge at 5 FLOP/byte") != std::string::npos);
  CHECK(svg.find("no measured FMA peak, no measured read bandwidth") != std::string::npos);
  CHECK(svg.find("probe failed: no timestamps") != std::string::npos);
  CHECK(svg.find("GPU &lt;&amp;&gt; &quot;x&quot;") != std::string::npos);
  CHECK(svg.find("skipped: over &lt;budget&gt;") != std::string::npos);
  CHECK(svg.find("title &amp; more") != std::string::npos);
  CHECK(svg.find("a &lt;subtitle&gt;") != std::string::npos);
  CHECK(count(svg, "WRONG result") == 1);  // decode_b on vulkan:0, marked in its tooltip and legend
  CHECK(svg.find("<&>") == std::string::npos);

  CHECK_FALSE(vkattn_bench::write_roofline_svg("/nonexistent/dir/x.svg", "t", "s", targets, points, &error));
  CHECK(error.find("cannot write") != std::string::npos);
}
