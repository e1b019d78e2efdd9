// What Revive reads from a libvirt domain definition (the XML of virDomainGetXMLDesc): name, uuid, vCPUs,
// memory, disks, networks. Pure functions over text, parsed with libxml2; no libvirt connection needed.
// Thread-safe (libxml2 parsing of independent documents).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace revive::drivers {

struct DomainDisk {
  enum class Kind { file, block, network, volume, other };
  Kind kind = Kind::other;
  std::string target_device;  // <target dev='vda'/>
  // file/block: the path; network: the protocol's name (iSCSI: "IQN/LUN"); volume: "POOL/VOLUME".
  std::string source;
  std::string protocol;  // network disks: "iscsi", "rbd", "nbd"...; empty otherwise
  bool read_only = false;
  bool cdrom = false;  // <disk device='cdrom'>
};

struct DomainInterface {
  std::string network;  // <interface type='network'><source network='NAME'/>; empty for other types
  std::string bridge;   // <interface type='bridge'><source bridge='NAME'/>; empty for other types
  std::string mac;
};

struct DomainDefinition {
  std::string name;
  std::string uuid;
  std::uint32_t vcpus = 0;
  std::uint64_t memory_mib = 0;  // <memory>, converted from its unit (KiB by default), rounded down
  std::vector<DomainDisk> disks;
  std::vector<DomainInterface> interfaces;

  // The libvirt networks the interfaces use, sorted, without duplicates.
  std::vector<std::string> network_names() const;
  // The host bridges the interfaces use, sorted, without duplicates.
  std::vector<std::string> bridge_names() const;
};

// Parses a domain XML; nullopt (and `error` set, when given) if it is not well-formed or has no <name>.
std::optional<DomainDefinition> parse_domain_xml(const std::string& xml, std::string* error = nullptr);

// The domain XML with the initiator name of every iSCSI network disk (<disk type='network'><source
// protocol='iscsi'>) set to `initiator` (<initiator><iqn name='...'/></initiator>, added where missing): a
// guest defined on a host logs in to its disks with that host's name, which the array's ACL admits or not.
// The text unchanged when `initiator` is empty or nothing changes; nullopt if it does not parse.
std::optional<std::string> with_iscsi_initiator(const std::string& xml, const std::string& initiator);

// The <name> of a libvirt network XML; empty if there is none or it does not parse.
std::string network_xml_name(const std::string& xml);

}  // namespace revive::drivers
