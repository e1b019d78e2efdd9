// The libvirt driver against real libvirtd daemons running the test driver on private unix sockets (one per
// simulated host, tests/support/libvirt_daemons.h), on a wall-clock loop: discovery, idempotent start/stop,
// a cold move, network configuration, error messages, and liveness (a killed daemon, a SIGSTOPped one,
// a restart).
#include <libvirt/libvirt.h>

#include <chrono>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "drivers/libvirt/discovered_inventory.h"
#include "drivers/libvirt/libvirt_hypervisor.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

using drivers::LibvirtHypervisor;
using drivers::LibvirtOptions;
using drivers::WallClockLoop;
using env::HypervisorEvent;
using Kind = env::HypervisorEvent::Kind;
using lab::TestDriverDaemon;
using testing::TempDir;

#define REQUIRE_LIBVIRTD()                                                                               \
  do {                                                                                                   \
    if (!lab::have_tool("libvirtd")) GTEST_SKIP() << "libvirtd not installed (scripts/install-deps.sh)"; \
  } while (false)

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Hosts host-0..host-N-1, each a test-driver daemon, and the named VMs (not placed).
struct TestCloud {
  TempDir dir;
  std::vector<std::unique_ptr<TestDriverDaemon>> daemons;
  model::Cloud cloud;

  TestCloud(int hosts, const std::vector<std::string>& vms) {
    for (int i = 0; i < hosts; ++i) {
      model::Host host;
      host.name = "host-" + std::to_string(i);
      host.cpus = 16;
      host.memory_mib = 65536;
      cloud.hosts.push_back(host);
      daemons.push_back(std::make_unique<TestDriverDaemon>(dir.path() / ("h" + std::to_string(i))));
    }
    for (const auto& name : vms) {
      model::Vm vm;
      vm.name = name;
      vm.cpus = 1;
      vm.memory_mib = 256;
      cloud.vms.push_back(vm);
    }
    cloud.rebuild_indexes();
  }
  bool start_all() {
    for (auto& daemon : daemons) {
      std::string error;
      if (!daemon->start(10.0, &error)) {
        ADD_FAILURE() << error;
        return false;
      }
    }
    return true;
  }
  std::vector<std::string> uris() const {
    std::vector<std::string> list;
    for (const auto& daemon : daemons) list.push_back(daemon->uri());
    return list;
  }
  TestDriverDaemon& daemon(int host) { return *daemons[host]; }
};

LibvirtOptions quick_options() {
  LibvirtOptions options;
  options.connect_timeout_s = 1.5;
  options.reconnect_initial_delay_s = 0.2;
  options.reconnect_max_delay_s = 1.0;
  options.call_timeout_s = 20.0;
  options.shutdown_timeout_s = 5.0;
  return options;
}

// The driver on a wall-clock loop, with every event recorded.
struct Driver {
  WallClockLoop loop;
  LibvirtHypervisor hypervisor;
  std::vector<HypervisorEvent> events;

  Driver(TestCloud& test, LibvirtOptions options = quick_options())
      : hypervisor(loop, test.cloud, test.uris(), options) {
    hypervisor.subscribe([this](const HypervisorEvent& event) { events.push_back(event); });
  }
  bool wait_connected(const std::vector<model::HostIndex>& hosts, double timeout_s = 10.0) {
    return loop.run_until(
        [&] {
          for (auto host : hosts) {
            if (!hypervisor.connected(host)) return false;
          }
          return true;
        },
        timeout_s);
  }
  // The answers go to shared slots: one may come after the test stopped waiting for it.
  env::OperationResult await(const std::function<void(env::Completion)>& call, double timeout_s = 30.0) {
    auto result = std::make_shared<std::optional<env::OperationResult>>();
    call([result](const env::OperationResult& answer) { *result = answer; });
    if (!loop.run_until([&] { return result->has_value(); }, timeout_s)) {
      return env::OperationResult::failure("test: no answer within the test's wait");
    }
    return **result;
  }
  std::vector<model::VmIndex> running(model::HostIndex host) {
    auto vms = std::make_shared<std::optional<std::vector<model::VmIndex>>>();
    hypervisor.list_running(host,
                            [vms](const env::OperationResult& result, std::vector<model::VmIndex> list) {
                              EXPECT_TRUE(result.ok) << result.error;
                              *vms = std::move(list);
                            });
    loop.run_until([&] { return vms->has_value(); }, 30.0);
    return vms->value_or(std::vector<model::VmIndex>{});
  }
  drivers::HostDiscovery discover(model::HostIndex host) {
    auto found = std::make_shared<std::optional<drivers::HostDiscovery>>();
    hypervisor.discover(host, [found](const env::OperationResult& result, drivers::HostDiscovery discovery) {
      EXPECT_TRUE(result.ok) << result.error;
      *found = std::move(discovery);
    });
    loop.run_until([&] { return found->has_value(); }, 30.0);
    return found->value_or(drivers::HostDiscovery{});
  }
  // Runs the loop until an event matching `match` arrives (or `timeout_s`); returns it.
  std::optional<HypervisorEvent> wait_event(const std::function<bool(const HypervisorEvent&)>& match,
                                            double timeout_s) {
    std::size_t seen = 0;
    std::optional<HypervisorEvent> found;
    auto check = [&] {
      for (; seen < events.size(); ++seen) {
        if (match(events[seen])) {
          found = events[seen];
          return true;
        }
      }
      return false;
    };
    if (check()) return found;
    loop.run_until(check, timeout_s);
    return found;
  }
};

