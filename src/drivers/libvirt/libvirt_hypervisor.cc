#include "drivers/libvirt/libvirt_hypervisor.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

namespace revive::drivers {

namespace {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------ libvirt globals

void ignore_libvirt_error(void*, virErrorPtr) {}

// virInitialize, silence libvirt's default error printing (errors are read with virGetLastError and
// reported by Revive), ignore SIGPIPE if nobody handles it, and run libvirt's default event loop on one
// process-wide thread: keepalive, close callbacks and domain events need it. Once per process.
void ensure_libvirt_event_loop() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, ignore_libvirt_error);
    // A write to a daemon that died raises SIGPIPE; libvirt expects its clients to ignore it (virsh does).
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
      ::signal(SIGPIPE, SIG_IGN);
    if (virEventRegisterDefaultImpl() < 0) return;
    std::thread([] {
      while (true) virEventRunDefaultImpl();
    }).detach();
  });
}

// ----------------------------------------------------------------------------------------- errors

struct LibvirtError {
  int code = VIR_ERR_INTERNAL_ERROR;
  std::string message = "unknown libvirt error";
};

// The calling thread's last libvirt error.
LibvirtError last_error() {
  LibvirtError error;
  if (virErrorPtr last = virGetLastError()) {
    error.code = last->code;
    if (last->message != nullptr) error.message = last->message;
  }
  return error;
}

// Errors that the same call will meet again: a rejected definition or argument, a missing object, an
// unsupported operation, refused credentials or access.
bool is_permanent(int code) {
  switch (code) {
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_XML_INVALID_SCHEMA:
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_CONFIG_UNSUPPORTED:
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_NETWORK:
    case VIR_ERR_DOM_EXIST:
    case VIR_ERR_NETWORK_EXIST:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_CANCELLED:
    case VIR_ERR_OPERATION_DENIED:
    case VIR_ERR_ACCESS_DENIED:
      return true;
    default:
      return false;
  }
}

env::OperationResult failure_from(const std::string& context, const std::string& action) {
  LibvirtError error = last_error();
  return env::OperationResult::failure(context + action + ": " + error.message, is_permanent(error.code));
}

std::string domain_context(const std::string& host, const std::string& domain) {
  return "host " + host + ": domain " + domain + ": ";
}

// ------------------------------------------------------------------------------ owned libvirt handles

// Owns one libvirt object and frees it with `Free` (virConnectClose, virDomainFree, virNetworkFree).
template <typename Pointer, auto Free>
class LibvirtRef {
 public:
  explicit LibvirtRef(Pointer object = nullptr) : object_(object) {}
  ~LibvirtRef() { reset(); }
  LibvirtRef(const LibvirtRef&) = delete;
  LibvirtRef& operator=(const LibvirtRef&) = delete;
  void reset(Pointer object = nullptr) {
    if (object_ != nullptr) Free(object_);
    object_ = object;
  }
  Pointer get() const { return object_; }
  explicit operator bool() const { return object_ != nullptr; }

 private:
  Pointer object_;
};

using ConnectionRef = LibvirtRef<virConnectPtr, virConnectClose>;
using DomainRef = LibvirtRef<virDomainPtr, virDomainFree>;
using NetworkRef = LibvirtRef<virNetworkPtr, virNetworkFree>;

// A string libvirt allocated (XML descriptions), freed with free().
std::string take_string(char* text) {
  if (text == nullptr) return {};
  std::string owned(text);
  std::free(text);  // NOLINT: libvirt's contract
  return owned;
}

// tcp://SERVER for a libvirt URI such as qemu+tls://SERVER:16514/system; tcp://127.0.0.1 when it names
// none (unix sockets: a local daemon).
std::string default_migration_uri(const std::string& libvirt_uri) {
  auto scheme_end = libvirt_uri.find("://");
  if (scheme_end == std::string::npos) return "tcp://127.0.0.1";
  std::string authority = libvirt_uri.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?"));
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    authority = authority.substr(0, authority.find(']') + 1);
  } else {
    authority = authority.substr(0, authority.find(':'));
  }
  return authority.empty() ? "tcp://127.0.0.1" : "tcp://" + authority;
}

const char* close_reason_name(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
      return "connection error";
    case VIR_CONNECT_CLOSE_REASON_EOF:
      return "connection closed by the daemon";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
      return "keepalive timeout (daemon not answering)";
    default:
      return "connection closed";
  }
}

struct Nothing {};

template <typename Payload>
struct Answer {
  env::OperationResult result;
  Payload payload{};
};

}  // namespace

// ------------------------------------------------------------------------------------------ shared state

// What posted callbacks, supervisors and libvirt's event thread share with the hypervisor; kept alive by
// them after the hypervisor is gone (then nothing more is posted, and posted callbacks do nothing).
struct LibvirtHypervisor::Shared {
  Shared(env::EventLoop& event_loop, const model::Cloud& model_cloud)
      : loop(event_loop), cloud(model_cloud) {}

  env::EventLoop& loop;
  const model::Cloud& cloud;

  // Engine thread only.
  bool alive = true;
  std::vector<std::function<void(const env::HypervisorEvent&)>> handlers;
  std::unordered_map<std::string, std::string> domain_xml;   // by domain name
  std::unordered_map<std::string, std::string> network_xml;  // by network name
  std::unordered_map<model::VmIndex, model::HostIndex> migrating_from;

