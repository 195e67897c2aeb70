// vkattn._vkattn: the C API for Python (pybind11). It holds contexts and runs
// attention on NumPy arrays in place: each array's strides become the
// descriptor's layouts, so any view whose head dimension is contiguous is
// read where it lies (the Python layer, vkattn/__init__.py, copies the
// others once). The GIL is released while vkattn computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vkattn.h"

namespace py = pybind11;

namespace {

// Python exception classes per status (created in PYBIND11_MODULE).
PyObject* g_error = nullptr;
PyObject* g_invalid_argument = nullptr;
PyObject* g_unsupported = nullptr;
PyObject* g_unavailable = nullptr;
PyObject* g_out_of_memory = nullptr;

[[noreturn]] void raise(vkattn_status status, const std::string& message) {
  PyObject* type = g_error;
  switch (status) {
    case VKATTN_ERROR_INVALID_ARGUMENT: type = g_invalid_argument; break;
    case VKATTN_ERROR_UNSUPPORTED: type = g_unsupported; break;
    case VKATTN_ERROR_BACKEND_UNAVAILABLE: type = g_unavailable; break;
    case VKATTN_ERROR_OUT_OF_HOST_MEMORY:
    case VKATTN_ERROR_OUT_OF_DEVICE_MEMORY: type = g_out_of_memory; break;
    default: break;
  }
  PyErr_SetString(type, (std::string(vkattn_status_string(status)) + ": " + message).c_str());
  throw py::error_already_set();
}

void check(vkattn_status status) {
  if (status != VKATTN_SUCCESS) raise(status, vkattn_last_error());
}

py::dict describe(const vkattn_device_info& info) {
  py::dict d;
  d["backend"] = info.backend == VKATTN_BACKEND_VULKAN ? "vulkan" : "cpu";
  d["index"] = info.index;
  d["name"] = std::string(info.name);
  d["driver"] = std::string(info.driver);
  d["usable"] = info.usable != 0;
  d["unusable_reason"] = std::string(info.unusable_reason);
  d["type"] = info.type == VKATTN_DEVICE_TYPE_CPU ? "cpu" : info.type == VKATTN_DEVICE_TYPE_DISCRETE_GPU ? "discrete_gpu"
              : info.type == VKATTN_DEVICE_TYPE_INTEGRATED_GPU ? "integrated_gpu"
              : info.type == VKATTN_DEVICE_TYPE_VIRTUAL_GPU ? "virtual_gpu" : "other";
  d["vendor_id"] = info.vendor_id;
  d["device_id"] = info.device_id;
  d["compute_units"] = info.compute_units;
  d["subgroup_size"] = info.subgroup_size;
  d["memory_bytes"] = info.memory_bytes;
  return d;
}

class Context {
 public:
  Context(const std::string& backend, int32_t device, int32_t cpu_threads, bool validation) {
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    if (backend == "auto") {
      options.backend = VKATTN_BACKEND_AUTO;
    } else if (backend == "cpu") {
      options.backend = VKATTN_BACKEND_CPU;
    } else if (backend == "vulkan") {
      options.backend = VKATTN_BACKEND_VULKAN;
    } else {
      raise(VKATTN_ERROR_INVALID_ARGUMENT, "backend must be 'auto', 'cpu' or 'vulkan', not '" + backend + "'");
    }
    options.device_index = device;
    options.cpu_threads = cpu_threads;
    if (validation) options.flags |= VKATTN_CONTEXT_ENABLE_VALIDATION;
    vkattn_status status;
    {
      py::gil_scoped_release release;
      status = vkattn_context_create(&options, &context_);
    }
    check(status);
  }
  ~Context() { close(); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  void close() {
    destroy([&] {
      if (context_ != nullptr) vkattn_context_destroy(context_);
      context_ = nullptr;
    });
  }

  // Runs `call(context)`, a vkattn call on this context or its objects, with
  // the GIL released and the context's lock held (a vkattn context serves
  // one thread at a time: Python threads take turns here), then raises for
  // its status. A closed context raises FAILED_PRECONDITION.
  template <class Call>
  void run(Call&& call) const {
    bool closed;
    vkattn_status status = VKATTN_ERROR_FAILED_PRECONDITION;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      closed = context_ == nullptr;
      if (!closed) status = call(context_);
    }
    if (closed) raise(VKATTN_ERROR_FAILED_PRECONDITION, "the context was closed");
    check(status);
  }