auto is(Kind kind, model::HostIndex host, model::VmIndex vm = model::kNoIndex) {
  return [=](const HypervisorEvent& event) {
    return event.kind == kind && event.host == host && (vm == model::kNoIndex || event.vm == vm);
  };
}

// ------------------------------------------------------------------------------- pure functions

TEST(DomainXml, IscsiDisksGetTheHostsInitiatorName) {
  const std::string xml = R"(<domain type='kvm'><name>db-1</name><devices>
    <disk type='file' device='disk'><source file='/var/lib/images/db-1.qcow2'/><target dev='vda'/></disk>
    <disk type='network' device='disk'><source protocol='iscsi' name='iqn.2026-01.org.example:a/1'>
      <host name='10.0.0.5' port='3260'/><initiator><iqn name='iqn.2026-01.org.example:old'/></initiator>
    </source><target dev='sda' bus='scsi'/></disk>
    <disk type='network' device='disk'><source protocol='iscsi' name='iqn.2026-01.org.example:b/1'>
      <host name='10.0.0.5' port='3260'/></source><target dev='sdb' bus='scsi'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='pool/img'/><target dev='vdb'/></disk>
  </devices></domain>)";
  auto rewritten = drivers::with_iscsi_initiator(xml, "iqn.2026-01.org.example:new");
  ASSERT_TRUE(rewritten);
  auto count = [&](const std::string& text) {
    std::size_t n = 0;
    for (auto at = rewritten->find(text); at != std::string::npos; at = rewritten->find(text, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<iqn name=\"iqn.2026-01.org.example:new\"/>"), 2u) << *rewritten;
  EXPECT_EQ(count("old"), 0u) << *rewritten;
  EXPECT_EQ(count("<initiator>"), 2u) << *rewritten;  // none added to the file or rbd disk
  EXPECT_EQ(drivers::with_iscsi_initiator(*rewritten, "iqn.2026-01.org.example:new"), *rewritten);
  EXPECT_EQ(drivers::with_iscsi_initiator(xml, ""), xml);
  EXPECT_FALSE(drivers::with_iscsi_initiator("<domain", "iqn.2026-01.org.example:new"));
}

