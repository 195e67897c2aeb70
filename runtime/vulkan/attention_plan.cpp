#include "attention_plan.h"

namespace vkattn {
namespace vk {

namespace {

class AttentionPlan final : public DevicePlan, public VulkanWork {
 public:
  AttentionPlan(VulkanDevice& device, const Problem& problem, std::unique_ptr<PlanStages> stages)
      : device_(device), p_(problem), stages_(std::move(stages)), runner_(device, *stages_) {}

  Status initialize() {
    uint64_t table_words = 0;
    VKATTN_RETURN_IF_ERROR(attention_words(p_, device_.caps(), &length_words_, &table_words));
    return runner_.initialize(length_words_, table_words);
  }

  // DevicePlan
  Status execute(const ExecArgs& args) override {
    Work work;
    work.plan = this;
    work.args = &args;
    return device_.submit_alone(work);
  }
  PlanInfo info() const override {
    PlanInfo info = stages_->info();
    info.workspace_bytes += runner_.workspace_bytes();
    return info;
  }
  Status last_time(double* ms) override { return runner_.last_time(ms); }
  Status settle() override { return runner_.settle(); }

  // VulkanWork
  Status prepare(const Work& work, VkCommandBuffer* out, std::vector<VulkanBuffer*>* used) override {
    std::vector<int32_t> lengths;
    return runner_.prepare(attention_inputs(p_, length_words_, *work.args, &lengths), out, used);
  }
  void submitted(uint64_t serial) override { runner_.submitted(serial); }
  Status prepare_recording(const Work& work) override {
    std::vector<int32_t> lengths;
    return runner_.prepare_recording(attention_inputs(p_, length_words_, *work.args, &lengths));
  }
  void record_into(const Work& work, VkCommandBuffer cmd) override {
    std::vector<int32_t> lengths;
    runner_.record_into(attention_inputs(p_, length_words_, *work.args, &lengths), cmd);
  }

 private:
  VulkanDevice& device_;
  Problem p_;
  uint64_t length_words_ = 0;  // key lengths, query lengths, first packed rows ([batch] each), when used
  std::unique_ptr<PlanStages> stages_;
  // Last: destroyed first, it waits for the plan's work before the stages' buffers go.
  PlanRunner runner_;
};

}  // namespace

Status make_attention_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<PlanStages> stages,
                           std::unique_ptr<DevicePlan>* out) {
  std::unique_ptr<AttentionPlan> plan(new AttentionPlan(device, problem, std::move(stages)));
  VKATTN_RETURN_IF_ERROR(plan->initialize());
  *out = std::move(plan);
  return Status();
}

}  // namespace vk
}  // namespace vkattn
