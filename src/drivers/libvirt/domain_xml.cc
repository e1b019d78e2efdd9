#include "drivers/libvirt/domain_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace revive::drivers {

namespace {

struct DocumentDeleter {
  void operator()(xmlDoc* document) const { xmlFreeDoc(document); }
};
using Document = std::unique_ptr<xmlDoc, DocumentDeleter>;

Document parse(const std::string& xml) {
  static std::once_flag initialised;
  std::call_once(initialised, [] { xmlInitParser(); });
  return Document(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

bool is(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

const xmlNode* child(const xmlNode* parent, const char* name) {
  if (parent == nullptr) return nullptr;
  for (const xmlNode* node = parent->children; node != nullptr; node = node->next) {
    if (is(node, name)) return node;
  }
  return nullptr;
}

std::vector<const xmlNode*> children(const xmlNode* parent, const char* name) {
  std::vector<const xmlNode*> found;
  if (parent == nullptr) return found;
  for (const xmlNode* node = parent->children; node != nullptr; node = node->next) {
    if (is(node, name)) found.push_back(node);
  }
  return found;
}

std::string attribute(const xmlNode* node, const char* name) {
  if (node == nullptr) return {};
  xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  if (value == nullptr) return {};
  std::string text(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return text;
}

std::string text_of(const xmlNode* node) {
  if (node == nullptr) return {};
  xmlChar* content = xmlNodeGetContent(node);
  if (content == nullptr) return {};
  std::string text(reinterpret_cast<const char*>(content));
  xmlFree(content);
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Bytes per unit of libvirt's memory units (https://libvirt.org/formatdomain.html#memory-allocation).
std::uint64_t unit_bytes(const std::string& unit) {
  if (unit.empty() || unit == "k" || unit == "KiB") return 1024ULL;
  if (unit == "b" || unit == "bytes") return 1ULL;
  if (unit == "KB") return 1000ULL;
  if (unit == "MB") return 1000ULL * 1000;
  if (unit == "M" || unit == "MiB") return 1024ULL * 1024;
  if (unit == "GB") return 1000ULL * 1000 * 1000;
  if (unit == "G" || unit == "GiB") return 1024ULL * 1024 * 1024;
  if (unit == "TB") return 1000ULL * 1000 * 1000 * 1000;
  if (unit == "T" || unit == "TiB") return 1024ULL * 1024 * 1024 * 1024;
  return 1024ULL;
}

DomainDisk parse_disk(const xmlNode* node) {
  DomainDisk disk;
  const std::string type = attribute(node, "type");
  disk.cdrom = attribute(node, "device") == "cdrom";
  disk.read_only = child(node, "readonly") != nullptr;
  disk.target_device = attribute(child(node, "target"), "dev");
  const xmlNode* source = child(node, "source");
  if (type == "file") {
    disk.kind = DomainDisk::Kind::file;
    disk.source = attribute(source, "file");
  } else if (type == "block") {
    disk.kind = DomainDisk::Kind::block;
    disk.source = attribute(source, "dev");
  } else if (type == "network") {
    disk.kind = DomainDisk::Kind::network;
    disk.protocol = attribute(source, "protocol");
    disk.source = attribute(source, "name");
  } else if (type == "volume") {
    disk.kind = DomainDisk::Kind::volume;
    disk.source = attribute(source, "pool") + "/" + attribute(source, "volume");
  }
  return disk;
}

std::vector<std::string> sorted_unique(std::vector<std::string> names) {
  names.erase(std::remove(names.begin(), names.end(), std::string()), names.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

std::vector<std::string> DomainDefinition::network_names() const {
  std::vector<std::string> names;
  for (const auto& interface : interfaces) names.push_back(interface.network);
  return sorted_unique(std::move(names));
}

std::vector<std::string> DomainDefinition::bridge_names() const {
  std::vector<std::string> names;
  for (const auto& interface : interfaces) names.push_back(interface.bridge);
  return sorted_unique(std::move(names));
}

std::optional<DomainDefinition> parse_domain_xml(const std::string& xml, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<DomainDefinition> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  Document document = parse(xml);
  if (!document) return fail("the domain XML is not well-formed");
  const xmlNode* root = xmlDocGetRootElement(document.get());
  if (root == nullptr || !is(root, "domain")) return fail("the XML has no <domain> root element");
  DomainDefinition definition;
  definition.name = text_of(child(root, "name"));
  if (definition.name.empty()) return fail("the domain XML has no <name>");
  definition.uuid = text_of(child(root, "uuid"));
  definition.vcpus =
      static_cast<std::uint32_t>(std::strtoul(text_of(child(root, "vcpu")).c_str(), nullptr, 10));
  if (const xmlNode* memory = child(root, "memory")) {
    std::uint64_t amount = std::strtoull(text_of(memory).c_str(), nullptr, 10);
    definition.memory_mib = amount * unit_bytes(attribute(memory, "unit")) / (1024ULL * 1024);
  }
  const xmlNode* devices = child(root, "devices");
  for (const xmlNode* disk : children(devices, "disk")) definition.disks.push_back(parse_disk(disk));
  for (const xmlNode* node : children(devices, "interface")) {
    DomainInterface interface;
    const std::string type = attribute(node, "type");
    const xmlNode* source = child(node, "source");
    if (type == "network") interface.network = attribute(source, "network");
    if (type == "bridge") interface.bridge = attribute(source, "bridge");
    interface.mac = attribute(child(node, "mac"), "address");
    definition.interfaces.push_back(std::move(interface));
  }
  return definition;
}

std::string network_xml_name(const std::string& xml) {
  Document document = parse(xml);
  if (!document) return {};
  const xmlNode* root = xmlDocGetRootElement(document.get());
  if (root == nullptr || !is(root, "network")) return {};
  return text_of(child(root, "name"));
}

std::optional<std::string> with_iscsi_initiator(const std::string& xml, const std::string& initiator) {
  Document document = parse(xml);
  if (!document) return std::nullopt;
  xmlNode* root = xmlDocGetRootElement(document.get());
  xmlNode* devices = root == nullptr ? nullptr : const_cast<xmlNode*>(child(root, "devices"));
  if (initiator.empty() || devices == nullptr) return xml;
  const auto* name = reinterpret_cast<const xmlChar*>("name");
  const auto* value = reinterpret_cast<const xmlChar*>(initiator.c_str());
  bool changed = false;
  for (const xmlNode* disk : children(devices, "disk")) {
    auto* source = const_cast<xmlNode*>(child(disk, "source"));
    if (attribute(disk, "type") != "network" || source == nullptr || attribute(source, "protocol") != "iscsi")
      continue;
    auto* element = const_cast<xmlNode*>(child(source, "initiator"));
    if (element == nullptr)
      element = xmlNewChild(source, nullptr, reinterpret_cast<const xmlChar*>("initiator"), nullptr);
    auto* iqn = const_cast<xmlNode*>(child(element, "iqn"));
    if (iqn == nullptr) iqn = xmlNewChild(element, nullptr, reinterpret_cast<const xmlChar*>("iqn"), nullptr);
    if (attribute(iqn, "name") == initiator) continue;
    xmlSetProp(iqn, name, value);
    changed = true;
  }
  if (!changed) return xml;
  xmlChar* text = nullptr;
  int size = 0;
  xmlDocDumpMemory(document.get(), &text, &size);
  if (text == nullptr) return std::nullopt;
  std::string result(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  xmlFree(text);
  return result;
}

}  // namespace revive::drivers