TEST(DomainXml, ReadsSizeDisksAndNetworks) {
  const std::string xml = R"(<domain type='kvm'>
  <name>db-1</name><uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='GiB'>4</memory><vcpu placement='static'>3</vcpu>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/images/db-1.qcow2'/><target dev='vda'/></disk>
    <disk type='network' device='disk'>
      <source protocol='iscsi' name='iqn.2026-01.org.example:db-1/1'><host name='10.0.0.5' port='3260'/></source>
      <target dev='sdb' bus='scsi'/></disk>
    <disk type='volume' device='disk'><source pool='fast' volume='db-1-log'/><target dev='vdc'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/install.iso'/><target dev='hdc'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='prod'/></interface>
    <interface type='bridge'><source bridge='br-storage'/></interface>
    <interface type='network'><source network='prod'/></interface>
  </devices></domain>)";
  std::string error;
  auto definition = drivers::parse_domain_xml(xml, &error);
  ASSERT_TRUE(definition) << error;
  EXPECT_EQ(definition->name, "db-1");
  EXPECT_EQ(definition->uuid, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(definition->vcpus, 3u);
  EXPECT_EQ(definition->memory_mib, 4096u);
  ASSERT_EQ(definition->disks.size(), 4u);
  EXPECT_EQ(definition->disks[0].kind, drivers::DomainDisk::Kind::file);
  EXPECT_EQ(definition->disks[0].source, "/var/lib/images/db-1.qcow2");
  EXPECT_EQ(definition->disks[1].kind, drivers::DomainDisk::Kind::network);
  EXPECT_EQ(definition->disks[1].protocol, "iscsi");
  EXPECT_EQ(definition->disks[1].source, "iqn.2026-01.org.example:db-1/1");
  EXPECT_EQ(definition->disks[1].target_device, "sdb");
  EXPECT_EQ(definition->disks[2].kind, drivers::DomainDisk::Kind::volume);
  EXPECT_EQ(definition->disks[2].source, "fast/db-1-log");
  EXPECT_TRUE(definition->disks[3].cdrom);
  EXPECT_TRUE(definition->disks[3].read_only);
  EXPECT_EQ(definition->network_names(), std::vector<std::string>{"prod"});
  EXPECT_EQ(definition->bridge_names(), std::vector<std::string>{"br-storage"});
  EXPECT_EQ(definition->interfaces[0].mac, "52:54:00:00:00:01");

  auto kib = drivers::parse_domain_xml("<domain><name>a</name><memory>524288</memory></domain>");
  ASSERT_TRUE(kib);
  EXPECT_EQ(kib->memory_mib, 512u);
  EXPECT_FALSE(drivers::parse_domain_xml("<domain><name>a</name>", &error));
  EXPECT_FALSE(drivers::parse_domain_xml("<domain><memory>1</memory></domain>", &error));
  EXPECT_EQ(error, "the domain XML has no <name>");
  EXPECT_EQ(drivers::network_xml_name("<network><name>prod</name></network>"), "prod");
}

TEST(LifecycleMapping, TellsCrashesFromRequestedStops) {
  using drivers::map_lifecycle_event;
  auto kind_of = [](int event, int detail, bool by_revive) {
    auto mapping = map_lifecycle_event(event, detail, by_revive);
    return mapping ? std::optional<Kind>(mapping->kind) : std::nullopt;
  };
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED, false), Kind::vm_started);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_MIGRATED, false), Kind::vm_started);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, false), Kind::vm_stopped);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, true), Kind::vm_stopped);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, false), Kind::vm_crashed);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED, true), Kind::vm_crashed);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED, false), Kind::vm_crashed);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_MIGRATED, false), Kind::vm_stopped);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED, false), Kind::vm_crashed);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_SUSPENDED, 0, false), std::nullopt);
  EXPECT_EQ(kind_of(VIR_DOMAIN_EVENT_DEFINED, 0, false), std::nullopt);
  EXPECT_STREQ(
      map_lifecycle_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_MIGRATED, false)->detail,
      "migrated");
}

TEST(ApplyDiscovery, AddsUnknownVmsWithDisksAndRefreshesKnownOnes) {
  model::Cloud cloud;
  for (const char* name : {"host-0", "host-1"}) {
    model::Host host;
    host.name = name;
    cloud.hosts.push_back(host);
  }
  model::Vm known;
  known.name = "web-1";
  known.cpus = 1;
  known.memory_mib = 512;
  known.host = 1;
  cloud.vms.push_back(known);
  cloud.arrays.push_back({"array-a", 4});
  cloud.rebuild_indexes();

  std::vector<drivers::DiscoveredDomain> found(2);
  found[0].definition = *drivers::parse_domain_xml(lab::test_domain_xml("web-1", 2, 1024, {}, {"prod"}));
  found[0].running = true;
  found[1].definition =
      *drivers::parse_domain_xml(lab::test_domain_xml("db-1", 4, 8192, {"/d/db-1-a", "/d/db-1-b"}, {"prod"}));
  found[1].running = false;
  auto array_of = [](const drivers::DomainDisk& disk) {
    return disk.source == "/d/db-1-a" ? model::ArrayIndex{0} : model::kNoIndex;
  };
  auto changes = drivers::apply_discovery(cloud, 0, found, array_of);
  EXPECT_EQ(changes.added_vms, std::vector<std::string>{"db-1"});
  EXPECT_EQ(changes.updated_vms, std::vector<std::string>{"web-1"});
  const auto& web = cloud.vms[cloud.find_vm("web-1")];
  EXPECT_EQ(web.cpus, 2u);
  EXPECT_EQ(web.memory_mib, 1024u);
  EXPECT_EQ(web.host, 0u);
  ASSERT_EQ(web.networks.size(), 1u);
  EXPECT_EQ(cloud.symbols.name(web.networks[0]), "prod");
  model::VmIndex db_index = cloud.find_vm("db-1");
  ASSERT_NE(db_index, model::kNoIndex);
  const auto& db = cloud.vms[db_index];
  EXPECT_EQ(db.host, model::kNoIndex);
  EXPECT_EQ(db.cpus, 4u);
  ASSERT_EQ(db.disk_count, 2u);
  EXPECT_EQ(cloud.disks[db.first_disk].name, "db-1/vda");
  EXPECT_EQ(cloud.disks[db.first_disk].array, 0u);
  EXPECT_EQ(cloud.disks[db.first_disk].vm, db_index);
  EXPECT_EQ(cloud.disks[db.first_disk + 1].array, model::kNoIndex);
  EXPECT_NE(cloud.find_disk("db-1/vdb"), model::kNoIndex);

  auto again = drivers::apply_discovery(cloud, 0, found, array_of);
  EXPECT_TRUE(again.added_vms.empty());
  EXPECT_TRUE(again.updated_vms.empty());
}

