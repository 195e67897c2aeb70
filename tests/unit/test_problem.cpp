// The backend-neutral problem: visibility intervals agree with the reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "reference.h"
#include "runtime/problem.h"

namespace {

vkattn_attention_desc desc_for(int64_t q_len, int64_t kv_len, vkattn_causal causal, int64_t left, int64_t right) {
  vkattn_attention_desc d;
  vkattn_attention_desc_init(&d);
  d.batch = 1;
  d.q_heads = d.kv_heads = 1;
  d.q_len = q_len;
  d.kv_len = kv_len;
  d.qk_dim = d.v_dim = 4;
  d.causal = causal;
  d.window_left = left;
  d.window_right = right;
  vkattn_attention_desc_set_dense_layouts(&d);
  return d;
}

}  // namespace

TEST_CASE("key_range matches the reference's per-key visibility for every alignment and query count") {
  const vkattn_causal modes[] = {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT, VKATTN_CAUSAL_TOP_LEFT};
  const int64_t windows[][2] = {{-1, -1}, {0, 0}, {3, -1}, {-1, 2}, {5, 1}, {100, 100}};
  const int64_t lens[][2] = {{7, 13}, {13, 7}, {1, 9}, {9, 1}, {6, 6}};
  for (vkattn_causal causal : modes)
    for (const auto& w : windows)
      for (const auto& len : lens) {
        vkattn_test::HostInputs in;
        in.desc = desc_for(len[0], len[1], causal, w[0], w[1]);
        vkattn::Problem p;
        REQUIRE(vkattn::make_problem(in.desc, &p).ok());
        for (int64_t L = 0; L <= len[1]; ++L)
          for (int64_t Sq : {len[0], len[0] / 2, int64_t{1}}) {  // ragged: fewer queries than q_len
          in.desc.has_kv_lens = 1;
          in.desc.has_q_lens = 1;
          in.kv_lens = {static_cast<int32_t>(L)};
          in.q_lens = {static_cast<int32_t>(Sq)};
          for (int64_t i = 0; i < Sq; ++i) {
            const vkattn::KeyRange range = p.key_range(i, vkattn::SequenceLengths{L, Sq});
            // Kernels read keys [begin, end) of several rows' union: it must
            // stay inside the keys even when a row sees none.
            REQUIRE(0 <= range.begin);
            REQUIRE(range.begin <= range.end);
            REQUIRE(range.end <= L);
            for (int64_t j = 0; j < len[1]; ++j) {
              const bool inside = j >= range.begin && j < range.end;
              REQUIRE_MESSAGE(inside == vkattn_test::reference_visible(in, 0, 0, i, j),
                              "causal " << causal << " window " << w[0] << "," << w[1] << " L " << L << " Sq " << Sq
                                        << " i " << i << " j " << j);
            }
          }
        }
      }
}

TEST_CASE("count_range_visible_pairs counts what the reference counts") {
  vkattn_test::HostInputs in;
  in.desc = desc_for(37, 101, VKATTN_CAUSAL_BOTTOM_RIGHT, 20, -1);
  in.desc.batch = 2;
  in.desc.q_heads = 3;
  in.desc.kv_heads = 1;
  in.desc.has_kv_lens = 1;
  in.desc.has_q_lens = 1;
  vkattn_attention_desc_set_dense_layouts(&in.desc);
  in.kv_lens = {101, 44};
  in.q_lens = {37, 20};
  vkattn::Problem p;
  REQUIRE(vkattn::make_problem(in.desc, &p).ok());
  uint64_t naive = 0;  // every pair tested one by one
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t i = 0; i < in.q_lens[b]; ++i)
        for (int64_t j = 0; j < 101; ++j) naive += vkattn_test::reference_visible(in, b, h, i, j) ? 1 : 0;
  CHECK(vkattn::count_range_visible_pairs(p, in.kv_lens.data(), in.q_lens.data()) == naive);
  CHECK(vkattn_test::count_visible_pairs(in) == naive);
}

TEST_CASE("visible_spans with global keys match the reference's per-key visibility, and the counts agree "
          "(pairs, and keys some query sees)") {
  const vkattn_causal modes[] = {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT, VKATTN_CAUSAL_TOP_LEFT};
  const int64_t windows[][2] = {{-1, -1}, {0, 0}, {3, -1}, {-1, 2}, {5, 1}, {2, 2}};
  const int64_t lens[][2] = {{7, 13}, {13, 7}, {1, 9}, {9, 1}, {6, 6}};
  for (vkattn_causal causal : modes)
    for (const auto& w : windows)
      for (const auto& len : lens)
        for (int64_t global : {1, 3, 8, 40}) {
          vkattn_test::HostInputs in;
          in.desc = desc_for(len[0], len[1], causal, w[0], w[1]);
          in.desc.global_keys = global;
          vkattn::Problem p;
          REQUIRE(vkattn::make_problem(in.desc, &p).ok());
          in.desc.has_kv_lens = 1;
          for (int64_t L = 0; L <= len[1]; ++L) {
            in.kv_lens = {static_cast<int32_t>(L)};
            uint64_t counted = 0;
            std::vector<bool> read(static_cast<size_t>(len[1]), false);  // keys some query sees
            for (int64_t i = 0; i < len[0]; ++i) {
              vkattn::KeyRange spans[2];
              const int count = p.visible_spans(i, vkattn::SequenceLengths{L, len[0]}, spans);
              REQUIRE((count == 2 ? spans[0].end < spans[1].begin : true));  // disjoint, in order
              for (int64_t j = 0; j < len[1]; ++j) {
                bool inside = false;
                for (int s = 0; s < count; ++s) inside = inside || (j >= spans[s].begin && j < spans[s].end);
                REQUIRE_MESSAGE(inside == vkattn_test::reference_visible(in, 0, 0, i, j),
                                "causal " << causal << " window " << w[0] << "," << w[1] << " global " << global
                                          << " L " << L << " i " << i << " j " << j);
                counted += inside ? 1 : 0;
                if (inside) read[static_cast<size_t>(j)] = true;
              }
            }
            CHECK(vkattn::count_range_visible_pairs(p, in.kv_lens.data(), nullptr) == counted);
            CHECK(vkattn_test::count_visible_pairs(in) == counted);
            CHECK(vkattn_test::count_read_keys(in) == static_cast<uint64_t>(std::count(read.begin(), read.end(), true)));
          }
        }
}
