// Live migration of a real QEMU (TCG) guest between two unprivileged session libvirtd daemons with
// LibvirtHypervisor::migrate_vm. Session daemons run as uid 65534 and accept only clients of that uid, so
// the test (root) starts the daemons, then runs this same test binary as uid 65534 with the daemons' URIs in
// REVIVE_LIBVIRT_SESSION_URIS: that child run does the driver calls. Skipped when not root or QEMU is absent.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "drivers/libvirt/libvirt_hypervisor.h"
#include "drivers/process/command.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

using Kind = env::HypervisorEvent::Kind;

constexpr const char* kUrisVariable = "REVIVE_LIBVIRT_SESSION_URIS";
constexpr uid_t kSessionUid = 65534;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The child's part: as the daemons' uid, start the guest on host 0 and live-migrate it to host 1.
void migrate_as_the_session_user(const std::string& uris) {
  auto separator = uris.find('|');
  ASSERT_NE(separator, std::string::npos);
  model::Cloud cloud;
  for (const char* name : {"session-0", "session-1"}) {
    model::Host host;
    host.name = name;
    cloud.hosts.push_back(host);
  }
  model::Vm vm;
  vm.name = "tiny";
  vm.memory_mib = 32;
  vm.cpus = 1;
  cloud.vms.push_back(vm);
  cloud.rebuild_indexes();

  drivers::WallClockLoop loop;
  drivers::LibvirtOptions options;
  options.call_timeout_s = 60.0;  // the first define runs QEMU's capability probe (2-4 s)
  options.migrate_timeout_s = 60.0;
  drivers::LibvirtHypervisor hypervisor(loop, cloud, {uris.substr(0, separator), uris.substr(separator + 1)},
                                        options);
  std::vector<env::HypervisorEvent> events;
  hypervisor.subscribe([&](const env::HypervisorEvent& event) { events.push_back(event); });
  ASSERT_TRUE(loop.run_until([&] { return hypervisor.connected(0) && hypervisor.connected(1); }, 15.0));
  hypervisor.remember_domain_xml("tiny", lab::qemu_tiny_domain_xml("tiny"));

  // Answers go to shared slots: one may come after the test stopped waiting for it.
  auto await = [&](const std::function<void(env::Completion)>& call, double timeout_s) {
    auto result = std::make_shared<std::optional<env::OperationResult>>();
    call([result](const env::OperationResult& answer) { *result = answer; });
    loop.run_until([&] { return result->has_value(); }, timeout_s);
    return result->value_or(env::OperationResult::failure("test: no answer"));
  };
  auto running_on = [&](model::HostIndex host) {
    auto vms = std::make_shared<std::optional<std::vector<model::VmIndex>>>();
    hypervisor.list_running(host, [vms](const env::OperationResult&, std::vector<model::VmIndex> list) {
      *vms = std::move(list);
    });
    loop.run_until([&] { return vms->has_value(); }, 20.0);
    return vms->value_or(std::vector<model::VmIndex>{});
  };

  auto started_at = std::chrono::steady_clock::now();
  auto result = await([&](env::Completion done) { hypervisor.start_vm(0, 0, done); }, 70.0);
  ASSERT_TRUE(result.ok) << result.error;
  std::cout << "start (with capability probe): " << seconds_since(started_at) << " s\n";
  ASSERT_EQ(running_on(0), std::vector<model::VmIndex>{0});

  auto migrated_at = std::chrono::steady_clock::now();
  std::optional<env::OperationResult> migrated;
  hypervisor.migrate_vm(0, 0, 1, [&](const env::OperationResult& answer) { migrated = answer; });
  bool saw_progress_answer = false, saw_active = false;
  auto in_progress_seen = std::make_shared<bool>(false);
  env::Call migration{env::StepKind::migrate, 0, 1, 0, model::kNoIndex};
  while (!migrated && seconds_since(migrated_at) < 60.0) {
    // What a resumed revived asks of a call its predecessor left (env::CallsInProgress): libvirt's jobs.
    hypervisor.in_progress(migration, [in_progress_seen](bool running) { *in_progress_seen |= running; });
    // Shared: the answer may come after the migration's, when this iteration is over.
    auto progress = std::make_shared<std::optional<drivers::MigrationProgress>>();
    hypervisor.migration_progress(0, [&saw_progress_answer, progress](const env::OperationResult& answer,
                                                                      drivers::MigrationProgress p) {
      if (answer.ok) saw_progress_answer = true;
      *progress = p;
    });
    loop.run_until([&] { return progress->has_value() || migrated.has_value(); }, 5.0);
    if (*progress && (*progress)->active) {
      saw_active = true;
      std::cout << "migration: " << (*progress)->elapsed_s << " s, " << (*progress)->data_processed_bytes
                << " of " << (*progress)->data_total_bytes << " bytes\n";
    }
    loop.run_until([&] { return migrated.has_value(); }, 0.3);
  }
  ASSERT_TRUE(migrated) << "no answer to the migration";
  ASSERT_TRUE(migrated->ok) << migrated->error;
  std::cout << "live migration: " << seconds_since(migrated_at) << " s\n";
  EXPECT_TRUE(saw_progress_answer);
  // While libvirt reported the migration's job, the call was seen in progress; once it ended, it is not.
  if (saw_active) {
    loop.run_until([&] { return *in_progress_seen; }, 2.0);
    EXPECT_TRUE(*in_progress_seen);
  }
  auto after = std::make_shared<std::optional<bool>>();
  hypervisor.in_progress(migration, [after](bool running) { *after = running; });
  loop.run_until([&] { return after->has_value(); }, 20.0);
  EXPECT_EQ(*after, std::optional<bool>(false));
  EXPECT_EQ(running_on(1), std::vector<model::VmIndex>{0});
  EXPECT_TRUE(running_on(0).empty());

  // Idempotent: migrating again (already on the target) succeeds at once.
  result = await([&](env::Completion done) { hypervisor.migrate_vm(0, 0, 1, done); }, 20.0);
  EXPECT_TRUE(result.ok) << result.error;

  loop.run_until(
      [&] {
        bool stopped = false, started = false;
        for (const auto& event : events) {
          stopped |= event.kind == Kind::vm_stopped && event.host == 0 && event.detail == "migrated";
          started |= event.kind == Kind::vm_started && event.host == 1 && event.detail == "migrated";
        }
        return stopped && started;
      },
      5.0);
  bool crash_reported = false, source_stop = false, target_start = false;
  for (const auto& event : events) {
    crash_reported |= event.kind == Kind::vm_crashed;
    source_stop |= event.kind == Kind::vm_stopped && event.host == 0 && event.detail == "migrated";
    target_start |= event.kind == Kind::vm_started && event.host == 1 && event.detail == "migrated";
  }
  EXPECT_TRUE(source_stop);
  EXPECT_TRUE(target_start);
  EXPECT_FALSE(crash_reported);

  // Back again peer-to-peer: the source daemon drives the migration to the target's URI.
  {
    drivers::LibvirtOptions peer_options = options;
    peer_options.peer_to_peer = true;
    drivers::LibvirtHypervisor peer_hypervisor(
        loop, cloud, {uris.substr(0, separator), uris.substr(separator + 1)}, peer_options);
    ASSERT_TRUE(
        loop.run_until([&] { return peer_hypervisor.connected(0) && peer_hypervisor.connected(1); }, 15.0));
    auto peer_migrated_at = std::chrono::steady_clock::now();
    result = await([&](env::Completion done) { peer_hypervisor.migrate_vm(0, 1, 0, done); }, 70.0);
    ASSERT_TRUE(result.ok) << result.error;
    std::cout << "peer-to-peer live migration: " << seconds_since(peer_migrated_at) << " s\n";
  }
  EXPECT_EQ(running_on(0), std::vector<model::VmIndex>{0});
  EXPECT_TRUE(running_on(1).empty());

  result = await([&](env::Completion done) { hypervisor.stop_vm(0, 0, false, done); }, 30.0);
  EXPECT_TRUE(result.ok) << result.error;
}