// ------------------------------------------------------------------------- against real daemons

TEST(LibvirtHypervisor, DiscoversDefinedDomainsWithTheirDisksNetworksAndState) {
  REQUIRE_LIBVIRTD();
  TestCloud test(2, {"web-1", "db-1"});
  ASSERT_TRUE(test.start_all());
  auto& daemon = test.daemon(0);
  ASSERT_TRUE(daemon.define_network(lab::test_network_xml("prod", "virbr-prod"), true));
  ASSERT_TRUE(
      daemon.define_domain(lab::test_domain_xml("web-1", 2, 1024, {"/images/web-1.img"}, {"prod"}), true));
  ASSERT_TRUE(daemon.define_domain(
      lab::test_domain_xml("db-1", 4, 4096, {"/images/db-1.img", "/images/db-1-log.img"}, {"default"}),
      false));
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0, 1}));

  auto found = driver.discover(0);
  std::map<std::string, const drivers::DiscoveredDomain*> by_name;
  for (const auto& domain : found.domains) by_name[domain.definition.name] = &domain;
  ASSERT_TRUE(by_name.count("web-1") && by_name.count("db-1") && by_name.count("test"));
  const auto& web = *by_name["web-1"];
  EXPECT_TRUE(web.running);
  EXPECT_EQ(web.definition.vcpus, 2u);
  EXPECT_EQ(web.definition.memory_mib, 1024u);
  ASSERT_EQ(web.definition.disks.size(), 1u);
  EXPECT_EQ(web.definition.disks[0].source, "/images/web-1.img");
  EXPECT_EQ(web.definition.network_names(), std::vector<std::string>{"prod"});
  EXPECT_FALSE(web.definition.uuid.empty());
  EXPECT_NE(web.xml.find("<name>web-1</name>"), std::string::npos);
  const auto& db = *by_name["db-1"];
  EXPECT_FALSE(db.running);
  EXPECT_EQ(db.definition.disks.size(), 2u);
  bool saw_prod = false;
  for (const auto& network : found.networks) {
    if (network.name == "prod") saw_prod = network.active && !network.xml.empty();
  }
  EXPECT_TRUE(saw_prod);

  EXPECT_EQ(driver.running(0), (std::vector<model::VmIndex>{test.cloud.find_vm("web-1")}));
  EXPECT_TRUE(driver.running(1).empty());  // only "test", which the model does not know

  model::Cloud inventory = test.cloud;
  auto changes = drivers::apply_discovery(inventory, 0, found.domains);
  EXPECT_EQ(changes.added_vms, std::vector<std::string>{"test"});
  EXPECT_EQ(inventory.vms[inventory.find_vm("web-1")].host, 0u);
}

