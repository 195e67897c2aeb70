#include "bindings.h"

#include <algorithm>
#include <set>

#include "append.h"
#include "quant.h"

namespace vkattn {

TensorBytes tensor_bytes(const Problem& p) {
  // make_problem() proved these products fit in 64 bits.
  const uint64_t element = p.element_size();
  TensorBytes bytes;
  bytes.q = p.q.extent * element;
  bytes.k = storage_offset(p.k_dtype, p.k.extent);
  bytes.v = storage_offset(p.v_dtype, p.v.extent);
  bytes.out = p.out.extent * element;
  bytes.lse = p.has_lse ? p.lse.extent * 4 : 0;
  bytes.additive_mask = p.has_additive_mask ? p.additive_mask.extent * 4 : 0;
  bytes.bool_mask = p.has_bool_mask ? p.bool_mask.extent : 0;
  return bytes;
}

namespace {

struct Binding {
  const char* name;        // field of the bindings struct
  const char* need_flag;   // descriptor flag that requires it, or null
  vkattn_buffer handle;
  bool required;
  uint64_t first_byte;     // byte range the view can touch
  uint64_t end_byte;
  DeviceBuffer** target;
};

// `owner` names the bindings struct in messages.
Status check_one(const vkattn_plan_t& plan, const Binding& binding, const char* owner = "vkattn_bindings") {
  if (binding.handle == nullptr) {
    if (!binding.required) return Status();
    return invalid_argument("%s.%s is NULL but the plan needs it%s%s", owner, binding.name,
                            binding.need_flag ? " (" : "", binding.need_flag ? binding.need_flag : "");
  }
  if (!binding.required) {
    return invalid_argument("%s.%s is set but the plan was created without %s", owner, binding.name,
                            binding.need_flag);
  }
  if (binding.handle->kind != HandleKind::kBuffer) {
    return invalid_argument("%s.%s is not a live vkattn_buffer handle", owner, binding.name);
  }
  if (binding.handle->context != plan.context) {
    return invalid_argument("%s.%s belongs to another context than the plan", owner, binding.name);
  }
  if (binding.handle->mapped) {
    return failed_precondition("%s.%s is mapped; unmap it before executing", owner, binding.name);
  }
  const uint64_t size = binding.handle->impl->size();
  if (binding.end_byte > size) {
    return invalid_argument("%s.%s holds %llu bytes but its layout addresses %llu bytes", owner, binding.name,
                            (unsigned long long)size, (unsigned long long)binding.end_byte);
  }
  *binding.target = binding.handle->impl.get();
  return Status();
}

bool ranges_overlap(const Binding& a, const Binding& b) {
  return a.handle != nullptr && a.handle == b.handle && a.first_byte < b.end_byte && b.first_byte < a.end_byte;
}

// Per-sequence lengths vkattn_bindings.<name> (present iff the plan has
// has_<name>), each in [0, limit], copied into *out.
Status copy_lengths(const char* name, const char* limit_name, bool needed, const int32_t* values, int64_t batch,
                    int64_t limit, std::vector<int32_t>* out) {
  if (!needed) {
    if (values != nullptr) {
      return invalid_argument("vkattn_bindings.%s is set but the plan was created without has_%s", name, name);
    }
    return Status();
  }
  if (values == nullptr) {
    return invalid_argument("vkattn_bindings.%s is NULL but the plan was created with has_%s", name, name);
  }
  out->assign(values, values + batch);
  for (int64_t b = 0; b < batch; ++b) {
    if ((*out)[b] < 0 || (*out)[b] > limit) {
      return invalid_argument("vkattn_bindings.%s[%lld] = %d is outside [0, %s = %lld]", name, (long long)b, (*out)[b],
                              limit_name, (long long)limit);
    }
  }
  return Status();
}

// Packed queries: cu_seqlens_q (present iff the plan has packed_q_rows)
// becomes each sequence's first packed row and query count.
Status copy_packed_queries(const Problem& p, const int32_t* cu_seqlens_q, ExecArgs* args) {
  if (!p.packed_queries()) {
    if (cu_seqlens_q != nullptr) {
      return invalid_argument("vkattn_bindings.cu_seqlens_q is set but the plan was created without packed_q_rows");
    }
    return Status();
  }
  if (cu_seqlens_q == nullptr) {
    return invalid_argument("vkattn_bindings.cu_seqlens_q is NULL but the plan was created with packed_q_rows = %lld",
                            (long long)p.packed_q_rows);
  }
  if (cu_seqlens_q[0] < 0) {
    return invalid_argument("vkattn_bindings.cu_seqlens_q[0] = %d must be >= 0", cu_seqlens_q[0]);
  }
  args->q_starts.assign(cu_seqlens_q, cu_seqlens_q + p.batch);
  args->q_lens.resize(static_cast<size_t>(p.batch));
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t count = static_cast<int64_t>(cu_seqlens_q[b + 1]) - cu_seqlens_q[b];
    if (count < 0 || count > p.q_len) {
      return invalid_argument("vkattn_bindings.cu_seqlens_q[%lld] - cu_seqlens_q[%lld] = %lld (sequence %lld's "
                              "queries) is outside [0, q_len = %lld]",
                              (long long)(b + 1), (long long)b, (long long)count, (long long)b, (long long)p.q_len);
    }
    args->q_lens[static_cast<size_t>(b)] = static_cast<int32_t>(count);
  }
  if (cu_seqlens_q[p.batch] > p.packed_q_rows) {
    return invalid_argument("vkattn_bindings.cu_seqlens_q[%lld] = %d exceeds packed_q_rows (%lld)", (long long)p.batch,
                            cu_seqlens_q[p.batch], (long long)p.packed_q_rows);
  }
  return Status();
}

}  // namespace

