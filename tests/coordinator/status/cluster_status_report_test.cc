// BuildClusterStatus: served versions with their plans and placements, and
// workers with health and load, from hand-made deployments and worker
// handles fed a Status.
#include "coordinator/status/cluster_status_report.h"

#include <memory>

#include "absl/time/clock.h"
#include "coordinator/pool/fake_worker_client.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

WorkerPool::WorkerPtr Worker(uint64_t id, const std::string& address, const std::string& tls_name) {
  FakeWorkerClient::Options options;
  options.address = address;
  return std::make_shared<WorkerHandle>(id, std::make_unique<FakeWorkerClient>(options), 0.3, tls_name);
}

worker::StatusResponse Status(const std::vector<std::string>& partitions) {
  worker::StatusResponse status;
  status.set_boot_id("boot");
  status.set_memory_in_use_bytes(1000);
  status.set_memory_budget_bytes(4000);
  status.set_samples_per_second(12.5);
  status.set_utilization(0.25);
  status.set_executes_total(7);
  status.set_cpu_cores(2);
  for (const std::string& id : partitions) {
    worker::PartitionStatus* p = status.add_partitions();
    p->set_partition_id(id);
    p->set_model_name("m");
    p->set_model_version("1");
    p->set_stage_count(2);
  }
  return status;
}

TEST(ClusterStatusReportTest, PlansPlacementsAndWorkers) {
  auto deployment = std::make_shared<Deployment>();
  deployment->strategy = Strategy::kPipeline;
  deployment->replicas = 1;
  deployment->micro_batch_size = 2;
  deployment->stages.resize(2);
  deployment->stages[0].id = "p0";
  deployment->stages[0].onnx_bytes = std::make_shared<const std::string>(100, 'x');
  deployment->stages[1].id = "p1";
  std::vector<CoordinatorBackend::ServedVersion> models = {
      {.name = "m", .version = 1, .deployment = deployment, .plan_source = "measured on workers"},
      {.name = "n", .version = 2, .deployment = nullptr, .unavailable_reason = "too few workers"}};

  WorkerPool::WorkerPtr b = Worker(2, "10.0.0.3:1", "tessera-worker");
  WorkerPool::WorkerPtr a = Worker(1, "10.0.0.2:1", "tessera-worker");
  WorkerPool::WorkerPtr sick = Worker(3, "static:1", "");
  a->OnStatus(Status({"p0"}), absl::Now());
  b->OnStatus(Status({"p0", "p1"}), absl::Now());
  sick->OnFailure(absl::UnavailableError("connection refused"));
  InFlightTicket ticket = a->StartPiece();

  const status::GetStatusResponse report = BuildClusterStatus(models, {b, sick, a}, "v9");
  EXPECT_EQ(report.version(), "v9");
  ASSERT_EQ(report.models_size(), 2);
  const status::ModelStatus& m = report.models(0);
  EXPECT_TRUE(m.ready());
  EXPECT_EQ(m.version(), "1");
  EXPECT_EQ(m.plan().strategy(), "PIPELINE");
  EXPECT_EQ(m.plan().stages(), 2u);
  EXPECT_EQ(m.plan().replicas(), 1u);
  EXPECT_EQ(m.plan().micro_batch_size(), 2);
  EXPECT_EQ(m.plan().plan_source(), "measured on workers");
  ASSERT_EQ(m.plan().stage_placements_size(), 2);
  EXPECT_EQ(m.plan().stage_placements(0).partition_bytes(), 100u);
  ASSERT_EQ(m.plan().stage_placements(0).workers_size(), 2);
  EXPECT_EQ(m.plan().stage_placements(0).workers(0), "10.0.0.2:1");
  EXPECT_EQ(m.plan().stage_placements(0).workers(1), "10.0.0.3:1");
  ASSERT_EQ(m.plan().stage_placements(1).workers_size(), 1);
  EXPECT_EQ(m.plan().stage_placements(1).workers(0), "10.0.0.3:1");
  EXPECT_FALSE(report.models(1).ready());
  EXPECT_EQ(report.models(1).reason(), "too few workers");
  EXPECT_FALSE(report.models(1).has_plan());

  ASSERT_EQ(report.workers_size(), 3);  // sorted by address
  const status::WorkerStatus& wa = report.workers(0);
  EXPECT_EQ(wa.address(), "10.0.0.2:1");
  EXPECT_EQ(wa.tls_server_name(), "tessera-worker");
  EXPECT_TRUE(wa.healthy());
  EXPECT_EQ(wa.in_flight(), 1u);
  EXPECT_EQ(wa.memory_in_use_bytes(), 1000u);
  EXPECT_EQ(wa.memory_budget_bytes(), 4000u);
  EXPECT_EQ(wa.samples_per_second(), 12.5);
  EXPECT_EQ(wa.executes_total(), 7u);
  ASSERT_EQ(wa.partitions_size(), 1);
  EXPECT_EQ(wa.partitions(0).partition_id(), "p0");
  const status::WorkerStatus& ws = report.workers(2);
  EXPECT_EQ(ws.address(), "static:1");
  EXPECT_FALSE(ws.healthy());
  EXPECT_NE(ws.last_error().find("connection refused"), std::string::npos);
}

TEST(ClusterStatusReportTest, DataPlansCountTheHealthyWorkersAsReplicas) {
  auto deployment = std::make_shared<Deployment>();
  deployment->strategy = Strategy::kData;
  deployment->stages.resize(1);
  WorkerPool::WorkerPtr a = Worker(1, "a:1", ""), b = Worker(2, "b:1", ""), c = Worker(3, "c:1", "");
  a->OnStatus(Status({}), absl::Now());
  b->OnStatus(Status({}), absl::Now());
  const status::GetStatusResponse report =
      BuildClusterStatus({{.name = "d", .version = 1, .deployment = deployment}}, {a, b, c}, "dev");
  EXPECT_EQ(report.models(0).plan().strategy(), "DATA");
  EXPECT_EQ(report.models(0).plan().replicas(), 2u);
}

}  // namespace
}  // namespace tessera::coordinator
