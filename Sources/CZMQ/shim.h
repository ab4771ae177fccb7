#ifndef SQUEEZE_CZMQ_SHIM_H
#define SQUEEZE_CZMQ_SHIM_H
// ZeroMQ (Debian libzmq3-dev, libzmq 4.3): the sockets of the Jupyter kernel.
#include <zmq.h>

// zmq_msg_t is an opaque 64-byte union; Swift handles it as a value through these.
static inline int squeeze_zmq_errno(void) { return zmq_errno(); }
#endif