Status check_bindings(const vkattn_plan_t& plan, const vkattn_bindings& bindings, ExecArgs* out) {
  if (bindings.struct_size != sizeof(vkattn_bindings)) {
    return invalid_argument("vkattn_bindings.struct_size is %zu but this library expects %zu; use vkattn_bindings_init()",
                            bindings.struct_size, sizeof(vkattn_bindings));
  }
  const Problem& p = plan.problem;
  const uint64_t element = p.element_size();
  const TensorBytes bytes = tensor_bytes(p);
  ExecArgs args;
  Binding inputs[] = {
      {"q", nullptr, bindings.q, true, p.q.offset * element, bytes.q, &args.q},
      {"k", nullptr, bindings.k, true, storage_offset(p.k_dtype, p.k.offset), bytes.k, &args.k},
      {"v", nullptr, bindings.v, true, storage_offset(p.v_dtype, p.v.offset), bytes.v, &args.v},
      {"additive_mask", "has_additive_mask", bindings.additive_mask, p.has_additive_mask,
       p.additive_mask.offset * 4, bytes.additive_mask, &args.additive_mask},
      {"bool_mask", "has_bool_mask", bindings.bool_mask, p.has_bool_mask, p.bool_mask.offset, bytes.bool_mask,
       &args.bool_mask},
  };
  Binding outputs[] = {
      {"out", nullptr, bindings.out, true, p.out.offset * element, bytes.out, &args.out},
      {"lse", "has_lse", bindings.lse, p.has_lse, p.lse.offset * 4, bytes.lse, &args.lse},
  };
  for (const Binding& binding : inputs) VKATTN_RETURN_IF_ERROR(check_one(plan, binding));
  for (const Binding& binding : outputs) VKATTN_RETURN_IF_ERROR(check_one(plan, binding));
  for (const Binding& output : outputs) {
    for (const Binding& input : inputs) {
      if (ranges_overlap(output, input)) {
        return invalid_argument("vkattn_bindings.%s overlaps vkattn_bindings.%s in the same buffer", output.name,
                                input.name);
      }
    }
  }
  if (ranges_overlap(outputs[0], outputs[1])) {
    return invalid_argument("vkattn_bindings.out and vkattn_bindings.lse overlap in the same buffer");
  }

  VKATTN_RETURN_IF_ERROR(copy_lengths("kv_lens", "kv_len", p.has_kv_lens, bindings.kv_lens, p.batch, p.kv_len,
                                      &args.kv_lens));
  VKATTN_RETURN_IF_ERROR(copy_lengths("q_lens", "q_len", p.has_q_lens, bindings.q_lens, p.batch, p.q_len, &args.q_lens));
  VKATTN_RETURN_IF_ERROR(copy_packed_queries(p, bindings.cu_seqlens_q, &args));
  if (p.paged()) {
    if (bindings.block_table == nullptr) {
      return invalid_argument("vkattn_bindings.block_table is NULL but the plan has paged K/V (page_size > 0)");
    }
    args.block_table.assign(bindings.block_table, bindings.block_table + p.batch * p.max_pages);
    // The pages that hold each sequence's keys must exist; the rest of a
    // row is never read.
    for (int64_t b = 0; b < p.batch; ++b) {
      const int64_t used = (static_cast<int64_t>(args.kv_lens[b]) + p.page_size - 1) / p.page_size;
      for (int64_t page = 0; page < used; ++page) {
        const int32_t entry = args.block_table[b * p.max_pages + page];
        if (entry < 0 || entry >= p.num_pages) {
          return invalid_argument("vkattn_bindings.block_table[%lld] (batch %lld, page %lld) = %d is outside "
                                  "[0, num_pages = %lld)",
                                  (long long)(b * p.max_pages + page), (long long)b, (long long)page, entry,
                                  (long long)p.num_pages);
        }
      }
    }
  } else if (bindings.block_table != nullptr) {
    return invalid_argument("vkattn_bindings.block_table is set but the plan has no paged K/V");
  }
  *out = std::move(args);
  return Status();
}