  // Any thread: hands `callback` to the loop unless the hypervisor is being destroyed.
  void post(env::Callback callback) {
    std::lock_guard lock(post_mutex);
    if (accepting) loop.post(std::move(callback));
  }
  void stop_posting() {
    std::lock_guard lock(post_mutex);
    accepting = false;
  }
  void deliver(const env::HypervisorEvent& event) {
    auto receivers = handlers;
    for (auto& handler : receivers) handler(event);
  }

 private:
  std::mutex post_mutex;
  bool accepting = true;
};

// One host's connection and its supervisor thread.
struct LibvirtHypervisor::HostLink : std::enable_shared_from_this<HostLink> {
  model::HostIndex index = model::kNoIndex;
  std::string name;
  std::string uri;
  LibvirtOptions options;
  std::shared_ptr<Shared> shared;

  mutable std::mutex mutex;
  std::condition_variable wake;
  virConnectPtr connection = nullptr;  // open and registered; guarded by mutex
  bool closed_by_peer = false;
  int close_reason = 0;
  bool stopping = false;
  std::string disconnect_reason;                                      // why there is no connection
  std::unordered_map<std::string, Clock::time_point> expected_stops;  // by domain name
  std::thread supervisor;

  // A virConnectOpen running on its own thread; abandoned (closed when it returns) once nobody waits.
  struct OpenAttempt {
    bool finished = false;
    bool abandoned = false;
    virConnectPtr connection = nullptr;
    std::string error;
  };
  std::shared_ptr<OpenAttempt> attempt;  // supervisor thread only

  // A reference on the open connection (virConnectClose releases it), or nullptr.
  virConnectPtr acquire() const {
    std::lock_guard lock(mutex);
    if (connection == nullptr) return nullptr;
    virConnectRef(connection);
    return connection;
  }

  env::OperationResult not_connected() const {
    std::lock_guard lock(mutex);
    return env::OperationResult::failure("host " + name + ": not connected to libvirt" +
                                         (disconnect_reason.empty() ? "" : " (" + disconnect_reason + ")"));
  }

  // Marks that Revive itself stops `domain` (stop_vm, migrate_vm), so its stop event is not a crash.
  void expect_stop(const std::string& domain) {
    std::lock_guard lock(mutex);
    expected_stops[domain] = Clock::now() + std::chrono::minutes(30);
  }
  // After the call returned: a failed call expects nothing; a done one expects its event soon.
  void settle_expected_stop(const std::string& domain, bool succeeded) {
    std::lock_guard lock(mutex);
    if (!succeeded) {
      expected_stops.erase(domain);
    } else if (auto found = expected_stops.find(domain); found != expected_stops.end()) {
      found->second = std::min(found->second, Clock::now() + std::chrono::seconds(30));
    }
  }
  bool take_expected_stop(const std::string& domain) {
    std::lock_guard lock(mutex);
    auto found = expected_stops.find(domain);
    if (found == expected_stops.end()) return false;
    bool current = found->second >= Clock::now();
    expected_stops.erase(found);
    return current;
  }