  // Runs `destroy_call` (destroying this context, a buffer or a plan of it)
  // with the GIL released and the context's lock held; never raises.
  template <class Destroy>
  void destroy(Destroy&& destroy_call) const {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    destroy_call();
  }

  py::dict info() const {
    vkattn_device_info info;
    vkattn_device_info_init(&info);
    run([&](vkattn_context c) { return vkattn_context_get_info(c, &info); });
    return describe(info);
  }

 private:
  vkattn_context context_ = nullptr;
  mutable std::mutex mutex_;
};

// The dtype of Q, O (and K, V): float32 or float16.
vkattn_dtype storage_of(const py::array& a, const char* name) {
  if (a.dtype().is(py::dtype::of<float>())) return VKATTN_DTYPE_F32;
  if (a.dtype().kind() == 'f' && a.dtype().itemsize() == 2) return VKATTN_DTYPE_F16;
  raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(name) + " must be float32 or float16, not " +
                                           std::string(py::str(a.dtype())));
}

// Layouts count strides in elements, never backwards.
void require_element_strides(const py::array& a, const char* name) {
  for (py::ssize_t axis = 0; axis < a.ndim(); ++axis) {
    if (a.strides(axis) < 0 || a.strides(axis) % a.itemsize() != 0) {
      raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(name) + " has a negative or unaligned stride");
    }
  }
}

// Element strides of a 4-D [batch, heads, seq, dim] array whose last axis is
// contiguous (the Python layer guarantees it).
vkattn_tensor_layout layout_of(const py::array& a, const char* name) {
  if (a.ndim() != 4) raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(name) + " must be 4-D here");
  require_element_strides(a, name);
  const py::ssize_t item = a.itemsize();
  if (a.shape(3) > 1 && a.strides(3) != item) {
    raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(name) + "'s last axis is not contiguous");
  }
  vkattn_tensor_layout layout{};
  layout.offset = 0;
  layout.batch_stride = a.strides(0) / item;
  layout.head_stride = a.strides(1) / item;
  layout.seq_stride = a.strides(2) / item;
  return layout;
}

// Every array the library reads must have the shape the descriptor implies:
// it trusts the extents it is given.
void require_shape(const py::array& a, std::initializer_list<py::ssize_t> shape, const char* name) {
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  int axis = 0;
  for (py::ssize_t extent : shape) same = same && a.shape(axis++) == extent;
  if (!same) raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(name) + " does not have the shape the query implies");
  require_element_strides(a, name);
}

vkattn_mask_layout mask_layout_of(const py::array& a) {
  vkattn_mask_layout layout{};
  const py::ssize_t item = a.itemsize();
  layout.batch_stride = a.strides(0) / item;
  layout.head_stride = a.strides(1) / item;
  layout.row_stride = a.strides(2) / item;
  layout.col_stride = a.strides(3) / item;
  return layout;
}