Status check_append_bindings(const vkattn_plan_t& plan, const AppendProblem& p, const vkattn_append_bindings& bindings,
                             AppendArgs* out) {
  const char* const kOwner = "vkattn_append_bindings";
  if (bindings.struct_size != sizeof(vkattn_append_bindings)) {
    return invalid_argument("%s.struct_size is %zu but this library expects %zu; use vkattn_append_bindings_init()",
                            kOwner, bindings.struct_size, sizeof(vkattn_append_bindings));
  }
  // make_append_problem() proved these products fit in 64 bits.
  const uint64_t src = dtype_size(p.src_dtype);
  AppendArgs args;
  Binding inputs[] = {
      {"k_src", nullptr, bindings.k_src, true, p.k_src.offset * src, p.k_src.extent * src, &args.k_src},
      {"v_src", nullptr, bindings.v_src, true, p.v_src.offset * src, p.v_src.extent * src, &args.v_src},
  };
  Binding outputs[] = {
      {"k_cache", nullptr, bindings.k_cache, true, storage_offset(p.k_dtype, p.k.offset),
       storage_offset(p.k_dtype, p.k.extent), &args.k_cache},
      {"v_cache", nullptr, bindings.v_cache, true, storage_offset(p.v_dtype, p.v.offset),
       storage_offset(p.v_dtype, p.v.extent), &args.v_cache},
  };
  for (const Binding& binding : inputs) VKATTN_RETURN_IF_ERROR(check_one(plan, binding, kOwner));
  for (const Binding& binding : outputs) VKATTN_RETURN_IF_ERROR(check_one(plan, binding, kOwner));
  for (const Binding& output : outputs) {
    for (const Binding& input : inputs) {
      if (ranges_overlap(output, input)) {
        return invalid_argument("%s.%s overlaps %s.%s in the same buffer", kOwner, output.name, kOwner, input.name);
      }
    }
  }
  // The two caches are written at once: rows of one must not be rows of
  // the other. Their views do not overlap themselves; their byte ranges
  // must be disjoint too (interleaved K/V layouts live in two buffers).
  if (ranges_overlap(outputs[0], outputs[1])) {
    return invalid_argument("%s.k_cache and %s.v_cache overlap in the same buffer", kOwner, kOwner);
  }

  if (bindings.positions == nullptr) return invalid_argument("%s.positions is NULL", kOwner);
  args.positions.assign(bindings.positions, bindings.positions + p.batch);
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t position = args.positions[static_cast<size_t>(b)];
    if (position < 0 || position > p.kv_len - p.new_tokens) {
      return invalid_argument("%s.positions[%lld] = %lld: the %lld new tokens must fit positions [0, kv_len = %lld)",
                              kOwner, (long long)b, (long long)position, (long long)p.new_tokens, (long long)p.kv_len);
    }
  }
  if (p.paged()) {
    if (bindings.block_table == nullptr) {
      return invalid_argument("%s.block_table is NULL but the plan has paged caches (page_size > 0)", kOwner);
    }
    args.block_table.assign(bindings.block_table, bindings.block_table + p.batch * p.max_pages);
    // Every page written exists, and no key slot is written twice (two
    // sequences sharing a page may share its filled prefix, not the slots
    // they append to: the result would depend on the order of writes).
    std::vector<int64_t> slots;
    slots.reserve(static_cast<size_t>(p.batch * p.new_tokens));
    for (int64_t b = 0; b < p.batch; ++b) {
      const int64_t first = args.positions[static_cast<size_t>(b)];
      for (int64_t j = first; j < first + p.new_tokens; ++j) {
        const int64_t index = b * p.max_pages + j / p.page_size;
        const int32_t entry = args.block_table[static_cast<size_t>(index)];
        if (entry < 0 || entry >= p.num_pages) {
          return invalid_argument("%s.block_table[%lld] (batch %lld, page %lld) = %d is outside [0, num_pages = %lld)",
                                  kOwner, (long long)index, (long long)b, (long long)(j / p.page_size), entry,
                                  (long long)p.num_pages);
        }
        slots.push_back(static_cast<int64_t>(entry) * p.page_size + j % p.page_size);
      }
    }
    std::sort(slots.begin(), slots.end());
    const auto repeated = std::adjacent_find(slots.begin(), slots.end());
    if (repeated != slots.end()) {
      return invalid_argument("%s.block_table: key slot %lld of page %lld is written by two sequences", kOwner,
                              (long long)(*repeated % p.page_size), (long long)(*repeated / p.page_size));
    }
  } else if (bindings.block_table != nullptr) {
    return invalid_argument("%s.block_table is set but the plan has contiguous caches", kOwner);
  }
  *out = std::move(args);
  return Status();
}