  bool stop_requested() const {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void report(env::HypervisorEvent::Kind kind, std::string detail) {
    model::HostIndex host = index;
    shared->post([shared = shared, kind, host, detail = std::move(detail)] {
      if (!shared->alive) return;
      env::HypervisorEvent event{kind, host, model::kNoIndex};
      event.detail = detail;
      shared->deliver(event);
    });
  }

  virConnectPtr open_with_timeout(std::string& error);
  void supervise();
  void on_lifecycle(const std::string& domain, int event, int detail);
};

namespace {

using HostLinkPtr = std::shared_ptr<LibvirtHypervisor::HostLink>;

void free_host_link(void* opaque) {
  delete static_cast<HostLinkPtr*>(opaque);
}

void on_connection_closed(virConnectPtr, int reason, void* opaque) {
  auto& link = **static_cast<HostLinkPtr*>(opaque);
  std::lock_guard lock(link.mutex);
  link.closed_by_peer = true;
  link.close_reason = reason;
  link.wake.notify_all();
}

int on_domain_lifecycle(virConnectPtr, virDomainPtr domain, int event, int detail, void* opaque) {
  const char* name = virDomainGetName(domain);
  if (name != nullptr) (*static_cast<HostLinkPtr*>(opaque))->on_lifecycle(name, event, detail);
  return 0;
}

}  // namespace

virConnectPtr LibvirtHypervisor::HostLink::open_with_timeout(std::string& error) {
  std::unique_lock lock(mutex);
  if (!attempt) {
    attempt = std::make_shared<OpenAttempt>();
    std::thread([self = shared_from_this(), pending = attempt, target = uri] {
      virConnectPtr opened = virConnectOpen(target.c_str());
      std::string why = opened == nullptr ? last_error().message : std::string();
      bool unwanted = false;
      {
        std::lock_guard guard(self->mutex);
        unwanted = pending->abandoned;
        if (!unwanted) {
          pending->connection = opened;
          pending->error = why;
        }
        pending->finished = true;
        self->wake.notify_all();
      }
      if (unwanted && opened != nullptr) virConnectClose(opened);
    }).detach();
  }
  auto pending = attempt;
  wake.wait_for(lock, std::chrono::duration<double>(options.connect_timeout_s),
                [&] { return pending->finished || stopping; });
  if (stopping) {
    pending->abandoned = true;
    virConnectPtr unwanted = pending->finished ? pending->connection : nullptr;
    attempt.reset();
    lock.unlock();
    if (unwanted != nullptr) virConnectClose(unwanted);
    error = "stopping";
    return nullptr;
  }
  if (!pending->finished) {
    // Still blocked (a hung daemon): keep waiting for this attempt next time rather than start another.
    error = fmt::format("no answer to the connection request within {:.0f} s", options.connect_timeout_s);
    return nullptr;
  }
  attempt.reset();
  error = pending->error;
  return pending->connection;
}

void LibvirtHypervisor::HostLink::supervise() {
  enum class Reported { nothing, up, down };
  Reported reported = Reported::nothing;
  double delay_s = options.reconnect_initial_delay_s;
  auto pause = [&] {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, std::chrono::duration<double>(delay_s), [&] { return stopping; });
    delay_s = std::min(delay_s * 2, options.reconnect_max_delay_s);
    return !stopping;
  };
  while (!stop_requested()) {
    std::string error;
    virConnectPtr opened = open_with_timeout(error);
    if (opened == nullptr) {
      if (stop_requested()) return;
      {
        std::lock_guard lock(mutex);
        disconnect_reason = error;
      }
      if (reported != Reported::down) report(env::HypervisorEvent::Kind::host_connection_lost, error);
      reported = Reported::down;
      if (!pause()) return;
      continue;
    }
    // Keepalive is refused (returns 1) by local drivers such as test:///: they need none.
    virConnectSetKeepAlive(opened, options.keepalive_interval_s, options.keepalive_count);
    auto* close_owner = new HostLinkPtr(shared_from_this());
    bool close_registered =
        virConnectRegisterCloseCallback(opened, on_connection_closed, close_owner, free_host_link) == 0;
    if (!close_registered) delete close_owner;
    auto* event_owner = new HostLinkPtr(shared_from_this());
    int event_callback = virConnectDomainEventRegisterAny(opened, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                          VIR_DOMAIN_EVENT_CALLBACK(on_domain_lifecycle),
                                                          event_owner, free_host_link);
    if (event_callback < 0) delete event_owner;
    int reason = 0;
    {
      std::unique_lock lock(mutex);
      connection = opened;
      closed_by_peer = false;
      disconnect_reason.clear();
    }
    report(env::HypervisorEvent::Kind::host_connection_restored, "");
    reported = Reported::up;
    delay_s = options.reconnect_initial_delay_s;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || closed_by_peer; });
      reason = close_reason;
      connection = nullptr;
      if (!stopping) disconnect_reason = close_reason_name(reason);
    }
    if (event_callback >= 0) virConnectDomainEventDeregisterAny(opened, event_callback);
    if (close_registered) virConnectUnregisterCloseCallback(opened, on_connection_closed);
    virConnectClose(opened);
    if (stop_requested()) return;
    report(env::HypervisorEvent::Kind::host_connection_lost, close_reason_name(reason));
    reported = Reported::down;
    if (!pause()) return;
  }
}

std::optional<LifecycleMapping> map_lifecycle_event(int event, int detail, bool stopped_by_revive) {
  using Kind = env::HypervisorEvent::Kind;
  switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
      switch (detail) {
        case VIR_DOMAIN_EVENT_STARTED_BOOTED:
          return LifecycleMapping{Kind::vm_started, "booted"};
        case VIR_DOMAIN_EVENT_STARTED_MIGRATED:
          return LifecycleMapping{Kind::vm_started, "migrated"};
        case VIR_DOMAIN_EVENT_STARTED_RESTORED:
          return LifecycleMapping{Kind::vm_started, "restored"};
        case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT:
          return LifecycleMapping{Kind::vm_started, "from_snapshot"};
        case VIR_DOMAIN_EVENT_STARTED_WAKEUP:
          return LifecycleMapping{Kind::vm_started, "wakeup"};
        default:
          return LifecycleMapping{Kind::vm_started, "started"};
      }
    case VIR_DOMAIN_EVENT_STOPPED:
      switch (detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
          return LifecycleMapping{Kind::vm_stopped, "shutdown"};
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
          return LifecycleMapping{stopped_by_revive ? Kind::vm_stopped : Kind::vm_crashed, "destroyed"};
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
          return LifecycleMapping{Kind::vm_crashed, "crashed"};
        case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
          return LifecycleMapping{Kind::vm_stopped, "migrated"};
        case VIR_DOMAIN_EVENT_STOPPED_SAVED:
          return LifecycleMapping{Kind::vm_stopped, "saved"};
        case VIR_DOMAIN_EVENT_STOPPED_FAILED:
          return LifecycleMapping{Kind::vm_crashed, "failed"};
        case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
          return LifecycleMapping{Kind::vm_stopped, "from_snapshot"};
        default:
          return LifecycleMapping{stopped_by_revive ? Kind::vm_stopped : Kind::vm_crashed, "stopped"};
      }
    case VIR_DOMAIN_EVENT_CRASHED:
      return LifecycleMapping{Kind::vm_crashed, "crashed"};
    default:
      return std::nullopt;
  }
}

void LibvirtHypervisor::HostLink::on_lifecycle(const std::string& domain, int event, int detail) {
  bool stopped_by_revive = event == VIR_DOMAIN_EVENT_STOPPED && take_expected_stop(domain);
  auto mapping = map_lifecycle_event(event, detail, stopped_by_revive);
  if (!mapping) return;
  model::HostIndex host = index;
  shared->post([shared = shared, kind = mapping->kind, detail = std::string(mapping->detail), host, domain] {
    if (!shared->alive) return;
    model::VmIndex vm = shared->cloud.find_vm(domain);
    if (vm == model::kNoIndex) return;
    env::HypervisorEvent delivered{kind, host, vm};
    delivered.detail = detail;
    shared->deliver(delivered);
  });
}