// Attention on 4-D arrays: q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S,
// Ev], out [B, Hq, L, Ev] (written), lse [B, Hq, L] float32 or None; masks
// [B, Hq, L, S] views (broadcast axes have stride 0), float32 / uint8.
void attention(const Context& context, const py::array& q, const py::array& k, const py::array& v, py::array out,
               py::object lse, py::object additive_mask, py::object bool_mask, py::object kv_lens, int causal,
               double scale, int64_t window_left, int64_t window_right) {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.dtype = storage_of(q, "query");
  if (storage_of(k, "key") != desc.dtype || storage_of(v, "value") != desc.dtype ||
      storage_of(out, "out") != desc.dtype) {
    raise(VKATTN_ERROR_INVALID_ARGUMENT, "query, key and value must have the same dtype");
  }
  desc.q_layout = layout_of(q, "query");
  desc.k_layout = layout_of(k, "key");
  desc.v_layout = layout_of(v, "value");
  desc.out_layout = layout_of(out, "out");
  desc.batch = q.shape(0);
  desc.q_heads = q.shape(1);
  desc.q_len = q.shape(2);
  desc.qk_dim = q.shape(3);
  desc.kv_heads = k.shape(1);
  desc.kv_len = k.shape(2);
  desc.v_dim = v.shape(3);
  if (k.shape(0) != desc.batch || v.shape(0) != desc.batch || k.shape(3) != desc.qk_dim ||
      v.shape(1) != desc.kv_heads || v.shape(2) != desc.kv_len) {
    raise(VKATTN_ERROR_INVALID_ARGUMENT, "key and value do not match query's batch, head dimension or each other");
  }
  require_shape(out, {desc.batch, desc.q_heads, desc.q_len, desc.v_dim}, "out");
  if (!out.writeable()) raise(VKATTN_ERROR_INVALID_ARGUMENT, "out is read-only");
  desc.scale = static_cast<float>(scale);
  desc.causal = static_cast<vkattn_causal>(causal);
  desc.window_left = window_left;
  desc.window_right = window_right;

  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.out = out.mutable_data();
  py::array_t<float> lse_array, additive_array;
  py::array_t<uint8_t> bool_array;
  py::array_t<int32_t> lens_array;
  if (!lse.is_none()) {
    lse_array = lse.cast<py::array_t<float>>();
    require_shape(lse_array, {desc.batch, desc.q_heads, desc.q_len}, "lse");
    if (!lse_array.writeable()) raise(VKATTN_ERROR_INVALID_ARGUMENT, "lse is read-only");
    desc.has_lse = 1;
    desc.lse_layout.batch_stride = lse_array.strides(0) / 4;
    desc.lse_layout.head_stride = lse_array.strides(1) / 4;
    desc.lse_layout.seq_stride = lse_array.strides(2) / 4;
    t.lse = lse_array.mutable_data();
  }
  if (!additive_mask.is_none()) {
    additive_array = additive_mask.cast<py::array_t<float>>();
    require_shape(additive_array, {desc.batch, desc.q_heads, desc.q_len, desc.kv_len}, "attn_mask");
    desc.has_additive_mask = 1;
    desc.additive_mask_layout = mask_layout_of(additive_array);
    t.additive_mask = additive_array.data();
  }
  if (!bool_mask.is_none()) {
    bool_array = bool_mask.cast<py::array_t<uint8_t>>();
    require_shape(bool_array, {desc.batch, desc.q_heads, desc.q_len, desc.kv_len}, "attn_mask");
    desc.has_bool_mask = 1;
    desc.bool_mask_layout = mask_layout_of(bool_array);
    t.bool_mask = bool_array.data();
  }
  if (!kv_lens.is_none()) {
    lens_array = kv_lens.cast<py::array_t<int32_t>>();
    require_shape(lens_array, {desc.batch}, "kv_lens");
    desc.has_kv_lens = 1;
    t.kv_lens = lens_array.data();
  }
  context.run([&](vkattn_context c) { return vkattn_attention(c, &desc, &t); });
}

