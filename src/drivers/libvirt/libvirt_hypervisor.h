// LibvirtHypervisor: env::Hypervisor and env::Network on real libvirt daemons, one connection per host.
//
// Connections: each host has a supervisor thread that opens its URI (virConnectOpen on a short-lived helper
// thread, waited for at most connect_timeout_s: an open to a hung daemon blocks without limit, so it never
// runs on the engine thread nor holds up other hosts), sets keepalive (interval, count), registers a close
// callback and lifecycle events, and reopens with exponential backoff after a loss. Every transition is
// posted as a HypervisorEvent: host_connection_restored when a connection opens (also the first one),
// host_connection_lost when it closes or the first attempts fail. libvirt's default event loop
// (virEventRegisterDefaultImpl) runs on one process-wide thread, started by the first instance.
//
// Lifecycle events -> HypervisorEvent (detail = the libvirt detail, lower case):
//   STARTED (booted, migrated, restored, from_snapshot, wakeup) -> vm_started
//   STOPPED shutdown / saved / from_snapshot / migrated           -> vm_stopped (a clean stop)
//   STOPPED destroyed, after Revive's own stop_vm or migrate_vm   -> vm_stopped (detail "destroyed")
//   STOPPED destroyed by anyone else                              -> vm_crashed (an unexpected stop)
//   STOPPED crashed / failed, CRASHED (on_crash=preserve)         -> vm_crashed
//   others (defined, undefined, suspended, resumed, pmsuspended)  -> not reported
// Domains are matched to model VMs by name (libvirt domain name = model::Vm::name); events of domains the
// model does not know are dropped.
//
// Calls: each runs on its own worker thread on its host's connection (so a hung host holds only calls to
// it; keepalive bounds them to about interval x (count + 1) s), under a timeout counted on the EventLoop
// (late answers are dropped); results are posted to the loop. A call to a host without an open connection
// fails at once (transient). All calls are idempotent: start of a running VM, stop of an absent or stopped
// one, a migration whose VM already runs only on the target all succeed. Errors read
// "host H: domain D: <action>: <libvirt message>"; definition and argument errors are permanent. Domain
// XML is read without VIR_DOMAIN_XML_SECURE, so no secret (VNC/SPICE passwords) is ever read, logged or
// returned.
//
// Thread-safety: the env::Hypervisor / env::Network calls, discover(), migration_progress(), remember_*()
// and subscribe() from the engine thread only; connected() from any thread. The destructor (engine thread)
// stops the supervisors and waits for calls in flight (a running migration to its end); answers not yet
// delivered are dropped. `cloud` and `loop` must outlive this object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/libvirt/domain_xml.h"
#include "drivers/process/workers.h"
#include "env/calls_in_progress.h"
#include "env/event_loop.h"
#include "env/hypervisor.h"
#include "env/storage.h"
#include "model/cloud.h"