TEST(LibvirtSession, LiveMigratesAQemuGuestBetweenTwoSessionDaemons) {
  if (const char* uris = std::getenv(kUrisVariable)) {
    migrate_as_the_session_user(uris);
    return;
  }
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run session daemons as uid " << kSessionUid;
  for (const char* tool : {"libvirtd", "setpriv", "qemu-system-x86_64"}) {
    if (!lab::have_tool(tool)) GTEST_SKIP() << tool << " not installed (scripts/install-deps.sh)";
  }
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  testing::TempDir dir;
  std::filesystem::permissions(dir.path(),
                               std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                   std::filesystem::perms::others_exec);
  int port = lab::free_tcp_port();
  int first_port = 49152 + (port % 4000) * 2;  // two disjoint ranges of 51 ports
  lab::SessionDaemon source(dir.path() / "u0", first_port, kSessionUid);
  lab::SessionDaemon target(dir.path() / "u1", first_port + 60 > 65400 ? first_port - 60 : first_port + 60,
                            kSessionUid);
  std::string error;
  ASSERT_TRUE(source.start(15.0, &error)) << error;
  ASSERT_TRUE(target.start(15.0, &error)) << error;

  drivers::Command child;
  child.argv = {"setpriv",
                "--reuid=" + std::to_string(kSessionUid),
                "--regid=" + std::to_string(kSessionUid),
                "--clear-groups",
                "env",
                "-i",
                "HOME=" + (dir.path() / "u0/home").string(),
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                std::string(kUrisVariable) + "=" + source.uri() + "|" + target.uri(),
                self.string(),
                "--gtest_filter=LibvirtSession.LiveMigratesAQemuGuestBetweenTwoSessionDaemons"};
  child.timeout_s = 240.0;
  auto result = drivers::run_command(child);
  ASSERT_TRUE(result.started) << result.error;
  EXPECT_FALSE(result.timed_out) << "the child run did not finish in " << child.timeout_s << " s";
  EXPECT_EQ(result.exit_status, 0) << result.out << result.err << "\n--- source daemon:\n"
                                   << source.log() << "\n--- target daemon:\n"
                                   << target.log();
  EXPECT_NE(result.out.find("[  PASSED  ] 1 test"), std::string::npos) << result.out;
  std::cout << result.out;
  source.stop();
  target.stop();
}

}  // namespace
}  // namespace revive