// A vkattn buffer in a context's memory (device memory on Vulkan).
class Buffer {
 public:
  Buffer(std::shared_ptr<Context> context, uint64_t bytes, bool host_visible) : context_(std::move(context)) {
    const uint32_t flags = host_visible ? VKATTN_BUFFER_HOST_VISIBLE : 0u;
    context_->run([&](vkattn_context c) { return vkattn_buffer_create(c, bytes, flags, &buffer_); });
    bytes_ = bytes;
  }
  ~Buffer() { close(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void close() {
    if (exports_ > 0) {
      PyErr_SetString(PyExc_BufferError, "the buffer has views (memoryview or NumPy arrays over it); release them first");
      throw py::error_already_set();
    }
    context_->destroy([&] {
      if (buffer_ != nullptr) vkattn_buffer_destroy(buffer_);
      buffer_ = nullptr;
    });
  }

  uint64_t size() const { return bytes_; }

  // The buffer protocol: the first view maps the buffer (waiting for the
  // executions that use it), the last one released unmaps it. While any
  // view lives the buffer is mapped, and executing on it or reading or
  // writing it raises FAILED_PRECONDITION (the library's own check).
  void* export_view() {
    if (exports_ == 0) {
      const vkattn_buffer buffer = raw();
      context_->run([&](vkattn_context) { return vkattn_buffer_map(buffer, &mapped_); });
    }
    ++exports_;
    return mapped_;
  }
  void release_view() {
    if (--exports_ > 0 || buffer_ == nullptr) return;
    mapped_ = nullptr;
    // Unmapping a mapped buffer of a live context cannot fail; a closed
    // context released the memory already.
    try {
      context_->run([&](vkattn_context) { return vkattn_buffer_unmap(buffer_); });
    } catch (py::error_already_set& error) {
      error.discard_as_unraisable("vkattn.Buffer: unmapping after the last view");
    }
  }
  py::ssize_t* view_shape() { return &view_shape_; }
  vkattn_buffer raw() const {
    if (buffer_ == nullptr) raise(VKATTN_ERROR_FAILED_PRECONDITION, "the buffer was closed");
    return buffer_;
  }

  // Copies `data` (any array, taken in C order) to byte `offset`.
  void write(const py::array& data, uint64_t offset) {
    const py::array contiguous = py::array::ensure(data, py::array::c_style);
    if (!contiguous) throw py::error_already_set();
    const vkattn_buffer buffer = raw();
    const uint64_t bytes = static_cast<uint64_t>(contiguous.nbytes());
    context_->run([&](vkattn_context) { return vkattn_buffer_write(buffer, offset, contiguous.data(), bytes); });
  }

  // A new array of `dtype` and `shape` read from byte `offset` (waits for
  // executions that write the buffer).
  py::array read(const py::object& dtype, const std::vector<py::ssize_t>& shape, uint64_t offset) {
    py::array result(py::dtype::from_args(dtype), shape);
    const vkattn_buffer buffer = raw();
    void* data = result.mutable_data();
    const uint64_t bytes = static_cast<uint64_t>(result.nbytes());
    context_->run([&](vkattn_context) { return vkattn_buffer_read(buffer, offset, data, bytes); });
    return result;
  }

 private:
  std::shared_ptr<Context> context_;
  vkattn_buffer buffer_ = nullptr;
  uint64_t bytes_ = 0;
  int64_t exports_ = 0;     // live buffer-protocol views
  void* mapped_ = nullptr;  // the mapping while exports_ > 0
  py::ssize_t view_shape_ = 0;
};

// Buffer's buffer-protocol slots (pybind11's def_buffer has no release
// hook, and the mapping must end with the last view): a one-dimensional,
// writable view of unsigned bytes over the mapped memory.
int buffer_get_view(PyObject* self, Py_buffer* view, int flags) {
  try {
    Buffer& buffer = py::cast<Buffer&>(py::handle(self));
    void* data = buffer.export_view();
    *buffer.view_shape() = static_cast<py::ssize_t>(buffer.size());
    view->obj = self;
    Py_INCREF(self);
    view->buf = data;
    view->len = static_cast<Py_ssize_t>(buffer.size());
    view->readonly = 0;
    view->itemsize = 1;
    view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>("B") : nullptr;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) ? buffer.view_shape() : nullptr;
    view->strides = nullptr;  // C-contiguous bytes
    view->suboffsets = nullptr;
    view->internal = nullptr;
    return 0;
  } catch (py::error_already_set& error) {
    error.restore();
  } catch (const std::exception& error) {
    PyErr_SetString(PyExc_BufferError, error.what());
  }
  view->obj = nullptr;
  return -1;
}

void buffer_release_view(PyObject* self, Py_buffer*) { py::cast<Buffer&>(py::handle(self)).release_view(); }

vkattn_dtype dtype_named(const std::string& name, const char* field) {
  if (name == "float32") return VKATTN_DTYPE_F32;
  if (name == "float16") return VKATTN_DTYPE_F16;
  if (name == "q8_0") return VKATTN_DTYPE_Q8_0;
  if (name == "q4_0") return VKATTN_DTYPE_Q4_0;
  raise(VKATTN_ERROR_INVALID_ARGUMENT, std::string(field) + " must be 'float32', 'float16', 'q8_0' or 'q4_0', not '" +
                                           name + "'");
}

// A plan: one problem validated and prepared once, executed many times on
// buffers. Tensors are dense [batch, heads, seq, dim] (masks [batch,
// q_heads, q_len, kv_len]).
class Plan {
 public:
  Plan(std::shared_ptr<Context> context, const py::kwargs& kwargs) : context_(std::move(context)) {
    vkattn_attention_desc desc;
    vkattn_attention_desc_init(&desc);
    std::string mask = "none";
    for (const auto& item : kwargs) {
      const std::string key = py::str(item.first);
      const py::handle value = item.second;
      if (key == "batch") desc.batch = value.cast<int64_t>();
      else if (key == "q_heads") desc.q_heads = value.cast<int64_t>();
      else if (key == "kv_heads") desc.kv_heads = value.cast<int64_t>();
      else if (key == "q_len") desc.q_len = value.cast<int64_t>();
      else if (key == "kv_len") desc.kv_len = value.cast<int64_t>();
      else if (key == "qk_dim") desc.qk_dim = value.cast<int64_t>();
      else if (key == "v_dim") desc.v_dim = value.cast<int64_t>();
      else if (key == "dtype") desc.dtype = dtype_named(value.cast<std::string>(), "dtype");
      else if (key == "k_dtype") desc.k_dtype = dtype_named(value.cast<std::string>(), "k_dtype");
      else if (key == "v_dtype") desc.v_dtype = dtype_named(value.cast<std::string>(), "v_dtype");
      else if (key == "scale") desc.scale = value.cast<float>();
      else if (key == "softcap") desc.softcap = value.cast<float>();
      else if (key == "global_keys") desc.global_keys = value.cast<int64_t>();
      else if (key == "window_left") desc.window_left = value.cast<int64_t>();
      else if (key == "window_right") desc.window_right = value.cast<int64_t>();
      else if (key == "kv_lens") desc.has_kv_lens = value.cast<bool>() ? 1 : 0;
      else if (key == "lse") desc.has_lse = value.cast<bool>() ? 1 : 0;
      else if (key == "mask") mask = value.cast<std::string>();
      else if (key == "causal") {
        const std::string causal = value.cast<std::string>();
        if (causal == "none") desc.causal = VKATTN_CAUSAL_NONE;
        else if (causal == "top_left") desc.causal = VKATTN_CAUSAL_TOP_LEFT;
        else if (causal == "bottom_right") desc.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
        else raise(VKATTN_ERROR_INVALID_ARGUMENT, "causal must be 'none', 'top_left' or 'bottom_right'");
      } else {
        raise(VKATTN_ERROR_INVALID_ARGUMENT, "Plan has no argument '" + key + "'");
      }
    }
    if (desc.kv_heads == 0) desc.kv_heads = desc.q_heads;
    if (desc.v_dim == 0) desc.v_dim = desc.qk_dim;
    if (mask == "bool") desc.has_bool_mask = 1;
    else if (mask == "float") desc.has_additive_mask = 1;
    else if (mask != "none") raise(VKATTN_ERROR_INVALID_ARGUMENT, "mask must be 'none', 'bool' or 'float'");
    vkattn_attention_desc_set_dense_layouts(&desc);
    desc_ = desc;
    context_->run([&](vkattn_context c) { return vkattn_plan_create(c, &desc, 0, &plan_); });
  }
  ~Plan() { close(); }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  void close() {
    context_->destroy([&] {
      if (plan_ != nullptr) vkattn_plan_destroy(plan_);
      plan_ = nullptr;
    });
  }

