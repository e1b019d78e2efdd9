// TgtAdmin: a blocking client of one tgtd (Debian's userspace iSCSI target) through `tgtadm`, doing LUN
// masking by initiator name: one target per disk, whose ACL lists the initiator names (IQNs) of the hosts
// that may open it.
//
// map(target, iqn):   `--op bind --initiator-name IQN` ("rule exists" is success), then the ACL is read back:
//                     the same bind again must be refused with "this access control rule already exists"
//                     (tgtd looked IQN up in that target's ACL and found it).
// unmap(target, iqn): `--op unbind` ("rule does not exist" is success), read back the same way (a second
//                     unbind must be refused with "does not exist"), then every connection of IQN to the
//                     target is deleted (`--op show --mode conn --tid T`, `--op delete --mode conn --sid
//                     --cid`) until the connection listing shows none of IQN's. An ACL holding an address
//                     rule (ALL, 127.0.0.1, a subnet) admits every initiator from there, so unmap fails
//                     (permanently): access could not be revoked by name.
// Why not `--op show --mode target` after every operation: it lists every target with its LUNs (about 1 MB
// for 1,000 targets, ≈ 14 ms of tgtd's one thread), so reading it per operation would serialise the array.
// It is read when a target is first looked up, when a name is missing and at most every listing_max_age_s:
// the listing maps target names to tids and shows the address rules unmap refuses.
//
// tgtadm runs as `tgtadm -C N --lld iscsi ...` with TGT_IPC_SOCKET=BASE in its environment, for a control
// socket given as BASE.N (tgtd's own naming: `tgtd -C N` with the same variable listens on BASE.N). Every
// call has a time limit (a hung tgtd never blocks a caller longer). Failures are classified:
//   permanent: no such target (a bad target name, or the disk is not on this array), an address rule in
//              the ACL, tgtadm missing, any other refusal by tgtd;
//   transient: no control socket (tgtd not running), tgtd not answering on it (dead), a call timing out
//              (hung), a session that does not end in time.
// Thread-safety: every member may be called from any thread at once (tgtd serialises the operations; the
// tid cache has its own mutex). Nothing here runs on an EventLoop.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/cloud.h"

namespace revive::drivers {

struct TgtOptions {
  std::string tgtadm = "tgtadm";
  double call_timeout_s = 5.0;         // one tgtadm call
  double session_end_timeout_s = 2.0;  // unmap: for the unmapped initiator's sessions to be gone
  double listing_max_age_s = 10.0;     // the target listing (names -> tids, ACLs) is read again after this
};

// The outcome of one blocking operation.
struct TgtAnswer {
  bool ok = false;
  bool permanent = false;
  std::string error;
  int calls = 0;  // tgtadm runs it took
  static TgtAnswer success(int calls) { return {true, false, {}, calls}; }
  static TgtAnswer failure(std::string message, bool permanent, int calls = 0) {
    return {false, permanent, std::move(message), calls};
  }
};

// One target as `tgtadm --op show --mode target` lists it.
struct TgtTarget {
  int tid = 0;
  std::string name;
  std::vector<std::string> acl;       // ACL information: initiator names and address rules, in order
  std::vector<std::string> sessions;  // I_T nexus initiators
  std::vector<std::string> backing;   // backing store paths of the LUNs (LUN 0, the controller, excluded)
};

// One connection as `tgtadm --op show --mode conn --tid T` lists it.
struct TgtConnection {
  int sid = 0;
  int cid = 0;
  std::string initiator;
};

std::vector<TgtTarget> parse_tgt_targets(const std::string& show_output);
std::vector<TgtConnection> parse_tgt_connections(const std::string& show_output);

class TgtAdmin {
 public:
  // `control_socket`: BASE.N, as tgtd was started (-C N, TGT_IPC_SOCKET=BASE). An invalid one makes every
  // call fail permanently (valid_control_socket tells beforehand).
  explicit TgtAdmin(std::string control_socket, TgtOptions options = {});

  const std::string& control_socket() const { return control_socket_; }
  static bool valid_control_socket(const std::string& control_socket);

  TgtAnswer map(const std::string& target, const std::string& iqn);
  TgtAnswer unmap(const std::string& target, const std::string& iqn);

  // Every target, or nullopt with `answer` set.
  std::optional<std::vector<TgtTarget>> targets(TgtAnswer& answer);

  // Administration, for the lab, tests and benchmarks (an array's own tools do this in real life):
  // a target with LUN 1 on `backing_file` and an empty ACL; removal with --force (sessions dropped).
  TgtAnswer create_target(int tid, const std::string& name, const std::string& backing_file);
  TgtAnswer delete_target(int tid);
  // `--op delete --mode system`: tgtd exits (it ignores SIGTERM); only once no target is left.
  TgtAnswer shutdown();

  // One tgtadm call with `arguments` after `-C N --lld iscsi`; the answer's error is tgtd's message.
  struct Call {
    bool ok = false;
    bool timed_out = false;
    bool unreachable = false;  // no socket, or nobody answering on it
    int exit_status = -1;
    std::string out;
    std::string message;  // stderr without the "tgtadm: " prefix, or why it did not run
  };
  Call call(const std::vector<std::string>& arguments) const;

 private:
  std::optional<TgtTarget> find_target(const std::string& target, bool refresh, TgtAnswer& answer);
  TgtAnswer failure_of(const Call& call, const std::string& action, int calls) const;

  std::string control_socket_;
  std::string socket_base_;
  std::string control_number_;
  TgtOptions options_;
  std::mutex mutex_;
  std::map<std::string, TgtTarget> listing_;  // by name, as last listed
  bool listed_ = false;
  std::chrono::steady_clock::time_point listed_at_;
};

}  // namespace revive::drivers
