#include "lab/libvirt_daemons.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

namespace revive::lab {

namespace {

void quiet(void*, virErrorPtr) {}

void silence_libvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, quiet);
    ::signal(SIGPIPE, SIG_IGN);  // writes to a killed daemon's socket
  });
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// True when a unix stream socket at `path` accepts a connection.
bool socket_accepts(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string text = path.string();
  if (text.size() >= sizeof address.sun_path) {
    ::close(fd);
    return false;
  }
  text.copy(address.sun_path, text.size());
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

std::string tail(const std::string& text, std::size_t characters = 2000) {
  return text.size() <= characters ? text : text.substr(text.size() - characters);
}

void chown_tree(const std::filesystem::path& root, uid_t uid) {
  ::chown(root.c_str(), uid, uid);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    ::lchown(entry.path().c_str(), uid, uid);
  }
}

}  // namespace

// --------------------------------------------------------------------------------------- test driver

TestDriverDaemon::TestDriverDaemon(std::filesystem::path directory, std::string node_xml)
    : directory_(std::move(directory)), node_xml_(std::move(node_xml)) {
  silence_libvirt();
  std::filesystem::create_directories(directory_);
  std::filesystem::create_directories(directory_ / "empty-driver-dir");
  const std::string dir = directory_.string();
  write_file(directory_ / "libvirtd.conf", "unix_sock_dir = \"" + dir +
                                               "\"\n"
                                               "unix_sock_rw_perms = \"0770\"\n"
                                               "auth_unix_rw = \"none\"\n"
                                               "auth_unix_ro = \"none\"\n"
                                               "log_outputs = \"3:file:" +
                                               dir + "/libvirtd.log\"\n");
  if (!node_xml_.empty()) write_file(directory_ / "node.xml", node_xml_);
}

TestDriverDaemon::~TestDriverDaemon() {
  kill();
}

std::string TestDriverDaemon::uri() const {
  std::string driver_path = node_xml_.empty() ? "/default" : (directory_ / "node.xml").string();
  return "test+unix://" + driver_path + "?socket=" + (directory_ / "libvirt-sock").string();
}

bool TestDriverDaemon::start(double timeout_s, std::string* error) {
  kill();
  std::filesystem::remove(directory_ / "libvirt-sock");
  process_ = BackgroundProcess({"libvirtd", "-f", (directory_ / "libvirtd.conf").string(), "-p",
                                (directory_ / "libvirtd.pid").string()},
                               directory_ / "libvirtd.out",
                               {"LIBVIRT_DRIVER_DIR=" + (directory_ / "empty-driver-dir").string()});
  bool up = eventually([&] { return !process_.running() || socket_accepts(directory_ / "libvirt-sock"); },
                       timeout_s) &&
            process_.running();
  if (up) {
    keeper_ = virConnectOpen(uri().c_str());
    up = keeper_ != nullptr;
  }
  if (!up) {
    if (error != nullptr) *error = "libvirtd did not come up: " + tail(log());
    kill();
  }
  return up;
}

void TestDriverDaemon::close_keeper() {
  if (keeper_ != nullptr) virConnectClose(keeper_);
  keeper_ = nullptr;
}

void TestDriverDaemon::kill() {
  close_keeper();
  if (process_.pid() > 0) {
    process_.signal(SIGCONT);  // a paused daemon is killed all the same; let it see the signal at once
    process_.stop();
  }
}

void TestDriverDaemon::pause() {
  process_.signal(SIGSTOP);
}

void TestDriverDaemon::resume() {
  process_.signal(SIGCONT);
}

bool TestDriverDaemon::running() {
  return process_.running();
}

std::string TestDriverDaemon::log() const {
  return read_all(directory_ / "libvirtd.out") + read_all(directory_ / "libvirtd.log");
}

bool TestDriverDaemon::define_domain(const std::string& xml, bool start_it) {
  if (keeper_ == nullptr) return false;
  virDomainPtr domain = virDomainDefineXML(keeper_, xml.c_str());
  if (domain == nullptr) return false;
  bool ok = !start_it || virDomainCreate(domain) == 0;
  virDomainFree(domain);
  return ok;
}

bool TestDriverDaemon::define_network(const std::string& xml, bool start_it) {
  if (keeper_ == nullptr) return false;
  virNetworkPtr network = virNetworkDefineXML(keeper_, xml.c_str());
  if (network == nullptr) return false;
  bool ok = !start_it || virNetworkCreate(network) == 0;
  virNetworkFree(network);
  return ok;
}