  vkattn_plan raw() const {
    if (plan_ == nullptr) raise(VKATTN_ERROR_FAILED_PRECONDITION, "the plan was closed");
    return plan_;
  }

  // Runs the plan on buffers (the library checks their sizes against the
  // problem); kv_lens is an int array [batch].
  void execute(const Buffer& q, const Buffer& k, const Buffer& v, const Buffer& out, const py::object& lse,
               const py::object& attn_mask, const py::object& kv_lens) {
    submit(q, k, v, out, lse, attn_mask, kv_lens);
  }

  // The same, returning the submission's ticket (Context.wait, Context.poll).
  uint64_t submit(const Buffer& q, const Buffer& k, const Buffer& v, const Buffer& out, const py::object& lse,
                  const py::object& attn_mask, const py::object& kv_lens) {
    vkattn_bindings b;
    vkattn_bindings_init(&b);
    b.q = q.raw();
    b.k = k.raw();
    b.v = v.raw();
    b.out = out.raw();
    if (!lse.is_none()) b.lse = lse.cast<const Buffer&>().raw();
    if (!attn_mask.is_none()) {
      const vkattn_buffer mask = attn_mask.cast<const Buffer&>().raw();
      if (desc_.has_bool_mask) b.bool_mask = mask;
      else b.additive_mask = mask;
    }
    py::array_t<int32_t, py::array::c_style | py::array::forcecast> lens;
    if (!kv_lens.is_none()) {
      lens = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(kv_lens);
      if (!lens) throw py::error_already_set();
      require_shape(lens, {desc_.batch}, "kv_lens");
      b.kv_lens = lens.data();
    }
    vkattn_execution execution;
    vkattn_execution_init(&execution);
    execution.plan = raw();
    execution.bindings = &b;
    uint64_t ticket = 0;
    context_->run([&](vkattn_context c) { return vkattn_submit(c, &execution, 1, &ticket); });
    return ticket;
  }

