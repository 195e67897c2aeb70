// Linear attention on the CPU (VKATTN_MODE_LINEAR): per (batch, kv head),
// the state S = sum_j phi(k_j) v_j^T [m, v_dim] and z = sum_j phi(k_j) [m]
// over the keys, and each query row's O = phi(q)^T S / phi(q)^T z. Causal
// rows read the state as it stands after their diagonal key (prefix sums);
// nothing q_len x kv_len exists.
//
// A task owns a (batch, kv head) and every query head of its group. Keys
// are walked in blocks of kKeyBlock: the block's features (K.W^T for
// FAVOR+ through the direct dot products, exps and ELU through the row
// kernels; transposed to feature-major for the update), then the rows whose
// diagonal lies in the block (the state before the block plus the block's
// own visible keys), then the state update (features^T . V, register-
// blocked). When (batch, kv head) pairs are too few to keep the threads
// busy, the keys are also cut into chunks: a first pass sums each chunk's
// state, a second turns them into prefixes (causal) or one total, and a
// third walks each chunk again from its prefix emitting its rows (causal),
// or computes a share of the rows from the total. The chunks depend on the
// problem only, so results do not change with the thread count.
//
// Problems with few query rows per kv head (decode) take the direct form
// instead (linear_direct): each key's features weigh every row at once,
// phi(q).phi(k) (0 past a row's diagonal), and the rows' numerators and
// sums accumulate as the state would, with the same chunks (merged by a
// second pass), for (m + v_dim) per row and key instead of m x v_dim per key.
//
// FAVOR+ keeps every state with a stabiliser c (the state holds the sums
// times exp(-c)): a block whose largest exponent exceeds c rescales the
// state first, so no exp ever sees a positive argument. Queries are
// stabilised by their own largest exponent. Both factors cancel in O.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernel.h"
#include "row_ops.h"
#include "workspace.h"
#include "runtime/problem.h"

namespace vkattn {
namespace cpu {

// Whether the direct form is the cheaper (few rows per kv head).
bool linear_direct(const Problem& problem);

class LinearKernel final : public Kernel {
 public:
  static Status create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out);
  ~LinearKernel() override;

  Status run(pthreadpool_t pool, const Tensors& tensors) override;
  PlanInfo info() const override;

 private:
  // A state: S [m, v_dim], z [m], the stabiliser c; state_floats() floats.
  // (In the direct form: each row's numerators [rows, v_dim], its sums
  // [rows], the stabiliser.)
  struct State {
    float* s;
    float* z;
    float* c;
  };
  // The scratch arrays of one running task (a slot of slots_).
  struct Workspace {
    float* state = nullptr;      // the walking state
    float* keys = nullptr;       // kKeyBlock x qk_dim: sqrt(scale) k
    float* phi_fm = nullptr;     // m x kKeyBlock: the block's key features, feature-major
    float* phi_km = nullptr;     // kKeyBlock x m: the same, key-major
    // Row blocks: kRowBlock rows (the direct form: all rows of a unit).
    float* queries = nullptr;    // rows x qk_dim: sqrt(scale) q
    float* phi_q = nullptr;      // rows x m
    float* weights = nullptr;    // rows x kKeyBlock: phi(q).phi(k) of the block's keys
    float* num = nullptr;        // rows x v_dim
    float* saved = nullptr;      // rows x v_dim: num before the block's keys
    float* den = nullptr;        // rows
  };
  struct RunState;

  LinearKernel(const Problem& problem, int64_t chunks);
  Status allocate(int slots);
  Workspace workspace(int slot) const;
  // pthreadpool tasks: RunState's chunk_task for task = unit x chunks +
  // chunk (with a claimed workspace), or its unit_task for a unit.
  static void chunk_entry(void* state, size_t task);
  static void unit_entry(void* state, size_t unit);

  int64_t state_floats() const { return state_rows_ * (problem_.v_dim + 1) + 1; }
  State state_at(float* base) const;
  void clear(const State& state) const;
  // a := a (+) b, to the larger stabiliser.
  void merge(const State& a, const State& b) const;
  // Keys [j0, j0 + n) of (b, kv_head): their features into ws, the state
  // rescaled to cover them.
  void key_features(const Tensors& t, int64_t b, int64_t kv_head, int64_t j0, int64_t n, const State& state,
                    Workspace& ws, const uint8_t** value_rows) const;
  void absorb(const State& state, int64_t n, const uint8_t* const* value_rows, Workspace& ws) const;
  // Query rows [first, end) (positions, each with every head of the group)
  // of (b, kv_head): O from `state`, plus, when the block's features are
  // given (n > 0), the block's keys up to each row's diagonal.
  void emit_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t end, const SequenceLengths& seq,
                 const State& state, int64_t j0, int64_t n, const uint8_t* const* value_rows, Workspace& ws) const;
  void zero_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t end, Workspace& ws) const;
  // The direct form: rows [first, first + rows) of (b, kv_head) (row =
  // position x group + head); their features into ws.phi_q; a block's
  // weights added to their numerators and sums; O from those.
  void query_features(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t rows, Workspace& ws) const;
  void weigh_block(int64_t first, int64_t rows, const SequenceLengths& seq, int64_t j0, int64_t n,
                   const uint8_t* const* value_rows, float* num, float* den, Workspace& ws) const;
  void store_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t rows, const float* num,
                  const float* den) const;
  void run_direct(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const;
  void finish_direct(int64_t unit, const Tensors& t) const;

  // Chunk `chunk` of the keys of unit (b, kv_head), clipped to the sequence.
  void chunk_keys(int64_t chunk, int64_t keys, int64_t* begin, int64_t* end) const;
  void run_chunk(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const;
  void sum_chunk(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const;
  void make_prefixes(int64_t unit, const Tensors& t) const;
  void run_chunks(pthreadpool_t pool, const Tensors& t,
                  void (LinearKernel::*task)(int64_t, int64_t, const Tensors&, Workspace&) const);
  void run_units(pthreadpool_t pool, const Tensors& t, void (LinearKernel::*task)(int64_t, const Tensors&) const);

  Problem problem_;
  const RowOps& ops_;
  float sqrt_scale_ = 1.0f;
  bool favor_ = false;
  bool direct_ = false;     // the direct form (linear_direct)
  int64_t state_rows_ = 0;  // entries of a state: m, or in the direct form the rows of a unit
  int64_t chunks_ = 1;      // key chunks per (batch, kv head)
  int64_t chunk_len_ = 0;   // keys per chunk, a multiple of kKeyBlock
  uint64_t workspace_bytes_ = 0;
  WorkspaceSlots slots_;
  // chunks_ > 1: per unit and chunk, a state (the chunk's sums, then the
  // sums of chunks 0 .. it).
  float* chunk_states_ = nullptr;
};

}  // namespace cpu
}  // namespace vkattn