TEST(LibvirtHypervisor, StartAndStopAreIdempotentAndStopsByOthersAreCrashes) {
  REQUIRE_LIBVIRTD();
  TestCloud test(1, {"web-1"});
  ASSERT_TRUE(test.start_all());
  auto& daemon = test.daemon(0);
  ASSERT_TRUE(daemon.define_domain(lab::test_domain_xml("web-1", 1, 256), false));
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0}));
  auto& hypervisor = driver.hypervisor;
  const model::VmIndex web = 0;

  auto start = [&] { return driver.await([&](env::Completion done) { hypervisor.start_vm(0, web, done); }); };
  auto stop = [&](bool graceful) {
    return driver.await([&](env::Completion done) { hypervisor.stop_vm(0, web, graceful, done); });
  };
  auto result = start();
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(daemon.domain_state("web-1"), "running");
  ASSERT_TRUE(driver.wait_event(is(Kind::vm_started, 0, web), 5.0));
  result = start();  // already running
  EXPECT_TRUE(result.ok) << result.error;

  result = stop(true);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(daemon.domain_state("web-1"), "shut off");
  auto stopped = driver.wait_event(is(Kind::vm_stopped, 0, web), 5.0);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->detail, "shutdown");
  EXPECT_TRUE(stop(true).ok);   // already stopped
  EXPECT_TRUE(stop(false).ok);  // destroy of a stopped domain

  // Revive's own destroy: a stop, not a crash.
  ASSERT_TRUE(start().ok);
  driver.events.clear();
  ASSERT_TRUE(stop(false).ok);
  auto destroyed = driver.wait_event(
      [&](const HypervisorEvent& e) { return e.vm == web && e.kind != Kind::vm_started; }, 5.0);
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->kind, Kind::vm_stopped);
  EXPECT_EQ(destroyed->detail, "destroyed");

  // Destroyed behind Revive's back: an unexpected stop.
  ASSERT_TRUE(start().ok);
  driver.events.clear();
  ASSERT_TRUE(daemon.destroy_domain("web-1"));
  auto crashed = driver.wait_event(
      [&](const HypervisorEvent& e) { return e.vm == web && e.kind != Kind::vm_started; }, 5.0);
  ASSERT_TRUE(crashed);
  EXPECT_EQ(crashed->kind, Kind::vm_crashed);
  EXPECT_EQ(crashed->detail, "destroyed");

  // Stop of a domain the host does not have at all.
  ASSERT_TRUE(daemon.undefine_domain("web-1"));
  EXPECT_TRUE(stop(true).ok);
  EXPECT_TRUE(stop(false).ok);
}

TEST(LibvirtHypervisor, ColdMoveDefinesTheVmOnAnotherHostFromItsDiscoveredXml) {
  REQUIRE_LIBVIRTD();
  TestCloud test(2, {"web-1"});
  ASSERT_TRUE(test.start_all());
  ASSERT_TRUE(
      test.daemon(0).define_domain(lab::test_domain_xml("web-1", 2, 512, {"/images/web-1.img"}), true));
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0, 1}));
  auto& hypervisor = driver.hypervisor;
  const model::VmIndex web = 0;
  driver.discover(0);  // remembers web-1's definition

  // The test driver cannot migrate: a clear, permanent error.
  auto migrated = driver.await([&](env::Completion done) { hypervisor.migrate_vm(web, 0, 1, done); });
  EXPECT_FALSE(migrated.ok);
  EXPECT_TRUE(migrated.permanent) << migrated.error;
  EXPECT_NE(migrated.error.find("host host-0: domain web-1: migrate to host host-1: "), std::string::npos)
      << migrated.error;

  auto result = driver.await([&](env::Completion done) { hypervisor.stop_vm(0, web, false, done); });
  ASSERT_TRUE(result.ok) << result.error;
  ASSERT_TRUE(test.daemon(0).undefine_domain("web-1"));
  result = driver.await([&](env::Completion done) { hypervisor.start_vm(1, web, done); });
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(test.daemon(1).domain_state("web-1"), "running");
  EXPECT_EQ(test.daemon(0).domain_state("web-1"), "absent");
  EXPECT_EQ(driver.running(1), std::vector<model::VmIndex>{web});
  EXPECT_TRUE(driver.running(0).empty());
  auto started = driver.wait_event(is(Kind::vm_started, 1, web), 5.0);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->detail, "booted");
}

