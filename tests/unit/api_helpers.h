// Small helpers shared by the API tests.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "vkattn.h"

namespace vkattn_test {

// A context on the CPU backend; destroyed at scope exit.
struct CpuContext {
  vkattn_context context = nullptr;
  explicit CpuContext(int threads = 0) {
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = VKATTN_BACKEND_CPU;
    options.cpu_threads = threads;
    REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  }
  ~CpuContext() { vkattn_context_destroy(context); }
  operator vkattn_context() const { return context; }
};

struct Buffer {
  vkattn_buffer buffer = nullptr;
  Buffer(vkattn_context context, uint64_t bytes) {
    REQUIRE(vkattn_buffer_create(context, bytes, 0, &buffer) == VKATTN_SUCCESS);
  }
  ~Buffer() { vkattn_buffer_destroy(buffer); }
  operator vkattn_buffer() const { return buffer; }
};

// A small valid GQA problem: B=2, Hq=4, Hkv=2, Sq=16, Skv=32, D=32, dense.
inline vkattn_attention_desc small_desc() {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 2;
  desc.q_heads = 4;
  desc.kv_heads = 2;
  desc.q_len = 16;
  desc.kv_len = 32;
  desc.qk_dim = 32;
  desc.v_dim = 32;
  vkattn_attention_desc_set_dense_layouts(&desc);
  return desc;
}

// f32 buffers holding small_desc()'s dense Q, K, V and O, and bindings
// naming them (the rest of the bindings left to each test).
struct SmallBuffers {
  Buffer q, k, v, out;
  explicit SmallBuffers(vkattn_context context)
      : q(context, 2 * 4 * 16 * 32 * 4), k(context, 2 * 2 * 32 * 32 * 4), v(context, 2 * 2 * 32 * 32 * 4),
        out(context, 2 * 4 * 16 * 32 * 4) {}
  vkattn_bindings bindings() const {
    vkattn_bindings b;
    vkattn_bindings_init(&b);
    b.q = q;
    b.k = k;
    b.v = v;
    b.out = out;
    return b;
  }
};

// Runs `d`, a problem of small_desc()'s sizes in whatever mode and with
// whatever options, on fixed Q, K and V through vkattn_attention; returns
// O, and LSE in *lse (read only when d.has_lse).
inline std::vector<float> run_small_host(vkattn_context context, const vkattn_attention_desc& d,
                                         std::vector<float>* lse) {
  std::vector<float> q(2 * 4 * 16 * 32), k(2 * 2 * 32 * 32), v(2 * 2 * 32 * 32), out(q.size(), 0.0f);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.05 * static_cast<double>(i) + 1.0));
  lse->assign(2 * 4 * 16, 0.0f);
  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.out = out.data();
  t.lse = d.has_lse ? lse->data() : nullptr;
  REQUIRE(vkattn_attention(context, &d, &t) == VKATTN_SUCCESS);
  return out;
}

// Largest |got - want| of two runs' outputs, relative to max |want|, and
// of their LSEs (absolute).
struct RunDifference {
  double relative_error = 0.0;
  double lse_error = 0.0;
};
inline RunDifference run_difference(const std::vector<float>& got, const std::vector<float>& want,
                                    const std::vector<float>& got_lse, const std::vector<float>& want_lse) {
  double error = 0.0, scale = 0.0;
  RunDifference d;
  for (size_t i = 0; i < got.size(); ++i) {
    error = std::fmax(error, std::fabs(got[i] - want[i]));
    scale = std::fmax(scale, std::fabs(want[i]));
  }
  d.relative_error = scale > 0.0 ? error / scale : error;
  for (size_t i = 0; i < got_lse.size(); ++i) d.lse_error = std::fmax(d.lse_error, std::fabs(got_lse[i] - want_lse[i]));
  return d;
}

inline bool last_error_mentions(const char* text) { return std::strstr(vkattn_last_error(), text) != nullptr; }

}  // namespace vkattn_test

// Checks a call's status and that the message names `text`.
#define CHECK_STATUS_MENTIONS(call, expected_status, text)                     \
  do {                                                                         \
    const vkattn_status status_ = (call);                                      \
    CHECK_MESSAGE(status_ == (expected_status), "message: " << std::string(vkattn_last_error())); \
    CHECK_MESSAGE(::vkattn_test::last_error_mentions(text),                    \
                  "expected the message to mention '" << (text) << "', got: " << std::string(vkattn_last_error())); \
  } while (0)
