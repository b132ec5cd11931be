// Tells whether a server's listening sockets still accept connections. gRPC (1.51) gives up a
// listener for good when accept() fails with EMFILE: the socket stays open, connections pile
// up in its accept queue and no one takes them, while the process looks alive. The watchdog
// finds this process's listening TCP sockets on a port and reports a listener stalled when its
// accept queue has held connections at every check for a while (a working listener empties it
// within milliseconds).
#ifndef KOPPEL_CORE_LISTENER_WATCHDOG_H_
#define KOPPEL_CORE_LISTENER_WATCHDOG_H_

#include <cstdint>

namespace koppel {

class ListenerWatchdog {
 public:
  // `checks`: how many consecutive checks must find connections waiting.
  ListenerWatchdog(int port, int checks) : port_(port), checks_(checks) {}

  // Looks at the accept queues once; true when the listener counts as stalled.
  bool Check();

  // Connections waiting in the accept queues at the last check.
  uint32_t waiting() const { return waiting_; }

 private:
  int port_;
  int checks_;
  int stalled_checks_ = 0;
  uint32_t waiting_ = 0;
};

// Whether one more descriptor can be opened now.
bool DescriptorAvailable();

}  // namespace koppel

#endif  // KOPPEL_CORE_LISTENER_WATCHDOG_H_