// ------------------------------------------------------------------------------------- blocking calls

namespace {

using HostLink = LibvirtHypervisor::HostLink;

bool domain_active(virDomainPtr domain) {
  return virDomainIsActive(domain) == 1;
}

// `initiator`: the host's iSCSI initiator name; the definition's iSCSI disks are given it before the start
// (with_iscsi_initiator), so the guest logs in to its disks as this host.
env::OperationResult start_blocking(const HostLink& link, const std::string& domain, const std::string& xml,
                                    const std::string& initiator) {
  ConnectionRef connection(link.acquire());
  if (!connection) return link.not_connected();
  const std::string context = domain_context(link.name, domain);
  DomainRef handle(virDomainLookupByName(connection.get(), domain.c_str()));
  if (!handle) {
    LibvirtError error = last_error();
    if (error.code != VIR_ERR_NO_DOMAIN) {
      return env::OperationResult::failure(context + "lookup: " + error.message, is_permanent(error.code));
    }
    if (xml.empty()) {
      return env::OperationResult::failure(
          context +
              "not defined on this host and no definition is known to define it from (discover the host "
              "it was defined on first)",
          true);
    }
    auto definition = with_iscsi_initiator(xml, initiator);
    if (!definition)
      return env::OperationResult::failure(context + "define: the known definition does not parse", true);
    handle.reset(virDomainDefineXML(connection.get(), definition->c_str()));
    if (!handle) return failure_from(context, "define");
  }
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  if (virDomainGetState(handle.get(), &state, &reason, 0) < 0) return failure_from(context, "read state");
  if (state == VIR_DOMAIN_RUNNING) return env::OperationResult::success();
  if (!initiator.empty() && state != VIR_DOMAIN_PAUSED) {
    // Defined here before (or by someone else): its iSCSI disks must log in with this host's name.
    char* current = virDomainGetXMLDesc(handle.get(), VIR_DOMAIN_XML_INACTIVE);
    if (current == nullptr) return failure_from(context, "read definition");
    std::string text(current);
    std::free(current);
    auto definition = with_iscsi_initiator(text, initiator);
    if (definition && *definition != text) {
      handle.reset(virDomainDefineXML(connection.get(), definition->c_str()));
      if (!handle) return failure_from(context, "define with the host's initiator name");
    }
  }
  if (state == VIR_DOMAIN_PAUSED) {
    if (virDomainResume(handle.get()) < 0) return failure_from(context, "resume");
    return env::OperationResult::success();
  }
  if (virDomainCreate(handle.get()) < 0) {
    LibvirtError error = last_error();
    if (error.code == VIR_ERR_OPERATION_INVALID && domain_active(handle.get())) {
      return env::OperationResult::success();  // started meanwhile
    }
    return env::OperationResult::failure(context + "start: " + error.message, is_permanent(error.code));
  }
  return env::OperationResult::success();
}

env::OperationResult stop_blocking(HostLink& link, const std::string& domain, bool graceful,
                                   double shutdown_timeout_s) {
  ConnectionRef connection(link.acquire());
  if (!connection) return link.not_connected();
  const std::string context = domain_context(link.name, domain);
  DomainRef handle(virDomainLookupByName(connection.get(), domain.c_str()));
  if (!handle) {
    LibvirtError error = last_error();
    if (error.code == VIR_ERR_NO_DOMAIN) return env::OperationResult::success();  // absent: stopped
    return env::OperationResult::failure(context + "lookup: " + error.message, is_permanent(error.code));
  }
  int active = virDomainIsActive(handle.get());
  if (active < 0) return failure_from(context, "read state");
  if (active == 0) return env::OperationResult::success();
  link.expect_stop(domain);
  int rc = graceful ? virDomainShutdown(handle.get()) : virDomainDestroy(handle.get());
  if (rc < 0) {
    LibvirtError error = last_error();
    bool stopped_meanwhile = error.code == VIR_ERR_OPERATION_INVALID && virDomainIsActive(handle.get()) == 0;
    link.settle_expected_stop(domain, stopped_meanwhile);
    if (stopped_meanwhile) return env::OperationResult::success();
    return env::OperationResult::failure(context + (graceful ? "shutdown: " : "destroy: ") + error.message,
                                         is_permanent(error.code));
  }
  if (!graceful) {
    link.settle_expected_stop(domain, true);
    return env::OperationResult::success();
  }
  auto deadline = Clock::now() + std::chrono::duration<double>(shutdown_timeout_s);
  while (true) {
    active = virDomainIsActive(handle.get());
    if (active == 0) {
      link.settle_expected_stop(domain, true);
      return env::OperationResult::success();
    }
    if (active < 0) {
      link.settle_expected_stop(domain, false);
      return failure_from(context, "read state after shutdown");
    }
    if (Clock::now() >= deadline || link.stop_requested()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  link.settle_expected_stop(domain, false);
  return env::OperationResult::failure(
      fmt::format("{}still running {:.0f} s after the shutdown request", context, shutdown_timeout_s));
}

struct MigrationRequest {
  std::string domain;
  std::string migration_uri;
  std::string peer_uri;  // peer-to-peer only
  bool peer_to_peer = false;
  std::uint64_t bandwidth_mib_s = 0;
};

// 1: the domain runs on `connection`, 0: it does not, -1: cannot tell.
int runs_on(virConnectPtr connection, const std::string& domain) {
  if (connection == nullptr) return -1;
  DomainRef handle(virDomainLookupByName(connection, domain.c_str()));
  if (!handle) return last_error().code == VIR_ERR_NO_DOMAIN ? 0 : -1;
  return virDomainIsActive(handle.get());
}

env::OperationResult migrate_blocking(HostLink& source, const HostLink& target,
                                      const MigrationRequest& request) {
  ConnectionRef source_connection(source.acquire());
  ConnectionRef target_connection(target.acquire());
  if (!source_connection) return source.not_connected();
  if (!target_connection && !request.peer_to_peer) return target.not_connected();
  const std::string context = domain_context(source.name, request.domain);
  const std::string action = "migrate to host " + target.name;
  DomainRef handle(virDomainLookupByName(source_connection.get(), request.domain.c_str()));
  if (!handle || !domain_active(handle.get())) {
    if (!handle && last_error().code != VIR_ERR_NO_DOMAIN) return failure_from(context, "lookup");
    if (runs_on(target_connection.get(), request.domain) == 1) return env::OperationResult::success();
    return env::OperationResult::failure(context + action + ": not running on the source nor on the target",
                                         true);
  }
  virTypedParameterPtr parameters = nullptr;
  int count = 0, capacity = 0;
  virTypedParamsAddString(&parameters, &count, &capacity, VIR_MIGRATE_PARAM_URI,
                          request.migration_uri.c_str());
  if (request.bandwidth_mib_s > 0) {
    virTypedParamsAddULLong(&parameters, &count, &capacity, VIR_MIGRATE_PARAM_BANDWIDTH,
                            request.bandwidth_mib_s);
  }
  unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
  if (request.peer_to_peer) flags |= VIR_MIGRATE_PEER2PEER;
  source.expect_stop(request.domain);
  bool migrated = false;
  if (request.peer_to_peer) {
    migrated = virDomainMigrateToURI3(handle.get(), request.peer_uri.c_str(), parameters, count, flags) == 0;
  } else {
    DomainRef moved(virDomainMigrate3(handle.get(), target_connection.get(), parameters, count, flags));
    migrated = static_cast<bool>(moved);
  }
  env::OperationResult result = migrated ? env::OperationResult::success() : failure_from(context, action);
  virTypedParamsFree(parameters, count);
  source.settle_expected_stop(request.domain, migrated);
  if (!migrated && runs_on(target_connection.get(), request.domain) == 1 &&
      runs_on(source_connection.get(), request.domain) == 0) {
    return env::OperationResult::success();  // it did move (an answer lost on the way)
  }
  return result;
}

Answer<MigrationProgress> progress_blocking(const HostLink& link, const std::string& domain) {
  Answer<MigrationProgress> answer;
  ConnectionRef connection(link.acquire());
  if (!connection) return {link.not_connected(), {}};
  const std::string context = domain_context(link.name, domain);
  DomainRef handle(virDomainLookupByName(connection.get(), domain.c_str()));
  if (!handle) return {failure_from(context, "lookup"), {}};
  virDomainJobInfo info{};
  if (virDomainGetJobInfo(handle.get(), &info) < 0) return {failure_from(context, "job info"), {}};
  auto& progress = answer.payload;
  progress.active = info.type != VIR_DOMAIN_JOB_NONE;
  progress.elapsed_s = static_cast<double>(info.timeElapsed) / 1000.0;
  progress.data_total_bytes = info.dataTotal;
  progress.data_processed_bytes = info.dataProcessed;
  progress.data_remaining_bytes = info.dataRemaining;
  progress.memory_total_bytes = info.memTotal;
  progress.memory_processed_bytes = info.memProcessed;
  progress.memory_remaining_bytes = info.memRemaining;
  return answer;
}

// Whether libvirt runs a job on `domain` of `link`'s host now (a start, a stop, a migration).
Answer<bool> job_running_blocking(const HostLink& link, const std::string& domain) {
  ConnectionRef connection(link.acquire());
  if (!connection) return {link.not_connected(), false};
  const std::string context = domain_context(link.name, domain);
  DomainRef handle(virDomainLookupByName(connection.get(), domain.c_str()));
  if (!handle) {
    if (last_error().code == VIR_ERR_NO_DOMAIN) return {env::OperationResult::success(), false};
    return {failure_from(context, "lookup"), false};
  }
  virDomainControlInfo control{};
  if (virDomainGetControlInfo(handle.get(), &control, 0) < 0)
    return {failure_from(context, "control info"), false};
  if (control.state != VIR_DOMAIN_CONTROL_OK) return {env::OperationResult::success(), true};
  virDomainJobInfo job{};
  if (virDomainGetJobInfo(handle.get(), &job) < 0) return {failure_from(context, "job info"), false};
  return {env::OperationResult::success(), job.type != VIR_DOMAIN_JOB_NONE};
}

Answer<std::vector<std::string>> list_running_blocking(const HostLink& link) {
  ConnectionRef connection(link.acquire());
  if (!connection) return {link.not_connected(), {}};
  virDomainPtr* domains = nullptr;
  int count = virConnectListAllDomains(connection.get(), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (count < 0) return {failure_from("host " + link.name + ": ", "list domains"), {}};
  Answer<std::vector<std::string>> answer;
  for (int i = 0; i < count; ++i) {
    if (const char* name = virDomainGetName(domains[i])) answer.payload.emplace_back(name);
    virDomainFree(domains[i]);
  }
  std::free(domains);  // NOLINT: libvirt's contract
  return answer;
}

Answer<HostDiscovery> discover_blocking(const HostLink& link) {
  ConnectionRef connection(link.acquire());
  if (!connection) return {link.not_connected(), {}};
  const std::string host_context = "host " + link.name + ": ";
  Answer<HostDiscovery> answer;
  virDomainPtr* domains = nullptr;
  int count = virConnectListAllDomains(connection.get(), &domains, 0);
  if (count < 0) return {failure_from(host_context, "list domains"), {}};
  for (int i = 0; i < count; ++i) {
    DomainRef handle(domains[i]);
    const char* name = virDomainGetName(handle.get());
    const std::string context = domain_context(link.name, name != nullptr ? name : "?");
    DiscoveredDomain found;
    // Inactive: the persistent definition, what another host must define. Never VIR_DOMAIN_XML_SECURE.
    found.xml = take_string(virDomainGetXMLDesc(handle.get(), VIR_DOMAIN_XML_INACTIVE));
    if (found.xml.empty()) {
      if (last_error().code == VIR_ERR_NO_DOMAIN) continue;  // undefined meanwhile
      answer.result = failure_from(context, "read definition");
      continue;
    }
    std::string error;
    auto definition = parse_domain_xml(found.xml, &error);
    if (!definition) {
      answer.result = env::OperationResult::failure(context + error);
      continue;
    }
    found.definition = std::move(*definition);
    found.running = domain_active(handle.get());
    found.persistent = virDomainIsPersistent(handle.get()) == 1;
    answer.payload.domains.push_back(std::move(found));
  }
  std::free(domains);  // NOLINT: libvirt's contract
  virNetworkPtr* networks = nullptr;
  count = virConnectListAllNetworks(connection.get(), &networks, 0);
  if (count < 0) {
    LibvirtError error = last_error();
    if (error.code != VIR_ERR_NO_SUPPORT) {
      answer.result = env::OperationResult::failure(host_context + "list networks: " + error.message);
    }
    count = 0;
  }
  for (int i = 0; i < count; ++i) {
    NetworkRef handle(networks[i]);
    DiscoveredNetwork found;
    if (const char* name = virNetworkGetName(handle.get())) found.name = name;
    found.active = virNetworkIsActive(handle.get()) == 1;
    found.xml = take_string(virNetworkGetXMLDesc(handle.get(), VIR_NETWORK_XML_INACTIVE));
    if (found.xml.empty()) found.xml = take_string(virNetworkGetXMLDesc(handle.get(), 0));  // test driver
    answer.payload.networks.push_back(std::move(found));
  }
  std::free(networks);  // NOLINT: libvirt's contract
  return answer;
}

env::OperationResult configure_networks_blocking(const HostLink& link, const std::string& domain,
                                                 const std::string& domain_xml,
                                                 const std::unordered_map<std::string, std::string>& known) {
  ConnectionRef connection(link.acquire());
  if (!connection) return link.not_connected();
  std::string xml = domain_xml;
  if (xml.empty()) {
    DomainRef handle(virDomainLookupByName(connection.get(), domain.c_str()));
    if (handle) xml = take_string(virDomainGetXMLDesc(handle.get(), VIR_DOMAIN_XML_INACTIVE));
  }
  const std::string context = domain_context(link.name, domain);
  if (xml.empty()) {
    return env::OperationResult::failure(context + "no definition known: cannot tell which networks it uses",
                                         true);
  }
  std::string error;
  auto definition = parse_domain_xml(xml, &error);
  if (!definition) return env::OperationResult::failure(context + error, true);
  for (const std::string& network : definition->network_names()) {
    const std::string network_context = "host " + link.name + ": network " + network + ": ";
    NetworkRef handle(virNetworkLookupByName(connection.get(), network.c_str()));
    if (!handle) {
      LibvirtError lookup_error = last_error();
      if (lookup_error.code != VIR_ERR_NO_NETWORK) {
        return env::OperationResult::failure(network_context + "lookup: " + lookup_error.message,
                                             is_permanent(lookup_error.code));
      }
      auto definition_xml = known.find(network);
      if (definition_xml == known.end()) {
        return env::OperationResult::failure(
            network_context +
                "not defined on this host and no definition is known (discover a host that has it)",
            true);
      }
      handle.reset(virNetworkDefineXML(connection.get(), definition_xml->second.c_str()));
      if (!handle) {
        if (last_error().code != VIR_ERR_NETWORK_EXIST) return failure_from(network_context, "define");
        handle.reset(virNetworkLookupByName(connection.get(), network.c_str()));  // defined meanwhile
        if (!handle) return failure_from(network_context, "lookup");
      }
    }
    if (virNetworkIsActive(handle.get()) == 1) continue;
    if (virNetworkCreate(handle.get()) < 0) {
      if (last_error().code == VIR_ERR_OPERATION_INVALID && virNetworkIsActive(handle.get()) == 1) continue;
      return failure_from(network_context, "start");
    }
  }
  return env::OperationResult::success();
}

}  // namespace

// ----------------------------------------------------------------------------------------- the driver

LibvirtHypervisor::LibvirtHypervisor(env::EventLoop& loop, const model::Cloud& cloud,
                                     std::vector<std::string> uris, LibvirtOptions options)
    : loop_(loop),
      cloud_(cloud),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>(loop, cloud)) {
  ensure_libvirt_event_loop();
  for (model::HostIndex host = 0; host < cloud.hosts.size(); ++host) {
    auto link = std::make_shared<HostLink>();
    link->index = host;
    link->name = cloud.hosts[host].name;
    link->uri = host < uris.size() && !uris[host].empty() ? uris[host] : cloud.hosts[host].uri;
    link->options = options_;
    link->shared = shared_;
    link->disconnect_reason = link->uri.empty() ? "no libvirt URI configured" : "connecting";
    hosts_.push_back(link);
  }
  for (auto& link : hosts_) {
    if (!link->uri.empty()) link->supervisor = std::thread([raw = link.get()] { raw->supervise(); });
  }
}

LibvirtHypervisor::~LibvirtHypervisor() {
  shared_->alive = false;
  shared_->stop_posting();
  for (auto& link : hosts_) {
    std::lock_guard lock(link->mutex);
    link->stopping = true;
    link->wake.notify_all();
  }
  for (auto& link : hosts_) {
    if (link->supervisor.joinable()) link->supervisor.join();
  }
  workers_.join_all();
}

bool LibvirtHypervisor::connected(model::HostIndex host) const {
  if (host >= hosts_.size()) return false;
  std::lock_guard lock(hosts_[host]->mutex);
  return hosts_[host]->connection != nullptr;
}

const std::string& LibvirtHypervisor::uri(model::HostIndex host) const {
  static const std::string none;
  return host < hosts_.size() ? hosts_[host]->uri : none;
}

void LibvirtHypervisor::subscribe(std::function<void(const env::HypervisorEvent&)> handler) {
  shared_->handlers.push_back(std::move(handler));
}

void LibvirtHypervisor::remember_domain_xml(const std::string& domain_name, std::string xml) {
  shared_->domain_xml[domain_name] = std::move(xml);
}

void LibvirtHypervisor::remember_network_xml(const std::string& network_name, std::string xml) {
  shared_->network_xml[network_name] = std::move(xml);
}

template <typename Payload, typename Work, typename Deliver>
void LibvirtHypervisor::run_call(model::HostIndex, double timeout_s, std::string what, Work work,
                                 Deliver deliver) {
  struct CallState {
    bool answered = false;
    env::TimerId timer = 0;
  };
  auto state = std::make_shared<CallState>();
  auto receiver = std::make_shared<Deliver>(std::move(deliver));
  auto shared = shared_;
  std::string message = fmt::format("{}: no answer within {:.0f} s", what, timeout_s);
  state->timer = loop_.schedule_after(timeout_s, [shared, state, receiver, message] {
    if (!shared->alive || state->answered) return;
    state->answered = true;
    (*receiver)(env::OperationResult::failure(message), Payload{});
  });
  workers_.run([shared, state, receiver, work] {
    Answer<Payload> answer = work();
    shared->post([shared, state, receiver, answer] {
      if (!shared->alive || state->answered) return;
      state->answered = true;
      shared->loop.cancel(state->timer);
      (*receiver)(answer.result, answer.payload);
    });
  });
}

namespace {
template <typename Done>
void fail_soon(env::EventLoop& loop, Done done, std::string message) {
  loop.post([done, message] { done(env::OperationResult::failure(message, true)); });
}
}  // namespace

void LibvirtHypervisor::start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) {
  if (host >= hosts_.size() || vm >= cloud_.vms.size())
    return fail_soon(loop_, done, "start: no such host or VM");
  std::string domain = cloud_.vms[vm].name;
  auto known = shared_->domain_xml.find(domain);
  std::string xml = known == shared_->domain_xml.end() ? std::string() : known->second;
  auto link = hosts_[host];
  std::string initiator = cloud_.hosts[host].initiator;
  run_call<Nothing>(
      host, options_.call_timeout_s, domain_context(link->name, domain) + "start",
      [link, domain, xml, initiator] {
        return Answer<Nothing>{start_blocking(*link, domain, xml, initiator), {}};
      },
      [done](const env::OperationResult& result, Nothing) { done(result); });
}

void LibvirtHypervisor::stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful,
                                env::Completion done) {
  if (host >= hosts_.size() || vm >= cloud_.vms.size())
    return fail_soon(loop_, done, "stop: no such host or VM");
  std::string domain = cloud_.vms[vm].name;
  auto link = hosts_[host];
  double shutdown_timeout_s = options_.shutdown_timeout_s;
  double timeout_s = options_.call_timeout_s + (graceful ? shutdown_timeout_s : 0.0);
  run_call<Nothing>(
      host, timeout_s, domain_context(link->name, domain) + (graceful ? "shutdown" : "destroy"),
      [link, domain, graceful, shutdown_timeout_s] {
        return Answer<Nothing>{stop_blocking(*link, domain, graceful, shutdown_timeout_s), {}};
      },
      [done](const env::OperationResult& result, Nothing) { done(result); });
}