Status check_executions(const std::shared_ptr<ContextState>& context, const vkattn_execution* executions,
                        uint32_t count, CheckedBatch* out) {
  if (executions == nullptr) return invalid_argument("executions is NULL");
  if (count == 0) return invalid_argument("count must be >= 1");
  out->args.resize(count);  // reserved whole: work points into them
  out->append_args.resize(count);
  std::set<const vkattn_plan_t*> plans;
  for (uint32_t i = 0; i < count; ++i) {
    const vkattn_execution& execution = executions[i];
    if (execution.struct_size != sizeof(vkattn_execution)) {
      return invalid_argument("executions[%u].struct_size is %zu but this library expects %zu; use "
                              "vkattn_execution_init()",
                              i, execution.struct_size, sizeof(vkattn_execution));
    }
    const vkattn_plan_t* plan = execution.plan;
    if (plan == nullptr) return invalid_argument("executions[%u].plan is NULL", i);
    if (plan->kind != HandleKind::kPlan) return invalid_argument("executions[%u].plan is not a live vkattn_plan handle", i);
    if (plan->context != context) return invalid_argument("executions[%u].plan belongs to another context", i);
    if (!plans.insert(plan).second) {
      return invalid_argument("executions[%u].plan appears twice in one batch (a plan has one execution in flight)", i);
    }
    Work work;
    if (plan->impl != nullptr) {
      if (execution.bindings == nullptr || execution.append_bindings != nullptr) {
        return invalid_argument("executions[%u] is an attention plan: set bindings, not append_bindings", i);
      }
      VKATTN_RETURN_IF_ERROR(check_bindings(*plan, *execution.bindings, &out->args[i]));
      work.plan = plan->impl.get();
      work.args = &out->args[i];
    } else {
      if (execution.append_bindings == nullptr || execution.bindings != nullptr) {
        return invalid_argument("executions[%u] is an append plan: set append_bindings, not bindings", i);
      }
      VKATTN_RETURN_IF_ERROR(
          check_append_bindings(*plan, plan->append_problem, *execution.append_bindings, &out->append_args[i]));
      work.append_plan = plan->append_impl.get();
      work.append_args = &out->append_args[i];
    }
    out->work.push_back(work);
  }
  return Status();
}

}  // namespace vkattn