TEST(LibvirtHypervisor, ErrorsNameTheHostAndDomainAndSayWhetherToRetry) {
  REQUIRE_LIBVIRTD();
  TestCloud test(1, {"ghost", "broken"});
  ASSERT_TRUE(test.start_all());
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0}));
  auto& hypervisor = driver.hypervisor;

  auto result = driver.await([&](env::Completion done) { hypervisor.start_vm(0, 0, done); });
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent);
  EXPECT_EQ(result.error.rfind("host host-0: domain ghost: not defined on this host", 0), 0u) << result.error;

  hypervisor.remember_domain_xml("broken", "<domain type='test'><name>broken</name><vcpu>x</vcpu></domain>");
  result = driver.await([&](env::Completion done) { hypervisor.start_vm(0, 1, done); });
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent) << result.error;
  EXPECT_EQ(result.error.rfind("host host-0: domain broken: define: ", 0), 0u) << result.error;

  // Migration to a host index that does not exist, and a stop of an unknown domain (idempotent: ok).
  result = driver.await([&](env::Completion done) { hypervisor.migrate_vm(0, 0, 7, done); });
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent);
  EXPECT_TRUE(driver.await([&](env::Completion done) { hypervisor.stop_vm(0, 0, true, done); }).ok);
}

TEST(LibvirtHypervisor, ConfiguresTheVmsNetworksOnTheTargetFromTheSourceHostsDefinition) {
  REQUIRE_LIBVIRTD();
  TestCloud test(2, {"web-1"});
  ASSERT_TRUE(test.start_all());
  ASSERT_TRUE(test.daemon(0).define_network(lab::test_network_xml("prod", "virbr-prod"), true));
  ASSERT_TRUE(
      test.daemon(0).define_domain(lab::test_domain_xml("web-1", 1, 256, {}, {"prod", "default"}), true));
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0, 1}));
  auto& hypervisor = driver.hypervisor;
  auto configure = [&] {
    return driver.await([&](env::Completion done) { hypervisor.configure_vm_networks(0, 1, 0, done); });
  };
  // Before discovery nothing tells which networks web-1 uses.
  auto result = configure();
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent);
  driver.discover(0);
  EXPECT_FALSE(test.daemon(1).network_active("prod"));
  result = configure();
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_TRUE(test.daemon(1).network_active("prod"));
  EXPECT_TRUE(test.daemon(1).network_active("default"));
  result = configure();  // again: nothing to do
  EXPECT_TRUE(result.ok) << result.error;
}

TEST(LibvirtHypervisor, KilledDaemonIsNoticedAtOnceAndReconnectedAfterARestart) {
  REQUIRE_LIBVIRTD();
  TestCloud test(2, {"web-1"});
  ASSERT_TRUE(test.start_all());
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0, 1}));
  ASSERT_TRUE(driver.wait_event(is(Kind::host_connection_restored, 0), 1.0));

  auto killed_at = std::chrono::steady_clock::now();
  test.daemon(0).kill();
  auto lost = driver.wait_event(is(Kind::host_connection_lost, 0), 5.0);
  ASSERT_TRUE(lost) << "no connection loss event";
  EXPECT_LT(seconds_since(killed_at), 2.0);
  EXPECT_FALSE(driver.hypervisor.connected(0));
  EXPECT_TRUE(driver.hypervisor.connected(1));

  // Calls to the lost host fail at once (transient); the other host still answers.
  auto started_at = std::chrono::steady_clock::now();
  auto result = driver.await([&](env::Completion done) { driver.hypervisor.start_vm(0, 0, done); });
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.permanent);
  EXPECT_NE(result.error.find("host host-0: not connected"), std::string::npos) << result.error;
  EXPECT_LT(seconds_since(started_at), 1.0);
  EXPECT_TRUE(driver.running(1).empty());

  std::size_t lost_events = 0;
  for (const auto& event : driver.events) lost_events += event.kind == Kind::host_connection_lost;
  EXPECT_EQ(lost_events, 1u);  // failed reconnection attempts are not reported again

  std::string error;
  ASSERT_TRUE(test.daemon(0).start(10.0, &error)) << error;
  driver.events.clear();
  ASSERT_TRUE(driver.wait_event(is(Kind::host_connection_restored, 0), 5.0));
  EXPECT_TRUE(driver.hypervisor.connected(0));
}