void LibvirtHypervisor::migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                                   env::Completion done) {
  if (from >= hosts_.size() || to >= hosts_.size() || vm >= cloud_.vms.size()) {
    return fail_soon(loop_, done, "migrate: no such host or VM");
  }
  MigrationRequest request;
  request.domain = cloud_.vms[vm].name;
  request.peer_to_peer = options_.peer_to_peer;
  request.bandwidth_mib_s = options_.migration_bandwidth_mib_s;
  request.migration_uri = to < options_.migration_uris.size() && !options_.migration_uris[to].empty()
                              ? options_.migration_uris[to]
                              : default_migration_uri(hosts_[to]->uri);
  request.peer_uri = to < options_.peer_uris.size() && !options_.peer_uris[to].empty()
                         ? options_.peer_uris[to]
                         : hosts_[to]->uri;
  auto source = hosts_[from];
  auto target = hosts_[to];
  shared_->migrating_from[vm] = from;
  auto shared = shared_;
  run_call<Nothing>(
      from, options_.migrate_timeout_s,
      domain_context(source->name, request.domain) + "migrate to host " + target->name,
      [source, target, request] {
        return Answer<Nothing>{migrate_blocking(*source, *target, request), {}};
      },
      [done, shared, vm, from](const env::OperationResult& result, Nothing) {
        auto found = shared->migrating_from.find(vm);
        if (found != shared->migrating_from.end() && found->second == from)
          shared->migrating_from.erase(found);
        done(result);
      });
}