  py::dict info() const {
    vkattn_plan_info info;
    vkattn_plan_info_init(&info);
    const vkattn_plan plan = raw();
    context_->run([&](vkattn_context) { return vkattn_plan_get_info(plan, &info); });
    py::dict d;
    d["kernel"] = std::string(info.kernel);
    d["block_q"] = info.block_q;
    d["block_kv"] = info.block_kv;
    d["kv_splits"] = info.kv_splits;
    d["tasks"] = info.tasks;
    d["dispatches"] = info.dispatches;
    d["workspace_bytes"] = info.workspace_bytes;
    return d;
  }

  double last_time_ms() const {
    double ms = 0.0;
    const vkattn_plan plan = raw();
    context_->run([&](vkattn_context) { return vkattn_plan_get_last_time(plan, &ms); });
    return ms;
  }

 private:
  std::shared_ptr<Context> context_;
  vkattn_attention_desc desc_;
  vkattn_plan plan_ = nullptr;
};

void finish(const Context& context) {
  context.run([](vkattn_context c) { return vkattn_context_finish(c); });
}

void wait(const Context& context, uint64_t ticket) {
  context.run([&](vkattn_context c) { return vkattn_context_wait(c, ticket); });
}

bool poll(const Context& context, uint64_t ticket) {
  uint32_t complete = 0;
  context.run([&](vkattn_context c) { return vkattn_context_poll(c, ticket, &complete); });
  return complete != 0;
}

// Every device vkattn can run on: the CPU backend first, then each Vulkan
// device (usable or not, with the reason).
py::list devices() {
  uint32_t count = 0;
  check(vkattn_enumerate_devices(nullptr, 0, &count));
  std::vector<vkattn_device_info> infos(count);
  for (auto& info : infos) vkattn_device_info_init(&info);
  check(vkattn_enumerate_devices(infos.data(), count, &count));
  py::list result;
  for (uint32_t i = 0; i < count; ++i) result.append(describe(infos[i]));
  return result;
}

PyObject* new_error(const char* name, PyObject* bases) {
  PyObject* type = PyErr_NewException(name, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  return type;
}

}  // namespace

PYBIND11_MODULE(_vkattn, m) {
  m.doc() = "vkattn's C API for Python; use the vkattn package";
  g_error = new_error("vkattn.Error", PyExc_RuntimeError);
  g_invalid_argument = new_error("vkattn.InvalidArgumentError", py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError)).release().ptr());
  g_unsupported = new_error("vkattn.UnsupportedError", py::make_tuple(py::handle(g_error), py::handle(PyExc_NotImplementedError)).release().ptr());
  g_unavailable = new_error("vkattn.BackendUnavailableError", g_error);
  g_out_of_memory = new_error("vkattn.OutOfMemoryError", py::make_tuple(py::handle(g_error), py::handle(PyExc_MemoryError)).release().ptr());
  m.attr("Error") = py::handle(g_error);
  m.attr("InvalidArgumentError") = py::handle(g_invalid_argument);
  m.attr("UnsupportedError") = py::handle(g_unsupported);
  m.attr("BackendUnavailableError") = py::handle(g_unavailable);
  m.attr("OutOfMemoryError") = py::handle(g_out_of_memory);
  m.attr("version") = std::string(vkattn_version_string());
  m.attr("CAUSAL_NONE") = static_cast<int>(VKATTN_CAUSAL_NONE);
  m.attr("CAUSAL_BOTTOM_RIGHT") = static_cast<int>(VKATTN_CAUSAL_BOTTOM_RIGHT);
  m.attr("CAUSAL_TOP_LEFT") = static_cast<int>(VKATTN_CAUSAL_TOP_LEFT);

  py::class_<Context, std::shared_ptr<Context>>(
      m, "Context", "A vkattn context: a backend and device, its pipelines and worker threads.")
      .def(py::init<const std::string&, int32_t, int32_t, bool>(), py::arg("backend") = "auto",
           py::arg("device") = -1, py::arg("cpu_threads") = 0, py::arg("validation") = false)
      .def("info", &Context::info, "The backend and device this context runs on.")
      .def(
          "buffer",
          [](std::shared_ptr<Context> c, uint64_t nbytes, bool host_visible) {
            return std::make_unique<Buffer>(std::move(c), nbytes, host_visible);
          },
          py::arg("nbytes"), py::arg("host_visible") = false, "A buffer of `nbytes` bytes (contents undefined).")
      .def(
          "upload",
          [](std::shared_ptr<Context> c, const py::array& data) {
            auto buffer = std::make_unique<Buffer>(std::move(c), static_cast<uint64_t>(data.nbytes()), false);
            buffer->write(data, 0);
            return buffer;
          },
          py::arg("array"), "A buffer holding a copy of `array` (in C order).")
      .def(
          "plan", [](std::shared_ptr<Context> c, const py::kwargs& kwargs) {
            return std::make_unique<Plan>(std::move(c), kwargs);
          },
          "A plan for one problem: batch, q_heads, kv_heads, q_len, kv_len, qk_dim, v_dim, dtype, k_dtype, "
          "v_dtype, scale, causal ('none', 'top_left', 'bottom_right'), window_left, window_right, global_keys, "
          "softcap, mask ('none', 'bool', 'float'), kv_lens (bool), lse (bool); dense [B, H, S, D] tensors.")
      .def("finish", &finish, "Waits for every execution submitted on this context.")
      .def("wait", &wait, py::arg("ticket"), "Waits for the submission `ticket` (Plan.submit) to complete.")
      .def("poll", &poll, py::arg("ticket"), "Whether the submission `ticket` has completed; never blocks.")
      .def("close", &Context::close, "Releases the context now (also done when it is collected).")
      .def("__enter__", [](std::shared_ptr<Context> c) { return c; })
      .def("__exit__", [](Context& c, py::args) { c.close(); });

  py::class_<Buffer> buffer_class(m, "Buffer",
                                  "Memory in a context (Context.buffer, Context.upload). Supports the buffer "
                                  "protocol: memoryview(buffer) or numpy.frombuffer(buffer, dtype) view its bytes "
                                  "in place; the buffer stays mapped while a view lives (executions, read and write "
                                  "on it raise until the views are released). Needs host-visible memory: the CPU "
                                  "backend, unified-memory GPUs, or Context.buffer(n, host_visible=True).");
  {
    // The heap type pybind11 made: install the slots above.
    PyTypeObject* type = reinterpret_cast<PyTypeObject*>(buffer_class.ptr());
    auto* heap = reinterpret_cast<PyHeapTypeObject*>(type);
    heap->as_buffer.bf_getbuffer = buffer_get_view;
    heap->as_buffer.bf_releasebuffer = buffer_release_view;
    type->tp_as_buffer = &heap->as_buffer;
  }
  buffer_class.def_property_readonly("nbytes", &Buffer::size)
      .def("write", &Buffer::write, py::arg("array"), py::arg("offset") = 0,
           "Copies `array` (C order) into the buffer at byte `offset`.")
      .def("read", &Buffer::read, py::arg("dtype"), py::arg("shape"), py::arg("offset") = 0,
           "A new array of `dtype` and `shape` read from byte `offset`, after the executions that write it.")
      .def("close", &Buffer::close);

  py::class_<Plan>(m, "Plan", "One problem, validated and prepared once (Context.plan).")
      .def("execute", &Plan::execute, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
           py::arg("lse") = py::none(), py::arg("attn_mask") = py::none(), py::arg("kv_lens") = py::none(),
           "Runs the plan on buffers; results are ready once read (or after Context.finish).")
      .def("submit", &Plan::submit, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
           py::arg("lse") = py::none(), py::arg("attn_mask") = py::none(), py::arg("kv_lens") = py::none(),
           "Like execute, and returns the submission's ticket for Context.wait and Context.poll.")
      .def("info", &Plan::info, "What the plan chose: kernel, tiles, splits, dispatches, workspace.")
      .def("last_time_ms", &Plan::last_time_ms, "Device time of the last execution, in milliseconds.")
      .def("close", &Plan::close);

  m.def("devices", &devices, "Every device vkattn can run on (dicts: backend, index, name, usable, ...).");
  m.def("attention", &attention, py::arg("context"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
        py::arg("lse"), py::arg("additive_mask"), py::arg("bool_mask"), py::arg("kv_lens"), py::arg("causal"),
        py::arg("scale"), py::arg("window_left"), py::arg("window_right"),
        "Attention on 4-D arrays, written into `out` (see vkattn.scaled_dot_product_attention).");
}