TEST(LibvirtHypervisor, HungDaemonIsNoticedByKeepaliveAndNeverStallsOtherHosts) {
  REQUIRE_LIBVIRTD();
  TestCloud test(3, {"web-1", "web-2"});
  ASSERT_TRUE(test.start_all());
  ASSERT_TRUE(test.daemon(0).define_domain(lab::test_domain_xml("web-1", 1, 256), false));
  ASSERT_TRUE(test.daemon(1).define_domain(lab::test_domain_xml("web-2", 1, 256), false));
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0, 1, 2}));
  auto& hypervisor = driver.hypervisor;

  auto paused_at = std::chrono::steady_clock::now();
  test.daemon(0).pause();
  auto hung_start = std::make_shared<std::optional<env::OperationResult>>();
  hypervisor.start_vm(0, 0, [hung_start](const env::OperationResult& result) { *hung_start = result; });
  // Host 1 answers while host 0 hangs.
  auto result = driver.await([&](env::Completion done) { hypervisor.start_vm(1, 1, done); }, 2.0);
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_LT(seconds_since(paused_at), 1.0);
  EXPECT_FALSE(hung_start->has_value());

  // Keepalive (1 s x 2) notices the hang in about 2-3 s; the hung call then fails.
  auto lost = driver.wait_event(is(Kind::host_connection_lost, 0), 6.0);
  ASSERT_TRUE(lost) << "keepalive did not notice the hung daemon";
  EXPECT_LT(seconds_since(paused_at), 5.0);
  EXPECT_NE(lost->detail.find("keepalive"), std::string::npos) << lost->detail;
  ASSERT_TRUE(driver.loop.run_until([&] { return hung_start->has_value(); }, 3.0));
  EXPECT_FALSE((*hung_start)->ok);
  EXPECT_FALSE((*hung_start)->permanent);

  // Reconnection attempts to the hung daemon (each bounded by connect_timeout_s) hold up nobody.
  driver.loop.run_for(2.0);
  auto listed_at = std::chrono::steady_clock::now();
  EXPECT_EQ(driver.running(1), std::vector<model::VmIndex>{1});
  EXPECT_LT(seconds_since(listed_at), 1.0);

  test.daemon(0).resume();
  ASSERT_TRUE(driver.wait_event(
      [&](const HypervisorEvent& e) {
        return e.kind == Kind::host_connection_restored && e.host == 0 && driver.hypervisor.connected(0);
      },
      8.0));
}

TEST(LibvirtHypervisor, CallsToAHungDaemonTimeOutOnTheLoopEvenWithoutKeepalive) {
  REQUIRE_LIBVIRTD();
  TestCloud test(1, {"web-1"});
  ASSERT_TRUE(test.start_all());
  ASSERT_TRUE(test.daemon(0).define_domain(lab::test_domain_xml("web-1", 1, 256), false));
  LibvirtOptions options = quick_options();
  options.keepalive_interval_s = -1;  // keepalive off: nothing but the call's own timeout ends the wait
  options.call_timeout_s = 1.0;
  Driver driver(test, options);
  ASSERT_TRUE(driver.wait_connected({0}));
  test.daemon(0).pause();
  auto asked_at = std::chrono::steady_clock::now();
  auto result = driver.await([&](env::Completion done) { driver.hypervisor.start_vm(0, 0, done); }, 5.0);
  double waited_s = seconds_since(asked_at);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.permanent);
  EXPECT_EQ(result.error, "host host-0: domain web-1: start: no answer within 1 s");
  EXPECT_GE(waited_s, 0.9);
  EXPECT_LT(waited_s, 2.0);
  test.daemon(0).resume();  // the blocked worker finishes; its late answer is dropped
  driver.loop.run_for(0.5);
  EXPECT_EQ(test.daemon(0).domain_state("web-1"), "running");
}

TEST(LibvirtHypervisor, DaemonHungBeforeTheFirstConnectionDoesNotHoldUpTheOthers) {
  REQUIRE_LIBVIRTD();
  TestCloud test(2, {"web-1"});
  ASSERT_TRUE(test.start_all());
  test.daemon(1).pause();
  auto created_at = std::chrono::steady_clock::now();
  Driver driver(test);
  ASSERT_TRUE(driver.wait_connected({0}, 2.0));
  EXPECT_LT(seconds_since(created_at), 1.0);
  auto lost = driver.wait_event(is(Kind::host_connection_lost, 1), 4.0);
  ASSERT_TRUE(lost);
  EXPECT_NE(lost->detail.find("no answer to the connection request"), std::string::npos) << lost->detail;
  test.daemon(1).resume();
  ASSERT_TRUE(driver.wait_connected({1}, 5.0));
}

}  // namespace
}  // namespace revive