std::string TestDriverDaemon::domain_state(const std::string& name) {
  if (keeper_ == nullptr) return "error";
  virDomainPtr domain = virDomainLookupByName(keeper_, name.c_str());
  if (domain == nullptr) {
    virErrorPtr error = virGetLastError();
    return error != nullptr && error->code == VIR_ERR_NO_DOMAIN ? "absent" : "error";
  }
  int state = 0, reason = 0;
  std::string text = "error";
  if (virDomainGetState(domain, &state, &reason, 0) == 0) {
    switch (state) {
      case VIR_DOMAIN_RUNNING:
        text = "running";
        break;
      case VIR_DOMAIN_PAUSED:
        text = "paused";
        break;
      case VIR_DOMAIN_SHUTOFF:
        text = "shut off";
        break;
      default:
        text = "other";
    }
  }
  virDomainFree(domain);
  return text;
}

bool TestDriverDaemon::network_active(const std::string& name) {
  if (keeper_ == nullptr) return false;
  virNetworkPtr network = virNetworkLookupByName(keeper_, name.c_str());
  if (network == nullptr) return false;
  bool active = virNetworkIsActive(network) == 1;
  virNetworkFree(network);
  return active;
}

bool TestDriverDaemon::destroy_domain(const std::string& name) {
  if (keeper_ == nullptr) return false;
  virDomainPtr domain = virDomainLookupByName(keeper_, name.c_str());
  if (domain == nullptr) return false;
  bool ok = virDomainDestroy(domain) == 0;
  virDomainFree(domain);
  return ok;
}

bool TestDriverDaemon::undefine_domain(const std::string& name) {
  if (keeper_ == nullptr) return false;
  virDomainPtr domain = virDomainLookupByName(keeper_, name.c_str());
  if (domain == nullptr) return false;
  bool ok = virDomainUndefine(domain) == 0;
  virDomainFree(domain);
  return ok;
}

