// agent_output.h — an stfw agent task's output buffer (agent_abi.h) written as one
// message line (message.h), with output_used set: how the transfer tasks and the
// test task report to the host. UNTRUSTED, freestanding.
#ifndef TTST_STFW_XFER_AGENT_OUTPUT_H
#define TTST_STFW_XFER_AGENT_OUTPUT_H

#include "stfw/xfer/message.h"

extern "C" {
#include "inject/agent/agent_abi.h"
}

namespace ttst::stfw {

// The task's output buffer, empty, as a Message to write into.
inline Message output_message(ttst_agent_desc* d) {
  return Message{reinterpret_cast<char*>(d->output.addr), d->output.size};
}

// Ends the line written into `m` and records its length (its NUL included).
inline void finish_output(ttst_agent_desc* d, Message& m) {
  m.end();
  d->output_used = m.used;
}

// The output is the one line `text`.
inline void put_output(ttst_agent_desc* d, const char* text) {
  Message m = output_message(d);
  m.text(text);
  finish_output(d, m);
}

}  // namespace ttst::stfw

#endif