namespace revive::drivers {

struct LibvirtOptions {
  double connect_timeout_s = 10.0;  // one virConnectOpen attempt
  int keepalive_interval_s = 1;     // virConnectSetKeepAlive; <= 0 turns keepalive off
  unsigned keepalive_count = 2;
  double reconnect_initial_delay_s = 0.5;  // doubles after each failed attempt
  double reconnect_max_delay_s = 10.0;
  double call_timeout_s = 60.0;       // start, destroy, list, discovery, network configuration
  double shutdown_timeout_s = 120.0;  // graceful stop: how long the guest may take to power off
  double migrate_timeout_s = 900.0;
  bool peer_to_peer = false;                    // VIR_MIGRATE_PEER2PEER (the source daemon drives it)
  std::uint64_t migration_bandwidth_mib_s = 0;  // VIR_MIGRATE_PARAM_BANDWIDTH; 0 = unlimited
  // By HostIndex: the migration URI of a destination (VIR_MIGRATE_PARAM_URI). Missing or empty:
  // tcp://<server of the host's libvirt URI>, tcp://127.0.0.1 when the URI names no server.
  std::vector<std::string> migration_uris;
  // By HostIndex, peer-to-peer only: the destination's libvirt URI as the source daemon reaches it. Missing
  // or empty: the host's own URI.
  std::vector<std::string> peer_uris;
};

// One domain found on a host by discover().
struct DiscoveredDomain {
  DomainDefinition definition;
  bool running = false;  // running or paused
  bool persistent = true;
  std::string xml;  // the inactive definition (no secrets): defines the domain on another host
};

// A libvirt network found on a host by discover().
struct DiscoveredNetwork {
  std::string name;
  bool active = false;
  std::string xml;
};

struct HostDiscovery {
  std::vector<DiscoveredDomain> domains;
  std::vector<DiscoveredNetwork> networks;
};

// virDomainGetJobInfo of a VM's migration, on its source host.
struct MigrationProgress {
  bool active = false;  // a job runs on the domain
  double elapsed_s = 0.0;
  std::uint64_t data_total_bytes = 0;
  std::uint64_t data_processed_bytes = 0;
  std::uint64_t data_remaining_bytes = 0;
  std::uint64_t memory_total_bytes = 0;
  std::uint64_t memory_processed_bytes = 0;
  std::uint64_t memory_remaining_bytes = 0;
};

// The lifecycle mapping above, for libvirt's virDomainEventType `event` and its detail code;
// `stopped_by_revive`: the stop follows Revive's own stop_vm or migrate_vm. nullopt: not reported.
struct LifecycleMapping {
  env::HypervisorEvent::Kind kind;
  const char* detail;
};
std::optional<LifecycleMapping> map_lifecycle_event(int event, int detail, bool stopped_by_revive);

class LibvirtHypervisor final : public env::Hypervisor, public env::Network, public env::CallsInProgress {
 public:
  // `uris` by HostIndex (missing or empty entries: model::Host::uri; a host with no URI is never connected).
  LibvirtHypervisor(env::EventLoop& loop, const model::Cloud& cloud, std::vector<std::string> uris,
                    LibvirtOptions options = {});
  ~LibvirtHypervisor() override;

  // env::Hypervisor. start_vm defines the VM from its remembered XML when the target does not know it; the
  // iSCSI disks of the definition get the host's initiator name (model::Host::initiator) before it starts.
  void start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) override;
  void stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful, env::Completion done) override;
  void migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                  env::Completion done) override;
  void list_running(
      model::HostIndex host,
      std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) override;
  void subscribe(std::function<void(const env::HypervisorEvent&)> handler) override;

  // env::Network: makes every libvirt network the VM's interfaces use exist and be active on `host`
  // (defined from a remembered network XML when missing, then started). Bridges are host configuration,
  // not checked. `network_switch` is not used: libvirt networks are per host.
  void configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host, model::VmIndex vm,
                             env::Completion done) override;

  // env::CallsInProgress, from libvirt's own view of its jobs: a start or stop is in progress while the
  // domain on `host` has a job running (virDomainGetControlInfo not OK, or virDomainGetJobInfo not NONE), a
  // live migration while its source has one. No such domain, a host that does not answer (whatever ran
  // there can no longer be told apart from a call that ended: the caller treats its outcome as unknown) and
  // every other kind of call (network, storage and fence calls end with the revived process that made them)
  // answer false.
  void in_progress(const env::Call& call, std::function<void(bool)> done) override;

  // Every domain and network of `host`; remembers each domain's and network's XML (see remember_*).
  void discover(model::HostIndex host, std::function<void(const env::OperationResult&, HostDiscovery)> done);
  // The progress of `vm`'s migration started by migrate_vm (active = false when none runs).
  void migration_progress(model::VmIndex vm,
                          std::function<void(const env::OperationResult&, MigrationProgress)> done);

  // The definition to define a domain from where it is not defined (keyed by domain name).
  void remember_domain_xml(const std::string& domain_name, std::string xml);
  void remember_network_xml(const std::string& network_name, std::string xml);

  // Whether `host`'s connection is open now. Thread-safe.
  bool connected(model::HostIndex host) const;
  // The URI `host` connects to ("" when it has none).
  const std::string& uri(model::HostIndex host) const;

  struct Shared;
  struct HostLink;

 private:
  template <typename Result, typename Work, typename Deliver>
  void run_call(model::HostIndex host, double timeout_s, std::string what, Work work, Deliver deliver);

  env::EventLoop& loop_;
  const model::Cloud& cloud_;
  LibvirtOptions options_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<HostLink>> hosts_;
  Workers workers_;
};

}  // namespace revive::drivers