void LibvirtHypervisor::migration_progress(
    model::VmIndex vm, std::function<void(const env::OperationResult&, MigrationProgress)> done) {
  auto found = shared_->migrating_from.find(vm);
  if (found == shared_->migrating_from.end() || vm >= cloud_.vms.size()) {
    loop_.post([done] { done(env::OperationResult::success(), MigrationProgress{}); });
    return;
  }
  auto link = hosts_[found->second];
  std::string domain = cloud_.vms[vm].name;
  run_call<MigrationProgress>(
      found->second, options_.call_timeout_s, domain_context(link->name, domain) + "job info",
      [link, domain] { return progress_blocking(*link, domain); },
      [done](const env::OperationResult& result, MigrationProgress progress) { done(result, progress); });
}

void LibvirtHypervisor::in_progress(const env::Call& call, std::function<void(bool)> done) {
  bool vm_call = call.kind == env::StepKind::vm_start || call.kind == env::StepKind::vm_stop ||
                 call.kind == env::StepKind::migrate;
  auto host = call.kind == env::StepKind::migrate ? call.from : call.host;
  if (!vm_call || call.vm >= cloud_.vms.size() || host >= hosts_.size()) {
    loop_.post([done] { done(false); });
    return;
  }
  auto link = hosts_[host];
  std::string domain = cloud_.vms[call.vm].name;
  run_call<bool>(
      host, options_.call_timeout_s, domain_context(link->name, domain) + "jobs in progress",
      [link, domain] { return job_running_blocking(*link, domain); },
      [done](const env::OperationResult& result, bool running) { done(result.ok && running); });
}