std::vector<std::string> TestDriverDaemon::running_domains() {
  std::vector<std::string> names;
  if (keeper_ == nullptr) return names;
  virDomainPtr* domains = nullptr;
  int count = virConnectListAllDomains(keeper_, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  for (int i = 0; i < count; ++i) {
    if (const char* name = virDomainGetName(domains[i])) names.emplace_back(name);
    virDomainFree(domains[i]);
  }
  if (domains != nullptr) ::free(domains);
  std::sort(names.begin(), names.end());
  return names;
}

std::string test_domain_xml(const std::string& name, unsigned vcpus, unsigned memory_mib,
                            const std::vector<std::string>& disk_files,
                            const std::vector<std::string>& networks) {
  std::string xml = "<domain type='test'>\n  <name>" + name + "</name>\n  <memory unit='MiB'>" +
                    std::to_string(memory_mib) + "</memory>\n  <vcpu>" + std::to_string(vcpus) +
                    "</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n  <devices>\n";
  char device = 'a';
  for (const auto& file : disk_files) {
    xml += "    <disk type='file' device='disk'><source file='" + file + "'/><target dev='vd" +
           std::string(1, device++) + "' bus='virtio'/></disk>\n";
  }
  for (const auto& network : networks) {
    xml += "    <interface type='network'><source network='" + network + "'/></interface>\n";
  }
  xml += "  </devices>\n</domain>\n";
  return xml;
}

std::string test_network_xml(const std::string& name, const std::string& bridge) {
  return "<network><name>" + name + "</name><bridge name='" + bridge +
         "'/><forward mode='nat'/><ip address='192.168.150.1' netmask='255.255.255.0'/></network>\n";
}

// ------------------------------------------------------------------------------------ session daemon

SessionDaemon::SessionDaemon(std::filesystem::path directory, int migration_port_min, uid_t uid)
    : directory_(std::move(directory)), migration_port_min_(migration_port_min), uid_(uid) {
  for (const char* sub : {"run", "config/libvirt", "cache", "home"}) {
    std::filesystem::create_directories(directory_ / sub);
  }
  // A distinct host UUID per daemon (migration refuses a destination with the source's UUID).
  char uuid[37];
  std::snprintf(uuid, sizeof uuid, "%08x-1111-4222-8333-%012x", static_cast<unsigned>(migration_port_min_),
                static_cast<unsigned>(::getpid()));
  write_file(directory_ / "config/libvirt/libvirtd.conf", "host_uuid = \"" + std::string(uuid) + "\"\n");
  write_file(directory_ / "config/libvirt/qemu.conf",
             "migration_port_min = " + std::to_string(migration_port_min_) +
                 "\nmigration_port_max = " + std::to_string(migration_port_min_ + 50) + "\n");
  ::chmod((directory_ / "run").c_str(), 0700);
  chown_tree(directory_, uid_);
}

SessionDaemon::~SessionDaemon() {
  stop();
}

std::string SessionDaemon::uri() const {
  return "qemu+unix:///session?socket=" + (directory_ / "run/libvirt/libvirt-sock").string();
}

std::string SessionDaemon::log() const {
  return read_all(directory_ / "libvirtd.out");
}

bool SessionDaemon::start(double timeout_s, std::string* error) {
  stop();
  const std::string dir = directory_.string();
  process_ = BackgroundProcess(
      {"setpriv", "--reuid=" + std::to_string(uid_), "--regid=" + std::to_string(uid_), "--clear-groups",
       "env", "-i", "HOME=" + dir + "/home", "XDG_RUNTIME_DIR=" + dir + "/run",
       "XDG_CONFIG_HOME=" + dir + "/config", "XDG_CACHE_HOME=" + dir + "/cache",
       "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "libvirtd"},
      directory_ / "libvirtd.out");
  bool up =
      eventually(
          [&] { return !process_.running() || socket_accepts(directory_ / "run/libvirt/libvirt-sock"); },
          timeout_s) &&
      process_.running();
  if (!up) {
    if (error != nullptr) *error = "session libvirtd did not come up: " + tail(log());
    stop();
  }
  return up;
}

std::vector<int> SessionDaemon::processes_of_uid_under(const std::string& marker) const {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat info {};
    if (::stat(entry.path().c_str(), &info) != 0 || info.st_uid != uid_) continue;
    std::string text = read_all(entry.path() / "cmdline") + read_all(entry.path() / "environ");
    if (text.find(marker) != std::string::npos) found.push_back(std::stoi(name));
  }
  return found;
}

void SessionDaemon::stop() {
  if (process_.pid() > 0) process_.stop();
  // virtlogd and qemu were daemonised by libvirtd (reparented): find them by this daemon's directory in
  // their command line or environment, kill each by pid and wait until it is gone (or a zombie).
  for (int pid : processes_of_uid_under(directory_.string())) ::kill(pid, SIGKILL);
  eventually(
      [&] {
        for (int pid : processes_of_uid_under(directory_.string())) {
          if (process_alive(pid)) return false;
        }
        return true;
      },
      10.0);
}

void SessionDaemon::pause() {
  process_.signal(SIGSTOP);
}

void SessionDaemon::resume() {
  process_.signal(SIGCONT);
}

bool SessionDaemon::running() {
  return process_.running();
}

bool SessionDaemon::define_domain(const std::string& xml, bool start_it, std::string* error) {
  silence_libvirt();
  auto fail = [&](const std::string& what) {
    if (error != nullptr) {
      virErrorPtr last = virGetLastError();
      *error = what + ": " + (last != nullptr && last->message != nullptr ? last->message : "unknown error");
    }
    return false;
  };
  virConnectPtr connection = virConnectOpen(uri().c_str());
  if (connection == nullptr) return fail("cannot connect to " + uri());
  virDomainPtr domain = virDomainDefineXML(connection, xml.c_str());
  bool ok = domain != nullptr ? true : fail("define failed");
  if (ok && start_it && virDomainCreate(domain) != 0) ok = fail("start failed");
  if (domain != nullptr) virDomainFree(domain);
  virConnectClose(connection);
  return ok;
}

int SessionDaemon::qemu_pid(const std::string& name) const {
  std::ifstream in(directory_ / "run/libvirt/qemu/run" / (name + ".pid"));
  int pid = -1;
  if (!(in >> pid) || !process_alive(pid)) return -1;
  // The pid file may outlive its process (a killed qemu): check that the pid is still that guest's.
  std::string command_line = read_all("/proc/" + std::to_string(pid) + "/cmdline");
  return command_line.find("guest=" + name + ",") != std::string::npos ? pid : -1;
}

std::vector<std::string> SessionDaemon::running_guests() const {
  std::vector<std::string> names;
  std::error_code ignored;
  for (const auto& entry :
       std::filesystem::directory_iterator(directory_ / "run/libvirt/qemu/run", ignored)) {
    if (entry.path().extension() != ".pid") continue;
    std::string name = entry.path().stem().string();
    if (name != "driver" && qemu_pid(name) > 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string qemu_tiny_domain_xml(const std::string& name) {
  return "<domain type='qemu'>\n  <name>" + name +
         "</name>\n  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
         "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
         "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
         "    <controller type='usb' model='none'/>\n    <memballoon model='none'/>\n"
         "  </devices>\n</domain>\n";
}

std::string qemu_iscsi_domain_xml(const std::string& name, const std::string& portal,
                                  const std::string& target, const std::string& initiator) {
  auto colon = portal.rfind(':');
  return "<domain type='qemu'>\n  <name>" + name +
         "</name>\n  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
         "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
         "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
         "    <controller type='usb' model='none'/>\n    <memballoon model='none'/>\n"
         "    <controller type='scsi' model='virtio-scsi'/>\n"
         "    <disk type='network' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
         "      <source protocol='iscsi' name='" +
         target + "/1'>\n        <host name='" + portal.substr(0, colon) + "' port='" +
         portal.substr(colon + 1) + "'/>\n        <initiator><iqn name='" + initiator +
         "'/></initiator>\n      </source>\n      <target dev='sda' bus='scsi'/>\n    </disk>\n"
         "  </devices>\n</domain>\n";
}

}  // namespace revive::lab