void LibvirtHypervisor::list_running(
    model::HostIndex host,
    std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) {
  if (host >= hosts_.size()) {
    loop_.post([done] { done(env::OperationResult::failure("list: no such host", true), {}); });
    return;
  }
  auto link = hosts_[host];
  auto shared = shared_;
  run_call<std::vector<std::string>>(
      host, options_.call_timeout_s, "host " + link->name + ": list domains",
      [link] { return list_running_blocking(*link); },
      [done, shared](const env::OperationResult& result, std::vector<std::string> names) {
        std::vector<model::VmIndex> vms;
        for (const auto& name : names) {
          if (auto vm = shared->cloud.find_vm(name); vm != model::kNoIndex) vms.push_back(vm);
        }
        std::sort(vms.begin(), vms.end());
        done(result, std::move(vms));
      });
}

void LibvirtHypervisor::discover(model::HostIndex host,
                                 std::function<void(const env::OperationResult&, HostDiscovery)> done) {
  if (host >= hosts_.size()) {
    loop_.post([done] { done(env::OperationResult::failure("discover: no such host", true), {}); });
    return;
  }
  auto link = hosts_[host];
  auto shared = shared_;
  run_call<HostDiscovery>(
      host, options_.call_timeout_s, "host " + link->name + ": discovery",
      [link] { return discover_blocking(*link); },
      [done, shared](const env::OperationResult& result, HostDiscovery found) {
        for (const auto& domain : found.domains) shared->domain_xml[domain.definition.name] = domain.xml;
        for (const auto& network : found.networks) {
          if (!network.xml.empty()) shared->network_xml[network.name] = network.xml;
        }
        done(result, std::move(found));
      });
}

void LibvirtHypervisor::configure_vm_networks(model::SwitchIndex, model::HostIndex host, model::VmIndex vm,
                                              env::Completion done) {
  if (host >= hosts_.size() || vm >= cloud_.vms.size()) {
    return fail_soon(loop_, done, "network configuration: no such host or VM");
  }
  std::string domain = cloud_.vms[vm].name;
  auto known = shared_->domain_xml.find(domain);
  std::string xml = known == shared_->domain_xml.end() ? std::string() : known->second;
  auto networks = shared_->network_xml;
  auto link = hosts_[host];
  run_call<Nothing>(
      host, options_.call_timeout_s, domain_context(link->name, domain) + "network configuration",
      [link, domain, xml, networks] {
        return Answer<Nothing>{configure_networks_blocking(*link, domain, xml, networks), {}};
      },
      [done](const env::OperationResult& result, Nothing) { done(result); });
}

}  // namespace revive::drivers
